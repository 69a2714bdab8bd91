// What all workers of one pool process share: the validated config, the
// users, the access rules, the auth_query cache, the cancel keys, the
// server-connection slots of every (user, database) and a few counters.
// Nothing here is locked per message: the slots are atomics, and workers
// own their pools and sessions.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <vector>

#include "cluster/event_log.hpp"
#include "cluster/failover_coordinator.hpp"
#include "cluster/health_monitor.hpp"
#include "pool/pool_slots.hpp"
#include "proxy/access_rules.hpp"
#include "proxy/auth_query.hpp"
#include "proxy/cancel_registry.hpp"
#include "proxy/client_tls.hpp"
#include "proxy/pool_config.hpp"
#include "proxy/router.hpp"
#include "proxy/server_tls.hpp"
#include "proxy/users.hpp"
#include "shard/foreign_server_keeper.hpp"
#include "shard/map_watcher.hpp"

namespace pgswarm::proxy {

class Worker;

// A shard group the pool routes single-shard statements to: its nodes take
// the node indices [base, base + servers.size()) after the coordinator's
// (config.servers), and its own health monitor tells its primary and
// replicas apart; its own failover coordinator promotes a replica when the
// group's primary is lost, with the coordinator group's failover settings.
struct ShardGroup {
  std::string name;
  int base = 0;
  std::vector<pool::ServerAddress> servers;
  RoutingPolicy routing;
  std::unique_ptr<cluster::HealthMonitor> monitor;  // null when checks are off
  // Null without checks or with one node; declared after the monitor it
  // watches, so it stops first.
  std::unique_ptr<cluster::FailoverCoordinator> failover;
};

struct ProxyShared {
  explicit ProxyShared(PoolConfig c)
      : config(std::move(c)),
        routing(RoutingPolicy::fromConfig(config)),
        slots(config.sizes, std::max(config.workers, 1)) {}
  // As the pool started; the pool sizes in effect are slots.sizes() (RELOAD).
  const PoolConfig config;
  // RELOAD and SIGHUP read the config again (file, environment, flags)
  // through this, for the pool sizes; null: they keep the sizes.
  std::function<Result<PoolConfig>()> rereadConfig;
  const RoutingPolicy routing;
  // The cluster's event history (dashboard): the monitor and the failover
  // coordinator add to it, so it is made first and outlives both.
  std::shared_ptr<cluster::EventLog> events = std::make_shared<cluster::EventLog>();
  // Started by runPool before the workers (health_check_period_ms > 0);
  // null when checks are off: then every node's health stays unknown.
  std::unique_ptr<cluster::HealthMonitor> monitor;
  // Started after the monitor when failover is on and there are 2+ nodes;
  // declared after it so it stops first.
  std::unique_ptr<cluster::FailoverCoordinator> failover;
  // Filled by runPool before the workers start, fixed afterwards.
  std::vector<ShardGroup> shardGroups;
  // Started by runPool when there are shard groups and a refresh period;
  // null otherwise (every statement then goes through the coordinator).
  std::unique_ptr<shard::MapWatcher> shardMap;
  // Points the coordinator's foreign servers at each shard group's current
  // primary; started with the groups' monitors, null without them.
  std::unique_ptr<shard::ForeignServerKeeper> foreignServers;
  Users users;
  AccessRules access;
  ClientTls tls;
  // server_tls_sslmode and its client context: loaded by runPool before the
  // workers start; every pool shares it, and RELOAD replaces it for the
  // connections opened afterwards (reloadServerTls).
  pool::ServerTls serverTls;
  ServerTlsLoader serverTlsLoader;
  SecretCache authCache{config.authQueryCacheTtl};
  CancelRegistry cancels;
  // The pool sizes per (user, database, node) across all workers, and the
  // caps per database and user.
  pool::PoolSlotRegistry slots;
  std::atomic<int> clients{0};
  // Filled by runPool before any worker starts and never changed afterwards,
  // so the admin console and /metrics may read it from any thread unlocked.
  std::vector<Worker*> workers;
  // PAUSE / RESUME: the truth each worker copies into its pools (see
  // Worker::applyPause); read only when a pool is made or a command runs.
  std::atomic<bool> paused{false};

  // Every node the pool connects to: the coordinator's, then each shard
  // group's; a node index (pools, routed counts) indexes this.
  [[nodiscard]] std::size_t nodeCount() const { return config.servers.size() + shardNodeCount(); }
  [[nodiscard]] const pool::ServerAddress& nodeAddress(int node) const {
    const auto* group = groupOf(node);
    auto index = static_cast<std::size_t>(group ? node - group->base : node);
    return group ? group->servers.at(index) : config.servers.at(index);
  }
  // The shard group a node index belongs to, or nullptr for the coordinator's.
  [[nodiscard]] const ShardGroup* groupOf(int node) const {
    for (const auto& group : shardGroups) {
      if (node >= group.base && node < group.base + static_cast<int>(group.servers.size())) {
        return &group;
      }
    }
    return nullptr;
  }
  // Its index in shardGroups, or -1 for the coordinator's group.
  [[nodiscard]] int groupIndexOf(int node) const {
    const auto* group = groupOf(node);
    return group ? static_cast<int>(group - shardGroups.data()) : -1;
  }

 private:
  [[nodiscard]] std::size_t shardNodeCount() const {
    std::size_t count = 0;
    for (const auto& group : shardGroups) count += group.servers.size();
    return count;
  }
};

}  // namespace pgswarm::proxy
