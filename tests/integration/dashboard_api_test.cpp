// GET /api/status against a real 1 primary + 2 replica cluster through a
// transaction-mode pool over all nodes (200 ms health checks): roles, WAL
// positions and who follows whom; per-node routed counts, rates and
// connection counts going up under pgbench; a replica stopped by its own
// agent's PID turning unhealthy (and back); `pgswarm status --watch`; a
// switchover in the event history; and every per-node figure of the
// document also in /metrics. The cases share the cluster, in order. A
// second cluster (a coordinator and shard1 with a replica, `up --shards 1
// --shard-replicas 1`) has shard1's failover in the JSON and /metrics,
// before and after its primary is killed.
#include <signal.h>

#include <cmath>
#include <fstream>
#include <future>
#include <iostream>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "cluster_suite.hpp"
#include "dashboard_support.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kNodes = 3;
constexpr int kStopped = 2;

class DashboardApi : public ClusterSuite<DashboardApi, DashboardPool> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(startCluster(kNodes - 1));
    pool_ = std::make_unique<DashboardPool>(*cluster_, 200);
    json status;
    bool ready = waitUntil(
        [&] {
          status = pool_->status();
          // The failover coordinator looks at the topology after the
          // monitor does: on a loaded host its first pass can come later.
          return status.is_object() && status["nodes"].size() == kNodes &&
                 status["nodes"][0]["role"] == "primary" && status["nodes"][1]["follows"] == 0 &&
                 status["nodes"][2]["follows"] == 0 && status["failover"]["state"] == "healthy";
        },
        20s);
    ASSERT_TRUE(ready) << "no 1 primary + 2 following replicas in /api/status: " << status.dump(2)
                       << "\n"
                       << pool_->log();
    ready_ = true;
  }

  static std::string nodeLabel(int index) {
    return "{node=\"127.0.0.1:" + std::to_string(cluster_->nodePort(index)) + "\"}";
  }
};

TEST_F(DashboardApi, NodesWithRolesPositionsAndWhoFollowsWhom) {
  auto status = pool_->status();
  ASSERT_TRUE(status.is_object());
  const auto& nodes = status["nodes"];
  for (int i = 0; i < kNodes; ++i) {
    const auto& node = nodes[i];
    SCOPED_TRACE(node.dump());
    EXPECT_EQ(node["port"], cluster_->nodePort(i));
    EXPECT_EQ(node["name"], "127.0.0.1:" + std::to_string(cluster_->nodePort(i)));
    EXPECT_EQ(node["healthy"], true);
    EXPECT_EQ(node["fenced"], false);
    EXPECT_EQ(node["timeline"], 1);
    EXPECT_EQ(node["cluster_name"], "node" + std::to_string(i));
    if (i == 0) {
      EXPECT_EQ(node["role"], "primary");
      EXPECT_EQ(node["primary"], true);
      EXPECT_TRUE(node["current_lsn"].is_string());
      EXPECT_TRUE(node["follows"].is_null());
    } else {
      EXPECT_EQ(node["role"], "replica");
      EXPECT_EQ(node["primary"], false);
      EXPECT_TRUE(node["replay_lsn"].is_string());
      EXPECT_TRUE(node["receive_lsn"].is_string());
      EXPECT_EQ(node["receiver_status"], "streaming");
      EXPECT_TRUE(node["lag_bytes"].is_number());
      EXPECT_TRUE(node["lag_seconds"].is_number());
      EXPECT_EQ(node["follows"], 0);
    }
  }
  EXPECT_EQ(status["failover"]["state"], "healthy");
  EXPECT_EQ(status["failover"]["primary"], "127.0.0.1:" + std::to_string(cluster_->nodePort(0)));
  EXPECT_TRUE(status["shards"].is_array() && status["shards"].empty());
  // Each node came up once in the event history.
  int ups = 0;
  for (const auto& event : status["events"]) ups += event["kind"] == "node_up" ? 1 : 0;
  EXPECT_EQ(ups, kNodes) << status["events"].dump(2);

  // The same figures in /metrics, with a node label each.
  auto metrics = pool_->metrics();
  for (int i = 0; i < kNodes; ++i) {
    auto label = nodeLabel(i);
    EXPECT_EQ(metricValue(metrics, "pgswarm_node_up" + label), 1) << metrics;
    EXPECT_EQ(metricValue(metrics, "pgswarm_node_primary" + label), i == 0 ? 1 : 0);
    EXPECT_EQ(metricValue(metrics, "pgswarm_node_fenced" + label), 0);
    EXPECT_EQ(metricValue(metrics, "pgswarm_node_timeline" + label), 1);
    EXPECT_FALSE(
        std::isnan(metricValue(metrics, "pgswarm_node_transactions_routed_total" + label)));
    EXPECT_FALSE(std::isnan(metricValue(metrics, "pgswarm_node_transactions_active" + label)));
    auto withState = label.substr(0, label.size() - 1) + ",state=\"idle\"}";
    EXPECT_FALSE(std::isnan(metricValue(metrics, "pgswarm_node_server_connections" + withState)));
    auto position = label.substr(0, label.size() - 1) +
                    (i == 0 ? ",position=\"current\"}" : ",position=\"replay\"}");
    EXPECT_GT(metricValue(metrics, "pgswarm_node_wal_position_bytes" + position), 0) << metrics;
    if (i > 0) {
      EXPECT_FALSE(std::isnan(metricValue(metrics, "pgswarm_node_replica_lag_bytes" + label)));
      EXPECT_FALSE(std::isnan(metricValue(metrics, "pgswarm_node_replay_delay_seconds" + label)));
      EXPECT_EQ(metricValue(metrics, "pgswarm_node_streaming" + label), 1);
    }
  }
  EXPECT_EQ(metricValue(metrics, "pgswarm_failover_state{state=\"healthy\"}"), 1) << metrics;
  EXPECT_GE(metricValue(metrics, "pgswarm_cluster_events_total{kind=\"node_up\"}"), kNodes);
}

