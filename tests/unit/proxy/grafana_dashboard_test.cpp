// deploy/grafana/pgswarm-dashboard.json queries only metrics the pool
// exports: every pgswarm_* name in a query is a series renderMetrics (plus
// the event counts) writes for a snapshot that has every optional part
// (health checks, failover of each group, a replica with lag, shard groups,
// a shard map, long operations),
// and every query reads the dashboard's data source variable.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "proxy/metrics.hpp"
#include "sharded_snapshot.hpp"

namespace pgswarm::proxy {
namespace {

nlohmann::json loadDashboard() {
  std::ifstream in(std::string(PGSWARM_SOURCE_DIR) + "/deploy/grafana/pgswarm-dashboard.json");
  EXPECT_TRUE(in) << "deploy/grafana/pgswarm-dashboard.json not found";
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// Every string under a key "expr" or "query" (panel targets, variables).
void collectQueries(const nlohmann::json& node, std::vector<std::string>& out) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if ((key == "expr" || key == "query") && value.is_string()) {
        out.push_back(value.get<std::string>());
      } else {
        collectQueries(value, out);
      }
    }
  } else if (node.is_array()) {
    for (const auto& item : node) collectQueries(item, out);
  }
}

std::set<std::string> queriedMetrics(const std::vector<std::string>& queries) {
  const std::regex name(R"(\bpgswarm_[a-z0-9_]+)");
  std::set<std::string> names;
  for (const auto& query : queries) {
    for (std::sregex_iterator it(query.begin(), query.end(), name), end; it != end; ++it) {
      names.insert(it->str());
    }
  }
  return names;
}

// The sample names of an exposition (what PromQL selects by).
std::set<std::string> exportedMetrics(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    names.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return names;
}

// Everything optional present: the coordinator's primary and a lagging
// replica under health checks, the failover coordinators (the
// coordinator's and shard1's, each past a transition), the shard groups, a
// shard map with analyzed partitions, a shard command and an agent's base
// backup.
std::string fullExposition() {
  auto config = fixtures::threeNodes();
  auto snapshot = fixtures::shardedSnapshot();
  snapshot.topology = fixtures::topology(config);
  snapshot.failover = cluster::FailoverStatus{.state = cluster::FailoverState::kHealthy,
                                              .lastEvent = "no primary -> healthy"};
  snapshot.shardGroups[0].failover = cluster::FailoverStatus{
      .state = cluster::FailoverState::kHealthy, .lastEvent = "no primary -> healthy"};
  auto map = std::make_shared<shard::ShardMap>(*snapshot.shardMap);
  auto& accounts = map->databases["shop"].tables[0];
  accounts.rowEstimates.assign(accounts.map.partitions.size(), 100);
  snapshot.shardMap = map;
  snapshot.shardOperations = {{.database = "shop",
                               .id = 1,
                               .table = "public.accounts",
                               .verb = "split",
                               .rowsDone = 10,
                               .rowsTotal = 20,
                               .state = "running"}};
  WorkerSnapshot worker{.index = 2};
  worker.pools.push_back({.user = "app", .database = "shop", .active = 1});
  worker.clients.push_back({.state = "active"});
  snapshot.workers.push_back(worker);
  auto progress = nlohmann::json::parse(R"({"127.0.0.1:5001": {"tool": "pg_basebackup",
      "done_kb": 1, "total_kb": 2, "finished": false, "succeeded": null}})");
  return renderMetrics(snapshot, config) + renderEventCounts({{"failover", 1}}) +
         renderOperationProgress(progress);
}

TEST(GrafanaDashboard, QueriesOnlyMetricsThePoolExports) {
  auto dashboard = loadDashboard();
  ASSERT_TRUE(dashboard.is_object()) << "not valid JSON";
  std::vector<std::string> queries;
  collectQueries(dashboard, queries);
  auto queried = queriedMetrics(queries);
  // Pool, nodes, failover, events and shards: far more than a handful.
  EXPECT_GE(queried.size(), 20u);
  auto exported = exportedMetrics(fullExposition());
  for (const auto& name : queried) {
    EXPECT_TRUE(exported.contains(name)) << name << " is queried but the pool does not export it";
  }
  for (const char* needed : {"pgswarm_node_transactions_routed_total",
                             "pgswarm_pool_clients",
                             "pgswarm_pool_servers",
                             "pgswarm_failovers_total",
                             "pgswarm_node_up",
                             "pgswarm_node_replica_lag_bytes",
                             "pgswarm_shard_node_transactions_routed_total",
                             "pgswarm_shard_node_up",
                             "pgswarm_shard_map_tables",
                             "pgswarm_failover_state",
                             "pgswarm_failover_last_transition_timestamp_seconds",
                             "pgswarm_shard_partition_rows_estimate",
                             "pgswarm_shard_operation_rows_done",
                             "pgswarm_shard_operation_rows_total",
                             "pgswarm_shard_operation_bytes_done",
                             "pgswarm_shard_operation_running",
                             "pgswarm_shard_operation_succeeded",
                             "pgswarm_node_operation_done_bytes",
                             "pgswarm_node_operation_total_bytes",
                             "pgswarm_node_operation_running",
                             "pgswarm_node_operation_succeeded"}) {
    EXPECT_TRUE(queried.contains(needed)) << needed << " has no panel";
  }
}

TEST(GrafanaDashboard, EveryQueryUsesTheDataSourceVariable) {
  auto dashboard = loadDashboard();
  ASSERT_TRUE(dashboard.is_object());
  bool variable = false;
  for (const auto& item : dashboard["templating"]["list"]) {
    if (item["name"] == "datasource" && item["type"] == "datasource" &&
        item["query"] == "prometheus") {
      variable = true;
    }
  }
  EXPECT_TRUE(variable) << "no Prometheus data source variable named datasource";
  std::set<int> ids;
  int targets = 0;
  for (const auto& panel : dashboard["panels"]) {
    EXPECT_TRUE(ids.insert(panel["id"].get<int>()).second) << "panel id " << panel["id"];
    if (panel["type"] == "row") continue;
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}") << panel["title"];
    for (const auto& target : panel["targets"]) {
      ++targets;
      EXPECT_EQ(target["datasource"]["uid"], "${datasource}") << panel["title"];
      EXPECT_NE(target["expr"].get<std::string>().find("job=~\"$job\""), std::string::npos)
          << panel["title"] << ": " << target["expr"];
    }
  }
  EXPECT_GT(targets, 0);
}

}  // namespace
}  // namespace pgswarm::proxy
