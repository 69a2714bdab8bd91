// The server-connection slots of one (user, database), shared by every
// worker's ServerPool of it: a lock-free counter that enforces
// default_pool_size (+ reserve_pool_size) for the whole process, and what
// each worker publishes about itself (its oldest waiter, its idle count) so
// the others can decide where a freed slot goes. Pure atomics: no I/O, no
// locks; only the registry below locks, once per pool and worker.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace pgswarm::pool {

class ServerPool;

class PoolSlots {
 public:
  using Clock = std::chrono::steady_clock;

  // `limit` slots normally, `limit + reserve` for clients that waited past
  // reserve_pool_timeout; `workers` is the number of pools that may attach.
  PoolSlots(int limit, int reserve, int workers);
  PoolSlots(const PoolSlots&) = delete;
  PoolSlots& operator=(const PoolSlots&) = delete;

  // Each take is one server connection open or being opened somewhere;
  // give() when it closes (or when a taken slot goes unused).
  [[nodiscard]] bool tryTake() { return takeBelow(limit_); }
  [[nodiscard]] bool tryTakeReserve() { return takeBelow(limit_ + reserve_); }
  // A slot only while fewer than min(target, limit) are taken: min_pool_size.
  [[nodiscard]] bool tryTakeBelow(int target) { return takeBelow(std::min(target, limit_)); }
  void give();

  [[nodiscard]] int used() const { return used_.load(); }
  [[nodiscard]] int limit() const { return limit_; }
  [[nodiscard]] int reserve() const { return reserve_; }
  [[nodiscard]] int workers() const { return static_cast<int>(perWorker_.size()); }

  // Published by worker `worker` only, read by all. Demand is the arrival
  // time of its oldest client waiting for a slot, nullopt when none waits.
  void setDemand(int worker, std::optional<Clock::time_point> oldestWaiter);
  void setIdle(int worker, int idle);
  [[nodiscard]] std::optional<Clock::time_point> demandOf(int worker) const;
  [[nodiscard]] int idleOf(int worker) const;

  struct Demand {
    int worker;
    Clock::time_point since;
  };
  // The worker (other than `except`) whose waiter has waited longest.
  [[nodiscard]] std::optional<Demand> oldestDemand(int except) const;
  // The worker (other than `except`) with the most idle connections.
  [[nodiscard]] std::optional<int> workerWithIdle(int except) const;

  // The pool of `worker`, for posting to its event loop; null until attached.
  void attach(int worker, ServerPool* pool);
  [[nodiscard]] ServerPool* member(int worker) const;

 private:
  [[nodiscard]] bool takeBelow(int ceiling);

  // One cache line per worker: a worker's stores never contend with another's.
  struct alignas(64) PerWorker {
    std::atomic<std::int64_t> oldestWait{0};  // steady-clock ticks; 0 = nobody waits
    std::atomic<int> idle{0};
    std::atomic<ServerPool*> pool{nullptr};
  };

  const int limit_;
  const int reserve_;
  std::atomic<int> used_{0};
  std::vector<PerWorker> perWorker_;
};

// The PoolSlots of every (user, database), made on first use. The mutex is
// taken only when a worker makes its pool of a (user, database); pools keep
// the reference, so nothing on the per-message path locks.
class PoolSlotRegistry {
 public:
  PoolSlotRegistry(int limit, int reserve, int workers)
      : limit_(limit), reserve_(reserve), workers_(workers) {}
  [[nodiscard]] PoolSlots& slotsFor(const std::string& user, const std::string& database,
                                    int node = 0);

 private:
  const int limit_;
  const int reserve_;
  const int workers_;
  std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::unique_ptr<PoolSlots>> slots_;
};

}  // namespace pgswarm::pool