// Each replica was cloned by its agent's pg_basebackup: the pool shows
// that run (from the agent's /status) as an ended long operation.
TEST_F(DashboardApi, ReplicasShowTheBaseBackupThatMadeThem) {
  auto status = pool_->status();
  ASSERT_TRUE(status.is_object());
  for (int i = 0; i < kNodes; ++i) {
    const auto& node = status["nodes"][i];
    SCOPED_TRACE(node.dump());
    if (i == 0) {
      EXPECT_TRUE(node["progress"].is_null());  // initdb, not a base backup
      continue;
    }
    const auto& progress = node["progress"];
    ASSERT_TRUE(progress.is_object());
    EXPECT_EQ(progress["tool"], "pg_basebackup");
    EXPECT_EQ(progress["finished"], true);
    EXPECT_EQ(progress["succeeded"], true);
    EXPECT_GT(progress["total_kb"].get<std::int64_t>(), 1000);  // a whole data folder
    EXPECT_GE(progress["done_kb"].get<std::int64_t>(), progress["total_kb"].get<std::int64_t>());
    EXPECT_EQ(progress["percent"], 100);
    EXPECT_TRUE(progress["eta_seconds"].is_null());
    EXPECT_GT(progress["elapsed_seconds"].get<double>(), 0.0);
  }
  // /metrics has the same runs.
  auto metrics = pool_->metrics();
  for (int i = 1; i < kNodes; ++i) {
    auto series = "pgswarm_node_operation_succeeded{node=\"127.0.0.1:" +
                  std::to_string(cluster_->nodePort(i)) + "\",tool=\"pg_basebackup\"} 1\n";
    EXPECT_NE(metrics.find(series), std::string::npos) << series;
  }
}

