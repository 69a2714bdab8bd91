// Synchronous mode against a real 1 primary + 3 replica cluster, through a
// transaction-mode pool with synchronous_mode = on: the pool keeps
// synchronous_standby_names at ANY 1 of the streaming replicas; kill -9 of
// the primary under a ledger writer loses no acknowledged row; and when the
// primary and a synchronous standby die together, no replica is promoted
// until an operator says PROMOTE. One cluster and one pool for the cases,
// in order.
#include <csignal>
#include <fstream>
#include <iostream>

#include <gtest/gtest.h>

#include "cluster_suite.hpp"
#include "failover_support.hpp"
#include "harness.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

using Clock = std::chrono::steady_clock;

class SyncFailover : public ClusterSuite<SyncFailover> {
 protected:
  static void SetUpTestSuite() {
    // This test's pool is the coordinator.
    ASSERT_NO_FATAL_FAILURE(startCluster(3, {"--failover", "off"}));
    pool_ = std::make_unique<PoolProcess>(
        *cluster_, PoolNodes::kAll,
        std::vector<std::string>{"--pool-mode", "transaction", "--workers", "2",
                                 "--synchronous-mode", "on"});
    auto console = admin();
    bool ready = waitUntil(
        [&] {
          return consoleValue(console.get(), "SHOW FAILOVER", "synchronous_standby_names") ==
                 "ANY 1 (node1, node2, node3)";
        },
        20s);
    ASSERT_TRUE(ready) << consoleValue(console.get(), "SHOW FAILOVER", "synchronous_standby_names")
                       << "\n"
                       << pool_->log();
    auto conn = client();
    ASSERT_EQ(run(conn.get(), "CREATE TABLE ledger (id bigint PRIMARY KEY)"), "ok");
    ready_ = true;
  }
  void TearDown() override {
    if (HasFailure()) printLogs();
  }

  static int nodeOf(const std::string& name) {
    for (int i = 0; i < cluster_->nodeCount(); ++i) {
      if (nodeName(i) == name) return i;
    }
    return -1;
  }

  // kill -9 of the node's agent, then of its postgres; only processes of
  // this cluster.
  static ::testing::AssertionResult killNode(int node) {
    pid_t agent = ourPid(nodeDir(node) + "/agent.pid");
    pid_t postmaster = ourPid(nodeDir(node) + "/data/postmaster.pid");
    if (agent == 0 || postmaster == 0) {
      return ::testing::AssertionFailure() << "node " << node << ": no agent or postmaster pid";
    }
    ::kill(agent, SIGKILL);
    ::kill(postmaster, SIGKILL);
    return ::testing::AssertionSuccess();
  }
};

TEST_F(SyncFailover, ThePrimaryWaitsForOneOfTheReplicas) {
  auto primary = direct(0);
  EXPECT_EQ(run(primary.get(), "SHOW synchronous_standby_names"), "ANY 1 (node1, node2, node3)");
  EXPECT_EQ(
      run(primary.get(), "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum'"),
      "3");
}

TEST_F(SyncFailover, KillingThePrimaryLosesNoAcknowledgedCommit) {
  auto console = admin();
  LedgerWriter writer([] { return client(); });
  ASSERT_TRUE(waitUntil([&] { return writer.acknowledged() >= 100; }, 20s)) << writer.lastError();
  ASSERT_TRUE(killNode(0));
  auto before = writer.acknowledged();
  bool resumed = waitUntil([&] { return writer.acknowledged() > before + 20; }, 30s);
  writer.stop();
  ASSERT_TRUE(resumed) << "writes never resumed; last error: " << writer.lastError();
  std::cout << "[ figures  ] sync mode: write unavailability " << writer.longestGap().count()
            << " ms, " << writer.reconnects() << " reconnects\n";
  // The statement in flight at the kill failed; the connection did not.
  EXPECT_EQ(writer.reconnects(), 0) << writer.lastError();

  int promoted = nodeOf(consoleValue(console.get(), "SHOW FAILOVER", "primary"));
  ASSERT_GT(promoted, 0);
  auto newPrimary = direct(promoted);
  // Every acknowledged id is there. (An insert whose answer was lost with
  // the primary may be there too: its outcome was unknown, not denied.)
  std::string ids = "{";
  for (long id : writer.ids()) ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
  ids += "}";
  auto present =
      run(newPrimary.get(), "SELECT count(*) FROM ledger WHERE id = ANY('" + ids + "'::bigint[])");
  EXPECT_EQ(present, std::to_string(writer.ids().size()))
      << "acknowledged rows lost in synchronous mode";
  std::cout << "[ figures  ] sync mode: " << writer.ids().size() << " acknowledged, " << present
            << " of them on the new primary\n";
  // The new primary waits for its own replicas again.
  EXPECT_TRUE(waitUntil(
      [&] {
        auto names = run(newPrimary.get(), "SHOW synchronous_standby_names");
        return names.starts_with("ANY 1 (") && names.find("node0") == std::string::npos &&
               names.find("node" + std::to_string(promoted)) == std::string::npos &&
               std::ranges::count(names, ',') == 1;
      },
      30s))
      << run(newPrimary.get(), "SHOW synchronous_standby_names");
}

TEST_F(SyncFailover, LosingThePrimaryAndASyncStandbyPromotesNobody) {
  auto console = admin();
  int primary = nodeOf(consoleValue(console.get(), "SHOW FAILOVER", "primary"));
  ASSERT_GT(primary, 0);
  std::vector<int> replicas;
  for (int i = 1; i < cluster_->nodeCount(); ++i) {
    if (i != primary) replicas.push_back(i);
  }
  ASSERT_EQ(replicas.size(), 2U);
  ASSERT_TRUE(killNode(primary));
  ASSERT_TRUE(killNode(replicas[0]));
  ASSERT_TRUE(waitUntil(
      [&] { return consoleValue(console.get(), "SHOW FAILOVER", "state") == "refused"; }, 20s))
      << consoleValue(console.get(), "SHOW FAILOVER", "last_event");
  auto refusal = consoleValue(console.get(), "SHOW FAILOVER", "refusal");
  EXPECT_NE(refusal.find("synchronous standby " + nodeName(replicas[0])), std::string::npos)
      << refusal;
  // It stays refused (retries find the same), and the survivor stays a replica.
  std::this_thread::sleep_for(4s);
  EXPECT_EQ(consoleValue(console.get(), "SHOW FAILOVER", "state"), "refused");
  auto survivor = direct(replicas[1]);
  EXPECT_EQ(run(survivor.get(), "SELECT pg_is_in_recovery()"), "t");

  // The operator's override.
  EXPECT_EQ(run(console.get(), "PROMOTE '" + nodeName(replicas[1]) + "'"), "ok");
  EXPECT_TRUE(
      waitUntil([&] { return run(survivor.get(), "SELECT pg_is_in_recovery()") == "f"; }, 30s));
  EXPECT_TRUE(waitUntil(
      [&] {
        return consoleValue(console.get(), "SHOW FAILOVER", "primary") == nodeName(replicas[1]) &&
               consoleValue(console.get(), "SHOW FAILOVER", "state") == "healthy";
      },
      20s))
      << consoleValue(console.get(), "SHOW FAILOVER", "last_event");
  // Writes through the pool reach the promoted survivor.
  std::string outcome;
  EXPECT_TRUE(waitUntil(
      [&] {
        auto conn = client();
        outcome = run(conn.get(), "INSERT INTO ledger VALUES (-1) ON CONFLICT DO NOTHING");
        return outcome == "ok";
      },
      15s))
      << outcome;
}

}  // namespace
}  // namespace pgswarm::test
