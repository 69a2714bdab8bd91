// The dashboard in a real browser: tests/browser/dashboard_test.js drives
// Debian's headless chromium (playwright-core) against the pool of a running
// 1 primary + 2 replica cluster under pgbench. This test runs the cluster,
// the pool and the load, stops a replica by its agent's PID when the script
// asks, and reads the script's verdict. A second case runs a coordinator
// with two shard groups (a primary and a replica each, so each runs its
// failover coordinator) and a hash-sharded table under single-shard load,
// checks the shards in /api/status and /metrics, and has the script check
// the shard nodes in the topology, each group's failover state, the page's
// Shards section and the shard create in Long operations. Screenshots stay
// in the build folder (test-artifacts/dashboard*.png).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "dashboard_support.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kBrowserDir = std::string(PGSWARM_SOURCE_DIR) + "/tests/browser";
const std::string kArtifacts = std::string(PGSWARM_BUILD_DIR) + "/test-artifacts";

// node, chromium and playwright-core, or why not.
::testing::AssertionResult browserReady() {
  if (findOnPath("node").empty()) {
    return ::testing::AssertionFailure() << "node not found; scripts/install-deps.sh installs it";
  }
  if (!fs::exists("/usr/bin/chromium")) {
    return ::testing::AssertionFailure() << "scripts/install-deps.sh installs chromium";
  }
  if (!fs::exists(kBrowserDir + "/node_modules/playwright-core/package.json")) {
    return ::testing::AssertionFailure() << "playwright-core missing in " << kBrowserDir
                                         << "; scripts/install-deps.sh installs it";
  }
  return ::testing::AssertionSuccess();
}

TEST(DashboardBrowser, NodesRolesChartsAndAStoppedReplicaInChromium) {
  ASSERT_TRUE(browserReady());
  const auto node = findOnPath("node");
  const auto& browserDir = kBrowserDir;

  LocalCluster cluster(2);
  auto up = cluster.up();
  ASSERT_EQ(up.exitCode, 0) << up.output;
  DashboardPool pool(cluster, 200);
  nlohmann::json expected = nlohmann::json::array();
  for (int i = 0; i < cluster.nodeCount(); ++i) {
    expected.push_back({{"name", "127.0.0.1:" + std::to_string(cluster.nodePort(i))},
                        {"role", i == 0 ? "primary" : "replica"}});
  }
  bool ready = waitUntil(
      [&] {
        auto status = pool.status();
        return status.is_object() && status["nodes"].size() == 3u &&
               status["nodes"][1]["follows"] == 0 && status["nodes"][2]["follows"] == 0;
      },
      20s);
  ASSERT_TRUE(ready) << pool.log();

  auto password = cluster.password();
  auto init = runPgClient("pgbench",
                          {"-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p",
                           std::to_string(cluster.nodePort(0)), "-U", "postgres", "postgres"},
                          password);
  ASSERT_EQ(init.exitCode, 0) << init.output;
  auto load = std::async(std::launch::async, [&] {
    return runPgClient(
        "pgbench",
        {"-n", "-c", "4", "-j", "2", "-T", "25", "-b", "select-only@9", "-b", "simple-update@1",
         "-h", "127.0.0.1", "-p", std::to_string(pool.port()), "-U", "postgres", "postgres"},
        password);
  });

  const std::string stopRequest = cluster.dir() + "/../stop-request";
  const std::string stoppedName = "127.0.0.1:" + std::to_string(cluster.nodePort(2));
  const auto& artifacts = kArtifacts;
  fs::remove(artifacts + "/dashboard.png");
  fs::remove(artifacts + "/dashboard-replica-down.png");
  auto browser = std::async(std::launch::async, [&] {
    return runProgram(
        {node, browserDir + "/dashboard_test.js"},
        {{"DASHBOARD_URL", "http://127.0.0.1:" + std::to_string(pool.httpPort()) + "/"},
         {"DASHBOARD_NODES", expected.dump()},
         {"STOP_REQUEST_FILE", stopRequest},
         {"STOPPED_NODE", stoppedName},
         {"SCREENSHOT_DIR", artifacts}});
  });
  // The script asks for the stop once it has seen the nodes and the charts.
  bool asked = false;
  while (browser.wait_for(100ms) != std::future_status::ready) {
    if (!asked && fs::exists(stopRequest)) {
      asked = true;
      EXPECT_TRUE(stopNodeAgent(cluster, 2));
    }
  }
  auto verdict = browser.get();
  std::cout << verdict.output;
  EXPECT_EQ(verdict.exitCode, 0) << verdict.output << "\npool log:\n" << pool.log();
  EXPECT_TRUE(asked) << "the script never asked to stop the replica";
  EXPECT_TRUE(contains(verdict.output, "dashboard in chromium: ok")) << verdict.output;
  for (const char* name : {"/dashboard.png", "/dashboard-replica-down.png"}) {
    EXPECT_TRUE(fs::exists(artifacts + name)) << artifacts + name;
    if (fs::exists(artifacts + name)) {
      EXPECT_GT(fs::file_size(artifacts + name), 10000u);
    }
  }
  auto bench = load.get();
  std::cout << "[ pgbench ] exit " << bench.exitCode << "\n";
  EXPECT_TRUE(pool.running()) << pool.log();
}

