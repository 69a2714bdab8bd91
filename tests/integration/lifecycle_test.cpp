// The local cluster's life cycle and its refusals: down leaves nothing
// running, data survives down + up, --replicas 0 works, and bad input gives a
// precise error with nothing half-made left running.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "runtime/ports.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

TEST(Lifecycle, DownLeavesNoProcessAndDataSurvivesUpAgain) {
  LocalCluster cluster(1);
  auto up = cluster.up();
  ASSERT_EQ(up.exitCode, 0) << up.output;
  // The replica's base backup as its agent reported it (not a terminal:
  // plain lines, the last one with the final figures).
  EXPECT_TRUE(contains(up.output, "node1: pg_basebackup [####################] 100% "))
      << up.output;
  EXPECT_TRUE(contains(up.output, " kB/s, done\n")) << up.output;
  {
    auto primary = cluster.connect(0);
    ASSERT_TRUE(primary.execute("CREATE TABLE survives (v text)").ok());
    ASSERT_TRUE(primary.execute("INSERT INTO survives VALUES ('still here')").ok());
  }
  auto down = cluster.down();
  ASSERT_EQ(down.exitCode, 0) << down.output;
  EXPECT_TRUE(processesMentioning(cluster.dir()).empty())
      << "processes left after down: " << processesMentioning(cluster.dir()).size();
  auto stopped = cluster.status();
  for (const auto& n : stopped["nodes"]) EXPECT_EQ(n["state"], "stopped") << n.dump();

  auto again = cluster.up();
  ASSERT_EQ(again.exitCode, 0) << again.output;
  for (int index : {0, 1}) {
    auto conn = cluster.connect(index);
    auto rows = conn.query("SELECT v FROM survives");
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->text(0, "v"), "still here");
  }
}

TEST(Lifecycle, SecondUpOnARunningClusterChangesNothing) {
  LocalCluster cluster(0);
  ASSERT_EQ(cluster.up().exitCode, 0);
  auto before = cluster.status()["nodes"][0];
  auto again = cluster.up();
  ASSERT_EQ(again.exitCode, 0) << again.output;
  auto after = cluster.status()["nodes"][0];
  EXPECT_EQ(before["pid"], after["pid"]);
  EXPECT_EQ(before["agent_pid"], after["agent_pid"]);
  EXPECT_EQ(after["role"], "primary");
}

// The local pool shares the cores with the nodes: one event loop per two.
TEST(Lifecycle, LocalPoolRunsOneWorkerPerTwoCores) {
  LocalCluster cluster(0);
  ASSERT_EQ(cluster.up().exitCode, 0);
  const int httpPort = cluster.status()["http_port"].get<int>();
  auto reply = httpGet(httpPort, "/api/status");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto expected = std::max(1U, std::thread::hardware_concurrency() / 2);
  EXPECT_EQ(nlohmann::json::parse(reply.body)["pool"]["workers"], expected) << reply.body;
}

// Logs in kClients clients through the pool, all connected at once, and
// runs a query on each.
void connectMoreClientsThanServers(LocalCluster& cluster) {
  constexpr int kClients = 25;  // above the pool's default_pool_size (20)
  std::vector<pgswarm::cluster::PgConnection> clients;
  for (int i = 1; i <= kClients; ++i) {
    try {
      clients.push_back(cluster.connectPool());
    } catch (const std::exception& e) {
      FAIL() << "client " << i << " of " << kClients << " could not log in: " << e.what();
    }
  }
  for (auto& client : clients) {
    auto rows = client.query("SELECT 1 AS one");
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    EXPECT_EQ(rows->text(0, "one"), "1");
  }
}

