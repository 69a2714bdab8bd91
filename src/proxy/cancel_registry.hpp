// Cancel keys handed to clients and where a cancel for each must go. Every
// client gets a random secret from the pool, never a backend's; a cancel is
// forwarded only while that client's query runs on a server, and a wrong key
// does nothing. The key map is shared by all workers and locked only at
// login, logout and cancel; attach and detach (once per transaction) store
// one pointer in the client's own slot, which only a canceller reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "pool/server_connection.hpp"

namespace pgswarm::proxy {

struct CancelKey {
  std::int32_t pid = 0;
  std::int32_t secret = 0;
  auto operator<=>(const CancelKey&) const = default;
};

using CancelTarget = pool::CancelTarget;

// Where one client's cancel goes now: written by the client's worker,
// read by whichever worker receives the CancelRequest. Lives in the
// registry's map node (an idle client holds no more than that for it).
class CancelSlot {
 public:
  // The client runs a query on this backend now / no longer.
  void attach(std::shared_ptr<const CancelTarget> target) {
    target_.store(std::move(target), std::memory_order_release);
  }
  void detach() { target_.store(nullptr, std::memory_order_release); }
  [[nodiscard]] std::shared_ptr<const CancelTarget> target() const {
    return target_.load(std::memory_order_acquire);
  }

 private:
  std::atomic<std::shared_ptr<const CancelTarget>> target_;
};

class CancelRegistry {
 public:
  struct Registration {
    CancelKey key;
    CancelSlot* slot = nullptr;  // valid until remove(key)
  };
  // A fresh key for a client; `pid` is the real backend pid in session mode
  // (so pg_backend_pid() agrees), or 0 to have one assigned.
  [[nodiscard]] Registration add(std::int32_t pid);
  void remove(const CancelKey& key);
  [[nodiscard]] std::shared_ptr<const CancelTarget> find(const CancelKey& key) const;
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<CancelKey, CancelSlot> entries_;  // map nodes never move: slots stay put
  std::int32_t nextPid_ = 0;
};

}  // namespace pgswarm::proxy