TEST(DashboardBrowser, ShardNodesAndTheShardMapInChromium) {
  ASSERT_TRUE(browserReady());
  LocalCluster cluster(0, 2, 1);
  auto up = cluster.up({"--pool-mode", "transaction"});
  ASSERT_EQ(up.exitCode, 0) << up.output;
  const int httpPort = cluster.poolPort() + 1;  // LocalCluster::up's --http-port
  auto coordinator = cluster.connect(0);
  ASSERT_TRUE(
      coordinator.execute("CREATE TABLE items (id int PRIMARY KEY, note text); "
                          "INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 1000) g"));
  auto sharded = runPgswarm({"shard", "create", "items", "--key", "id", "--strategy", "hash",
                             "--shards", "3", "--keep-local", "1", "--dir", cluster.dir()});
  ASSERT_EQ(sharded.exitCode, 0) << sharded.output;

  // The pool reads the shard map once a second.
  auto status = [&] {
    auto reply = httpGet(httpPort, "/api/status");
    return reply.status == 200 ? nlohmann::json::parse(reply.body, nullptr, false)
                               : nlohmann::json();
  };
  // ... and each group's failover coordinator adopts its primary.
  auto groupsHealthy = [](const nlohmann::json& reply) {
    if (reply["shards"].size() != 2u) return false;
    for (const auto& group : reply["shards"]) {
      if (!group["failover"].is_object() || group["failover"]["state"] != "healthy") return false;
    }
    return true;
  };
  nlohmann::json seen;
  bool mapped = waitUntil(
      [&] {
        seen = status();
        return seen.is_object() && seen["shard_map"].is_object() &&
               seen["shard_map"]["tables"].size() == 1u && groupsHealthy(seen);
      },
      30s);
  ASSERT_TRUE(mapped) << seen.dump(2);
  const auto& table = seen["shard_map"]["tables"][0];
  EXPECT_EQ(table["table"], "public.items");
  EXPECT_EQ(table["strategy"], "hash");
  ASSERT_EQ(table["partitions"].size(), 3u);
  int direct = 0;
  for (const auto& partition : table["partitions"]) {
    if (partition["direct"] == true) ++direct;
    EXPECT_EQ(partition["direct"], partition["node"] != "coordinator") << partition.dump();
  }
  EXPECT_EQ(direct, 2);
  ASSERT_EQ(seen["shards"].size(), 2u) << seen["shards"].dump(2);
  nlohmann::json shardNodes = nlohmann::json::array();
  nlohmann::json shardGroups = nlohmann::json::array();
  for (int k = 1; k <= 2; ++k) {
    const auto& group = seen["shards"][k - 1];
    EXPECT_EQ(group["group"], "shard" + std::to_string(k));
    ASSERT_EQ(group["nodes"].size(), 2u);
    EXPECT_EQ(group["nodes"][0]["port"], cluster.shardPort(k));
    EXPECT_EQ(group["nodes"][1]["port"], cluster.shardPort(k, 1));
    EXPECT_EQ(group["failover"]["primary"], group["nodes"][0]["name"]);
    for (const auto& node : group["nodes"]) shardNodes.push_back(node["name"]);
    shardGroups.push_back({{"group", group["group"]},
                           {"primary", group["nodes"][0]["name"]},
                           {"replica", group["nodes"][1]["name"]}});
  }

  // Single-shard reads through the pool while the page watches.
  const std::string script = cluster.dir() + "/../items.sql";
  {
    std::ofstream out(script);
    out << "\\set id random(1, 1000)\nSELECT note FROM items WHERE id = :id;\n";
  }
  auto load = std::async(std::launch::async, [&] {
    return runPgClient("pgbench",
                       {"-n", "-c", "2", "-j", "1", "-T", "15", "-f", script, "-h", "127.0.0.1",
                        "-p", std::to_string(cluster.poolPort()), "-U", "postgres", "postgres"},
                       cluster.password());
  });
  fs::remove(kArtifacts + "/dashboard-shards.png");
  auto verdict =
      runProgram({findOnPath("node"), kBrowserDir + "/dashboard_test.js"},
                 {{"DASHBOARD_URL", "http://127.0.0.1:" + std::to_string(httpPort) + "/"},
                  {"SHARD_TABLE", "public.items"},
                  {"SHARD_NODES", shardNodes.dump()},
                  {"SHARD_GROUPS", shardGroups.dump()},
                  {"SCREENSHOT_DIR", kArtifacts}});
  std::cout << verdict.output;
  EXPECT_EQ(verdict.exitCode, 0) << verdict.output;
  EXPECT_TRUE(contains(verdict.output, "dashboard in chromium: ok")) << verdict.output;
  EXPECT_TRUE(fs::exists(kArtifacts + "/dashboard-shards.png"));

  // The same traffic in /metrics, per shard node (reads may go to either
  // node of a group), and each group's failover state.
  auto metrics = httpGet(httpPort, "/metrics").body;
  double routed = 0;
  for (int k = 1; k <= 2; ++k) {
    auto group = "group=\"shard" + std::to_string(k) + "\"";
    for (int replica = 0; replica <= 1; ++replica) {
      auto labels = "{" + group +
                    ",node=\"127.0.0.1:" + std::to_string(cluster.shardPort(k, replica)) + "\"}";
      auto value = metricValue(metrics, "pgswarm_shard_node_transactions_routed_total" + labels);
      EXPECT_FALSE(std::isnan(value)) << labels << "\n" << metrics;
      routed += std::isnan(value) ? 0 : value;
      EXPECT_EQ(metricValue(metrics, "pgswarm_shard_node_up" + labels), 1.0) << labels;
    }
    EXPECT_EQ(metricValue(metrics, "pgswarm_failover_state{" + group + ",state=\"healthy\"}"), 1.0)
        << metrics;
  }
  EXPECT_GT(routed, 0);
  EXPECT_EQ(metricValue(metrics, "pgswarm_shard_map_tables"), 1.0);

  // The terminal's view of the same: `pgswarm status --watch`, one frame.
  auto watched = runPgswarm({"status", "--dir", cluster.dir(), "--watch", "--count", "1"});
  std::cout << watched.output;
  for (const char* expected :
       {"shard groups:\n  shard1 failover healthy", "  shard2 failover healthy",
        "shard map (version ", "postgres public.items by id (hash)", "items_shard1",
        "long operations:", "shard create public.items", "pg_basebackup [####################]"}) {
    EXPECT_TRUE(contains(watched.output, expected)) << expected;
  }
  auto bench = load.get();
  EXPECT_EQ(bench.exitCode, 0) << bench.output;
}

}  // namespace
}  // namespace pgswarm::test
