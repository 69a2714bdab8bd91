// The server connections of one (user, database) on one worker thread: idle
// connections, a FIFO of clients waiting for one, and slots taken from the
// process-wide PoolSlots of that (user, database) (default_pool_size is a
// limit for the whole process). A checked-out connection is a Lease that
// returns itself; a lease dropped without giveBack() closes its connection,
// so a connection in an unknown state can never be handed to another client.
// Each worker owns its pools and their sockets; other workers reach a pool
// only by posting to its executor, so nothing here takes a lock.
#pragma once

#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "pool/pool_slots.hpp"
#include "pool/server_connection.hpp"
#include "runtime/mailbox.hpp"

namespace pgswarm::pool {

// The pool's size, reserve and min_pool_size live in its PoolSlots (shared,
// and changed by RELOAD); these are the rest of its rules.
struct PoolLimits {
  std::chrono::milliseconds reserveTimeout{5000};  // a waiter may take a reserve slot after this
  // A slot moves to another worker's waiter (by closing a connection here)
  // only once that waiter has waited this much longer than ours: a shorter
  // imbalance is cheaper to wait out than a new backend.
  std::chrono::milliseconds rebalanceAfter{50};
  // While this worker has waiters too, only a remote waiter this much older
  // than ours takes the slot: enough to keep anyone from starving, rare
  // enough not to churn backends under saturation.
  std::chrono::milliseconds starvationAfter{500};
  std::chrono::milliseconds connectTimeout{5000};
  std::chrono::milliseconds idleTimeout{600000};  // close idle servers after this
  std::chrono::milliseconds lifetime{3600000};    // close servers older than this when idle
  ServerTls tls;  // server_tls_sslmode and its context, for every connection opened
};

struct PoolCounters {
  std::uint64_t connectsMade = 0;
  std::uint64_t connectFailures = 0;
  std::uint64_t waits = 0;
  std::uint64_t waitTimeouts = 0;
  std::chrono::microseconds waitTime{0};
  // Counted by the client session that owns a lease (SHOW STATS per database).
  std::uint64_t queries = 0;
  std::uint64_t transactions = 0;
  std::uint64_t reserveConnects = 0;  // slots taken from reserve_pool_size
  std::uint64_t slotsMoved = 0;       // connections closed so another worker could open one
};

class ServerPool;

class Lease {
 public:
  Lease() = default;
  Lease(ServerPool* pool, std::unique_ptr<ServerConnection> conn)
      : pool_(pool), conn_(std::move(conn)) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  [[nodiscard]] explicit operator bool() const { return conn_ != nullptr; }
  [[nodiscard]] ServerConnection& operator*() const { return *conn_; }
  [[nodiscard]] ServerConnection* operator->() const { return conn_.get(); }
  [[nodiscard]] ServerConnection* get() const { return conn_.get(); }

  // The connection is idle and clean: back to the pool for the next client.
  void giveBack();
  // The connection's state is unknown or broken: close it.
  void discard();

 private:
  ServerPool* pool_ = nullptr;
  std::unique_ptr<ServerConnection> conn_;
};

struct AcquireFailure {
  enum class Kind { kTimeout, kConnect, kShutdown } kind;
  ConnectFailure connect;  // kConnect only
};
using AcquireResult = std::variant<Lease, AcquireFailure>;

class ServerPool {
 public:
  // `slots` is shared with the other workers' pools of (user, database);
  // `worker` is this pool's index in it.
  ServerPool(asio::any_io_executor executor, std::string user, std::string database,
             ServerAddress address, PoolLimits limits, PoolSlots& slots, int worker);
  ~ServerPool();
  ServerPool(const ServerPool&) = delete;
  ServerPool& operator=(const ServerPool&) = delete;

  // An idle connection opened with exactly `startup` parameters, else a new
  // one if a shared slot is free (or an idle mismatched one can be closed to
  // make room), else waits in line until `deadline`; after reserveTimeout in
  // line it may take a reserve slot.
  [[nodiscard]] asio::awaitable<AcquireResult> acquire(
      SharedParameters startup, const ServerCredentials& credentials,
      std::chrono::steady_clock::time_point deadline);
  // acquire()'s first step, with no coroutine frame: an idle connection
  // opened with exactly `startup` (and, unless null, whose appliedSettings
  // are `*settings`), when one is there and nothing holds the pool (PAUSE,
  // shutdown); nullopt means co_await acquire().
  [[nodiscard]] std::optional<Lease> acquireIdle(const Parameters& startup,
                                                 const std::string* settings = nullptr);

  // Closes idle connections past idleTimeout or lifetime, or that the
  // server closed, and idle ones above a size RELOAD lowered; serves waiters
  // from slots RELOAD added; then opens connections up to min_pool_size.
  void maintain();
  void closeExpired();
  // Wakes every waiter with kShutdown and closes idle connections.
  void shutdown();
  // PAUSE / RESUME of the admin console: while paused, acquire() waits (up to
  // its deadline) before taking any connection; leases already out are untouched.
  void setPaused(bool paused);
  // Plain increments on the owning worker's thread: cheap on the relay path.
  void countQuery() { ++counters_.queries; }
  void countTransaction() { ++counters_.transactions; }
  [[nodiscard]] bool paused() const { return paused_; }

