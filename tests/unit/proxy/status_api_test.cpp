// The dashboard's data: the sampled history (rates from counter deltas,
// gaps when a worker did not answer, the ring keeps the newest), the
// per-node traffic sums, and the /api/status document's fields.
#include "proxy/status_api.hpp"

#include <gtest/gtest.h>

#include "auth/crypto.hpp"
#include "proxy/dashboard.hpp"
#include "sharded_snapshot.hpp"

namespace pgswarm::proxy {
namespace {

using namespace std::chrono_literals;

using fixtures::threeNodes;
using fixtures::topology;

ProxySnapshot snapshotWithRouted(std::vector<std::uint64_t> routed, int workersAsked = 1) {
  ProxySnapshot snapshot{.workersAsked = workersAsked, .clientConnections = 4};
  WorkerSnapshot worker{.index = 0, .routedTotal = routed, .routedNow = {1, 0, 2}};
  for (auto count : routed) worker.queriesTotal.push_back(3 * count);
  worker.servers.push_back({.state = "active", .addr = "127.0.0.1", .port = 5000});
  worker.servers.push_back({.state = "idle", .addr = "127.0.0.1", .port = 5000});
  worker.servers.push_back({.state = "active", .addr = "127.0.0.1", .port = 5002});
  worker.servers.push_back({.state = "idle", .addr = "10.0.0.9", .port = 5002});  // no node
  worker.clients.push_back({.state = "active"});
  snapshot.workers.push_back(worker);
  return snapshot;
}

TEST(StatusHistory, RatesComeFromCounterDeltas) {
  auto config = threeNodes();
  StatusHistory history(10);
  auto t0 = WallClock::time_point(1000s);
  history.add(snapshotWithRouted({0, 0, 0}), config, t0);
  history.add(snapshotWithRouted({10, 40, 0}), config, t0 + 2s);
  auto samples = history.samples();
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_FALSE(samples[0].nodes[0].routedPerSecond);  // no previous sample
  ASSERT_TRUE(samples[1].nodes[1].routedPerSecond);
  EXPECT_DOUBLE_EQ(*samples[1].nodes[0].routedPerSecond, 5.0);
  EXPECT_DOUBLE_EQ(*samples[1].nodes[1].routedPerSecond, 20.0);
  EXPECT_DOUBLE_EQ(*samples[1].nodes[2].routedPerSecond, 0.0);
  ASSERT_TRUE(samples[1].nodes[1].queriesPerSecond);
  EXPECT_DOUBLE_EQ(*samples[1].nodes[1].queriesPerSecond, 60.0);
  EXPECT_FALSE(samples[0].nodes[1].queriesPerSecond);
  EXPECT_EQ(samples[1].clients, 4);
  EXPECT_EQ(samples[1].servers, 3);
}

TEST(StatusHistory, APartialSnapshotHasNoRatesAndDoesNotResetThem) {
  auto config = threeNodes();
  StatusHistory history(10);
  auto t0 = WallClock::time_point(1000s);
  history.add(snapshotWithRouted({100, 0, 0}), config, t0);
  auto partial = snapshotWithRouted({1, 0, 0}, 2);  // one of two workers answered
  history.add(partial, config, t0 + 1s);
  history.add(snapshotWithRouted({130, 0, 0}), config, t0 + 2s);
  auto samples = history.samples();
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_FALSE(samples[1].nodes[0].routedPerSecond);
  ASSERT_TRUE(samples[2].nodes[0].routedPerSecond);
  EXPECT_DOUBLE_EQ(*samples[2].nodes[0].routedPerSecond, 15.0);  // over the 2 s since t0
}

TEST(StatusHistory, KeepsTheNewestCapacitySamplesOldestFirst) {
  auto config = threeNodes();
  StatusHistory history(3);
  auto t0 = WallClock::time_point(1000s);
  for (int i = 0; i < 7; ++i) {
    history.add(snapshotWithRouted({0, 0, 0}), config, t0 + std::chrono::seconds(i));
  }
  auto samples = history.samples();
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].at, t0 + 4s);
  EXPECT_EQ(samples[2].at, t0 + 6s);
  auto newer = history.samples(t0 + 5s);
  ASSERT_EQ(newer.size(), 1u);
  EXPECT_EQ(newer[0].at, t0 + 6s);
}

