// Shared slot counter of one (user, database): see pool_slots.hpp.
#include "pool/pool_slots.hpp"

#include <algorithm>

namespace pgswarm::pool {

// Every operation on used_ and on a worker's demand is sequentially
// consistent: a worker publishes its demand before trying for a slot, and a
// worker giving a slot back reads demand after giving, so at least one of
// the two sees the other (no waiter sleeps beside a free slot).

PoolSlots::PoolSlots(int limit, int reserve, int workers)
    : limit_(std::max(limit, 0)),
      reserve_(std::max(reserve, 0)),
      perWorker_(static_cast<std::size_t>(std::max(workers, 1))) {}

bool PoolSlots::takeBelow(int ceiling) {
  int used = used_.load();
  while (used < ceiling) {
    if (used_.compare_exchange_weak(used, used + 1)) return true;
  }
  return false;
}

void PoolSlots::give() {
  used_.fetch_sub(1);
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

PoolSlots& PoolSlotRegistry::slotsFor(const std::string& user, const std::string& database,
                                      int node) {
  std::lock_guard lock(mutex_);
  auto& slots = slots_[{user, database, node}];
  if (!slots) slots = std::make_unique<PoolSlots>(limit_, reserve_, workers_);
  return *slots;
}

}  // namespace pgswarm::pool
