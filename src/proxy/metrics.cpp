// Prometheus rendering: see metrics.hpp.
#include "proxy/metrics.hpp"
#include <array>

#include <map>

#include <fmt/format.h>

#include "proxy/router.hpp"
#include "proxy/status_history.hpp"
#include "shard/routing.hpp"

namespace pgswarm::proxy {
namespace {

using PoolKey = std::pair<std::string, std::string>;  // database, user

// Metrics of one family are written together under one HELP/TYPE header.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  template <typename Value>
  void sample(std::string_view name, std::string_view labels, Value value) {
    if (labels.empty()) {
      fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    } else {
      fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
    }
  }
  [[nodiscard]] std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Gauges of long operations (agents' base backups, shard commands): one
// family per gauge, one sample per operation in each.
template <typename Run>
struct OperationGauge {
  std::string_view name;
  std::string_view help;
  std::int64_t (*value)(const Run& run);
};

template <typename Run, std::size_t N, typename Labels>
void renderOperationGauges(Exposition& out, const std::array<OperationGauge<Run>, N>& gauges,
                           const std::vector<Run>& runs, Labels labels) {
  for (const auto& gauge : gauges) {
    out.family(gauge.name, "gauge", gauge.help);
    for (const auto& run : runs) out.sample(gauge.name, labels(run), gauge.value(run));
  }
}

std::string poolLabels(const PoolKey& key) {
  return fmt::format("database=\"{}\",user=\"{}\"", escapeLabelValue(key.first),
                     escapeLabelValue(key.second));
}

std::map<PoolKey, PoolSnapshot> poolsByKey(const ProxySnapshot& snapshot) {
  std::map<PoolKey, PoolSnapshot> pools;
  for (const auto& worker : snapshot.workers) {
    for (const auto& pool : worker.pools) {
      auto& sum = pools[{pool.database, pool.user}];
      sum.active += pool.active;
      sum.idle += pool.idle;
      sum.connecting += pool.connecting;
      sum.waiting += pool.waiting;
      sum.maxWait = std::max(sum.maxWait, pool.maxWait);
      sum.counters.connectsMade += pool.counters.connectsMade;
      sum.counters.connectFailures += pool.counters.connectFailures;
      sum.counters.waits += pool.counters.waits;
      sum.counters.waitTimeouts += pool.counters.waitTimeouts;
      sum.counters.waitTime += pool.counters.waitTime;
      sum.counters.reserveConnects += pool.counters.reserveConnects;
      sum.counters.slotsMoved += pool.counters.slotsMoved;
    }
  }
  return pools;
}

void renderClients(Exposition& out, const ProxySnapshot& snapshot, const PoolConfig& config) {
  // Every state is written, zeros included, so a series never disappears.
  std::map<std::string, int> byState{
      {"login", 0}, {"idle", 0}, {"waiting", 0}, {"active", 0}, {"closing", 0}};
  int parked = 0;
  for (const auto& worker : snapshot.workers) {
    for (const auto& client : worker.clients) {
      ++byState[client.state];
      parked += client.parked ? 1 : 0;
    }
  }
  out.family("pgswarm_pool_clients", "gauge", "Client connections by session state.");
  for (const auto& [state, count] : byState) {
    out.sample("pgswarm_pool_clients", fmt::format("state=\"{}\"", escapeLabelValue(state)), count);
  }
  out.family("pgswarm_pool_parked_clients", "gauge",
             "Idle clients (counted in state idle) that hold no coroutine while they wait.");
  out.sample("pgswarm_pool_parked_clients", "", parked);
  out.family("pgswarm_pool_max_client_connections", "gauge",
             "Client connections accepted at most (max_client_conn).");
  out.sample("pgswarm_pool_max_client_connections", "", config.maxClientConnections);
}

void renderServers(Exposition& out, const std::map<PoolKey, PoolSnapshot>& pools) {
  out.family("pgswarm_pool_servers", "gauge",
             "Server connections per pool by state (active: leased to a client).");
  for (const auto& [key, pool] : pools) {
    auto labels = poolLabels(key);
    out.sample("pgswarm_pool_servers", labels + ",state=\"active\"", pool.active);
    out.sample("pgswarm_pool_servers", labels + ",state=\"idle\"", pool.idle);
    out.sample("pgswarm_pool_servers", labels + ",state=\"login\"", pool.connecting);
  }
  out.family("pgswarm_pool_waiting_clients", "gauge", "Clients waiting for a server connection.");
  for (const auto& [key, pool] : pools) {
    out.sample("pgswarm_pool_waiting_clients", poolLabels(key), pool.waiting);
  }
  out.family("pgswarm_pool_max_wait_seconds", "gauge",
             "How long the oldest waiting client of a pool has waited.");
  for (const auto& [key, pool] : pools) {
    out.sample("pgswarm_pool_max_wait_seconds", poolLabels(key),
               static_cast<double>(pool.maxWait.count()) / 1e6);
  }
}

void renderPoolCounters(Exposition& out, const std::map<PoolKey, PoolSnapshot>& pools) {
  struct Counter {
    const char* name;
    const char* help;
    double (*value)(const pool::PoolCounters&);
  };
  const Counter counters[] = {
      {"pgswarm_pool_server_connects_total", "Server connections opened.",
       [](const pool::PoolCounters& c) { return static_cast<double>(c.connectsMade); }},
      {"pgswarm_pool_server_connect_failures_total", "Server connections that failed to open.",
       [](const pool::PoolCounters& c) { return static_cast<double>(c.connectFailures); }},
      {"pgswarm_pool_waits_total", "Times a client had to wait for a server connection.",
       [](const pool::PoolCounters& c) { return static_cast<double>(c.waits); }},
      {"pgswarm_pool_wait_timeouts_total", "Waits that ended at query_wait_timeout.",
       [](const pool::PoolCounters& c) { return static_cast<double>(c.waitTimeouts); }},
      {"pgswarm_pool_wait_seconds_total", "Time clients spent waiting for a server connection.",
       [](const pool::PoolCounters& c) { return static_cast<double>(c.waitTime.count()) / 1e6; }},
      {"pgswarm_pool_reserve_connects_total",
       "Server connections opened from reserve_pool_size for a client that waited "
       "reserve_pool_timeout.",
       [](const pool::PoolCounters& c) { return static_cast<double>(c.reserveConnects); }},
      {"pgswarm_pool_slots_moved_total",
       "Server connections closed so that another worker could open one (default_pool_size "
       "is shared by all workers).",
       [](const pool::PoolCounters& c) { return static_cast<double>(c.slotsMoved); }},
  };
  for (const auto& counter : counters) {
    out.family(counter.name, "counter", counter.help);
    for (const auto& [key, pool] : pools) {
      out.sample(counter.name, poolLabels(key), counter.value(pool.counters));
    }
  }
}

// Per node: what the health checks saw and the transactions routed there.
void renderNodes(Exposition& out, const ProxySnapshot& snapshot, const PoolConfig& config) {
  auto label = [&](std::size_t i) {
    const auto& server = config.servers[i];
    return fmt::format("node=\"{}:{}\"", escapeLabelValue(server.host), server.port);
  };
  auto traffic = nodeTraffic(snapshot, config);
  out.family("pgswarm_node_transactions_routed_total", "counter",
             "Transactions (and session-mode reads) the pool sent to each node.");
  for (std::size_t i = 0; i < traffic.size(); ++i) {
    out.sample("pgswarm_node_transactions_routed_total", label(i), traffic[i].routedTotal);
  }
  out.family("pgswarm_node_queries_routed_total", "counter",
             "Queries (Query and Execute messages) the pool sent to each node.");
  for (std::size_t i = 0; i < traffic.size(); ++i) {
    out.sample("pgswarm_node_queries_routed_total", label(i), traffic[i].queriesTotal);
  }
  out.family("pgswarm_node_transactions_active", "gauge",
             "Transactions the pool has running on each node now.");
  for (std::size_t i = 0; i < traffic.size(); ++i) {
    out.sample("pgswarm_node_transactions_active", label(i), traffic[i].routedNow);
  }
  out.family("pgswarm_node_server_connections", "gauge",
             "Server connections to each node (active: leased to a client).");
  for (std::size_t i = 0; i < traffic.size(); ++i) {
    out.sample("pgswarm_node_server_connections", label(i) + ",state=\"active\"",
               traffic[i].serversActive);
    out.sample("pgswarm_node_server_connections", label(i) + ",state=\"idle\"",
               traffic[i].serversIdle);
  }
  if (!snapshot.topology) return;
  const auto& nodes = snapshot.topology->nodes;
  int primary = snapshot.topology->primaryIndex();
  out.family("pgswarm_node_up", "gauge", "1 while the last health check of the node answered.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out.sample("pgswarm_node_up", label(i), nodes[i].health == cluster::NodeHealth::kUp ? 1 : 0);
  }
  out.family("pgswarm_node_primary", "gauge", "1 for the node the pool sends writes to.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out.sample("pgswarm_node_primary", label(i), static_cast<int>(i) == primary ? 1 : 0);
  }
  out.family("pgswarm_node_role", "gauge",
             "1 for the node's role as its last health check saw it (primary, replica, unknown).");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (auto role :
         {cluster::NodeRole::kPrimary, cluster::NodeRole::kReplica, cluster::NodeRole::kUnknown}) {
      out.sample("pgswarm_node_role",
                 label(i) + fmt::format(",role=\"{}\"", cluster::toString(role)),
                 nodes[i].role == role ? 1 : 0);
    }
  }
  // The dashboard's `reads` column: yes, or why the pool keeps reads away.
  auto policy = RoutingPolicy::fromConfig(config);
  out.family("pgswarm_node_takes_reads", "gauge",
             "1 while the pool may send reads to the node (SHOW NODES' reads is yes).");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out.sample("pgswarm_node_takes_reads", label(i),
               readExclusion(*snapshot.topology, policy, i).empty() ? 1 : 0);
  }
  out.family("pgswarm_node_replica_lag_bytes", "gauge",
             "WAL bytes a replica's replay is behind the primary's position.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].lagBytes)
      out.sample("pgswarm_node_replica_lag_bytes", label(i), *nodes[i].lagBytes);
  }
  out.family("pgswarm_node_replay_delay_seconds", "gauge",
             "Replicas: 0 when all WAL received is replayed, else seconds since the last "
             "replayed commit.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].replayDelaySeconds) {
      out.sample("pgswarm_node_replay_delay_seconds", label(i), *nodes[i].replayDelaySeconds);
    }
  }
  out.family("pgswarm_node_timeline", "gauge", "The node's timeline as of its last health check.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].timeline > 0) out.sample("pgswarm_node_timeline", label(i), nodes[i].timeline);
  }
  out.family("pgswarm_node_wal_position_bytes", "gauge",
             "WAL positions as byte offsets: a primary's current (written) position, a "
             "replica's received and replayed ones.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const std::pair<const char*, const std::optional<cluster::Lsn>&> positions[] = {
        {"current", nodes[i].currentLsn},
        {"receive", nodes[i].receiveLsn},
        {"replay", nodes[i].replayLsn}};
    for (const auto& [position, lsn] : positions) {
      if (!lsn) continue;
      out.sample("pgswarm_node_wal_position_bytes",
                 label(i) + fmt::format(",position=\"{}\"", position), *lsn);
    }
  }
  out.family("pgswarm_node_replay_paused", "gauge",
             "1 while a replica's WAL replay is paused (pg_wal_replay_pause()).");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].role != cluster::NodeRole::kReplica) continue;
    out.sample("pgswarm_node_replay_paused", label(i), nodes[i].replayPaused ? 1 : 0);
  }
  out.family("pgswarm_node_health_check_failures_total", "counter",
             "Health checks of the node that failed (connect, query or timeout).");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out.sample("pgswarm_node_health_check_failures_total", label(i), nodes[i].failures);
  }
  out.family("pgswarm_node_streaming", "gauge",
             "1 while the replica's WAL receiver streams (replicas only).");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].role != cluster::NodeRole::kReplica) continue;
    out.sample("pgswarm_node_streaming", label(i), nodes[i].receiverStatus == "streaming" ? 1 : 0);
  }
  out.family("pgswarm_node_fenced", "gauge",
             "1 while the failover coordinator keeps writes away from the node.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out.sample("pgswarm_node_fenced", label(i), nodes[i].fenced ? 1 : 0);
  }
}