  [[nodiscard]] const std::string& user() const { return user_; }
  [[nodiscard]] const std::string& database() const { return database_; }
  [[nodiscard]] std::size_t idleCount() const { return idle_.size(); }
  [[nodiscard]] int activeCount() const { return active_; }
  [[nodiscard]] int connectingCount() const { return connecting_; }
  [[nodiscard]] std::size_t waitingCount() const { return waiters_.size() + pausedWaiters_.size(); }
  [[nodiscard]] const PoolLimits& limits() const { return limits_; }
  // default_pool_size: the limit of the whole process, not of this worker.
  [[nodiscard]] int poolLimit() const { return slots_.limit(); }
  [[nodiscard]] const PoolCounters& counters() const { return counters_; }
  [[nodiscard]] const ServerAddress& address() const { return address_; }
  // For SHOW SERVERS: the idle connections, and when the longest waiter began.
  [[nodiscard]] std::vector<const ServerConnection*> idleConnections() const;
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> oldestWaitSince() const;
  // Points new connections elsewhere (after a topology change); idle ones are closed.
  void setAddress(ServerAddress address);
  // Closes every idle connection (their server went away).
  void closeIdle();

 private:
  friend class Lease;
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
    std::unique_ptr<ServerConnection> handed;  // a clean idle connection
    bool slotFreed = false;                    // room to open a new one
    bool shutdown = false;
    bool resumed = false;  // RESUME ended a pause wait
    [[nodiscard]] bool woken() const { return handed || slotFreed || shutdown; }
  };
  // What the background fill for min_pool_size logs in with: the first client's.
  struct FillTemplate {
    SharedParameters startup;
    ServerCredentials credentials;
  };

  void returnConnection(std::unique_ptr<ServerConnection> conn, bool reusable);
  // A slot this pool holds has no connection any more: the oldest waiter, here
  // or on another worker, gets it; else it goes back to PoolSlots.
  void onSlotFreed();
  void passSlot(std::optional<PoolSlots::Demand> remote);
  void grantToFront();
  // Posted by other workers to this pool's executor.
  void onSlotGranted();       // a slot handed over to this worker
  void serveFromFreeSlots();  // slots may be free: take them for our waiters
  void onIdleWanted();        // another worker waits: close an idle connection
  void onCapIdleWanted();     // another pool under our cap waits: the same
  void askForIdle();
  // Gives a slot back to PoolSlots (and its caps), then wakes a waiter of
  // this (user, database) or of another pool under a full cap.
  void giveSlot();
  // A cap is full and a pool under it has waited `margin` longer than `since`.
  [[nodiscard]] bool capWaiterFirst(std::chrono::steady_clock::time_point since,
                                    std::chrono::milliseconds margin) const;
  void publishDemand();
  void publishIdle();
  void startFill();
  [[nodiscard]] asio::awaitable<void> fill();
  std::unique_ptr<ServerConnection> takeIdle(const Parameters& startup,
                                             const std::string* settings = nullptr);
  [[nodiscard]] asio::awaitable<AcquireResult> waitForServer(
      const SharedParameters& startup, const ServerCredentials& credentials,
      std::chrono::steady_clock::time_point deadline);
  // nullopt once RESUMEd; a failure when the deadline or a shutdown came first.
  [[nodiscard]] asio::awaitable<std::optional<AcquireFailure>> waitWhilePaused(
      std::chrono::steady_clock::time_point deadline);
  [[nodiscard]] asio::awaitable<AcquireResult> openNew(const SharedParameters& startup,
                                                       const ServerCredentials& credentials);

  // Runs `task` on this pool's loop, from any worker's thread.
  void postHere(std::function<void()> task) {
    runtime::postTo(mailbox_, executor_, std::move(task));
  }

  asio::any_io_executor executor_;
  std::string user_;
  std::string database_;
  ServerAddress address_;
  PoolLimits limits_;
  PoolSlots& slots_;
  int worker_;
  // The mailbox of the loop that built this pool (pools are made on their
  // worker's thread); null where the loop takes locks and asio::post is safe.
  runtime::Mailbox* mailbox_;
  std::optional<std::chrono::steady_clock::time_point> publishedDemand_;
  std::optional<FillTemplate> fillTemplate_;
  bool filling_ = false;
  std::deque<std::unique_ptr<ServerConnection>> idle_;  // most recently used at the back
  std::list<Waiter*> waiters_;
  std::list<Waiter*> pausedWaiters_;  // held by PAUSE, in arrival order
  // Each idle connection and each count below holds one slot of slots_:
  // active_ counts leased connections (and ones handed to a waiter),
  // connecting_ connections being opened (and slots granted to a waiter
  // that has yet to open one).
  int active_ = 0;
  int connecting_ = 0;
  bool shuttingDown_ = false;
  bool paused_ = false;
  std::uint64_t nextId_ = 1;
  PoolCounters counters_;
};

}  // namespace pgswarm::pool