TEST(StatusHistory, LagOnlyForReplicas) {
  auto config = threeNodes();
  auto snapshot = snapshotWithRouted({0, 0, 0});
  snapshot.topology = topology(config);
  StatusHistory history;
  history.add(snapshot, config, WallClock::time_point(1000s));
  auto sample = history.samples().at(0);
  EXPECT_FALSE(sample.nodes[0].lagBytes);
  EXPECT_EQ(sample.nodes[1].lagBytes, 0x60u);
  EXPECT_EQ(sample.nodes[2].lagSeconds, 1.5);
}

TEST(StatusApi, NodesPoolFailoverHistoryEventsAndShards) {
  auto config = threeNodes();
  auto snapshot = snapshotWithRouted({7, 8, 9});
  snapshot.topology = topology(config);
  snapshot.failover = cluster::FailoverStatus{
      .state = cluster::FailoverState::kHealthy, .primary = "127.0.0.1:5000", .failovers = 2};
  StatusHistory history;
  history.add(snapshot, config, WallClock::time_point(1000s));
  auto samples = history.samples();
  std::vector<cluster::ClusterEvent> events{{.sequence = 1,
                                             .at = WallClock::time_point(999s),
                                             .kind = "node_up",
                                             .node = "127.0.0.1:5000",
                                             .message = "up"}};
  auto json = statusJson({.snapshot = snapshot,
                          .sampledAt = WallClock::time_point(1000s),
                          .config = config,
                          .history = samples,
                          .historyCapacity = history.capacity(),
                          .events = events});
  ASSERT_EQ(json["nodes"].size(), 3u);
  const auto& primary = json["nodes"][0];
  EXPECT_EQ(primary["role"], "primary");
  EXPECT_EQ(primary["primary"], true);
  EXPECT_EQ(primary["healthy"], true);
  EXPECT_EQ(primary["current_lsn"], "0/3000060");
  EXPECT_EQ(primary["routed_total"], 7);
  EXPECT_EQ(primary["routed_active"], 1);
  EXPECT_EQ(primary["server_connections"]["active"], 1);
  EXPECT_EQ(primary["server_connections"]["idle"], 1);
  EXPECT_TRUE(primary["follows"].is_null());
  const auto& replica = json["nodes"][1];
  EXPECT_EQ(replica["role"], "replica");
  EXPECT_EQ(replica["lag_bytes"], 96);
  EXPECT_EQ(replica["lag_seconds"], 1.5);
  EXPECT_EQ(replica["replay_lsn"], "0/3000000");
  EXPECT_EQ(replica["follows"], 0);  // its upstream, matched
  EXPECT_EQ(replica["reads"], "yes");
  EXPECT_EQ(json["nodes"][2]["follows"], 0);  // streaming, upstream not shown: the primary
  EXPECT_EQ(json["nodes"][2]["server_connections"]["active"], 1);
  EXPECT_EQ(json["pool"]["clients"], 4);
  EXPECT_EQ(json["pool"]["clients_by_state"]["active"], 1);
  EXPECT_EQ(json["pool"]["server_connections"]["idle"], 1);
  EXPECT_EQ(json["failover"]["state"], "healthy");
  EXPECT_EQ(json["failover"]["failovers"], 2);
  EXPECT_EQ(json["history"]["t"][0], 1000000);
  EXPECT_EQ(json["history"]["capacity"], 300);
  EXPECT_EQ(json["history"]["nodes"][1]["lag_bytes"][0], 96);
  EXPECT_TRUE(json["history"]["nodes"][0]["lag_bytes"][0].is_null());
  EXPECT_EQ(json["events"][0]["kind"], "node_up");
  EXPECT_EQ(json["events"][0]["at"], 999000);
  EXPECT_TRUE(json["shards"].is_array());
  EXPECT_TRUE(json["shards"].empty());
  EXPECT_TRUE(json["shard_map"].is_null());
  EXPECT_EQ(json["history"]["nodes"].size(), 3u);
}