// Each replication group's failover coordinator: the coordinator's series
// carry no group label, a shard group's carry group="shard1" (an absent
// label reads as an empty one in PromQL, so `by (group)` tells them apart).
void renderFailover(Exposition& out, const ProxySnapshot& snapshot) {
  struct Coordinator {
    std::string group;  // empty for the coordinator's own group
    const cluster::FailoverStatus& status;
    const cluster::Topology* topology;
  };
  std::vector<Coordinator> coordinators;
  if (snapshot.failover) {
    coordinators.push_back({"", *snapshot.failover, snapshot.topology.get()});
  }
  for (const auto& group : snapshot.shardGroups) {
    if (group.failover) coordinators.push_back({group.name, *group.failover, group.topology.get()});
  }
  if (coordinators.empty()) return;
  auto labels = [](const Coordinator& c, std::string_view more = "") {
    auto group =
        c.group.empty() ? std::string() : fmt::format("group=\"{}\"", escapeLabelValue(c.group));
    if (more.empty()) return group;
    return group.empty() ? std::string(more) : group + "," + std::string(more);
  };
  out.family("pgswarm_failovers_total", "counter", "Replicas the pool promoted.");
  for (const auto& c : coordinators) {
    out.sample("pgswarm_failovers_total", labels(c), c.status.failovers);
  }
  out.family("pgswarm_switchovers_total", "counter", "Planned changes of primary (SWITCHOVER).");
  for (const auto& c : coordinators) {
    out.sample("pgswarm_switchovers_total", labels(c), c.status.switchovers);
  }
  out.family("pgswarm_failover_state", "gauge",
             "1 for the failover state machine's current state (pgswarm failover-diagram).");
  for (const auto& c : coordinators) {
    for (auto state : {cluster::FailoverState::kNoPrimary, cluster::FailoverState::kHealthy,
                       cluster::FailoverState::kPrimaryLost, cluster::FailoverState::kElecting,
                       cluster::FailoverState::kPromoting, cluster::FailoverState::kRefused}) {
      out.sample("pgswarm_failover_state",
                 labels(c, fmt::format("state=\"{}\"", cluster::toString(state))),
                 state == c.status.state ? 1 : 0);
    }
  }
  out.family("pgswarm_failover_awaiting_primary", "gauge",
             "1 while the primary is lost and writes wait for a failover.");
  for (const auto& c : coordinators) {
    out.sample("pgswarm_failover_awaiting_primary", labels(c),
               c.topology != nullptr && c.topology->awaitingPrimary ? 1 : 0);
  }
  out.family("pgswarm_failover_synchronous_mode", "gauge",
             "1 for the synchronous replication mode the failover coordinator keeps (off, on, "
             "strict).");
  for (const auto& c : coordinators) {
    for (auto mode :
         {cluster::SyncMode::kOff, cluster::SyncMode::kOn, cluster::SyncMode::kStrict}) {
      out.sample("pgswarm_failover_synchronous_mode",
                 labels(c, fmt::format("mode=\"{}\"", cluster::toString(mode))),
                 mode == c.status.syncMode ? 1 : 0);
    }
  }
  out.family("pgswarm_failover_last_transition_timestamp_seconds", "gauge",
             "When the failover state machine last changed state (Unix time); absent before "
             "its first transition.");
  for (const auto& c : coordinators) {
    if (c.status.lastEvent.empty()) continue;
    out.sample("pgswarm_failover_last_transition_timestamp_seconds", labels(c),
               static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       c.status.lastEventAt.time_since_epoch())
                                       .count()) /
                   1000.0);
  }
}

