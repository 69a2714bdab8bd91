// The dashboard's JSON document: see status_api.hpp.
#include "proxy/status_api.hpp"

#include <map>

#include "common/progress_estimate.hpp"
#include "proxy/admin_commands.hpp"
#include "proxy/router.hpp"
#include "shard/routing.hpp"

namespace pgswarm::proxy {
namespace {

using nlohmann::json;

template <typename T>
json orNull(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json lsnOrNull(const std::optional<cluster::Lsn>& lsn) {
  return lsn ? json(cluster::formatLsn(*lsn)) : json(nullptr);
}

json emptyToNull(const std::string& text) {
  return text.empty() ? json(nullptr) : json(text);
}

// The node a replica's WAL receiver streams from, as an index of the
// document's nodes: its upstream matched to one of its group's `servers`
// (the first of them numbered `base`); without an upstream (not shown to
// the checks' role) a streaming replica is taken to follow its group's
// primary (`primary`, within the group).
json followsOf(const cluster::NodeObservation& node,
               const std::vector<pool::ServerAddress>& servers, int base, int primary) {
  if (node.role != cluster::NodeRole::kReplica) return nullptr;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const auto& server = servers[i];
    if (node.upstream == server.host + ":" + std::to_string(server.port)) {
      return base + static_cast<int>(i);
    }
  }
  if (node.receiverStatus == "streaming" && primary >= 0) return base + primary;
  return nullptr;
}

json nodeJson(const StatusInputs& in, std::size_t i, const NodeTraffic& traffic,
              const RoutingPolicy& policy) {
  const auto& server = in.config.servers[i];
  const auto* topology = in.snapshot.topology.get();
  int primary = topology ? primaryNode(*topology) : 0;
  json out{
      {"index", i},
      {"name", server.host + ":" + std::to_string(server.port)},
      {"host", server.host},
      {"port", server.port},
      {"primary", static_cast<int>(i) == primary},
      {"weight", i < in.config.weights.size() ? in.config.weights[i] : 1},
      {"routed_total", traffic.routedTotal},
      {"routed_active", traffic.routedNow},
      {"queries_total", traffic.queriesTotal},
      {"server_connections", {{"active", traffic.serversActive}, {"idle", traffic.serversIdle}}}};
  if (topology == nullptr || i >= topology->nodes.size()) {
    out.update({{"role", i == 0 ? "primary" : "unknown"},
                {"health", "unchecked"},
                {"healthy", nullptr},
                {"fenced", false},
                {"reads", "health checks off"}});
    return out;
  }
  const auto& node = topology->nodes[i];
  auto reads = readExclusion(*topology, policy, i);
  out.update({{"cluster_name", emptyToNull(node.clusterName)},
              {"role", cluster::toString(node.role)},
              {"health", cluster::toString(node.health)},
              {"healthy", node.health == cluster::NodeHealth::kUp},
              {"fenced", node.fenced},
              {"timeline", node.timeline > 0 ? json(node.timeline) : json(nullptr)},
              {"current_lsn", lsnOrNull(node.currentLsn)},
              {"receive_lsn", lsnOrNull(node.receiveLsn)},
              {"replay_lsn", lsnOrNull(node.replayLsn)},
              {"lag_bytes", orNull(node.lagBytes)},
              {"lag_seconds", orNull(node.replayDelaySeconds)},
              {"replay_paused", node.replayPaused},
              {"receiver_status", emptyToNull(node.receiverStatus)},
              {"upstream", emptyToNull(node.upstream)},
              {"follows", followsOf(node, in.config.servers, 0, primary)},
              {"reads", reads.empty() ? std::string("yes") : std::string(reads)},
              {"last_error", emptyToNull(node.lastError)},
              {"health_checks", node.probes},
              {"health_check_failures", node.failures}});
  return out;
}

// `traffic`: every node's, shard nodes included.
json poolJson(const StatusInputs& in, const std::vector<NodeTraffic>& traffic) {
  std::map<std::string, int> clients{
      {"login", 0}, {"idle", 0}, {"waiting", 0}, {"active", 0}, {"closing", 0}};
  std::uint64_t transactions = 0;
  std::uint64_t queries = 0;
  for (const auto& worker : in.snapshot.workers) {
    for (const auto& client : worker.clients) ++clients[client.state];
    transactions += worker.transactions;
    queries += worker.queries;
  }
  int active = 0;
  int idle = 0;
  for (const auto& node : traffic) {
    active += node.serversActive;
    idle += node.serversIdle;
  }
  return {{"version", versionString()},
          {"mode", toString(in.config.mode)},
          {"workers", in.snapshot.workersAsked},
          {"workers_answered", in.snapshot.workers.size()},
          {"paused", in.snapshot.paused},
          {"clients", in.snapshot.clientConnections},
          {"clients_by_state", clients},
          {"max_client_conn", in.config.maxClientConnections},
          {"server_connections", {{"active", active}, {"idle", idle}}},
          {"transactions_total", transactions},
          {"queries_total", queries}};
}

// The last promotion (a failover's or a switchover's) of a group's failover
// coordinator, as the event log keeps it: each is the transition
// "promoting -> healthy on promoted: <detail>", opened by the group's name
// for a shard group's ("shard1 promoting -> ..."). Null when the log no
// longer holds one (it keeps the newest 200 events).
const cluster::ClusterEvent* lastPromotion(const std::vector<cluster::ClusterEvent>& events,
                                           const std::string& group) {
  auto prefix = (group.empty() ? "" : group + " ") + "promoting -> healthy on promoted";
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    if (it->kind == "failover" && it->message.starts_with(prefix)) return &*it;
  }
  return nullptr;
}

// A replication group's failover coordinator (the coordinator's, `group`
// empty, or a shard group's); null when it does not run.
json failoverJson(const std::optional<cluster::FailoverStatus>& failover,
                  const std::shared_ptr<const cluster::Topology>& topology,
                  const std::vector<cluster::ClusterEvent>& events, const std::string& group) {
  if (!failover) return nullptr;
  const auto& status = *failover;
  const auto* promotion = lastPromotion(events, group);
  json promotionDetail = nullptr;
  if (promotion != nullptr) {
    auto colon = promotion->message.find(": ");
    promotionDetail =
        colon == std::string::npos ? promotion->message : promotion->message.substr(colon + 2);
  }
  return {{"state", cluster::toString(status.state)},
          {"primary", emptyToNull(status.primary)},
          {"failovers", status.failovers},
          {"switchovers", status.switchovers},
          {"last_event", emptyToNull(status.lastEvent)},
          {"last_event_at",
           status.lastEvent.empty() ? json(nullptr) : json(epochMillis(status.lastEventAt))},
          {"last_promotion", promotionDetail},
          {"last_promotion_at", promotion ? json(epochMillis(promotion->at)) : json(nullptr)},
          {"refusal", emptyToNull(status.refusal)},
          {"awaiting_primary", topology && topology->awaitingPrimary},
          {"synchronous_mode", cluster::toString(status.syncMode)},
          {"synchronous_standby_names", emptyToNull(status.synchronousStandbyNames)}};
}

// Column per series (one array per figure), which keeps 300 samples small.
json historyJson(const StatusInputs& in) {
  json times = json::array();
  json clients = json::array();
  json servers = json::array();
  auto nodeCount = in.config.servers.size() + shardNodeTraffic(in.snapshot).size();
  std::vector<json> lagBytes(nodeCount, json::array());
  std::vector<json> lagSeconds(nodeCount, json::array());
  std::vector<json> routed(nodeCount, json::array());
  std::vector<json> queries(nodeCount, json::array());
  for (const auto& sample : in.history) {
    times.push_back(epochMillis(sample.at));
    clients.push_back(sample.clients);
    servers.push_back(sample.servers);
    for (std::size_t i = 0; i < lagBytes.size(); ++i) {
      const NodeSample none{};
      const auto& node = i < sample.nodes.size() ? sample.nodes[i] : none;
      lagBytes[i].push_back(orNull(node.lagBytes));
      lagSeconds[i].push_back(orNull(node.lagSeconds));
      routed[i].push_back(orNull(node.routedPerSecond));
      queries[i].push_back(orNull(node.queriesPerSecond));
    }
  }
  json nodes = json::array();
  for (std::size_t i = 0; i < lagBytes.size(); ++i) {
    nodes.push_back({{"lag_bytes", std::move(lagBytes[i])},
                     {"lag_seconds", std::move(lagSeconds[i])},
                     {"routed_per_second", std::move(routed[i])},
                     {"queries_per_second", std::move(queries[i])}});
  }
  return {{"interval_ms", in.historyInterval.count()},
          {"capacity", in.historyCapacity},
          {"t", std::move(times)},
          {"clients", std::move(clients)},
          {"server_connections", std::move(servers)},
          {"nodes", std::move(nodes)}};
}

json eventsJson(const std::vector<cluster::ClusterEvent>& events) {
  json out = json::array();
  for (const auto& event : events) {
    out.push_back({{"sequence", event.sequence},
                   {"at", epochMillis(event.at)},
                   {"kind", event.kind},
                   {"node", emptyToNull(event.node)},
                   {"message", event.message}});
  }
  return out;
}

// A shard node: as a coordinator's node, from its group's own health checks.
json shardNodeJson(const ProxySnapshot::ShardGroupView& group, std::size_t i,
                   const NodeTraffic& traffic) {
  const auto& server = group.servers[i];
  const auto* topology = group.topology.get();
  json out{
      {"index", group.base + static_cast<int>(i)},
      {"name", server.host + ":" + std::to_string(server.port)},
      {"host", server.host},
      {"port", server.port},
      {"routed_total", traffic.routedTotal},
      {"routed_active", traffic.routedNow},
      {"queries_total", traffic.queriesTotal},
      {"server_connections", {{"active", traffic.serversActive}, {"idle", traffic.serversIdle}}}};
  if (topology == nullptr || i >= topology->nodes.size()) {
    out.update({{"role", i == 0 ? "primary" : "unknown"},
                {"primary", i == 0},
                {"follows", nullptr},
                {"upstream", nullptr},
                {"receiver_status", nullptr},
                {"health", "unchecked"},
                {"healthy", nullptr},
                {"fenced", false},
                {"lag_bytes", nullptr},
                {"lag_seconds", nullptr},
                {"last_error", nullptr}});
    return out;
  }
  const auto& node = topology->nodes[i];
  int primary = primaryNode(*topology);
  out.update({{"role", cluster::toString(node.role)},
              {"primary", static_cast<int>(i) == primary},
              {"follows", followsOf(node, group.servers, group.base, primary)},
              {"upstream", emptyToNull(node.upstream)},
              {"receiver_status", emptyToNull(node.receiverStatus)},
              {"health", cluster::toString(node.health)},
              {"healthy", node.health == cluster::NodeHealth::kUp},
              {"fenced", node.fenced},
              {"lag_bytes", orNull(node.lagBytes)},
              {"lag_seconds", orNull(node.replayDelaySeconds)},
              {"last_error", emptyToNull(node.lastError)}});
  return out;
}

json shardGroupsJson(const ProxySnapshot& snapshot, const std::vector<NodeTraffic>& traffic,
                     const std::vector<cluster::ClusterEvent>& events) {
  json groups = json::array();
  std::size_t next = 0;  // traffic is flat, in the groups' order
  for (const auto& group : snapshot.shardGroups) {
    json nodes = json::array();
    for (std::size_t i = 0; i < group.servers.size(); ++i) {
      nodes.push_back(shardNodeJson(group, i, traffic[next++]));
    }
    groups.push_back(
        {{"group", group.name},
         {"health_checks", group.topology != nullptr},
         {"failover", failoverJson(group.failover, group.topology, events, group.name)},
         {"nodes", std::move(nodes)}});
  }
  return groups;
}

// Whether the pool sends a statement on this partition's key straight to
// its shard node, or why it goes through the coordinator (SHOW SHARD_MAP's
// `direct` column).
json shardMapJson(const ProxySnapshot& snapshot) {
  if (!snapshot.shardMap) return nullptr;
  json tables = json::array();
  for (const auto& [database, routes] : snapshot.shardMap->databases) {
    for (const auto& route : routes.tables) {
      const auto& map = route.map;
      json partitions = json::array();
      for (std::size_t i = 0; i < map.partitions.size(); ++i) {
        const auto& partition = map.partitions[i];
        auto reason = shard::whyNotDirect(route, i);
        partitions.push_back(
            {{"name", partition.name},
             {"bounds", shard::boundClause(map, partition)},
             {"node", partition.local() ? "coordinator" : partition.node},
             {"rows_estimate", i < route.rowEstimates.size() && route.rowEstimates[i] >= 0
                                   ? json(route.rowEstimates[i])
                                   : json(nullptr)},
             {"direct", reason.empty()},
             {"why_not_direct", reason.empty() ? json(nullptr) : json(reason)}});
      }
      tables.push_back({{"database", database},
                        {"table", map.schema + "." + map.table},
                        {"key", map.keyColumn},
                        {"key_type", map.keyType},
                        {"strategy", shard::toString(map.strategy)},
                        {"partitions", std::move(partitions)}});
    }
  }
  return {{"version", snapshot.shardMap->version}, {"tables", std::move(tables)}};
}

// A shard command's row with its copy's percent, rate and ETA (the rule
// of every progress: common/progress_estimate.hpp); times on the
// coordinator's clock.
json shardOperationJson(const shard::OperationRow& row) {
  bool finished = row.state != "running";
  double copySeconds = static_cast<double>(row.copyUpdatedAt - row.copyStartedAt) / 1000.0;
  auto rows = estimateProgress(row.rowsDone, row.rowsTotal, copySeconds, finished);
  auto bytes = estimateProgress(row.bytesDone, row.bytesTotal, copySeconds, finished);
  auto optional = [](const auto& value) { return value ? json(*value) : json(nullptr); };
  return {{"database", row.database},
          {"id", row.id},
          {"table", row.table},
          {"verb", row.verb},
          {"partition", row.partition},
          {"source_node", row.sourceNode},
          {"target_node", row.targetNode},
          {"phase", row.phase},
          {"state", row.state},
          {"message", row.message.empty() ? json(nullptr) : json(row.message)},
          {"backend_pid", row.backendPid},
          {"rows_done", row.rowsDone},
          {"rows_total", row.rowsTotal},
          {"bytes_done", row.bytesDone},
          {"bytes_total", row.bytesTotal},
          {"percent", optional(rows.percent)},
          {"rate_rows_per_second", rows.ratePerSecond},
          {"rate_bytes_per_second", bytes.ratePerSecond},
          {"eta_seconds", optional(rows.etaSeconds)},
          {"started_at", row.startedAt},
          {"updated_at", row.updatedAt},
          {"elapsed_seconds",
           static_cast<double>((finished ? row.updatedAt : row.readAt) - row.startedAt) / 1000.0},
          {"finished", finished},
          {"succeeded", finished ? json(row.state == "done") : json(nullptr)}};
}

json shardOperationsJson(const ProxySnapshot& snapshot) {
  json operations = json::array();
  for (const auto& row : snapshot.shardOperations) operations.push_back(shardOperationJson(row));
  return operations;
}

}  // namespace

