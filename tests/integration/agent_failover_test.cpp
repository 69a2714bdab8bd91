// Failover through the agents' REST API on a 1+1 local cluster: POST
// /promote makes the replica the primary on a new timeline, then POST
// /rejoin turns the old primary, which took a write of its own after the
// split, into a replica of the new one (pg_rewind drops the diverged write).
#include <gtest/gtest.h>

#include "harness.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

// The single value `sql` returns on node `index`, or "error: ..." (a node
// that restarts refuses connections for a while).
std::string valueOn(LocalCluster& cluster, int index, const std::string& sql) {
  try {
    auto conn = cluster.connect(index);
    auto rows = conn.query(sql);
    if (!rows) return "error: " + rows.error().message;
    return rows->empty() ? "(no rows)" : rows->get(0, "v").value_or("NULL");
  } catch (const std::exception& error) {
    return std::string("error: ") + error.what();
  }
}

std::string execOn(LocalCluster& cluster, int index, const std::string& sql) {
  try {
    auto conn = cluster.connect(index);
    auto done = conn.execute(sql);
    return done ? "ok" : "error: " + done.error().message;
  } catch (const std::exception& error) {
    return std::string("error: ") + error.what();
  }
}

nlohmann::json statusOf(LocalCluster& cluster, int index) {
  auto reply = httpGet(cluster.apiPort(index), "/status");
  auto json = nlohmann::json::parse(reply.body, nullptr, false);
  return json.is_discarded() ? nlohmann::json::object() : json;
}

class AgentFailover : public ::testing::Test {
 protected:
  void SetUp() override {
    // The operator drives this failover by hand; the pool's coordinator
    // would otherwise race the test to fence and rejoin the old primary.
    auto result = cluster_.up({"--failover", "off"});
    ASSERT_EQ(result.exitCode, 0) << result.output;
    ASSERT_EQ(execOn(cluster_, 0, "CREATE TABLE t(id int primary key, note text)"), "ok");
    ASSERT_EQ(execOn(cluster_, 0, "INSERT INTO t VALUES (1, 'before the split')"), "ok");
    ASSERT_TRUE(
        waitUntil([&] { return valueOn(cluster_, 1, "SELECT count(*) AS v FROM t") == "1"; }, 30s));
  }

  std::string logs() {
    std::string out;
    for (int i = 0; i < cluster_.nodeCount(); ++i) {
      auto log = runProgram({"/usr/bin/tail", "-n", "80",
                             cluster_.dir() + "/node" + std::to_string(i) + "/agent.log"});
      out += "--- node" + std::to_string(i) + " agent.log\n" + log.output;
    }
    return out;
  }

  LocalCluster cluster_{1};
};

TEST_F(AgentFailover, PromoteThenRejoinTheOldPrimary) {
  auto token = cluster_.apiToken();
  ASSERT_FALSE(token.empty());
  auto oldTimeline = statusOf(cluster_, 1).value("timeline", 0);

  EXPECT_EQ(httpPost(cluster_.apiPort(1), "/promote", "").status, 403);
  EXPECT_EQ(httpPost(cluster_.apiPort(1), "/promote", "", "wrong").status, 403);
  EXPECT_EQ(httpPost(cluster_.apiPort(0), "/promote", "", token).status, 409);  // a primary
  EXPECT_EQ(httpPost(cluster_.apiPort(0), "/rejoin", "{\"host\": 1}", token).status, 400);

  auto promoted = httpPost(cluster_.apiPort(1), "/promote", "", token);
  ASSERT_EQ(promoted.status, 200) << promoted.body << logs();
  auto answer = nlohmann::json::parse(promoted.body);
  EXPECT_EQ(answer["promoted"], true);
  EXPECT_GT(answer["timeline"].get<int>(), oldTimeline);
  EXPECT_EQ(valueOn(cluster_, 1, "SELECT pg_is_in_recovery()::text AS v"), "false");
  EXPECT_EQ(httpPost(cluster_.apiPort(1), "/promote", "", token).status, 409);

  // The old primary still takes writes: it has diverged from the new one.
  ASSERT_EQ(execOn(cluster_, 0, "INSERT INTO t VALUES (2, 'diverged')"), "ok");

  auto body = nlohmann::json{{"host", "127.0.0.1"}, {"port", cluster_.nodePort(1)}}.dump();
  auto rejoin = httpPost(cluster_.apiPort(0), "/rejoin", body, token);
  ASSERT_EQ(rejoin.status, 202) << rejoin.body;
  EXPECT_EQ(nlohmann::json::parse(rejoin.body)["rejoining"], true);
  auto again = httpPost(cluster_.apiPort(0), "/rejoin", body, token);
  EXPECT_TRUE(again.status == 409 || again.status == 200) << again.status << again.body;

  std::string receiver;
  bool streaming = waitUntil(
      [&] {
        receiver = valueOn(cluster_, 0,
                           "SELECT status || ':' || sender_port AS v FROM pg_stat_wal_receiver");
        return receiver == "streaming:" + std::to_string(cluster_.nodePort(1));
      },
      120s);
  ASSERT_TRUE(streaming) << receiver << "\n" << statusOf(cluster_, 0).dump(2) << "\n" << logs();
  EXPECT_EQ(valueOn(cluster_, 0, "SELECT pg_is_in_recovery()::text AS v"), "true");
  EXPECT_EQ(valueOn(cluster_, 0, "SELECT count(*) AS v FROM t WHERE id = 2"), "0");

  ASSERT_EQ(execOn(cluster_, 1, "INSERT INTO t VALUES (3, 'after the rejoin')"), "ok");
  EXPECT_TRUE(waitUntil(
      [&] { return valueOn(cluster_, 0, "SELECT count(*) AS v FROM t WHERE id = 3") == "1"; }, 30s))
      << logs();

  auto status = statusOf(cluster_, 0);
  EXPECT_TRUE(status["operation"].is_null()) << status.dump(2);
  EXPECT_TRUE(status["last_operation_error"].is_null()) << status.dump(2);
  // The agent's own view lags its probe by up to a second.
  EXPECT_TRUE(
      waitUntil([&] { return httpGet(cluster_.apiPort(0), "/replica").status == 200; }, 10s));
  EXPECT_EQ(httpPost(cluster_.apiPort(0), "/rejoin", body, token).status, 200);
  // The diverged write went by pg_rewind, not by the fallback clone.
  auto log = runProgram({"/usr/bin/grep", "-c", "data folder ready by pg_rewind",
                         cluster_.dir() + "/node0/agent.log"});
  EXPECT_EQ(log.output, "1\n") << logs();

  // A target that does not answer changes nothing: node 1 stays the primary.
  auto nowhere = nlohmann::json{{"host", "127.0.0.1"}, {"port", 1}}.dump();
  ASSERT_EQ(httpPost(cluster_.apiPort(1), "/rejoin", nowhere, token).status, 202);
  nlohmann::json after;
  EXPECT_TRUE(waitUntil(
      [&] {
        after = statusOf(cluster_, 1);
        return after["operation"].is_null() && after["last_operation_error"].is_string();
      },
      30s))
      << after.dump(2);
  EXPECT_TRUE(contains(after.value("last_operation_error", ""), "cannot reach")) << after.dump(2);
  EXPECT_EQ(after.value("role", ""), "primary") << after.dump(2);
  EXPECT_EQ(httpGet(cluster_.apiPort(1), "/primary").status, 200);
}

}  // namespace
}  // namespace pgswarm::test