nlohmann::json shardedStatus(const ProxySnapshot& snapshot, const StatusHistory& history) {
  auto samples = history.samples();
  std::vector<cluster::ClusterEvent> noEvents;
  return statusJson({.snapshot = snapshot,
                     .sampledAt = WallClock::time_point(1002s),
                     .config = threeNodes(),
                     .history = samples,
                     .events = noEvents});
}

TEST(StatusApi, ShardGroupsTheirNodesAndTheirRoutedRates) {
  auto config = threeNodes();
  auto before = fixtures::shardedSnapshot();
  for (auto& worker : before.workers) worker.routedTotal.assign(worker.routedTotal.size(), 0);
  auto snapshot = fixtures::shardedSnapshot();
  snapshot.shardGroups[0].failover = cluster::FailoverStatus{
      .state = cluster::FailoverState::kHealthy, .primary = "10.0.1.1:5432", .failovers = 1};
  StatusHistory history;
  history.add(before, config, WallClock::time_point(1000s));
  history.add(snapshot, config, WallClock::time_point(1002s));
  auto json = shardedStatus(snapshot, history);

  ASSERT_EQ(json["shards"].size(), 2u);
  const auto& shard1 = json["shards"][0];
  EXPECT_EQ(shard1["group"], "shard1");
  EXPECT_EQ(shard1["health_checks"], true);
  EXPECT_EQ(shard1["failover"]["state"], "healthy");
  EXPECT_EQ(shard1["failover"]["primary"], "10.0.1.1:5432");
  EXPECT_EQ(shard1["failover"]["failovers"], 1);
  EXPECT_TRUE(json["shards"][1]["failover"].is_null());
  ASSERT_EQ(shard1["nodes"].size(), 2u);
  const auto& primary = shard1["nodes"][0];
  EXPECT_EQ(primary["index"], 3);
  EXPECT_EQ(primary["name"], "10.0.1.1:5432");
  EXPECT_EQ(primary["role"], "primary");
  EXPECT_EQ(primary["primary"], true);
  EXPECT_EQ(primary["healthy"], true);
  EXPECT_EQ(primary["routed_total"], 42);  // summed over both workers
  EXPECT_EQ(primary["routed_active"], 2);
  EXPECT_EQ(primary["server_connections"]["active"], 1);
  EXPECT_EQ(primary["server_connections"]["idle"], 1);
  const auto& replica = shard1["nodes"][1];
  EXPECT_EQ(replica["index"], 4);
  EXPECT_EQ(replica["role"], "replica");
  EXPECT_EQ(replica["primary"], false);
  EXPECT_EQ(replica["health"], "down");
  EXPECT_EQ(replica["healthy"], false);
  EXPECT_EQ(replica["lag_bytes"], 4096);
  EXPECT_EQ(replica["last_error"], "connection refused");
  EXPECT_EQ(replica["routed_total"], 5);
  const auto& shard2 = json["shards"][1];
  EXPECT_EQ(shard2["health_checks"], false);
  EXPECT_EQ(shard2["nodes"][0]["index"], 5);
  EXPECT_EQ(shard2["nodes"][0]["role"], "primary");
  EXPECT_EQ(shard2["nodes"][0]["health"], "unchecked");
  EXPECT_TRUE(shard2["nodes"][0]["healthy"].is_null());
  EXPECT_EQ(shard2["nodes"][0]["routed_total"], 60);

  // history.nodes[index]: the coordinator's three, then the shard nodes.
  const auto& nodes = json["history"]["nodes"];
  ASSERT_EQ(nodes.size(), 6u);
  EXPECT_EQ(nodes[3]["routed_per_second"][1], 21.0);  // 42 over 2 s
  EXPECT_EQ(nodes[5]["routed_per_second"][1], 30.0);
  EXPECT_EQ(nodes[4]["lag_bytes"][1], 4096);
  EXPECT_TRUE(nodes[3]["lag_bytes"][1].is_null());
  // Shard server connections count as the pool's.
  EXPECT_EQ(json["pool"]["server_connections"]["active"], 1);
  EXPECT_EQ(json["pool"]["server_connections"]["idle"], 2);
  EXPECT_EQ(json["history"]["server_connections"][1], 3);
}