// database, table, partition and node (or "coordinator") of a partition.
std::string partitionLabels(const std::string& database, const shard::TableRoute& route,
                            std::size_t i) {
  const auto& map = route.map;
  const auto& partition = map.partitions[i];
  return fmt::format("database=\"{}\",table=\"{}\",partition=\"{}\",node=\"{}\"",
                     escapeLabelValue(database), escapeLabelValue(map.schema + "." + map.table),
                     escapeLabelValue(partition.name),
                     escapeLabelValue(partition.local() ? "coordinator" : partition.node));
}

// Per shard node (each group's own health checks), and the shard map's size.
void renderShards(Exposition& out, const ProxySnapshot& snapshot) {
  if (snapshot.shardGroups.empty()) return;
  struct ShardNode {
    std::string labels;
    const cluster::NodeObservation* observed = nullptr;
    bool primary = false;
  };
  std::vector<ShardNode> nodes;
  for (const auto& group : snapshot.shardGroups) {
    const auto* topology = group.topology.get();
    int primary = topology ? topology->primaryIndex() : -1;
    for (std::size_t i = 0; i < group.servers.size(); ++i) {
      const auto& server = group.servers[i];
      nodes.push_back({fmt::format("group=\"{}\",node=\"{}:{}\"", escapeLabelValue(group.name),
                                   escapeLabelValue(server.host), server.port),
                       topology && i < topology->nodes.size() ? &topology->nodes[i] : nullptr,
                       static_cast<int>(i) == primary});
    }
  }
  auto traffic = shardNodeTraffic(snapshot);
  out.family("pgswarm_shard_node_transactions_routed_total", "counter",
             "Single-shard transactions the pool sent straight to each shard node.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out.sample("pgswarm_shard_node_transactions_routed_total", nodes[i].labels,
               traffic[i].routedTotal);
  }
  out.family("pgswarm_shard_node_queries_routed_total", "counter",
             "Queries the pool sent straight to each shard node.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out.sample("pgswarm_shard_node_queries_routed_total", nodes[i].labels, traffic[i].queriesTotal);
  }
  out.family("pgswarm_shard_node_transactions_active", "gauge",
             "Transactions the pool has running on each shard node now.");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out.sample("pgswarm_shard_node_transactions_active", nodes[i].labels, traffic[i].routedNow);
  }
  out.family("pgswarm_shard_node_server_connections", "gauge",
             "Server connections to each shard node (active: leased to a client).");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out.sample("pgswarm_shard_node_server_connections", nodes[i].labels + ",state=\"active\"",
               traffic[i].serversActive);
    out.sample("pgswarm_shard_node_server_connections", nodes[i].labels + ",state=\"idle\"",
               traffic[i].serversIdle);
  }
  // Checked nodes only, as pgswarm_node_up: a group without health checks has no series.
  out.family("pgswarm_shard_node_up", "gauge",
             "1 while the last health check of the shard node answered.");
  for (const auto& node : nodes) {
    if (!node.observed) continue;
    out.sample("pgswarm_shard_node_up", node.labels,
               node.observed->health == cluster::NodeHealth::kUp ? 1 : 0);
  }
  out.family("pgswarm_shard_node_primary", "gauge",
             "1 for the shard node its group's writes go to.");
  for (const auto& node : nodes) {
    if (node.observed) out.sample("pgswarm_shard_node_primary", node.labels, node.primary ? 1 : 0);
  }
  out.family("pgswarm_shard_node_fenced", "gauge",
             "1 while the shard group's failover coordinator keeps writes away from the node.");
  for (const auto& node : nodes) {
    if (node.observed)
      out.sample("pgswarm_shard_node_fenced", node.labels, node.observed->fenced ? 1 : 0);
  }
  out.family("pgswarm_shard_node_replica_lag_bytes", "gauge",
             "WAL bytes a shard replica's replay is behind its group's primary.");
  for (const auto& node : nodes) {
    if (node.observed && node.observed->lagBytes) {
      out.sample("pgswarm_shard_node_replica_lag_bytes", node.labels, *node.observed->lagBytes);
    }
  }
  if (!snapshot.shardMap) return;
  std::size_t tables = 0;
  for (const auto& [database, routes] : snapshot.shardMap->databases) {
    tables += routes.tables.size();
  }
  out.family("pgswarm_shard_map_tables", "gauge",
             "Sharded tables in the shard map the pool routes by (all databases).");
  out.sample("pgswarm_shard_map_tables", "", tables);
  out.family("pgswarm_shard_map_version", "gauge",
             "Version of the pool's shard map; grows with every change it loads.");
  out.sample("pgswarm_shard_map_version", "", snapshot.shardMap->version);
  // SHOW SHARD_MAP's `direct`: the reason, when not, is on the dashboard.
  out.family("pgswarm_shard_partition_direct", "gauge",
             "1 when the pool sends statements on one of the partition's keys straight to its "
             "shard node.");
  for (const auto& [database, routes] : snapshot.shardMap->databases) {
    for (const auto& route : routes.tables) {
      for (std::size_t i = 0; i < route.map.partitions.size(); ++i) {
        out.sample("pgswarm_shard_partition_direct", partitionLabels(database, route, i),
                   shard::whyNotDirect(route, i).empty() ? 1 : 0);
      }
    }
  }
  out.family("pgswarm_shard_partition_rows_estimate", "gauge",
             "Rows of each partition as the coordinator's statistics estimate them (analyzed "
             "partitions only).");
  for (const auto& [database, routes] : snapshot.shardMap->databases) {
    for (const auto& route : routes.tables) {
      const auto& map = route.map;
      for (std::size_t i = 0; i < map.partitions.size() && i < route.rowEstimates.size(); ++i) {
        if (route.rowEstimates[i] < 0) continue;
        out.sample("pgswarm_shard_partition_rows_estimate", partitionLabels(database, route, i),
                   route.rowEstimates[i]);
      }
    }
  }
}

}  // namespace

