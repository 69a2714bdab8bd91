// REST answers from agent snapshots: which endpoint says 200 when, and the
// /status document's shape.
#include "agent/agent_state.hpp"

#include <gtest/gtest.h>

namespace pgswarm::agent {
namespace {

AgentSnapshot healthy(cluster::NodeRole role, bool streaming = false) {
  AgentSnapshot snapshot;
  snapshot.name = "db1";
  snapshot.dataDir = "/d";
  snapshot.port = 5432;
  snapshot.agentPid = 42;
  snapshot.phase = AgentPhase::kRunning;
  snapshot.healthy = true;
  snapshot.postmasterPid = 43;
  cluster::NodeStatus status;
  status.role = role;
  status.timeline = 3;
  status.streaming = streaming;
  status.currentLsn = "0/3000060";
  status.receiveLsn = "1/00000010";
  status.replayLsn = "0/FFFFFFF0";
  snapshot.status = status;
  return snapshot;
}

TEST(AgentState, PrimaryAnswers) {
  auto snapshot = healthy(cluster::NodeRole::kPrimary);
  EXPECT_EQ(healthCode(snapshot), 200);
  EXPECT_EQ(primaryCode(snapshot), 200);
  EXPECT_EQ(replicaCode(snapshot), 503);
}

TEST(AgentState, ReplicaIsOnlyOkWhileStreaming) {
  auto streaming = healthy(cluster::NodeRole::kReplica, true);
  EXPECT_EQ(healthCode(streaming), 200);
  EXPECT_EQ(primaryCode(streaming), 503);
  EXPECT_EQ(replicaCode(streaming), 200);
  auto notStreaming = healthy(cluster::NodeRole::kReplica, false);
  EXPECT_EQ(healthCode(notStreaming), 200);
  EXPECT_EQ(replicaCode(notStreaming), 503);
}

TEST(AgentState, UnhealthyAnswersNothing) {
  AgentSnapshot snapshot;
  EXPECT_EQ(healthCode(snapshot), 503);
  EXPECT_EQ(primaryCode(snapshot), 503);
  EXPECT_EQ(replicaCode(snapshot), 503);
}

TEST(AgentState, ParsesLsns) {
  EXPECT_EQ(parseLsn("0/0"), 0U);
  EXPECT_EQ(parseLsn("16/B374D848"), (0x16ULL << 32) | 0xB374D848ULL);
  EXPECT_FALSE(parseLsn("").has_value());
  EXPECT_FALSE(parseLsn("xyz").has_value());
  EXPECT_FALSE(parseLsn("1/").has_value());
}

TEST(AgentState, StatusJsonOfAReplica) {
  auto snapshot = healthy(cluster::NodeRole::kReplica, true);
  snapshot.restarts = 2;
  auto json = statusJson(snapshot, snapshot.agentStarted + std::chrono::seconds(5));
  EXPECT_EQ(json["name"], "db1");
  EXPECT_EQ(json["role"], "replica");
  EXPECT_EQ(json["state"], "running");
  EXPECT_EQ(json["healthy"], true);
  EXPECT_EQ(json["pid"], 43);
  EXPECT_EQ(json["agent_pid"], 42);
  EXPECT_EQ(json["data_dir"], "/d");
  EXPECT_EQ(json["port"], 5432);
  EXPECT_EQ(json["timeline"], 3);
  EXPECT_EQ(json["restarts"], 2);
  EXPECT_TRUE(json["last_error"].is_null());
  EXPECT_EQ(json["streaming"], true);
  EXPECT_EQ(json["replay_lag_bytes"], 0x20);
  EXPECT_DOUBLE_EQ(json["agent_uptime_seconds"].get<double>(), 5.0);
}

TEST(AgentState, StatusJsonWithoutAProbe) {
  AgentSnapshot snapshot;
  snapshot.phase = AgentPhase::kRestarting;
  snapshot.lastError = "postgres exited: killed by signal 9";
  auto json = statusJson(snapshot, snapshot.agentStarted);
  EXPECT_EQ(json["role"], "unknown");
  EXPECT_EQ(json["state"], "restarting");
  EXPECT_TRUE(json["pid"].is_null());
  EXPECT_TRUE(json["timeline"].is_null());
  EXPECT_EQ(json["last_error"], "postgres exited: killed by signal 9");
  EXPECT_EQ(json["fenced"], false);
  snapshot.fenced = true;
  EXPECT_EQ(statusJson(snapshot, snapshot.agentStarted)["fenced"], true);
}

TEST(AgentState, PrimaryStatusListsStandbys) {
  auto json = statusJson(healthy(cluster::NodeRole::kPrimary), {});
  EXPECT_EQ(json["current_lsn"], "0/3000060");
  EXPECT_TRUE(json["standbys"].is_array());
  EXPECT_FALSE(json.contains("replay_lag_bytes"));
}

}  // namespace
}  // namespace pgswarm::agent
