// Cancel keys handed to clients and where a cancel for each must go. Every
// client gets a random secret from the pool, never a backend's; a cancel is
// forwarded only while that client's query runs on a server, and a wrong key
// does nothing. Shared by all workers; touched at login, attach, detach and
// cancel, never per message, so one mutex is enough.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "pool/server_connection.hpp"

namespace pgswarm::proxy {

struct CancelKey {
  std::int32_t pid = 0;
  std::int32_t secret = 0;
  auto operator<=>(const CancelKey&) const = default;
};

// The backend a cancel must reach.
struct CancelTarget {
  pool::ServerAddress address;
  std::int32_t backendPid = 0;
  std::int32_t backendSecret = 0;
};

class CancelRegistry {
 public:
  // A fresh key for a client; `pid` is the real backend pid in session mode
  // (so pg_backend_pid() agrees), or 0 to have one assigned.
  [[nodiscard]] CancelKey add(std::int32_t pid);
  void remove(const CancelKey& key);
  // The client runs a query on this backend now / no longer.
  void attach(const CancelKey& key, CancelTarget target);
  void detach(const CancelKey& key);
  [[nodiscard]] std::optional<CancelTarget> find(const CancelKey& key) const;
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<CancelKey, std::optional<CancelTarget>> entries_;
  std::int32_t nextPid_ = 0;
};

}  // namespace pgswarm::proxy