TEST_F(DashboardApi, HistoryIsSampledEverySecondAndSinceTrimsIt) {
  auto first = pool_->status();
  ASSERT_TRUE(first.is_object());
  std::this_thread::sleep_for(2500ms);
  auto later = pool_->status();
  const auto& times = later["history"]["t"];
  ASSERT_GE(times.size(), first["history"]["t"].size() + 2) << later["history"].dump();
  EXPECT_EQ(later["history"]["interval_ms"], 1000);
  auto last = times.back().get<std::int64_t>();
  auto previous = times[times.size() - 2].get<std::int64_t>();
  EXPECT_NEAR(static_cast<double>(last - previous), 1000.0,
              500.0);  // a grid tick, stamped after the gather
  for (const auto& node : later["history"]["nodes"]) {
    EXPECT_EQ(node["lag_bytes"].size(), times.size());
    EXPECT_EQ(node["routed_per_second"].size(), times.size());
  }
  EXPECT_TRUE(later["history"]["nodes"][1]["lag_bytes"].back().is_number());
  EXPECT_TRUE(later["history"]["nodes"][0]["lag_bytes"].back().is_null());  // the primary
  auto since = pool_->status("?since=" + std::to_string(previous));
  ASSERT_TRUE(since.is_object());
  EXPECT_GE(since["history"]["t"].size(), 1u);
  EXPECT_LE(since["history"]["t"].size(), 2u);
  EXPECT_GT(since["history"]["t"][0].get<std::int64_t>(), previous);
  EXPECT_EQ(httpGet(pool_->httpPort(), "/api/status?since=yesterday").status, 400);
}

TEST_F(DashboardApi, CountsAndRatesGoUpUnderLoad) {
  auto password = cluster_->password();
  auto init = runPgClient("pgbench",
                          {"-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p",
                           std::to_string(cluster_->nodePort(0)), "-U", "postgres", "postgres"},
                          password);
  ASSERT_EQ(init.exitCode, 0) << init.output;
  auto before = pool_->status();
  ASSERT_TRUE(before.is_object());
  // Readers that never write read from the replicas (a client that wrote
  // reads from the primary until the replicas replayed it); one writer keeps
  // the primary busy.
  auto pgbench = [&](std::vector<std::string> args) {
    for (auto arg : {"-n", "-T", "8", "-h", "127.0.0.1", "-U", "postgres"}) args.emplace_back(arg);
    args.insert(args.end(), {"-p", std::to_string(pool_->port()), "postgres"});
    return std::async(std::launch::async,
                      [args, password] { return runPgClient("pgbench", args, password); });
  };
  auto readers = pgbench({"-S", "-c", "5", "-j", "2"});
  auto writer = pgbench({"-b", "simple-update", "-c", "1"});
  json busy;
  bool seen = waitUntil(
      [&] {
        busy = pool_->status();
        if (!busy.is_object() || busy["pool"]["clients"].get<int>() < 6) return false;
        for (int i = 0; i < kNodes; ++i) {
          for (const char* series : {"routed_per_second", "queries_per_second"}) {
            auto rates = busy["history"]["nodes"][i][series];
            if (rates.empty() || !rates.back().is_number() || rates.back().get<double>() <= 0) {
              return false;
            }
          }
        }
        return true;
      },
      7s);
  EXPECT_TRUE(seen) << "no rate on every node while pgbench ran: " << busy.dump(2);
  int servers = 0;
  for (const auto& node : busy["nodes"]) {
    servers += node["server_connections"]["active"].get<int>() +
               node["server_connections"]["idle"].get<int>();
  }
  EXPECT_GT(servers, 0);
  EXPECT_GT(busy["pool"]["server_connections"]["active"].get<int>() +
                busy["pool"]["server_connections"]["idle"].get<int>(),
            0);
  for (auto* bench : {&readers, &writer}) {
    auto result = bench->get();
    ASSERT_EQ(result.exitCode, 0) << result.output;
  }
  std::this_thread::sleep_for(1200ms);  // one more sample after the last transaction
  auto after = pool_->status();
  auto metrics = pool_->metrics();
  for (int i = 0; i < kNodes; ++i) {
    auto was = before["nodes"][i]["routed_total"].get<std::uint64_t>();
    auto now = after["nodes"][i]["routed_total"].get<std::uint64_t>();
    EXPECT_GT(now, was + 50) << "node " << i;
    // /metrics counts the same transactions (its snapshot is at most a sample newer).
    EXPECT_GE(metricValue(metrics, "pgswarm_node_transactions_routed_total" + nodeLabel(i)),
              static_cast<double>(now));
    // Queries: at least one per transaction; the primary's simple-update
    // transactions carry five (BEGIN, three statements, END).
    auto queriesWere = before["nodes"][i]["queries_total"].get<std::uint64_t>();
    auto queries = after["nodes"][i]["queries_total"].get<std::uint64_t>();
    EXPECT_GE(queries - queriesWere, now - was) << "node " << i;
    EXPECT_GE(metricValue(metrics, "pgswarm_node_queries_routed_total" + nodeLabel(i)),
              static_cast<double>(queries));
  }
  auto primaryQueries = after["nodes"][0]["queries_total"].get<std::uint64_t>() -
                        before["nodes"][0]["queries_total"].get<std::uint64_t>();
  auto primaryTransactions = after["nodes"][0]["routed_total"].get<std::uint64_t>() -
                             before["nodes"][0]["routed_total"].get<std::uint64_t>();
  EXPECT_GT(primaryQueries, primaryTransactions) << "the writer's transactions hold 5 queries";
  EXPECT_GE(after["pool"]["transactions_total"].get<std::uint64_t>(),
            before["pool"]["transactions_total"].get<std::uint64_t>() + 150);
  std::cout << "[ routed ] " << before["nodes"][0]["routed_total"] << "/"
            << before["nodes"][1]["routed_total"] << "/" << before["nodes"][2]["routed_total"]
            << " -> " << after["nodes"][0]["routed_total"] << "/"
            << after["nodes"][1]["routed_total"] << "/" << after["nodes"][2]["routed_total"]
            << "\n";
}