// In session mode (up's default) each client holds a server connection, so
// client 21 waits for one until query_wait_timeout (bench/sharding.sh's 80
// pgbench clients): `up --pool-mode transaction` serves them all, and the
// mode stays the cluster's when a later `up` restarts the pool.
TEST(Lifecycle, TransactionModePoolServesMoreClientsThanServers) {
  LocalCluster cluster(0);
  auto up = cluster.up({"--pool-mode", "transaction"});
  ASSERT_EQ(up.exitCode, 0) << up.output;
  EXPECT_TRUE(contains(up.output, "# transaction mode")) << up.output;
  connectMoreClientsThanServers(cluster);
  ASSERT_EQ(cluster.down().exitCode, 0);
  auto again = cluster.up();
  ASSERT_EQ(again.exitCode, 0) << again.output;
  connectMoreClientsThanServers(cluster);
}

TEST(Lifecycle, UnknownFlagIsRefused) {
  auto result = runPgswarm({"up", "--replicaz", "2"});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_TRUE(contains(result.output, "--replicaz")) << result.output;
}

TEST(Lifecycle, NegativeReplicasIsRefused) {
  TempDir temp;
  auto result = runPgswarm({"up", "--dir", temp.path() + "/c", "--replicas", "-1"});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_TRUE(contains(result.output, "--replicas")) << result.output;
  EXPECT_FALSE(std::filesystem::exists(temp.path() + "/c"));
}

TEST(Lifecycle, FolderHoldingSomethingElseIsRefused) {
  TempDir temp;
  std::ofstream(temp.path() + "/precious.txt") << "not a cluster";
  auto result = runPgswarm({"up", "--dir", temp.path(), "--replicas", "0", "--port-base",
                            std::to_string(findPortBase(1))});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_TRUE(contains(result.output, "something else")) << result.output;
  EXPECT_TRUE(std::filesystem::exists(temp.path() + "/precious.txt"));
}

TEST(Lifecycle, PortInUseIsRefusedAndNothingIsLeftRunning) {
  TempDir temp;
  int base = findPortBase(2);
  int blocker = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(base + 1));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  auto result = runPgswarm(
      {"up", "--dir", temp.path() + "/c", "--replicas", "1", "--port-base", std::to_string(base)});
  ::close(blocker);
  EXPECT_NE(result.exitCode, 0);
  EXPECT_TRUE(contains(result.output, std::to_string(base + 1))) << result.output;
  EXPECT_TRUE(processesMentioning(temp.path()).empty());
  EXPECT_FALSE(std::filesystem::exists(temp.path() + "/c"));
}

TEST(Lifecycle, StatusOfAMissingClusterIsAPreciseError) {
  TempDir temp;
  auto result = runPgswarm({"status", "--dir", temp.path() + "/none"});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_TRUE(contains(result.output, "no pgswarm cluster")) << result.output;
}

TEST(Lifecycle, ReplicaWithUnreachablePrimaryFailsPrecisely) {
  TempDir temp;
  auto deadPort = runtime::pickFreePort();
  auto apiPort = runtime::pickFreePort();
  ASSERT_TRUE(deadPort.ok() && apiPort.ok());
  std::ofstream(temp.path() + "/pw") << "secret\n";
  auto started = std::chrono::steady_clock::now();
  auto result = runPgswarm({"node",
                            "--name",
                            "lonely",
                            "--mode",
                            "replica",
                            "--data-dir",
                            temp.path() + "/data",
                            "--port",
                            std::to_string(findPortBase(1)),
                            "--primary-host",
                            "127.0.0.1",
                            "--primary-port",
                            std::to_string(*deadPort),
                            "--primary-wait",
                            "2",
                            "--api-listen",
                            "127.0.0.1",
                            "--api-port",
                            std::to_string(*apiPort),
                            "--password-file",
                            temp.path() + "/pw",
                            "--replication-password-file",
                            temp.path() + "/pw"});
  EXPECT_NE(result.exitCode, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
  EXPECT_TRUE(contains(result.output, std::to_string(*deadPort))) << result.output;
  EXPECT_TRUE(processesMentioning(temp.path()).empty());
  EXPECT_FALSE(std::filesystem::exists(temp.path() + "/data/PG_VERSION"));
}

}  // namespace
}  // namespace pgswarm::test