// Each group's failover coordinator with its last promotion, found in the
// event log by the group's name (the coordinator's events carry none), and
// a shard replica's arrow to the node it streams from.
TEST(StatusApi, ShardGroupsFailoverLastPromotionAndWhoFollowsWhom) {
  auto config = threeNodes();
  auto snapshot = fixtures::shardedSnapshot();
  snapshot.topology = topology(config);
  snapshot.failover = cluster::FailoverStatus{
      .state = cluster::FailoverState::kHealthy, .primary = "127.0.0.1:5000", .failovers = 1};
  snapshot.shardGroups[0].failover =
      cluster::FailoverStatus{.state = cluster::FailoverState::kElecting,
                              .primary = "",
                              .failovers = 2,
                              .lastEvent = "primary lost -> electing on timeout elapsed",
                              .lastEventAt = WallClock::time_point(990s)};
  auto shard1 = std::make_shared<cluster::Topology>(*snapshot.shardGroups[0].topology);
  shard1->nodes[1].receiverStatus = "streaming";
  shard1->nodes[1].upstream = "10.0.1.1:5432";
  snapshot.shardGroups[0].topology = shard1;
  StatusHistory history;
  history.add(snapshot, config, WallClock::time_point(1000s));
  auto samples = history.samples();
  std::vector<cluster::ClusterEvent> events{
      {.sequence = 1,
       .at = WallClock::time_point(900s),
       .kind = "failover",
       .message = "promoting -> healthy on promoted: 127.0.0.1:5001 is primary on timeline 4"},
      {.sequence = 2,
       .at = WallClock::time_point(950s),
       .kind = "failover",
       .message = "shard1 promoting -> healthy on promoted: 10.0.1.1:5432 is primary on "
                  "timeline 2"},
      {.sequence = 3,
       .at = WallClock::time_point(980s),
       .kind = "failover",
       .message = "shard1 healthy -> primary lost on primary down: connection refused"}};
  auto json = statusJson({.snapshot = snapshot,
                          .sampledAt = WallClock::time_point(1000s),
                          .config = config,
                          .history = samples,
                          .events = events});

  const auto& group = json["shards"][0]["failover"];
  EXPECT_EQ(group["state"], "electing");
  EXPECT_TRUE(group["primary"].is_null());
  EXPECT_EQ(group["failovers"], 2);
  EXPECT_EQ(group["last_event_at"], 990000);
  EXPECT_EQ(group["last_promotion_at"], 950000);
  EXPECT_EQ(group["last_promotion"], "10.0.1.1:5432 is primary on timeline 2");
  EXPECT_TRUE(json["shards"][1]["failover"].is_null());
  EXPECT_EQ(json["failover"]["last_promotion_at"], 900000);
  EXPECT_EQ(json["failover"]["last_promotion"], "127.0.0.1:5001 is primary on timeline 4");

  // Indices of the document's nodes: shard1's replica (4) follows its primary (3).
  const auto& nodes = json["shards"][0]["nodes"];
  EXPECT_TRUE(nodes[0]["follows"].is_null());
  EXPECT_EQ(nodes[1]["follows"], 3);
  EXPECT_EQ(nodes[1]["upstream"], "10.0.1.1:5432");
  EXPECT_EQ(nodes[1]["receiver_status"], "streaming");
  EXPECT_TRUE(json["shards"][1]["nodes"][0]["follows"].is_null());
}