TEST_F(DashboardApi, AStoppedReplicaTurnsUnhealthyAndComesBack) {
  auto name = "127.0.0.1:" + std::to_string(cluster_->nodePort(kStopped));
  ASSERT_TRUE(stopNodeAgent(*cluster_, kStopped));
  auto stopped = std::chrono::steady_clock::now();
  json status;
  bool down = waitUntil(
      [&] {
        status = pool_->status();
        return status.is_object() && status["nodes"][kStopped]["healthy"] == false;
      },
      5s);
  ASSERT_TRUE(down) << status.dump(2);
  std::cout << "[ stopped ] unhealthy in /api/status after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - stopped)
                   .count()
            << " ms\n";
  const auto& node = status["nodes"][kStopped];
  EXPECT_EQ(node["health"], "down");
  EXPECT_TRUE(node["last_error"].is_string());
  EXPECT_NE(node["reads"], "yes");
  EXPECT_EQ(status["nodes"][1]["healthy"], true);
  bool logged = false;
  for (const auto& event : status["events"]) {
    logged = logged || (event["kind"] == "node_down" && event["node"] == name);
  }
  EXPECT_TRUE(logged) << status["events"].dump(2);
  EXPECT_EQ(metricValue(pool_->metrics(), "pgswarm_node_up" + nodeLabel(kStopped)), 0);

  auto restarted = cluster_->up();  // restarts what is stopped, waits for streaming
  ASSERT_EQ(restarted.exitCode, 0) << restarted.output;
  bool back = waitUntil(
      [&] {
        status = pool_->status();
        return status.is_object() && status["nodes"][kStopped]["healthy"] == true &&
               status["nodes"][kStopped]["follows"] == 0;
      },
      10s);
  EXPECT_TRUE(back) << status.dump(2);
}

