// The pool's one TLS context for client connections, made when the pool
// starts and made again on RELOAD only when the files changed; new files
// that do not load keep the old context (and the error is reported). A
// session takes the current context once, at its SSLRequest.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <asio/ssl.hpp>

#include "common/result.hpp"
#include "proxy/pool_config.hpp"

namespace pgswarm::proxy {

class ClientTls {
 public:
  // nullptr when TLS is off (tls_mode disable): SSLRequest gets 'N'.
  [[nodiscard]] std::shared_ptr<asio::ssl::context> current() const;
  // Reads config's files; true in `changed` when a new context replaced the old.
  [[nodiscard]] Status reload(const PoolConfig& config, bool* changed = nullptr);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<asio::ssl::context> context_;
  std::string loadedFrom_;  // the files' contents the context was made of
};

}  // namespace pgswarm::proxy
