// The server-connection slots of one (user, database), shared by every
// worker's ServerPool of it: a lock-free counter that enforces the pool's
// size (+ reserve) for the whole process, and what each worker publishes
// about itself (its oldest waiter, its idle count) so the others can decide
// where a freed slot goes. A slot also counts in the ConnectionCaps of its
// database and user (max_db_connections, max_user_connections). Atomics on
// the take/give path; locks only in the registry (once per pool and worker,
// and on RELOAD) and in a cap's member list (when a capped slot is freed).
#pragma once

#include <algorithm>
#include <array>
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

#include "pool/pool_sizes.hpp"

namespace pgswarm::pool {

class ServerPool;
class PoolSlots;

// The server connections of all pools of one database (or one user) on one
// node, held below max_db_connections (max_user_connections); limit 0: no
// cap, only counted so a cap added by RELOAD starts from the truth.
class ConnectionCap {
 public:
  ConnectionCap() = default;
  ConnectionCap(const ConnectionCap&) = delete;
  ConnectionCap& operator=(const ConnectionCap&) = delete;

  [[nodiscard]] bool tryTake();
  void give() { used_.fetch_sub(1); }
  [[nodiscard]] int used() const { return used_.load(); }
  [[nodiscard]] int limit() const { return limit_.load(); }
  void setLimit(int limit) { limit_.store(std::max(limit, 0)); }
  // Full: a pool of it may wait for another pool's connection.
  [[nodiscard]] bool full() const {
    int limit = limit_.load();
    return limit > 0 && used_.load() >= limit;
  }
  [[nodiscard]] int excess() const {
    int limit = limit_.load();
    return limit > 0 ? std::max(used_.load() - limit, 0) : 0;
  }
  // The pools under this cap, to wake or ask for an idle connection.
  void join(PoolSlots* slots);
  [[nodiscard]] std::vector<PoolSlots*> members() const;

 private:
  std::atomic<int> limit_{0};
  std::atomic<int> used_{0};
  mutable std::mutex mutex_;
  std::vector<PoolSlots*> members_;
};

class PoolSlots {
 public:
  using Clock = std::chrono::steady_clock;

  // `limit` slots normally, `limit + reserve` for clients that waited past
  // reserve_pool_timeout; `workers` is the number of pools that may attach.
  // Each cap may be null (no database or user cap, e.g. auth_query's pool).
  PoolSlots(int limit, int reserve, int workers, ConnectionCap* databaseCap = nullptr,
            ConnectionCap* userCap = nullptr);
  PoolSlots(const PoolSlots&) = delete;
  PoolSlots& operator=(const PoolSlots&) = delete;

  // Each take is one server connection open or being opened somewhere;
  // give() when it closes (or when a taken slot goes unused).
  [[nodiscard]] bool tryTake() { return takeBelow(limit_); }
  [[nodiscard]] bool tryTakeReserve() { return takeBelow(limit() + reserve()); }
  // A slot only while fewer than min(target, limit) are taken: min_pool_size.
  [[nodiscard]] bool tryTakeBelow(int target) { return takeBelow(std::min(target, limit())); }
  void give();

  [[nodiscard]] int used() const { return used_.load(); }
  [[nodiscard]] int limit() const { return limit_.load(); }
  [[nodiscard]] int reserve() const { return reserve_.load(); }
  [[nodiscard]] int minServers() const { return min_.load(); }
  [[nodiscard]] int workers() const { return static_cast<int>(perWorker_.size()); }
  // RELOAD: new sizes for new takes; slots above them are given back as
  // their connections close (ServerPool::overSize).
  void resize(const PoolSizes::Effective& sizes);
  // How many slots are taken beyond limit + reserve, or beyond what a cap
  // allows, whichever is more: nonzero only after RELOAD lowered one.
  [[nodiscard]] int excess() const;
  [[nodiscard]] bool overCeiling() const { return excess() > 0; }
  // A cap of this pool is full: another pool of it may be waiting on it.
  [[nodiscard]] bool capFull() const;
  // The pool (of another (user, database) under one of our caps, with a
  // cap) whose waiter has waited longest; pools whose own size holds them
  // back are skipped. fullOnly: only under caps that are full now.
  struct CapDemand {
    PoolSlots* slots;
    int worker;
    Clock::time_point since;
  };
  [[nodiscard]] std::optional<CapDemand> oldestCapDemand(bool fullOnly) const;
  // A pool under one of our full caps (not this one) with an idle connection.
  [[nodiscard]] ServerPool* capMemberWithIdle() const;

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
  [[nodiscard]] std::vector<PoolSlots*> capMembers(bool fullOnly) const;

  // One cache line per worker: a worker's stores never contend with another's.
  struct alignas(64) PerWorker {
    std::atomic<std::int64_t> oldestWait{0};  // steady-clock ticks; 0 = nobody waits
    std::atomic<int> idle{0};
    std::atomic<ServerPool*> pool{nullptr};
  };

  std::atomic<int> limit_;
  std::atomic<int> reserve_;
  std::atomic<int> min_{0};
  std::atomic<int> used_{0};
  std::vector<PerWorker> perWorker_;
  std::array<ConnectionCap*, 2> caps_;  // database, user; null: none
};

// The PoolSlots of every (user, database), made on first use with the
// sizes in effect, and the caps of every database and user (per node). The
// mutex is taken only when a worker makes its pool of a (user, database)
// and on RELOAD; pools keep the reference, so nothing on the per-message
// path locks. Nothing is ever removed, so references stay valid.
class PoolSlotRegistry {
 public:
  PoolSlotRegistry(PoolSizes sizes, int workers) : sizes_(std::move(sizes)), workers_(workers) {}
  [[nodiscard]] PoolSlots& slotsFor(const std::string& user, const std::string& database,
                                    int node = 0);
  // RELOAD: every existing pool and cap takes the new sizes; new pools too.
  void resize(PoolSizes sizes);
  [[nodiscard]] PoolSizes sizes() const;

 private:
  using CapKey = std::pair<std::string, int>;
  ConnectionCap& capIn(std::map<CapKey, std::unique_ptr<ConnectionCap>>& caps,
                       const std::string& name, int node, int limit);

  PoolSizes sizes_;
  const int workers_;
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::unique_ptr<PoolSlots>> slots_;
  std::map<CapKey, std::unique_ptr<ConnectionCap>> databaseCaps_;
  std::map<CapKey, std::unique_ptr<ConnectionCap>> userCaps_;
};

}  // namespace pgswarm::pool