TEST(StatusApi, ShardMapTablesPartitionsAndDirectRouting) {
  StatusHistory history;
  auto json = shardedStatus(fixtures::shardedSnapshot(), history);
  const auto& map = json["shard_map"];
  EXPECT_EQ(map["version"], 7);
  ASSERT_EQ(map["tables"].size(), 2u);
  const auto& accounts = map["tables"][0];
  EXPECT_EQ(accounts["database"], "shop");
  EXPECT_EQ(accounts["table"], "public.accounts");
  EXPECT_EQ(accounts["key"], "id");
  EXPECT_EQ(accounts["key_type"], "integer");
  EXPECT_EQ(accounts["strategy"], "range");
  const auto& partitions = accounts["partitions"];
  ASSERT_EQ(partitions.size(), 4u);
  EXPECT_EQ(partitions[0]["name"], "accounts_p0");
  EXPECT_EQ(partitions[0]["node"], "coordinator");
  EXPECT_EQ(partitions[0]["direct"], false);
  EXPECT_EQ(partitions[0]["why_not_direct"], "local");
  EXPECT_EQ(partitions[1]["node"], "shard1");
  EXPECT_EQ(partitions[1]["direct"], true);
  EXPECT_TRUE(partitions[1]["why_not_direct"].is_null());
  EXPECT_EQ(partitions[1]["bounds"],
            shard::boundClause(
                fixtures::twoTableShardMap()->databases.at("shop").tables[0].map,
                fixtures::twoTableShardMap()->databases.at("shop").tables[0].map.partitions[1]));
  EXPECT_NE(partitions[1]["bounds"].get<std::string>().find("100"), std::string::npos);
  EXPECT_EQ(partitions[2]["direct"], true);
  EXPECT_EQ(partitions[3]["node"], "shard9");
  EXPECT_EQ(partitions[3]["why_not_direct"], "node not in shard_hosts");
  const auto& events = map["tables"][1];
  EXPECT_EQ(events["strategy"], "hash");
  EXPECT_EQ(events["partitions"][0]["direct"], false);
  EXPECT_EQ(events["partitions"][0]["why_not_direct"], "key type");
}

// A `shard move` 4 s into its copy phase, and a `shard create` killed
// in its verify phase after copying 50 of 100 rows in 5 s (its session
// gone), as the map watcher reads them.
std::vector<shard::OperationRow> shardOperations() {
  return {{.database = "shop",
           .id = 12,
           .table = "public.accounts",
           .verb = "move",
           .partition = "accounts_p1",
           .sourceNode = "coordinator",
           .targetNode = "shard2",
           .phase = "copy",
           .rowsDone = 2000,
           .bytesDone = 200000,
           .rowsTotal = 10000,
           .bytesTotal = 1000000,
           .state = "running",
           .backendPid = 4242,
           .startedAt = 1'000'000,
           .copyStartedAt = 1'002'000,
           .copyUpdatedAt = 1'006'000,
           .updatedAt = 1'006'000,
           .readAt = 1'006'500},
          {.database = "shop",
           .id = 11,
           .table = "public.events",
           .verb = "create",
           .phase = "verify",
           .rowsDone = 50,
           .rowsTotal = 100,
           .state = "stale",
           .backendPid = 4000,
           .startedAt = 900'000,
           .copyStartedAt = 900'000,
           .copyUpdatedAt = 905'000,
           .updatedAt = 910'000,
           .readAt = 1'006'500}};
}

