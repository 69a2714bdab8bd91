// The server connections of one (user, database) on one worker thread: idle
// connections, a size limit, and a FIFO of clients waiting for one. A
// checked-out connection is a Lease that returns itself; a lease dropped
// without giveBack() closes its connection, so a connection in an unknown
// state can never be handed to another client. Single-threaded by design:
// each worker owns its pools, so nothing here takes a lock.
#pragma once

#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "pool/server_connection.hpp"

namespace pgswarm::pool {

struct PoolLimits {
  int maxServers = 20;  // this worker's share of default_pool_size
  std::chrono::milliseconds connectTimeout{5000};
  std::chrono::milliseconds idleTimeout{600000};  // close idle servers after this
  std::chrono::milliseconds lifetime{3600000};    // close servers older than this when idle
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
  ServerPool(asio::any_io_executor executor, std::string user, std::string database,
             ServerAddress address, PoolLimits limits);
  ~ServerPool();
  ServerPool(const ServerPool&) = delete;
  ServerPool& operator=(const ServerPool&) = delete;

  // An idle connection opened with exactly `startup` parameters, else a new
  // one if the limit allows (closing an idle mismatched one to make room),
  // else waits in line until `deadline`.
  [[nodiscard]] asio::awaitable<AcquireResult> acquire(
      const Parameters& startup, const ServerCredentials& credentials,
      std::chrono::steady_clock::time_point deadline);

  // Closes idle connections past idleTimeout or lifetime (called periodically).
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
  [[nodiscard]] const PoolCounters& counters() const { return counters_; }
  [[nodiscard]] const ServerAddress& address() const { return address_; }
  // For SHOW SERVERS: the idle connections, and when the longest waiter began.
  [[nodiscard]] std::vector<const ServerConnection*> idleConnections() const;
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> oldestWaitSince() const;
  // Points new connections elsewhere (after a topology change); idle ones are closed.
  void setAddress(ServerAddress address);

 private:
  friend class Lease;
  struct Waiter {
    explicit Waiter(asio::any_io_executor executor) : timer(std::move(executor)) {}
    asio::steady_timer timer;
    std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
    std::unique_ptr<ServerConnection> handed;  // a clean idle connection
    bool slotFreed = false;                    // room to open a new one
    bool shutdown = false;
    bool resumed = false;  // RESUME ended a pause wait
  };

  void returnConnection(std::unique_ptr<ServerConnection> conn, bool reusable);
  void onSlotFreed();
  [[nodiscard]] int total() const { return active_ + connecting_ + static_cast<int>(idle_.size()); }
  std::unique_ptr<ServerConnection> takeIdle(const Parameters& startup);
  // nullopt once RESUMEd; a failure when the deadline or a shutdown came first.
  [[nodiscard]] asio::awaitable<std::optional<AcquireFailure>> waitWhilePaused(
      std::chrono::steady_clock::time_point deadline);
  [[nodiscard]] asio::awaitable<AcquireResult> openNew(const Parameters& startup,
                                                       const ServerCredentials& credentials);

  asio::any_io_executor executor_;
  std::string user_;
  std::string database_;
  ServerAddress address_;
  PoolLimits limits_;
  std::deque<std::unique_ptr<ServerConnection>> idle_;  // most recently used at the back
  std::list<Waiter*> waiters_;
  std::list<Waiter*> pausedWaiters_;  // held by PAUSE, in arrival order
  int active_ = 0;
  int connecting_ = 0;
  bool shuttingDown_ = false;
  bool paused_ = false;
  std::uint64_t nextId_ = 1;
  PoolCounters counters_;
};

}  // namespace pgswarm::pool