// `pgswarm status --watch`, piped: frames one after another, from the
// cluster's own pool's /api/status, and no screen-clearing codes.
TEST_F(DashboardApi, StatusWatchRedrawsThePoolsViewWithoutAnsiCodesWhenPiped) {
  // `status` asks the cluster's own pool (1 s checks, `pgswarm up`'s), which
  // may not have seen the replica the last case restarted yet.
  nlohmann::json document;
  bool allUp = waitUntil(
      [&] {
        auto frame =
            runPgswarm({"status", "--dir", cluster_->dir(), "--watch", "--json", "--count", "1"});
        document = nlohmann::json::parse(frame.output, nullptr, false);
        if (!document.is_object() || document["nodes"].size() != static_cast<std::size_t>(kNodes))
          return false;
        for (const auto& node : document["nodes"]) {
          if (node["healthy"] != true) return false;
        }
        return true;
      },
      10s);
  ASSERT_TRUE(allUp) << document.dump(2);
  auto watched = runPgswarm(
      {"status", "--dir", cluster_->dir(), "--watch", "--interval", "0.3", "--count", "2"});
  ASSERT_EQ(watched.exitCode, 0) << watched.output;
  const auto& text = watched.output;
  std::size_t frames = 0;
  for (auto at = text.find("pgswarm status "); at != std::string::npos;
       at = text.find("pgswarm status ", at + 1)) {
    ++frames;
  }
  EXPECT_EQ(frames, 2u) << text;
  EXPECT_FALSE(contains(text, "\x1b[")) << text;
  EXPECT_TRUE(contains(text, "ROUTED/S")) << text;  // the pool's view, not the probe's table
  // The replicas' base backups, as on the page's Long operations: a full bar.
  EXPECT_TRUE(contains(text, "long operations:")) << text;
  EXPECT_TRUE(contains(text, "pg_basebackup [####################] 100%")) << text;
  for (int i = 0; i < kNodes; ++i) {
    auto row = text.find("node" + std::to_string(i) + " ");
    ASSERT_NE(row, std::string::npos) << text;
    auto line = text.substr(row, text.find('\n', row) - row);
    EXPECT_TRUE(contains(line, i == 0 ? " primary " : " replica ")) << line;
    EXPECT_TRUE(contains(line, " up ")) << line;
  }
  EXPECT_TRUE(contains(text, "failover healthy")) << text;
}

// A switchover shows in the history: the failover transitions, the
// promotion (a role event), the old primary's rejoin (back up as a replica
// on the new timeline), the counters in the JSON and in /metrics.
TEST_F(DashboardApi, ASwitchoverAndTheRejoinAreInTheEventHistory) {
  auto console = rawConnect(pool_->port(), "postgres", cluster_->password(), "dbname=pgswarm");
  ASSERT_EQ(PQstatus(console.get()), CONNECTION_OK) << PQerrorMessage(console.get());
  auto target = "127.0.0.1:" + std::to_string(cluster_->nodePort(1));
  PGresult* result = PQexec(console.get(), ("SWITCHOVER '" + target + "'").c_str());
  auto outcome = PQresultStatus(result);
  std::string error = PQresultErrorMessage(result);
  PQclear(result);
  ASSERT_TRUE(outcome == PGRES_COMMAND_OK || outcome == PGRES_TUPLES_OK) << error;
  json status;
  bool settled = waitUntil(
      [&] {
        status = pool_->status();
        return status.is_object() && status["nodes"][1]["primary"] == true &&
               status["nodes"][0]["role"] == "replica" && status["nodes"][0]["healthy"] == true &&
               status["nodes"][0]["fenced"] == false && status["nodes"][0]["follows"] == 1;
      },
      60s);
  ASSERT_TRUE(settled) << status.dump(2) << "\n" << pool_->log();
  EXPECT_EQ(status["failover"]["switchovers"], 1);
  EXPECT_EQ(status["failover"]["primary"], target);
  EXPECT_TRUE(status["failover"]["last_promotion_at"].is_number()) << status["failover"].dump();
  EXPECT_TRUE(status["failover"]["last_promotion"].is_string() &&
              contains(status["failover"]["last_promotion"].get<std::string>(), target))
      << status["failover"].dump();
  bool switched = false;
  bool promoted = false;
  bool rejoined = false;
  for (const auto& event : status["events"]) {
    auto message = event["message"].get<std::string>();
    switched = switched || (event["kind"] == "failover" && contains(message, "switchover"));
    promoted = promoted || (event["kind"] == "role" && event["node"] == target &&
                            contains(message, "is now primary on timeline 2"));
    // The agent restarts the old primary to rewind it: it goes down and
    // comes back as a replica on the new timeline, then is unfenced.
    rejoined = rejoined || (event["node"] == "127.0.0.1:" + std::to_string(cluster_->nodePort(0)) &&
                            (event["kind"] == "node_up" || event["kind"] == "role") &&
                            contains(message, "replica on timeline 2"));
  }
  EXPECT_TRUE(switched && promoted && rejoined) << status["events"].dump(2);
  auto metrics = pool_->metrics();
  EXPECT_EQ(metricValue(metrics, "pgswarm_switchovers_total"), 1) << metrics;
  EXPECT_EQ(metricValue(metrics, "pgswarm_node_primary" + nodeLabel(1)), 1);
  EXPECT_EQ(metricValue(metrics, "pgswarm_node_timeline" + nodeLabel(1)), 2);
  EXPECT_GE(metricValue(metrics, "pgswarm_cluster_events_total{kind=\"role\"}"), 2);
}