TEST(StatusApi, ShardOperationsWithRateEtaAndHowTheyEnded) {
  StatusHistory history;
  auto snapshot = fixtures::shardedSnapshot();
  snapshot.shardOperations = shardOperations();
  auto json = shardedStatus(snapshot, history);
  const auto& operations = json["shard_operations"];
  ASSERT_EQ(operations.size(), 2u);
  const auto& move = operations[0];
  EXPECT_EQ(move["database"], "shop");
  EXPECT_EQ(move["id"], 12);
  EXPECT_EQ(move["verb"], "move");
  EXPECT_EQ(move["table"], "public.accounts");
  EXPECT_EQ(move["partition"], "accounts_p1");
  EXPECT_EQ(move["source_node"], "coordinator");
  EXPECT_EQ(move["target_node"], "shard2");
  EXPECT_EQ(move["phase"], "copy");
  EXPECT_EQ(move["state"], "running");
  EXPECT_EQ(move["backend_pid"], 4242);
  EXPECT_EQ(move["rows_done"], 2000);
  EXPECT_EQ(move["rows_total"], 10000);
  EXPECT_EQ(move["percent"], 20);
  // 2000 rows in the 4 s since the copy phase began, 8000 to go.
  EXPECT_DOUBLE_EQ(move["rate_rows_per_second"].get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(move["rate_bytes_per_second"].get<double>(), 50000.0);
  EXPECT_DOUBLE_EQ(move["eta_seconds"].get<double>(), 16.0);
  EXPECT_DOUBLE_EQ(move["elapsed_seconds"].get<double>(), 6.5);
  EXPECT_EQ(move["finished"], false);
  EXPECT_TRUE(move["succeeded"].is_null());
  EXPECT_TRUE(move["message"].is_null());
  const auto& killed = operations[1];
  EXPECT_EQ(killed["state"], "stale");
  EXPECT_EQ(killed["finished"], true);
  EXPECT_EQ(killed["succeeded"], false);
  EXPECT_TRUE(killed["eta_seconds"].is_null()) << "no ETA for a command that is gone";
  EXPECT_DOUBLE_EQ(killed["rate_rows_per_second"].get<double>(), 10.0) << "over its copy only";
  EXPECT_EQ(killed["percent"], 50);
  EXPECT_DOUBLE_EQ(killed["elapsed_seconds"].get<double>(), 10.0) << "up to its last report";
}

TEST(StatusApi, NoShardOperationsIsAnEmptyList) {
  StatusHistory history;
  auto json = shardedStatus(fixtures::shardedSnapshot(), history);
  ASSERT_TRUE(json["shard_operations"].is_array());
  EXPECT_TRUE(json["shard_operations"].empty());
}

TEST(StatusApi, WithoutHealthChecksTheFirstNodeIsThePrimary) {
  auto config = threeNodes();
  ProxySnapshot snapshot{.workersAsked = 0};
  std::vector<HistorySample> none;
  std::vector<cluster::ClusterEvent> noEvents;
  auto json = statusJson({.snapshot = snapshot,
                          .sampledAt = WallClock::now(),
                          .config = config,
                          .history = none,
                          .events = noEvents});
  EXPECT_EQ(json["health_checks"], false);
  EXPECT_EQ(json["nodes"][0]["role"], "primary");
  EXPECT_TRUE(json["nodes"][1]["healthy"].is_null());
  EXPECT_TRUE(json["failover"].is_null());
}

TEST(Dashboard, LoopbackAndEmbeddedFiles) {
  EXPECT_TRUE(isLoopbackListen("127.0.0.1"));
  EXPECT_TRUE(isLoopbackListen("127.3.2.1"));
  EXPECT_TRUE(isLoopbackListen("::1"));
  EXPECT_TRUE(isLoopbackListen("::ffff:127.0.0.1"));
  EXPECT_FALSE(isLoopbackListen("::ffff:10.1.2.3"));
  EXPECT_FALSE(isLoopbackListen("::"));
  EXPECT_TRUE(isLoopbackListen("localhost"));
  EXPECT_FALSE(isLoopbackListen("0.0.0.0"));
  EXPECT_FALSE(isLoopbackListen("*"));
  EXPECT_FALSE(isLoopbackListen("192.168.1.10"));
  EXPECT_FALSE(isLoopbackListen("db.example"));
  const auto* index = findWebAsset("/");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->contentType, "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<title>"), std::string_view::npos);
  EXPECT_EQ(findWebAsset("/index.html"), index);
  EXPECT_EQ(findWebAsset("/nothing.js"), nullptr);
}

TEST(Dashboard, BasicAuthTakesOnlyAdminUsersWithTheirPassword) {
  PoolConfig config = threeNodes();
  config.adminUsers = {"admin"};
  config.seedUser = "admin";
  config.seedPassword = "s3cret";
  ProxyShared shared(config);
  ASSERT_TRUE(shared.users.load(shared.config));
  auto header = [](std::string_view credentials) {
    auth::Bytes bytes(credentials.begin(), credentials.end());
    return "Basic " + auth::base64Encode(bytes);
  };
  EXPECT_TRUE(basicAuthAllows(shared, header("admin:s3cret")));
  EXPECT_TRUE(basicAuthAllows(shared, "basic " + header("admin:s3cret").substr(6)));
  EXPECT_FALSE(basicAuthAllows(shared, header("admin:wrong")));
  EXPECT_FALSE(basicAuthAllows(shared, header("admin:")));
  EXPECT_FALSE(basicAuthAllows(shared, header("admins3cret")));
  EXPECT_FALSE(basicAuthAllows(shared, "Basic %%%not-base64"));
  EXPECT_FALSE(basicAuthAllows(shared, "Bearer abc"));
  EXPECT_FALSE(basicAuthAllows(shared, ""));
}

}  // namespace
}  // namespace pgswarm::proxy