std::int64_t epochMillis(WallClock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

// Each node's agent progress (a base backup, a rewind) by its name.
void addProgress(json& nodes, const json* progress) {
  for (auto& node : nodes) {
    const auto& name = node["name"].get_ref<const std::string&>();
    bool known = progress != nullptr && progress->contains(name);
    node["progress"] = known ? progress->at(name) : json(nullptr);
  }
}

json statusJson(const StatusInputs& in) {
  auto traffic = nodeTraffic(in.snapshot, in.config);
  auto shardTraffic = shardNodeTraffic(in.snapshot);
  auto policy = RoutingPolicy::fromConfig(in.config);
  json nodes = json::array();
  for (std::size_t i = 0; i < in.config.servers.size(); ++i) {
    nodes.push_back(nodeJson(in, i, traffic[i], policy));
  }
  auto allTraffic = traffic;
  allTraffic.insert(allTraffic.end(), shardTraffic.begin(), shardTraffic.end());
  auto shards = shardGroupsJson(in.snapshot, shardTraffic, in.events);
  addProgress(nodes, in.agentProgress);
  for (auto& group : shards) addProgress(group["nodes"], in.agentProgress);
  return {{"sampled_at", epochMillis(in.sampledAt)},
          {"health_checks", in.snapshot.topology != nullptr},
          {"pool", poolJson(in, allTraffic)},
          {"nodes", std::move(nodes)},
          {"failover", failoverJson(in.snapshot.failover, in.snapshot.topology, in.events, "")},
          {"history", historyJson(in)},
          {"events", eventsJson(in.events)},
          {"shards", std::move(shards)},
          {"shard_map", shardMapJson(in.snapshot)},
          {"shard_operations", shardOperationsJson(in.snapshot)}};
}

}  // namespace pgswarm::proxy
