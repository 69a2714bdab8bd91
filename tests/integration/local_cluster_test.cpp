// A 1+2 local cluster started by `pgswarm up`: replication, the agents' REST
// endpoints, and the agent restarting a postgres killed under it. One cluster
// is shared by the cases of this file (creating one costs seconds).
#include <signal.h>

#include <memory>

#include <gtest/gtest.h>

#include "cluster/node_status.hpp"
#include "harness.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

class ClusterOfThree : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(2);  // NOLINT: lives for the suite, freed in TearDownTestSuite
    auto result = cluster_->up();
    ASSERT_EQ(result.exitCode, 0) << result.output;
    upOutput_ = result.output;
  }
  static void TearDownTestSuite() {
    delete cluster_;  // NOLINT
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (cluster_ == nullptr || !upOutput_.has_value()) GTEST_SKIP() << "cluster did not come up";
  }

  static nlohmann::json node(const nlohmann::json& status, const std::string& name) {
    for (const auto& n : status["nodes"]) {
      if (n["name"] == name) return n;
    }
    return {};
  }

  static bool replicaStreams(const std::string& name) {
    auto n = node(cluster_->status(), name);
    return n.value("role", "") == "replica" && n.value("state", "") == "running" &&
           n.value("streaming", false);
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline std::optional<std::string> upOutput_;
};

TEST_F(ClusterOfThree, UpPrintsHowToConnect) {
  EXPECT_NE(upOutput_->find("psql -h 127.0.0.1 -p " + std::to_string(cluster_->nodePort(0))),
            std::string::npos)
      << *upOutput_;
  EXPECT_NE(upOutput_->find("PGPASSFILE="), std::string::npos) << *upOutput_;
}

TEST_F(ClusterOfThree, StatusShowsOnePrimaryAndTwoStreamingReplicas) {
  auto status = cluster_->status();
  ASSERT_TRUE(status.contains("nodes")) << status.dump(2);
  ASSERT_EQ(status["nodes"].size(), 3u);
  EXPECT_TRUE(status.contains("pool_port"));
  EXPECT_TRUE(status.contains("http_port"));
  int primaries = 0;
  for (const auto& n : status["nodes"]) {
    for (const char* key :
         {"name", "role", "host", "port", "data_dir", "pid", "agent_pid", "state", "lag_bytes"}) {
      EXPECT_TRUE(n.contains(key)) << key << " missing in " << n.dump();
    }
    EXPECT_EQ(n["state"], "running") << n.dump();
    EXPECT_TRUE(n["pid"].is_number()) << n.dump();
    EXPECT_TRUE(n["agent_pid"].is_number()) << n.dump();
    if (n["role"] == "primary") ++primaries;
  }
  EXPECT_EQ(primaries, 1);
  EXPECT_EQ(node(status, "node0")["role"], "primary");
  for (const char* replica : {"node1", "node2"}) {
    auto n = node(status, replica);
    EXPECT_EQ(n["role"], "replica") << n.dump();
    EXPECT_TRUE(n.value("streaming", false)) << n.dump();
    EXPECT_TRUE(n["lag_bytes"].is_number()) << n.dump();
    EXPECT_EQ(n["timeline"], node(status, "node0")["timeline"]);
  }
}

TEST_F(ClusterOfThree, RowWrittenOnPrimaryIsReadableOnBothReplicasWithinFiveSeconds) {
  auto primary = cluster_->connect(0);
  ASSERT_TRUE(
      primary.execute("CREATE TABLE IF NOT EXISTS it_rows (id int primary key, v text)").ok());
  ASSERT_TRUE(primary.execute("INSERT INTO it_rows VALUES (1, 'hello replicas')").ok());
  for (int replica : {1, 2}) {
    auto conn = cluster_->connect(replica);
    bool seen = waitUntil(
        [&] {
          auto rows = conn.query("SELECT v FROM it_rows WHERE id = 1");
          return rows.ok() && rows->size() == 1 && rows->text(0, "v") == "hello replicas";
        },
        5s);
    EXPECT_TRUE(seen) << "replica node" << replica << " did not show the row within 5 s";
    auto write = conn.execute("INSERT INTO it_rows VALUES (2, 'must fail')");
    ASSERT_FALSE(write.ok()) << "a replica accepted a write";
    EXPECT_NE(write.error().message.find("read-only"), std::string::npos) << write.error().message;
  }
}

TEST_F(ClusterOfThree, AgentEndpointsAnswerByRole) {
  EXPECT_EQ(httpGet(cluster_->apiPort(0), "/health").status, 200);
  EXPECT_EQ(httpGet(cluster_->apiPort(0), "/primary").status, 200);
  EXPECT_EQ(httpGet(cluster_->apiPort(0), "/replica").status, 503);
  for (int replica : {1, 2}) {
    EXPECT_EQ(httpGet(cluster_->apiPort(replica), "/health").status, 200);
    EXPECT_EQ(httpGet(cluster_->apiPort(replica), "/replica").status, 200);
    EXPECT_EQ(httpGet(cluster_->apiPort(replica), "/primary").status, 503);
  }
  auto reply = httpGet(cluster_->apiPort(1), "/status");
  ASSERT_EQ(reply.status, 200);
  auto json = nlohmann::json::parse(reply.body, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << reply.body;
  EXPECT_EQ(json["role"], "replica");
  EXPECT_EQ(json["name"], "node1");
  EXPECT_TRUE(json.contains("timeline"));
  EXPECT_TRUE(json.contains("replay_lsn"));
  EXPECT_TRUE(json.contains("uptime_seconds"));
  auto primaryStatus =
      nlohmann::json::parse(httpGet(cluster_->apiPort(0), "/status").body, nullptr, false);
  EXPECT_EQ(primaryStatus["role"], "primary");
  EXPECT_EQ(primaryStatus["standbys"].size(), 2u) << primaryStatus.dump(2);
}

// kill -9 of a postmaster: its agent must start a new one, and replication
// must resume, for a replica and for the primary.
TEST_F(ClusterOfThree, AgentRestartsPostgresKilledUnderIt) {
  for (const std::string name : {"node2", "node0"}) {
    auto before = node(cluster_->status(), name);
    ASSERT_TRUE(before["pid"].is_number()) << before.dump();
    pid_t killed = before["pid"].get<pid_t>();
    ASSERT_EQ(::kill(killed, SIGKILL), 0);
    bool restarted = waitUntil(
        [&] {
          auto now = node(cluster_->status(), name);
          return now.value("state", "") == "running" && now["pid"].is_number() &&
                 now["pid"].get<pid_t>() != killed;
        },
        60s);
    ASSERT_TRUE(restarted) << name << " was not restarted: " << cluster_->status().dump(2);
  }
  for (const char* replica : {"node1", "node2"}) {
    EXPECT_TRUE(waitUntil([&] { return replicaStreams(replica); }, 60s))
        << replica << " does not stream after the restarts: " << cluster_->status().dump(2);
  }
  auto primary = cluster_->connect(0);
  ASSERT_TRUE(primary.execute("CREATE TABLE IF NOT EXISTS it_after_restart (id int)").ok());
  ASSERT_TRUE(primary.execute("INSERT INTO it_after_restart VALUES (42)").ok());
  auto replica = cluster_->connect(2);
  EXPECT_TRUE(waitUntil(
      [&] {
        auto rows = replica.query("SELECT id FROM it_after_restart");
        return rows.ok() && rows->size() == 1;
      },
      10s));
}

}  // namespace
}  // namespace pgswarm::test
