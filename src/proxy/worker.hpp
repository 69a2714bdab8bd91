// One event-loop thread of the pool: accepts on the pool's one listening
// socket (shared by all workers; the kernel gives each connection to one), its own sessions and its
// own server pools. Nothing a worker owns is touched by another thread, so
// the per-message path takes no lock; only the stats below are read from
// elsewhere (relaxed atomics with a single writer). A pool's connection
// limit is shared with the other workers through ProxyShared::slots.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <asio.hpp>

#include "common/result.hpp"
#include "pool/parameter_sets.hpp"
#include "pool/server_pool.hpp"
#include "proxy/pool_snapshot.hpp"
#include "proxy/shared_state.hpp"
#include "runtime/mailbox.hpp"
#include "runtime/parking_lot.hpp"
#include "sql/classifier.hpp"

namespace pgswarm::proxy {

class Session;

class WorkerStats {
 public:
  void countQuery() {
    queries_.store(queries_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void countTransaction() {
    transactions_.store(transactions_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t queries() const { return queries_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t transactions() const {
    return transactions_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> queries_{0};
  std::atomic<std::uint64_t> transactions_{0};
};

class Worker {
 public:
  Worker(ProxyShared& shared, int index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  [[nodiscard]] Status listen(const asio::ip::tcp::endpoint& endpoint);
  // Accepts on the same listening socket as `first` (a dup of it).
  [[nodiscard]] Status shareListener(const Worker& first);
  void start();
  // Asks the loop to close the listener and every session; returns at once.
  void requestStop();
  void join();

  [[nodiscard]] ProxyShared& shared() { return shared_; }
  [[nodiscard]] WorkerStats& stats() { return stats_; }
  [[nodiscard]] int index() const { return index_; }
  // The pool of (user, database) to node `node` (an index into
  // ProxyShared's nodes) on this worker, made on first use.
  [[nodiscard]] pool::ServerPool& poolFor(const std::string& user, const std::string& database,
                                          int node);
  // The latest topology snapshot; refreshed when the monitor published a
  // newer one (one atomic load otherwise). Valid until the next call.
  [[nodiscard]] const cluster::Topology& topology();
  // primaryNode(topology()), worked out once per snapshot.
  [[nodiscard]] int primaryNode();
  // The same for shard group `group` (an index into ProxyShared::shardGroups).
  [[nodiscard]] const cluster::Topology& groupTopology(std::size_t group);
  // The latest shard map, or nullptr without direct routing; valid until
  // the next call.
  [[nodiscard]] const shard::ShardMap* shardMap();
  // Transactions this worker has running on each node now: the router's
  // least-outstanding measure. Sessions count in and out around a lease.
  void countRouted(int node, int delta) {
    routedNow_[static_cast<std::size_t>(node)] += delta;
    if (delta > 0) ++routedTotal_[static_cast<std::size_t>(node)];
  }
  [[nodiscard]] std::span<const int> routedNow() const { return routedNow_; }
  // A Query or Execute sent to `node` (the dashboard's queries per second).
  void countQueryOn(int node) { ++queriesTotal_[static_cast<std::size_t>(node)]; }
  [[nodiscard]] unsigned nextRotation() { return rotation_++; }
  // A read failed on `node` before the health checks noticed: no reads go
  // there from this worker for two check periods, and its idle server
  // connections (likely dead too) are closed.
  void suspectNode(int node);
  // Bit i set: node i is suspected now.
  [[nodiscard]] std::uint64_t suspectedNodes();
  // Query classification with this thread's own cache.
  [[nodiscard]] sql::Classifier& classifier() { return classifier_; }
  // One stable copy of each encoding name a server reported (a few dozen
  // exist), so sessions compare pointers and hold no string of their own.
  [[nodiscard]] const std::string* encodingName(std::string_view name) {
    auto it = encodingNames_.find(name);
    if (it == encodingNames_.end()) it = encodingNames_.emplace(name).first;
    return &*it;
  }
  // This thread's shared copies of startup parameter sets.
  [[nodiscard]] pool::ParameterSets& parameterSets() { return parameterSets_; }
  // The connections auth_query runs on (as auth_user): apart from the client
  // pools, so SHOW POOLS does not list it and PAUSE does not hold logins.
  [[nodiscard]] pool::ServerPool& authQueryPool();
  void addSession(Session* session);
  void removeSession(Session* session);
  // Where parked clients' sockets wait (Session::parkIfIdle).
  [[nodiscard]] runtime::ParkingLot& parkingLot() { return parkingLot_; }

  // Operator views. Both run `work` on this worker's own thread, so they
  // read its pools and sessions without a lock, and call `done` there; a
  // stopped worker never calls it, so callers wait with a deadline.
  // Builds a snapshot of this worker's pools, sessions and servers.
  void postSnapshot(std::function<void(WorkerSnapshot)> done);
  // Copies ProxyShared::paused into every pool of this worker (PAUSE / RESUME).
  void postApplyPause(std::function<void(bool)> done);

 private:
  asio::awaitable<void> acceptLoop();
  asio::awaitable<void> maintenanceLoop();
  void tendIdleClients();
  void dropServersOfLostNodes();
  void stopInLoop();
  [[nodiscard]] WorkerSnapshot snapshotInLoop() const;

  ProxyShared& shared_;
  int index_;
  WorkerStats stats_;
  // Pools outlive the loop's handlers: leases return into them while the
  // loop unwinds, so they are declared (and destroyed) around io_.
  std::map<std::tuple<std::string, std::string, int>, std::unique_ptr<pool::ServerPool>> pools_;
  std::unique_ptr<pool::PoolSlots> authQuerySlots_;  // before the pool that uses them
  std::unique_ptr<pool::ServerPool> authQueryPool_;
  // One thread runs this loop and nothing of it is touched from another:
  // no locks in the scheduler or the reactor. Other threads hand work over
  // through mailbox_ (runtime/mailbox.hpp), never with asio::post.
  asio::io_context io_{ASIO_CONCURRENCY_HINT_UNSAFE};
  runtime::Mailbox mailbox_{io_};
  asio::ip::tcp::acceptor acceptor_{io_};
  asio::steady_timer maintenance_{io_};
  runtime::ParkingLot parkingLot_;
  // Unordered; each session knows its index (Session::workerSlot_), so
  // removal swaps the last one in: a pointer per client, no tree node.
  std::vector<Session*> sessions_;
  sql::Classifier classifier_;
  pool::ParameterSets parameterSets_;
  std::set<std::string, std::less<>> encodingNames_;
  std::shared_ptr<const cluster::Topology> topology_;
  std::optional<std::uint64_t> primaryVersion_;  // the snapshot primary_ was found in
  int primary_ = 0;
  std::vector<std::shared_ptr<const cluster::Topology>> groupTopologies_;
  std::shared_ptr<const shard::ShardMap> shardMap_;
  std::vector<int> routedNow_;
  std::vector<std::uint64_t> routedTotal_;
  std::vector<std::uint64_t> queriesTotal_;
  std::vector<std::chrono::steady_clock::time_point> suspectUntil_;
  std::uint64_t suspected_ = 0;  // cached mask; recomputed while some bit is set
  unsigned rotation_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// Every worker's snapshot, gathered from the admin console's coroutine: it
// resumes on its own executor once all answered or `timeout` passed.
[[nodiscard]] asio::awaitable<ProxySnapshot> gatherSnapshot(ProxyShared& shared,
                                                            std::chrono::milliseconds timeout);
// The same from a thread outside every event loop (the HTTP endpoint); blocks.
[[nodiscard]] ProxySnapshot gatherSnapshotBlocking(ProxyShared& shared,
                                                   std::chrono::milliseconds timeout);
// Makes every worker apply ProxyShared::paused; the number that confirmed in time.
[[nodiscard]] asio::awaitable<int> applyPauseEverywhere(ProxyShared& shared,
                                                        std::chrono::milliseconds timeout);

}  // namespace pgswarm::proxy