std::string renderEventCounts(const std::map<std::string, std::uint64_t>& counts) {
  Exposition out;
  out.family("pgswarm_cluster_events_total", "counter",
             "Events of the dashboard's history by kind (node_up, node_down, role, fenced, "
             "unfenced, failover).");
  for (const auto& [kind, count] : counts) {
    out.sample("pgswarm_cluster_events_total", fmt::format("kind=\"{}\"", escapeLabelValue(kind)),
               count);
  }
  return out.take();
}

std::string renderOperationProgress(const nlohmann::json& progress) {
  using AgentRun = std::pair<std::string, nlohmann::json>;  // node name, the agent's JSON
  static constexpr std::array<OperationGauge<AgentRun>, 4> kGauges{{
      {"pgswarm_node_operation_done_bytes",
       "Bytes the node's last base backup or rewind (tool label) has copied.",
       [](const AgentRun& run) { return run.second.value("done_kb", std::int64_t{0}) * 1024; }},
      {"pgswarm_node_operation_total_bytes",
       "Bytes the tool expects to copy in all (its own estimate).",
       [](const AgentRun& run) { return run.second.value("total_kb", std::int64_t{0}) * 1024; }},
      {"pgswarm_node_operation_running", "1 while the base backup or rewind runs, 0 once it ended.",
       [](const AgentRun& run) -> std::int64_t {
         return run.second.value("finished", false) ? 0 : 1;
       }},
      {"pgswarm_node_operation_succeeded",
       "1 when the last base backup or rewind ended well, 0 when it failed or runs.",
       [](const AgentRun& run) -> std::int64_t {
         const auto& json = run.second;
         return json.contains("succeeded") && json["succeeded"].is_boolean() &&
                        json["succeeded"].get<bool>()
                    ? 1
                    : 0;
       }},
  }};
  std::vector<AgentRun> runs;
  for (const auto& [node, run] : progress.items()) runs.emplace_back(node, run);
  Exposition out;
  renderOperationGauges(out, kGauges, runs, [](const AgentRun& run) {
    return fmt::format("node=\"{}\",tool=\"{}\"", escapeLabelValue(run.first),
                       escapeLabelValue(run.second.value("tool", std::string())));
  });
  return out.take();
}

