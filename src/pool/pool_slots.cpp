// Shared slot counter of one (user, database): see pool_slots.hpp.
#include "pool/pool_slots.hpp"

#include <algorithm>

namespace pgswarm::pool {

// Every operation on used_ and on a worker's demand is sequentially
// consistent: a worker publishes its demand before trying for a slot, and a
// worker giving a slot back reads demand after giving, so at least one of
// the two sees the other (no waiter sleeps beside a free slot).

bool ConnectionCap::tryTake() {
  int used = used_.load();
  for (;;) {
    int limit = limit_.load();
    if (limit > 0 && used >= limit) return false;
    if (used_.compare_exchange_weak(used, used + 1)) return true;
  }
}

void ConnectionCap::join(PoolSlots* slots) {
  std::lock_guard lock(mutex_);
  members_.push_back(slots);
}

std::vector<PoolSlots*> ConnectionCap::members() const {
  std::lock_guard lock(mutex_);
  return members_;
}

PoolSlots::PoolSlots(int limit, int reserve, int workers, ConnectionCap* databaseCap,
                     ConnectionCap* userCap)
    : limit_(std::max(limit, 0)),
      reserve_(std::max(reserve, 0)),
      perWorker_(static_cast<std::size_t>(std::max(workers, 1))),
      caps_{databaseCap, userCap} {}

bool PoolSlots::takeBelow(int ceiling) {
  if (used_.load() >= ceiling) return false;  // the common refusal touches no cap
  // Caps first: a refused take then never counted in this pool, so its own
  // siblings are not turned away by a slot about to be given back. A take
  // refused here undoes the caps it took.
  std::size_t taken = 0;
  for (; taken < caps_.size(); ++taken) {
    if (caps_[taken] != nullptr && !caps_[taken]->tryTake()) break;
  }
  bool gotCaps = taken == caps_.size();
  if (gotCaps) {
    int used = used_.load();
    while (used < ceiling) {
      if (used_.compare_exchange_weak(used, used + 1)) return true;
    }
  }
  for (std::size_t i = 0; i < taken; ++i) {
    if (caps_[i] != nullptr) caps_[i]->give();
  }
  return false;
}

void PoolSlots::give() {
  used_.fetch_sub(1);
  for (auto* cap : caps_) {
    if (cap != nullptr) cap->give();
  }
}

void PoolSlots::resize(const PoolSizes::Effective& sizes) {
  limit_.store(std::max(sizes.limit, 0));
  reserve_.store(std::max(sizes.reserve, 0));
  min_.store(std::max(sizes.min, 0));
}

int PoolSlots::excess() const {
  int excess = std::max(used_.load() - limit() - reserve(), 0);
  for (const auto* cap : caps_) {
    if (cap != nullptr) excess = std::max(excess, cap->excess());
  }
  return excess;
}

bool PoolSlots::capFull() const {
  return std::any_of(caps_.begin(), caps_.end(),
                     [](const ConnectionCap* cap) { return cap != nullptr && cap->full(); });
}

std::vector<PoolSlots*> PoolSlots::capMembers(bool fullOnly) const {
  std::vector<PoolSlots*> members;
  for (const auto* cap : caps_) {
    // No cap, no lock: pools without caps never touch the member lists.
    if (cap == nullptr || cap->limit() == 0 || (fullOnly && !cap->full())) continue;
    for (auto* member : cap->members()) {
      if (member != this && std::find(members.begin(), members.end(), member) == members.end()) {
        members.push_back(member);
      }
    }
  }
  return members;
}

std::optional<PoolSlots::CapDemand> PoolSlots::oldestCapDemand(bool fullOnly) const {
  std::optional<CapDemand> oldest;
  for (auto* member : capMembers(fullOnly)) {
    if (member->used() >= member->limit()) continue;  // waits for its own pool, not the cap
    auto demand = member->oldestDemand(-1);
    if (demand && (!oldest || demand->since < oldest->since)) {
      oldest = CapDemand{member, demand->worker, demand->since};
    }
  }
  return oldest;
}

ServerPool* PoolSlots::capMemberWithIdle() const {
  for (const auto* member : capMembers(true)) {
    if (auto worker = member->workerWithIdle(-1)) {
      if (auto* pool = member->member(*worker)) return pool;
    }
  }
  return nullptr;
}

void PoolSlots::setDemand(int worker, std::optional<Clock::time_point> oldestWaiter) {
  // Tick 0 means "nobody": a real time_point never maps to it (max with 1).
  std::int64_t ticks =
      oldestWaiter ? std::max<std::int64_t>(1, oldestWaiter->time_since_epoch().count()) : 0;
  perWorker_.at(static_cast<std::size_t>(worker)).oldestWait.store(ticks);
}

void PoolSlots::setIdle(int worker, int idle) {
  perWorker_.at(static_cast<std::size_t>(worker)).idle.store(idle, std::memory_order_relaxed);
}

std::optional<PoolSlots::Clock::time_point> PoolSlots::demandOf(int worker) const {
  auto ticks = perWorker_.at(static_cast<std::size_t>(worker)).oldestWait.load();
  if (ticks == 0) return std::nullopt;
  return Clock::time_point(Clock::duration(ticks));
}

int PoolSlots::idleOf(int worker) const {
  return perWorker_.at(static_cast<std::size_t>(worker)).idle.load(std::memory_order_relaxed);
}

std::optional<PoolSlots::Demand> PoolSlots::oldestDemand(int except) const {
  std::optional<Demand> oldest;
  for (int worker = 0; worker < workers(); ++worker) {
    if (worker == except) continue;
    auto since = demandOf(worker);
    if (since && (!oldest || *since < oldest->since)) oldest = Demand{worker, *since};
  }
  return oldest;
}

std::optional<int> PoolSlots::workerWithIdle(int except) const {
  std::optional<int> best;
  int most = 0;
  for (int worker = 0; worker < workers(); ++worker) {
    if (worker == except) continue;
    int idle = idleOf(worker);
    if (idle > most) {
      most = idle;
      best = worker;
    }
  }
  return best;
}

void PoolSlots::attach(int worker, ServerPool* pool) {
  perWorker_.at(static_cast<std::size_t>(worker)).pool.store(pool);
}

ServerPool* PoolSlots::member(int worker) const {
  return perWorker_.at(static_cast<std::size_t>(worker)).pool.load();
}

ConnectionCap& PoolSlotRegistry::capIn(std::map<CapKey, std::unique_ptr<ConnectionCap>>& caps,
                                       const std::string& name, int node, int limit) {
  auto& cap = caps[{name, node}];
  if (!cap) {
    cap = std::make_unique<ConnectionCap>();
    cap->setLimit(limit);
  }
  return *cap;
}

PoolSlots& PoolSlotRegistry::slotsFor(const std::string& user, const std::string& database,
                                      int node) {
  std::lock_guard lock(mutex_);
  auto& slots = slots_[{user, database, node}];
  if (!slots) {
    auto sizes = sizes_.of(user, database);
    auto& databaseCap = capIn(databaseCaps_, database, node, sizes_.maxDbConnections(database));
    auto& userCap = capIn(userCaps_, user, node, sizes_.maxUserConnections(user));
    slots =
        std::make_unique<PoolSlots>(sizes.limit, sizes.reserve, workers_, &databaseCap, &userCap);
    slots->resize(sizes);
    databaseCap.join(slots.get());
    userCap.join(slots.get());
  }
  return *slots;
}

void PoolSlotRegistry::resize(PoolSizes sizes) {
  std::lock_guard lock(mutex_);
  sizes_ = std::move(sizes);
  for (auto& [key, slots] : slots_) {
    slots->resize(sizes_.of(std::get<0>(key), std::get<1>(key)));
  }
  for (auto& [key, cap] : databaseCaps_) cap->setLimit(sizes_.maxDbConnections(key.first));
  for (auto& [key, cap] : userCaps_) cap->setLimit(sizes_.maxUserConnections(key.first));
}

PoolSizes PoolSlotRegistry::sizes() const {
  std::lock_guard lock(mutex_);
  return sizes_;
}

}  // namespace pgswarm::pool
