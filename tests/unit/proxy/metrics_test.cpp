// Prometheus rendering: every line is valid text format 0.0.4 (one HELP and
// TYPE per family, before its samples), the expected series and values are
// there, zero-valued states are not dropped, and label values are escaped.
#include "proxy/metrics.hpp"

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "sharded_snapshot.hpp"

namespace pgswarm::proxy {
namespace {

using namespace std::chrono_literals;

ProxySnapshot sample() {
  ProxySnapshot snapshot{.workersAsked = 2, .paused = true};
  WorkerSnapshot first{.index = 0, .queries = 30, .transactions = 20};
  first.pools.push_back({.user = "app",
                         .database = "shop",
                         .active = 2,
                         .idle = 1,
                         .waiting = 1,
                         .maxWait = 1500ms,
                         .counters = {.connectsMade = 4,
                                      .connectFailures = 1,
                                      .waits = 3,
                                      .waitTimeouts = 1,
                                      .waitTime = 2500ms,
                                      .reserveConnects = 1,
                                      .slotsMoved = 2}});
  first.clients.push_back({.state = "active"});
  first.clients.push_back({.state = "active"});
  first.clients.push_back({.state = "waiting"});
  WorkerSnapshot second{.index = 1, .queries = 12, .transactions = 2};
  second.pools.push_back({.user = "app",
                          .database = "shop",
                          .idle = 2,
                          .counters = {.connectsMade = 2, .slotsMoved = 3}});
  second.pools.push_back({.user = "we\"ird\\", .database = "line\nbreak", .connecting = 1});
  second.clients.push_back({.state = "idle", .parked = true});
  second.clients.push_back({.state = "idle"});
  snapshot.workers = {first, second};
  return snapshot;
}

std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> values;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    values[line.substr(0, space)] = line.substr(space + 1);
  }
  return values;
}

// The families typed in `text`, after checking every line of it.
std::set<std::string> expectValidTextFormat(const std::string& text) {
  EXPECT_FALSE(text.empty());
  if (text.empty()) return {};
  EXPECT_EQ(text.back(), '\n');
  const std::regex sampleLine(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? [-+0-9.eE]+$)");
  const std::regex typeLine(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$)");
  std::set<std::string> typed;
  std::string current;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch match;
    if (line.starts_with("# HELP ")) continue;
    if (std::regex_match(line, match, typeLine)) {
      EXPECT_TRUE(typed.insert(match[1]).second) << "second TYPE for " << match[1];
      current = match[1];
      continue;
    }
    EXPECT_TRUE(std::regex_match(line, match, sampleLine)) << "bad line: " << line;
    EXPECT_EQ(match[1], current) << "sample outside its family: " << line;
  }
  return typed;
}

TEST(Metrics, EveryLineIsValidTextFormat) {
  PoolConfig config;
  auto typed = expectValidTextFormat(renderMetrics(sample(), config));
  for (const char* family :
       {"pgswarm_pool_clients", "pgswarm_pool_servers", "pgswarm_pool_transactions_total",
        "pgswarm_pool_queries_total", "pgswarm_pool_server_connects_total",
        "pgswarm_pool_server_connect_failures_total", "pgswarm_pool_wait_seconds_total",
        "pgswarm_pool_waits_total", "pgswarm_pool_wait_timeouts_total",
        "pgswarm_pool_max_client_connections", "pgswarm_pool_reserve_connects_total",
        "pgswarm_pool_slots_moved_total"}) {
    EXPECT_TRUE(typed.contains(family)) << family;
  }
  auto sharded = expectValidTextFormat(renderMetrics(fixtures::shardedSnapshot(), config));
  for (const char* family :
       {"pgswarm_shard_node_transactions_routed_total", "pgswarm_shard_node_transactions_active",
        "pgswarm_shard_node_server_connections", "pgswarm_shard_node_up",
        "pgswarm_shard_node_primary", "pgswarm_shard_node_replica_lag_bytes",
        "pgswarm_shard_map_tables", "pgswarm_shard_map_version"}) {
    EXPECT_TRUE(sharded.contains(family)) << family;
  }
}

