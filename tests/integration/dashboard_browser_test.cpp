// The dashboard in a real browser: tests/browser/dashboard_test.js drives
// Debian's headless chromium (playwright-core) against the pool of a running
// 1 primary + 2 replica cluster under pgbench. This test runs the cluster,
// the pool and the load, stops a replica by its agent's PID when the script
// asks, and reads the script's verdict. Screenshots stay in the build folder
// (test-artifacts/dashboard*.png).
#include <filesystem>
#include <future>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "dashboard_support.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST(DashboardBrowser, NodesRolesChartsAndAStoppedReplicaInChromium) {
  const std::string browserDir = std::string(PGSWARM_SOURCE_DIR) + "/tests/browser";
  const auto node = findOnPath("node");
  ASSERT_FALSE(node.empty()) << "node not found; scripts/install-deps.sh installs it";
  ASSERT_TRUE(fs::exists("/usr/bin/chromium")) << "scripts/install-deps.sh installs chromium";
  ASSERT_TRUE(fs::exists(browserDir + "/node_modules/playwright-core/package.json"))
      << "playwright-core missing in " << browserDir << "; scripts/install-deps.sh installs it";

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
  const std::string artifacts = std::string(PGSWARM_BUILD_DIR) + "/test-artifacts";
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

}  // namespace
}  // namespace pgswarm::test
