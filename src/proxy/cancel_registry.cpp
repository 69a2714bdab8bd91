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

void CancelSlot::attach(CancelTarget target) {
  std::lock_guard lock(mutex_);
  target_ = std::move(target);
}

void CancelSlot::detach() {
  std::lock_guard lock(mutex_);
  target_.reset();
}

std::optional<CancelTarget> CancelSlot::target() const {
  std::lock_guard lock(mutex_);
  return target_;
}

CancelRegistry::Registration CancelRegistry::add(std::int32_t pid) {
  auto slot = std::make_shared<CancelSlot>();
  std::lock_guard lock(mutex_);
  for (;;) {
    if (pid == 0) {
      // Pool-assigned pids count down from INT32_MAX, far from real pids.
      nextPid_ = nextPid_ <= 1 ? 0x7ffffffe : nextPid_ - 1;
    }
    CancelKey key{pid != 0 ? pid : nextPid_, randomSecret()};
    if (entries_.emplace(key, slot).second) return {key, slot};
  }
}

void CancelRegistry::remove(const CancelKey& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

std::optional<CancelTarget> CancelRegistry::find(const CancelKey& key) const {
  std::shared_ptr<CancelSlot> slot;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    slot = it->second;
  }
  return slot->target();
}

std::size_t CancelRegistry::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace pgswarm::proxy