TEST(Metrics, AgentOperationsPerNodeAndTool) {
  auto progress = nlohmann::json::parse(R"({
    "127.0.0.1:5433": {"tool": "pg_basebackup", "done_kb": 100, "total_kb": 400,
                       "finished": false, "succeeded": null},
    "127.0.0.1:5434": {"tool": "pg_rewind", "done_kb": 8, "total_kb": 8,
                       "finished": true, "succeeded": true}})");
  auto text = renderOperationProgress(progress);
  auto typed = expectValidTextFormat(text);
  for (const char* family :
       {"pgswarm_node_operation_done_bytes", "pgswarm_node_operation_total_bytes",
        "pgswarm_node_operation_running", "pgswarm_node_operation_succeeded"}) {
    EXPECT_TRUE(typed.contains(family)) << family;
  }
  EXPECT_NE(
      text.find("pgswarm_node_operation_done_bytes{node=\"127.0.0.1:5433\",tool=\"pg_basebackup\"} "
                "102400\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "pgswarm_node_operation_running{node=\"127.0.0.1:5433\",tool=\"pg_basebackup\"} 1\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("pgswarm_node_operation_succeeded{node=\"127.0.0.1:5434\",tool=\"pg_rewind\"} 1\n"),
      std::string::npos);
  // No agent, no series.
  EXPECT_EQ(expectValidTextFormat(renderOperationProgress(nlohmann::json::object())).size(), 4U);
}

TEST(Metrics, ValuesAreSummedOverWorkers) {
  PoolConfig config;
  config.maxClientConnections = 500;
  auto values = samples(renderMetrics(sample(), config));
  const std::string shop = R"(database="shop",user="app")";
  EXPECT_EQ(values["pgswarm_pool_transactions_total"], "22");
  EXPECT_EQ(values["pgswarm_pool_queries_total"], "42");
  EXPECT_EQ(values[R"(pgswarm_pool_clients{state="active"})"], "2");
  EXPECT_EQ(values[R"(pgswarm_pool_clients{state="waiting"})"], "1");
  EXPECT_EQ(values[R"(pgswarm_pool_clients{state="idle"})"], "2");
  EXPECT_EQ(values[R"(pgswarm_pool_clients{state="login"})"], "0");
  EXPECT_EQ(values["pgswarm_pool_parked_clients"], "1");
  EXPECT_EQ(values["pgswarm_pool_servers{" + shop + R"(,state="active"})"], "2");
  EXPECT_EQ(values["pgswarm_pool_servers{" + shop + R"(,state="idle"})"], "3");
  EXPECT_EQ(values["pgswarm_pool_servers{" + shop + R"(,state="login"})"], "0");
  EXPECT_EQ(values["pgswarm_pool_server_connects_total{" + shop + "}"], "6");
  EXPECT_EQ(values["pgswarm_pool_server_connect_failures_total{" + shop + "}"], "1");
  EXPECT_EQ(values["pgswarm_pool_waits_total{" + shop + "}"], "3");
  EXPECT_EQ(values["pgswarm_pool_wait_timeouts_total{" + shop + "}"], "1");
  EXPECT_EQ(values["pgswarm_pool_wait_seconds_total{" + shop + "}"], "2.5");
  EXPECT_EQ(values["pgswarm_pool_max_wait_seconds{" + shop + "}"], "1.5");
  EXPECT_EQ(values["pgswarm_pool_reserve_connects_total{" + shop + "}"], "1");
  EXPECT_EQ(values["pgswarm_pool_slots_moved_total{" + shop + "}"], "5");
  EXPECT_EQ(values["pgswarm_pool_max_client_connections"], "500");
  EXPECT_EQ(values["pgswarm_pool_paused"], "1");
  EXPECT_EQ(values["pgswarm_pool_workers"], "2");
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escapeLabelValue("plain"), "plain");
  EXPECT_EQ(escapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  auto text = renderMetrics(sample(), PoolConfig{});
  EXPECT_NE(text.find(R"(database="line\nbreak",user="we\"ird\\")"), std::string::npos) << text;
}

TEST(Metrics, ShardNodesAndTheShardMap) {
  auto text = renderMetrics(fixtures::shardedSnapshot(), PoolConfig{});
  auto values = samples(text);
  const std::string primary = R"(group="shard1",node="10.0.1.1:5432")";
  const std::string replica = R"(group="shard1",node="10.0.1.2:5432")";
  const std::string unchecked = R"(group="shard2",node="10.0.2.1:5432")";
  EXPECT_EQ(values["pgswarm_shard_node_transactions_routed_total{" + primary + "}"], "42");
  EXPECT_EQ(values["pgswarm_shard_node_transactions_routed_total{" + replica + "}"], "5");
  EXPECT_EQ(values["pgswarm_shard_node_transactions_routed_total{" + unchecked + "}"], "60");
  EXPECT_EQ(values["pgswarm_shard_node_transactions_active{" + primary + "}"], "2");
  EXPECT_EQ(values["pgswarm_shard_node_server_connections{" + primary + R"(,state="idle"})"], "1");
  EXPECT_EQ(values["pgswarm_shard_node_up{" + primary + "}"], "1");
  EXPECT_EQ(values["pgswarm_shard_node_up{" + replica + "}"], "0");
  EXPECT_FALSE(values.contains("pgswarm_shard_node_up{" + unchecked + "}"));  // no checks
  EXPECT_EQ(values["pgswarm_shard_node_primary{" + primary + "}"], "1");
  EXPECT_EQ(values["pgswarm_shard_node_primary{" + replica + "}"], "0");
  EXPECT_EQ(values["pgswarm_shard_node_fenced{" + primary + "}"], "0");
  EXPECT_FALSE(values.contains("pgswarm_shard_node_fenced{" + unchecked + "}"));
  EXPECT_EQ(values["pgswarm_shard_node_replica_lag_bytes{" + replica + "}"], "4096");
  EXPECT_EQ(values["pgswarm_shard_map_tables"], "2");
  EXPECT_EQ(values["pgswarm_shard_map_version"], "7");
  // Shard nodes are not the coordinator's nodes.
  EXPECT_EQ(text.find(R"(pgswarm_node_transactions_routed_total{node="10.0.1.1)"),
            std::string::npos);
}

// A shard group's failover coordinator: the coordinator's families, with
// the group as a label; the coordinator's own series keep no group label.
TEST(Metrics, FailoverPerShardGroup) {
  auto config = fixtures::threeNodes();
  auto snapshot = fixtures::shardedSnapshot();
  snapshot.topology = fixtures::topology(config);
  snapshot.failover = cluster::FailoverStatus{.state = cluster::FailoverState::kHealthy};
  snapshot.shardGroups[0].failover =
      cluster::FailoverStatus{.state = cluster::FailoverState::kRefused,
                              .failovers = 3,
                              .switchovers = 1,
                              .lastEvent = "electing -> refused on no candidate",
                              .lastEventAt = WallClock::time_point(1700000000500ms)};
  auto values = samples(renderMetrics(snapshot, config));
  EXPECT_EQ(values[R"(pgswarm_failover_state{state="healthy"})"], "1");
  EXPECT_EQ(values["pgswarm_failovers_total"], "0");
  EXPECT_FALSE(values.contains("pgswarm_failover_last_transition_timestamp_seconds"));
  EXPECT_EQ(values[R"(pgswarm_failover_state{group="shard1",state="refused"})"], "1");
  EXPECT_EQ(values[R"(pgswarm_failover_state{group="shard1",state="healthy"})"], "0");
  EXPECT_EQ(values[R"(pgswarm_failovers_total{group="shard1"})"], "3");
  EXPECT_EQ(values[R"(pgswarm_switchovers_total{group="shard1"})"], "1");
  EXPECT_EQ(values[R"(pgswarm_failover_awaiting_primary{group="shard1"})"], "0");
  EXPECT_EQ(values[R"(pgswarm_failover_last_transition_timestamp_seconds{group="shard1"})"],
            "1700000000.5");
  // shard2 (one node, no checks) runs none.
  EXPECT_FALSE(values.contains(R"(pgswarm_failovers_total{group="shard2"})"));
}

// Without the coordinator's failover, a shard group's still has its series.
TEST(Metrics, FailoverOfAShardGroupAlone) {
  auto snapshot = fixtures::shardedSnapshot();
  snapshot.shardGroups[0].failover =
      cluster::FailoverStatus{.state = cluster::FailoverState::kHealthy, .failovers = 1};
  auto values = samples(renderMetrics(snapshot, PoolConfig{}));
  EXPECT_EQ(values[R"(pgswarm_failover_state{group="shard1",state="healthy"})"], "1");
  EXPECT_EQ(values[R"(pgswarm_failovers_total{group="shard1"})"], "1");
  EXPECT_FALSE(values.contains("pgswarm_failovers_total"));
}

// The dashboard's other figures: each node's role and whether it takes
// reads, the synchronous mode, each partition's direct routing and the
// workers that answered.
TEST(Metrics, RolesReadsSyncModeDirectRoutingAndWorkersAnswered) {
  auto config = fixtures::threeNodes();
  auto snapshot = fixtures::shardedSnapshot();
  auto topology = fixtures::topology(config);
  topology->nodes[2].health = cluster::NodeHealth::kDown;
  snapshot.topology = topology;
  snapshot.failover = cluster::FailoverStatus{.state = cluster::FailoverState::kHealthy,
                                              .syncMode = cluster::SyncMode::kOn};
  auto text = renderMetrics(snapshot, config);
  expectValidTextFormat(text);
  auto values = samples(text);
  EXPECT_EQ(values[R"(pgswarm_node_role{node="127.0.0.1:5000",role="primary"})"], "1");
  EXPECT_EQ(values[R"(pgswarm_node_role{node="127.0.0.1:5001",role="replica"})"], "1");
  EXPECT_EQ(values[R"(pgswarm_node_role{node="127.0.0.1:5001",role="primary"})"], "0");
  EXPECT_EQ(values[R"(pgswarm_node_takes_reads{node="127.0.0.1:5001"})"], "1");
  EXPECT_EQ(values[R"(pgswarm_node_takes_reads{node="127.0.0.1:5002"})"], "0");  // down
  EXPECT_EQ(values[R"(pgswarm_failover_synchronous_mode{mode="on"})"], "1");
  EXPECT_EQ(values[R"(pgswarm_failover_synchronous_mode{mode="off"})"], "0");
  const std::string table = R"(database="shop",table="public.accounts",partition=)";
  EXPECT_EQ(
      values["pgswarm_shard_partition_direct{" + table + R"("accounts_shard1",node="shard1"})"],
      "1");
  EXPECT_EQ(
      values["pgswarm_shard_partition_direct{" + table + R"("accounts_p0",node="coordinator"})"],
      "0");
  EXPECT_EQ(
      values["pgswarm_shard_partition_direct{" + table + R"("accounts_shard9",node="shard9"})"],
      "0");
  EXPECT_EQ(values["pgswarm_pool_workers_answered"], "2");
  EXPECT_EQ(values["pgswarm_pool_workers"], "2");
}

TEST(Metrics, RowEstimatesOfAnalyzedPartitions) {
  auto snapshot = fixtures::shardedSnapshot();
  auto map = std::make_shared<shard::ShardMap>(*snapshot.shardMap);
  auto& accounts = map->databases["shop"].tables[0];
  accounts.rowEstimates.assign(accounts.map.partitions.size(), -1);
  accounts.rowEstimates[1] = 1200;
  snapshot.shardMap = map;
  auto text = renderMetrics(snapshot, PoolConfig{});
  expectValidTextFormat(text);
  auto values = samples(text);
  EXPECT_EQ(
      values
          [R"(pgswarm_shard_partition_rows_estimate{database="shop",table="public.accounts",partition="accounts_shard1",node="shard1"})"],
      "1200");
  // Never analyzed: no sample rather than a made-up zero.
  EXPECT_FALSE(values.contains(
      R"(pgswarm_shard_partition_rows_estimate{database="shop",table="public.accounts",partition="accounts_shard2",node="shard2"})"));
}

TEST(Metrics, ShardOperationsByCommand) {
  auto snapshot = fixtures::shardedSnapshot();
  snapshot.shardOperations = {{.database = "shop",
                               .id = 12,
                               .table = "public.accounts",
                               .verb = "move",
                               .rowsDone = 2000,
                               .bytesDone = 200000,
                               .rowsTotal = 10000,
                               .state = "running"},
                              {.database = "shop",
                               .id = 9,
                               .table = "public.events",
                               .verb = "create",
                               .rowsDone = 100,
                               .rowsTotal = 100,
                               .state = "done"}};
  auto text = renderMetrics(snapshot, PoolConfig{});
  expectValidTextFormat(text);
  auto values = samples(text);
  const std::string move = R"({database="shop",table="public.accounts",verb="move",id="12"})";
  const std::string create = R"({database="shop",table="public.events",verb="create",id="9"})";
  EXPECT_EQ(values["pgswarm_shard_operation_rows_done" + move], "2000");
  EXPECT_EQ(values["pgswarm_shard_operation_rows_total" + move], "10000");
  EXPECT_EQ(values["pgswarm_shard_operation_bytes_done" + move], "200000");
  EXPECT_EQ(values["pgswarm_shard_operation_running" + move], "1");
  EXPECT_EQ(values["pgswarm_shard_operation_succeeded" + move], "0");
  EXPECT_EQ(values["pgswarm_shard_operation_running" + create], "0");
  EXPECT_EQ(values["pgswarm_shard_operation_succeeded" + create], "1");
}

TEST(Metrics, NoShardSeriesWithoutShards) {
  auto text = renderMetrics(sample(), PoolConfig{});
  EXPECT_EQ(text.find("pgswarm_shard_"), std::string::npos);
}

TEST(Metrics, EmptySnapshotStillHasTheTotals) {
  auto values = samples(renderMetrics(ProxySnapshot{}, PoolConfig{}));
  EXPECT_EQ(values["pgswarm_pool_transactions_total"], "0");
  EXPECT_EQ(values[R"(pgswarm_pool_clients{state="active"})"], "0");
}

}  // namespace
}  // namespace pgswarm::proxy
