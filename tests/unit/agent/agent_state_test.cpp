// REST answers from agent snapshots: which endpoint says 200 when, and the
// /status document's shape.
#include "agent/agent_state.hpp"

#include <gtest/gtest.h>

#include <vector>

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

TEST(ToolProgress, ReadsTheToolsProgressLines) {
  using Figures = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(parseKbProgress("    3875/37913 kB (10%), 0/1 tablespace"), (Figures{3875, 37913}));
  EXPECT_EQ(parseKbProgress("37913/37913 kB (100%), 1/1 tablespace"), (Figures{37913, 37913}));
  EXPECT_EQ(parseKbProgress("1234/5678 kB (21%) copied"), (Figures{1234, 5678}));
  EXPECT_EQ(parseKbProgress("waiting for checkpoint"), std::nullopt);
  EXPECT_EQ(parseKbProgress("x/5678 kB (21%) copied"), std::nullopt);
  EXPECT_EQ(parseKbProgress("-5/10 kB (0%)"), std::nullopt);
  EXPECT_EQ(parseKbProgress("5/ kB ("), std::nullopt);
}

TEST(ToolProgress, ReportsEveryStepAndTheEnd) {
  std::vector<ToolProgress> reports;
  {
    ProgressLog log("pg_basebackup", [&](const ToolProgress& p) { reports.push_back(p); });
    log.line("100/400 kB (25%), 0/1 tablespace");
    log.line("pg_basebackup: write-ahead log end point: 0/2000100");  // not progress
    log.line("400/400 kB (100%), 1/1 tablespace");
    log.finish(true);
  }
  ASSERT_EQ(reports.size(), 4U);  // started, two figures, finished
  EXPECT_EQ(reports[0].totalKb, 0);
  EXPECT_EQ(reports[1].doneKb, 100);
  EXPECT_FALSE(reports[2].finished);
  EXPECT_TRUE(reports[3].finished);
  EXPECT_TRUE(reports[3].succeeded);
  EXPECT_EQ(reports[3].doneKb, 400);
}

TEST(ToolProgress, StatusShowsRateAndAnEtaWhileRunning) {
  ToolProgress running{.tool = "pg_basebackup", .doneKb = 1000, .totalKb = 4000};
  running.started = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  running.updated = running.started + std::chrono::seconds(2);
  auto json = progressJson(running);
  EXPECT_EQ(json["tool"], "pg_basebackup");
  EXPECT_EQ(json["percent"], 25);
  EXPECT_DOUBLE_EQ(json["rate_kb_per_second"].get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(json["eta_seconds"].get<double>(), 6.0);
  EXPECT_EQ(json["started_at"], 1000000);
  EXPECT_TRUE(json["succeeded"].is_null());

  auto ended = running;
  ended.doneKb = 4100;  // WAL written meanwhile: past the first estimate
  ended.finished = true;
  ended.succeeded = true;
  json = progressJson(ended);
  EXPECT_EQ(json["percent"], 100);
  EXPECT_TRUE(json["eta_seconds"].is_null());
  EXPECT_EQ(json["succeeded"], true);

  AgentSnapshot snapshot = healthy(cluster::NodeRole::kReplica);
  EXPECT_TRUE(statusJson(snapshot, snapshot.agentStarted)["progress"].is_null());
  snapshot.progress = ended;
  EXPECT_EQ(statusJson(snapshot, snapshot.agentStarted)["progress"]["done_kb"], 4100);
}

TEST(ToolProgress, TextHasBarFiguresAndEta) {
  ToolProgress running{.tool = "pg_basebackup", .doneKb = 1000, .totalKb = 4000};
  running.started = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  running.updated = running.started + std::chrono::seconds(2);
  EXPECT_EQ(progressText(progressJson(running)),
            "pg_basebackup [#####...............]  25% 1000 of 4000 kB, 500 kB/s, ETA 6 s");
  running.finished = true;
  EXPECT_EQ(progressText(progressJson(running)),
            "pg_basebackup [#####...............]  25% 1000 of 4000 kB, 500 kB/s, failed");
  running.succeeded = true;
  running.doneKb = running.totalKb;
  EXPECT_EQ(progressText(progressJson(running)),
            "pg_basebackup [####################] 100% 4000 of 4000 kB, 2000 kB/s, done");
  ToolProgress unknown{.tool = "pg_rewind"};
  EXPECT_EQ(progressText(progressJson(unknown)),
            "pg_rewind [....................]   ?% 0 of 0 kB, 0 kB/s");
}

}  // namespace
}  // namespace pgswarm::agent
