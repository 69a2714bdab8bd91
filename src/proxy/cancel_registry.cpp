// Cancel key registry: see cancel_registry.hpp.
#include "proxy/cancel_registry.hpp"

#include <sys/random.h>

namespace pgswarm::proxy {
namespace {

std::int32_t randomSecret() {
  std::int32_t value = 0;
  while (::getrandom(&value, sizeof value, 0) != static_cast<ssize_t>(sizeof value)) {
  }
  return value;
}

}  // namespace

CancelRegistry::Registration CancelRegistry::add(std::int32_t pid) {
  std::lock_guard lock(mutex_);
  for (;;) {
    if (pid == 0) {
      // Pool-assigned pids count down from INT32_MAX, far from real pids.
      nextPid_ = nextPid_ <= 1 ? 0x7ffffffe : nextPid_ - 1;
    }
    CancelKey key{pid != 0 ? pid : nextPid_, randomSecret()};
    auto [it, added] = entries_.try_emplace(key);
    if (added) return {key, &it->second};
  }
}

void CancelRegistry::remove(const CancelKey& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

std::shared_ptr<const CancelTarget> CancelRegistry::find(const CancelKey& key) const {
  std::lock_guard lock(mutex_);  // remove() cannot free the slot meanwhile
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  return it->second.target();
}

std::size_t CancelRegistry::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace pgswarm::proxy
