// The client TLS context and its reload: see client_tls.hpp.
#include "proxy/client_tls.hpp"

#include "common/files.hpp"
#include "runtime/tls.hpp"

namespace pgswarm::proxy {
namespace {

// What the context depends on, to tell whether RELOAD has anything to do.
Result<std::string> fingerprint(const PoolConfig& config) {
  std::string all;
  for (const auto* path :
       {&config.tlsCertFile, &config.tlsKeyFile, &config.tlsCaFile, &config.tlsCrlFile}) {
    if (path->empty()) continue;
    auto text = readFile(*path);
    if (!text) return text.error();
    all += *path + '\0' + *text + '\0';
  }
  return all;
}

}  // namespace

std::shared_ptr<asio::ssl::context> ClientTls::current() const {
  std::lock_guard lock(mutex_);
  return context_;
}

Status ClientTls::reload(const PoolConfig& config, bool* changed) {
  if (changed != nullptr) *changed = false;
  if (config.tlsMode == ClientTlsMode::kDisable) return Ok{};
  auto contents = fingerprint(config);
  {
    std::lock_guard lock(mutex_);
    // Unchanged files: the same context (a failed read falls through and
    // is reported by makeTlsServerContext with the file's name).
    if (contents && context_ && *contents == loadedFrom_) return Ok{};
  }
  auto context = runtime::makeTlsServerContext({.certFile = config.tlsCertFile,
                                                .keyFile = config.tlsKeyFile,
                                                .caFile = config.tlsCaFile,
                                                .crlFile = config.tlsCrlFile,
                                                .protocols = config.tlsProtocols,
                                                .ciphers = config.tlsCiphers});
  if (!context) return context.error();
  std::lock_guard lock(mutex_);
  context_ = std::move(*context);
  loadedFrom_ = contents ? *contents : std::string();
  if (changed != nullptr) *changed = true;
  return Ok{};
}

}  // namespace pgswarm::proxy
