// Cancel keys handed to clients and where a cancel for each must go. Every
// client gets a random secret from the pool, never a backend's; a cancel is
// forwarded only while that client's query runs on a server, and a wrong key
// does nothing. The key map is shared by all workers and locked only at
// login, logout and cancel; attach and detach (once per transaction) touch
// only the client's own slot, whose lock nobody else takes but a canceller.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
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

// Where one client's cancel goes now: written by the client's worker,
// read by whichever worker receives the CancelRequest.
class CancelSlot {
 public:
  // The client runs a query on this backend now / no longer.
  void attach(CancelTarget target);
  void detach();
  [[nodiscard]] std::optional<CancelTarget> target() const;

 private:
  mutable std::mutex mutex_;
  std::optional<CancelTarget> target_;
};

class CancelRegistry {
 public:
  struct Registration {
    CancelKey key;
    std::shared_ptr<CancelSlot> slot;
  };
  // A fresh key for a client; `pid` is the real backend pid in session mode
  // (so pg_backend_pid() agrees), or 0 to have one assigned.
  [[nodiscard]] Registration add(std::int32_t pid);
  void remove(const CancelKey& key);
  [[nodiscard]] std::optional<CancelTarget> find(const CancelKey& key) const;
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<CancelKey, std::shared_ptr<CancelSlot>> entries_;
  std::int32_t nextPid_ = 0;
};

}  // namespace pgswarm::proxy
