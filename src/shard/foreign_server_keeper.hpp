// Keeps the coordinator's postgres_fdw server of each shard node
// (pgswarm_<name>) pointing at that node's current primary, so queries
// through the coordinator follow a shard group's failover or switchover.
// A thread compares, every `period`, each group's primary (as the pool's
// health monitor of that group sees it) with the one it last confirmed on
// the coordinator; when they differ it reads the server's options in each
// shard database and ALTERs them only if host or port differ (and the
// catalog's pgswarm.shards rows with them). Failures are retried at the
// next period, so a coordinator that is failing over itself is caught up
// with once it answers; a new coordinator primary is checked again.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cluster/event_log.hpp"
#include "common/periodic_thread.hpp"
#include "shard/map_watcher.hpp"
#include "shard/shard_catalog.hpp"

namespace pgswarm::shard {

// The statement that points foreign server `server` at host:port, given
// its current options (option name to value); nullopt when it already
// points there. An option the server lacks is ADDed, one it has is SET.
[[nodiscard]] std::optional<std::string> repointStatement(
    const std::string& server, const std::map<std::string, std::string>& options,
    const std::string& host, int port);

struct ForeignServerKeeperOptions {
  std::vector<std::string> groups;     // shard node names (the catalog's `node`), in order
  std::vector<std::string> databases;  // where the sharded tables and their servers are
  // Where the coordinator's primary is now; nullopt while none is known.
  std::function<std::optional<CoordinatorAddress>()> coordinator;
  // Group i's primary now (name = groups[i]); nullopt while none is known.
  std::function<std::optional<ShardNode>(std::size_t group)> primaryOf;
  std::string user = "postgres";  // must own the servers (ALTER SERVER)
  std::string password;
  cluster::ConnectKeywords tls;  // the pool's server_tls_* in libpq's words
  std::string applicationName = "pgswarm shard failover";
  std::chrono::milliseconds period{1000};
  std::chrono::milliseconds connectTimeout{2000};
  std::shared_ptr<cluster::EventLog> events;  // each re-pointing is added (kind "shard")
};

class ForeignServerKeeper {
 public:
  explicit ForeignServerKeeper(ForeignServerKeeperOptions options);
  ~ForeignServerKeeper();  // stop()
  ForeignServerKeeper(const ForeignServerKeeper&) = delete;
  ForeignServerKeeper& operator=(const ForeignServerKeeper&) = delete;

  void start();
  void stop();
  // Checks every group now instead of at the next period (a switchover
  // waits for its group's server before the pool resumes).
  void checkNow();
  // The primary group's servers were last confirmed to point at, on the
  // coordinator's current primary; nullopt before the first confirmation.
  [[nodiscard]] std::optional<ShardNode> confirmed(std::size_t group) const;

 private:
  void check();
  // Points group's server at `primary` in every database; true when every
  // database now agrees (or has no such server).
  bool reconcile(const CoordinatorAddress& coordinator, std::size_t group,
                 const ShardNode& primary);
  [[nodiscard]] Result<bool> reconcileIn(const CoordinatorAddress& coordinator,
                                         const std::string& database, const ShardNode& primary);

  const ForeignServerKeeperOptions options_;
  mutable std::mutex mutex_;  // guards confirmed_
  // Per group, the primary its servers were last confirmed to point at, on
  // `confirmedOn_`: written by the thread only, under mutex_.
  std::vector<std::optional<ShardNode>> confirmed_;
  // Thread-owned: per group, whether a failure was already logged.
  std::vector<bool> failing_;
  std::optional<CoordinatorAddress> confirmedOn_;
  common::PeriodicThread thread_;  // runs check(); last: stopped first
};

}  // namespace pgswarm::shard
