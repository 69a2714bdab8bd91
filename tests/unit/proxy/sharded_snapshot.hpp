// Snapshot parts for the dashboard and metrics tests: three configured
// nodes (a primary and two streaming replicas) with their topology; and a
// ProxySnapshot of a pool with two shard groups (shard1: a checked
// primary and replica; shard2: one node without health checks) after the
// coordinator's three nodes, and a shard map of two tables: a range table
// with a local partition, one per group and one on a node the pool does not
// know; a hash table whose key type the pool cannot hash. Shared by the
// status_api, metrics and grafana_dashboard tests.
#pragma once

#include <memory>

#include "proxy/pool_config.hpp"
#include "proxy/pool_snapshot.hpp"
#include "shard/routing.hpp"

namespace pgswarm::proxy::fixtures {

inline PoolConfig threeNodes() {
  PoolConfig config;
  config.servers = {{"127.0.0.1", 5000}, {"127.0.0.1", 5001}, {"127.0.0.1", 5002}};
  config.weights = {1, 1, 1};
  return config;
}

inline std::shared_ptr<cluster::Topology> topology(const PoolConfig& config) {
  auto topology = std::make_shared<cluster::Topology>();
  for (std::size_t i = 0; i < config.servers.size(); ++i) {
    cluster::NodeObservation node;
    node.node = {.name = config.servers[i].host + ":" + std::to_string(config.servers[i].port),
                 .host = config.servers[i].host,
                 .port = config.servers[i].port};
    node.health = cluster::NodeHealth::kUp;
    node.role = i == 0 ? cluster::NodeRole::kPrimary : cluster::NodeRole::kReplica;
    node.timeline = 3;
    if (i == 0) {
      node.currentLsn = 0x3000060;
    } else {
      node.replayLsn = 0x3000000;
      node.receiveLsn = 0x3000060;
      node.lagBytes = 0x60;
      node.replayDelaySeconds = 1.5;
      node.receiverStatus = "streaming";
      node.upstream = i == 1 ? "127.0.0.1:5000" : "";
    }
    topology->nodes.push_back(node);
  }
  return topology;
}

inline std::shared_ptr<const shard::ShardMap> twoTableShardMap() {
  using shard::Partition;
  shard::ShardedTable accounts{
      .table = "accounts",
      .keyColumn = "id",
      .keyType = "integer",
      .strategy = shard::Strategy::kRange,
      .partitions = {
          Partition{.name = "accounts_p0", .to = "100"},
          Partition{.name = "accounts_shard1", .node = "shard1", .from = "100", .to = "200"},
          Partition{.name = "accounts_shard2", .node = "shard2", .from = "200", .to = "300"},
          Partition{.name = "accounts_shard9", .node = "shard9", .from = "300"},
      }};
  shard::ShardedTable events{
      .table = "events",
      .keyColumn = "amount",
      .keyType = "numeric",
      .strategy = shard::Strategy::kHash,
      .modulus = 2,
      .partitions = {
          Partition{.name = "events_shard1", .node = "shard1", .remainder = 0},
          Partition{.name = "events_shard2", .node = "shard2", .remainder = 1},
      }};
  const std::string groups[] = {"shard1", "shard2"};
  auto map = std::make_shared<shard::ShardMap>();
  map->version = 7;
  map->databases["shop"] =
      shard::compileRoutes({shard::StoredTable{.map = accounts, .state = shard::JobState::kDone},
                            shard::StoredTable{.map = events, .state = shard::JobState::kDone}},
                           groups, {});
  return map;
}

// Node indices: 0-2 the coordinator's, 3-4 shard1, 5 shard2.
inline ProxySnapshot shardedSnapshot() {
  ProxySnapshot snapshot{.workersAsked = 2};
  WorkerSnapshot first{
      .index = 0, .routedTotal = {1, 2, 3, 40, 5, 60}, .routedNow = {0, 0, 0, 1, 0, 2}};
  first.servers.push_back({.state = "active", .addr = "10.0.1.1", .port = 5432});
  first.servers.push_back({.state = "idle", .addr = "10.0.2.1", .port = 5432});
  WorkerSnapshot second{.index = 1, .routedTotal = {0, 0, 0, 2}, .routedNow = {0, 0, 0, 1}};
  second.servers.push_back({.state = "idle", .addr = "10.0.1.1", .port = 5432});
  snapshot.workers = {first, second};

  auto shard1 = std::make_shared<cluster::Topology>();
  for (int i = 0; i < 2; ++i) {
    cluster::NodeObservation node;
    node.node = {.name = "10.0.1." + std::to_string(i + 1) + ":5432",
                 .host = "10.0.1." + std::to_string(i + 1),
                 .port = 5432};
    node.health = i == 0 ? cluster::NodeHealth::kUp : cluster::NodeHealth::kDown;
    node.role = i == 0 ? cluster::NodeRole::kPrimary : cluster::NodeRole::kReplica;
    if (i == 1) {
      node.lagBytes = 4096;
      node.replayDelaySeconds = 0.5;
      node.lastError = "connection refused";
    }
    shard1->nodes.push_back(node);
  }
  snapshot.shardGroups.push_back({.name = "shard1",
                                  .base = 3,
                                  .servers = {{"10.0.1.1", 5432}, {"10.0.1.2", 5432}},
                                  .topology = shard1});
  snapshot.shardGroups.push_back({.name = "shard2", .base = 5, .servers = {{"10.0.2.1", 5432}}});
  snapshot.shardMap = twoTableShardMap();
  return snapshot;
}

}  // namespace pgswarm::proxy::fixtures