std::string escapeLabelValue(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

namespace {

// The shard commands' rows (the dashboard's long operations), labelled by
// the command's id: a finished one keeps its series while the catalog
// keeps its row.
void renderShardOperations(Exposition& out, const ProxySnapshot& snapshot) {
  using Row = shard::OperationRow;
  static constexpr std::array<OperationGauge<Row>, 5> kGauges{{
      {"pgswarm_shard_operation_rows_done",
       "Rows the shard command's last copy phase (copy, recopy) has copied.",
       [](const Row& row) { return row.rowsDone; }},
      {"pgswarm_shard_operation_rows_total",
       "Rows the shard command's last copy phase copies in all (counted before it).",
       [](const Row& row) { return row.rowsTotal; }},
      {"pgswarm_shard_operation_bytes_done",
       "Bytes of COPY stream the shard command's last copy phase has copied.",
       [](const Row& row) { return row.bytesDone; }},
      {"pgswarm_shard_operation_running",
       "1 while the shard command runs, 0 once it ended (or was killed).",
       [](const Row& row) -> std::int64_t { return row.state == "running" ? 1 : 0; }},
      {"pgswarm_shard_operation_succeeded",
       "1 when the shard command ended well, 0 while it runs or when it failed.",
       [](const Row& row) -> std::int64_t { return row.state == "done" ? 1 : 0; }},
  }};
  renderOperationGauges(out, kGauges, snapshot.shardOperations, [](const Row& row) {
    return fmt::format("database=\"{}\",table=\"{}\",verb=\"{}\",id=\"{}\"",
                       escapeLabelValue(row.database), escapeLabelValue(row.table),
                       escapeLabelValue(row.verb), row.id);
  });
}

}  // namespace

std::string renderMetrics(const ProxySnapshot& snapshot, const PoolConfig& config) {
  Exposition out;
  renderClients(out, snapshot, config);
  auto pools = poolsByKey(snapshot);
  renderServers(out, pools);

  std::uint64_t transactions = 0;
  std::uint64_t queries = 0;
  for (const auto& worker : snapshot.workers) {
    transactions += worker.transactions;
    queries += worker.queries;
  }
  out.family("pgswarm_pool_transactions_total", "counter",
             "Transactions completed through the pool (ReadyForQuery back to idle).");
  out.sample("pgswarm_pool_transactions_total", "", transactions);
  out.family("pgswarm_pool_queries_total", "counter",
             "Queries sent through the pool (Query and Execute messages).");
  out.sample("pgswarm_pool_queries_total", "", queries);
  renderPoolCounters(out, pools);

  renderNodes(out, snapshot, config);
  renderFailover(out, snapshot);
  renderShards(out, snapshot);
  if (snapshot.shardMap) renderShardOperations(out, snapshot);

  out.family("pgswarm_pool_paused", "gauge", "1 while the pool is PAUSEd from the admin console.");
  out.sample("pgswarm_pool_paused", "", snapshot.paused ? 1 : 0);
  out.family("pgswarm_pool_workers", "gauge", "Worker threads (event loops).");
  out.sample("pgswarm_pool_workers", "", snapshot.workersAsked);
  out.family("pgswarm_pool_workers_answered", "gauge",
             "Workers that answered the snapshot behind these figures (a slow one is left out).");
  out.sample("pgswarm_pool_workers_answered", "", snapshot.workers.size());
  return out.take();
}

}  // namespace pgswarm::proxy