// shard1's failover coordinator in /api/status (shards[0].failover) and in
// /metrics (group="shard1"): healthy with its primary, then, after kill -9
// of the primary's agent and postmaster, a state other than healthy while
// it fails over, and healthy again on the promoted replica with its
// failover counted and its last promotion dated.
TEST(DashboardShardGroups, AShardGroupsFailoverStateInTheJsonAndTheMetrics) {
  LocalCluster cluster(0, 1, 1);
  auto up = cluster.up({"--pool-mode", "transaction"});
  ASSERT_EQ(up.exitCode, 0) << up.output;
  const int httpPort = cluster.poolPort() + 1;  // LocalCluster::up's --http-port
  auto status = [&] {
    auto reply = httpGet(httpPort, "/api/status");
    return reply.status == 200 ? json::parse(reply.body, nullptr, false) : json();
  };
  const auto primary = "127.0.0.1:" + std::to_string(cluster.shardPort(1));
  const auto replica = "127.0.0.1:" + std::to_string(cluster.shardPort(1, 1));
  json seen;
  bool healthy = waitUntil(
      [&] {
        seen = status();
        if (!seen.is_object() || seen["shards"].size() != 1u) return false;
        const auto& group = seen["shards"][0];
        return group["failover"].is_object() && group["failover"]["state"] == "healthy" &&
               group["failover"]["primary"] == primary && group["nodes"].size() == 2u &&
               group["nodes"][1]["receiver_status"] == "streaming";
      },
      30s);
  ASSERT_TRUE(healthy) << seen.dump(2);
  const auto& nodes = seen["shards"][0]["nodes"];
  EXPECT_EQ(nodes[0]["name"], primary);
  EXPECT_TRUE(nodes[0]["follows"].is_null());
  EXPECT_EQ(nodes[1]["name"], replica);
  EXPECT_EQ(nodes[1]["follows"], nodes[0]["index"]) << "the shard replica's arrow";
  EXPECT_EQ(seen["shards"][0]["failover"]["failovers"], 0);
  EXPECT_TRUE(seen["failover"].is_null()) << "the coordinator's group has one node";
  auto metrics = httpGet(httpPort, "/metrics").body;
  EXPECT_EQ(metricValue(metrics, R"(pgswarm_failover_state{group="shard1",state="healthy"})"), 1)
      << metrics;
  EXPECT_EQ(metricValue(metrics, R"(pgswarm_failovers_total{group="shard1"})"), 0);

  // kill -9 of shard1's agent (so nothing restarts postgres), then of its
  // postmaster, each by the PID file of this cluster's folder.
  auto ourPid = [&](const std::string& file) -> pid_t {
    std::ifstream in(file);
    pid_t pid = 0;
    if (!(in >> pid)) return 0;
    return runtime::processCommandLine(pid).find(cluster.dir()) != std::string::npos ? pid : 0;
  };
  std::string dataDir;
  auto clusterStatus = cluster.status();
  for (const auto& node : clusterStatus["nodes"]) {
    if (node["name"] == "shard1") dataDir = node["data_dir"].get<std::string>();
  }
  pid_t agent = ourPid(cluster.dir() + "/shard1/agent.pid");
  pid_t postmaster = ourPid(dataDir + "/postmaster.pid");
  ASSERT_NE(agent, 0);
  ASSERT_NE(postmaster, 0) << dataDir;
  auto killedAt = std::chrono::system_clock::now();
  ASSERT_EQ(::kill(agent, SIGKILL), 0);
  ASSERT_EQ(::kill(postmaster, SIGKILL), 0);

  std::set<std::string> states;
  bool promoted = waitUntil(
      [&] {
        seen = status();
        if (!seen.is_object() || !seen["shards"][0]["failover"].is_object()) return false;
        const auto& failover = seen["shards"][0]["failover"];
        states.insert(failover["state"].get<std::string>());
        return failover["state"] == "healthy" && failover["primary"] == replica;
      },
      60s);
  ASSERT_TRUE(promoted) << seen["shards"].dump(2);
  std::cout << "[ states   ] shard1 failover states seen:";
  for (const auto& state : states) std::cout << " '" << state << "'";
  std::cout << "\n";
  EXPECT_GE(states.size(), 2u) << "never seen failing over";
  const auto& failover = seen["shards"][0]["failover"];
  EXPECT_EQ(failover["failovers"], 1);
  auto killedMillis =
      std::chrono::duration_cast<std::chrono::milliseconds>(killedAt.time_since_epoch()).count();
  ASSERT_TRUE(failover["last_promotion_at"].is_number()) << failover.dump();
  EXPECT_GE(failover["last_promotion_at"].get<std::int64_t>(), killedMillis);
  EXPECT_TRUE(contains(failover["last_promotion"].get<std::string>(), replica)) << failover.dump();
  EXPECT_EQ(seen["shards"][0]["nodes"][0]["healthy"], false);
  EXPECT_EQ(seen["shards"][0]["nodes"][1]["role"], "primary");
  bool logged = false;
  for (const auto& event : seen["events"]) {
    logged = logged || (event["kind"] == "failover" &&
                        event["message"].get<std::string>().starts_with("shard1 "));
  }
  EXPECT_TRUE(logged) << seen["events"].dump(2);

  metrics = httpGet(httpPort, "/metrics").body;
  EXPECT_EQ(metricValue(metrics, R"(pgswarm_failovers_total{group="shard1"})"), 1) << metrics;
  EXPECT_EQ(metricValue(metrics, R"(pgswarm_failover_state{group="shard1",state="healthy"})"), 1);
  EXPECT_GE(
      metricValue(metrics, R"(pgswarm_failover_last_transition_timestamp_seconds{group="shard1"})"),
      static_cast<double>(killedMillis) / 1000.0);
  EXPECT_EQ(
      metricValue(metrics, R"(pgswarm_shard_node_primary{group="shard1",node=")" + replica + "\"}"),
      1);

  // `pgswarm status --watch` shows the same: the group's failover, then its nodes.
  auto watched = runPgswarm({"status", "--dir", cluster.dir(), "--watch", "--count", "1"});
  EXPECT_TRUE(contains(watched.output, "shard groups:\n  shard1 failover healthy, primary " +
                                           replica + ", 1 failovers, 0 switchovers"))
      << watched.output;
  EXPECT_TRUE(contains(watched.output, "    " + replica)) << watched.output;
  EXPECT_TRUE(contains(watched.output, "shard map (version ")) << watched.output;
}

}  // namespace
}  // namespace pgswarm::test
