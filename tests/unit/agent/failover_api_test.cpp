// The pure half of POST /promote and /rejoin: bearer tokens, rejoin bodies,
// and the answers given without acting (busy, already primary, already
// following), plus the /status fields of a running operation.
#include "agent/failover_api.hpp"

#include <gtest/gtest.h>

namespace pgswarm::agent {
namespace {

AgentSnapshot running(cluster::NodeRole role, bool streaming = false,
                      const std::string& upstream = "") {
  AgentSnapshot snapshot;
  snapshot.phase = AgentPhase::kRunning;
  snapshot.healthy = true;
  cluster::NodeStatus status;
  status.role = role;
  status.streaming = streaming;
  status.upstream = upstream;
  snapshot.status = status;
  return snapshot;
}

TEST(FailoverApi, ParsesARejoinBody) {
  auto target = parseRejoinBody(R"({"host": "10.0.0.2", "port": 5433})");
  ASSERT_TRUE(target.ok()) << target.error().message;
  EXPECT_EQ(target->host, "10.0.0.2");
  EXPECT_EQ(target->port, 5433);
}

TEST(FailoverApi, RefusesBadRejoinBodies) {
  for (const char* body :
       {"", "not json", "[]", R"({"port": 5432})", R"({"host": "", "port": 5432})",
        R"({"host": "a b", "port": 5432})", R"({"host": "a'b", "port": 5432})",
        R"({"host": "db", "port": "5432"})", R"({"host": "db", "port": 0})",
        R"({"host": "db", "port": 65536})", R"({"host": "db"})", R"({"host": 7, "port": 1})",
        R"({"host": "db\n", "port": 5432})"}) {
    EXPECT_FALSE(parseRejoinBody(body).ok()) << body;
  }
}

TEST(FailoverApi, AcceptsOnlyTheConfiguredBearerToken) {
  EXPECT_FALSE(checkBearer("s3cret", "Bearer s3cret").has_value());
  EXPECT_FALSE(checkBearer("s3cret", "bearer  s3cret ").has_value());
  for (const char* header : {"", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cret2",
                             "Basic s3cret", "s3cret", "Bearer S3CRET"}) {
    auto refused = checkBearer("s3cret", header);
    ASSERT_TRUE(refused.has_value()) << header;
    EXPECT_EQ(refused->status, 403) << header;
  }
}

TEST(FailoverApi, WithoutATokenThePostEndpointsAreOff) {
  auto refused = checkBearer("", "Bearer anything");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body["error"].get<std::string>().find("api_token_file"), std::string::npos);
}

TEST(FailoverApi, ComparesTokensWholly) {
  EXPECT_TRUE(constantTimeEquals("abc", "abc"));
  EXPECT_FALSE(constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(constantTimeEquals("abc", "ab"));
  EXPECT_FALSE(constantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(constantTimeEquals("abc", std::string("abc\0", 4)));
  EXPECT_TRUE(constantTimeEquals("", ""));
}

TEST(FailoverApi, PromotesOnlyARunningReplica) {
  EXPECT_FALSE(promoteRefusal(running(cluster::NodeRole::kReplica, true)).has_value());
  EXPECT_EQ(promoteRefusal(running(cluster::NodeRole::kPrimary))->status, 409);
  EXPECT_EQ(promoteRefusal(AgentSnapshot{})->status, 503);
  auto busy = running(cluster::NodeRole::kReplica, true);
  busy.operation = "rejoining: pg_rewind";
  EXPECT_EQ(promoteRefusal(busy)->status, 409);
}

TEST(FailoverApi, RejoinOfANodeThatAlreadyFollowsIsANoOp) {
  RejoinTarget target{"127.0.0.1", 5433};
  auto following = running(cluster::NodeRole::kReplica, true, "127.0.0.1:5433");
  auto answer = rejoinShortcut(following, target);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body["rejoining"], false);
  EXPECT_FALSE(rejoinShortcut(running(cluster::NodeRole::kReplica, true, "127.0.0.1:5432"), target)
                   .has_value());
  EXPECT_FALSE(rejoinShortcut(running(cluster::NodeRole::kReplica, false, "127.0.0.1:5433"), target)
                   .has_value());
  EXPECT_FALSE(rejoinShortcut(running(cluster::NodeRole::kPrimary), target).has_value());
  EXPECT_FALSE(rejoinShortcut(AgentSnapshot{}, target).has_value());
  following.operation = "promoting";
  EXPECT_EQ(rejoinShortcut(following, target)->status, 409);
}

// The coordinator's view of the node may predate the rejoin an operator
// just finished; asking again must not rewind and restart it a second time.
TEST(FailoverApi, RejoinRightAfterARejoinToTheSameTargetIsANoOp) {
  RejoinTarget target{"127.0.0.1", 5433};
  auto now = std::chrono::steady_clock::now();
  auto restarted = running(cluster::NodeRole::kPrimary);  // the probe has not caught up
  restarted.rejoinedTo = "127.0.0.1:5433";
  restarted.rejoinedAt = now - std::chrono::seconds(2);
  auto answer = rejoinShortcut(restarted, target, now);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body["rejoining"], false);
  EXPECT_FALSE(rejoinShortcut(restarted, RejoinTarget{"127.0.0.1", 5434}, now).has_value());
  EXPECT_FALSE(rejoinShortcut(restarted, target, now + kRejoinSettle).has_value());
  auto failed = restarted;
  failed.phase = AgentPhase::kFailed;
  EXPECT_FALSE(rejoinShortcut(failed, target, now).has_value());
}

TEST(FailoverApi, UnfenceIsRecordedOnlyWhileFenced) {
  auto primary = running(cluster::NodeRole::kPrimary);
  auto none = unfenceShortcut(primary);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->status, 200);
  EXPECT_EQ(none->body["fenced"], false);
  primary.fenced = true;
  EXPECT_FALSE(unfenceShortcut(primary).has_value());
  EXPECT_EQ(unfenceAccepted().status, 202);
}

TEST(FailoverApi, OneOperationAtATime) {
  AgentState state(AgentSnapshot{});
  EXPECT_TRUE(state.beginOperation("rejoining: queued"));
  EXPECT_FALSE(state.beginOperation("promoting"));
  EXPECT_EQ(state.snapshot().operation, "rejoining: queued");
  state.endOperation("pg_rewind failed");
  EXPECT_EQ(state.snapshot().operation, "");
  EXPECT_EQ(state.snapshot().lastOperationError, "pg_rewind failed");
  EXPECT_TRUE(state.beginOperation("promoting"));
  state.endOperation("");
  EXPECT_EQ(state.snapshot().lastOperationError, "");
}

TEST(FailoverApi, StatusShowsTheOperation) {
  AgentSnapshot snapshot;
  auto idle = statusJson(snapshot, std::chrono::steady_clock::now());
  EXPECT_TRUE(idle["operation"].is_null());
  EXPECT_TRUE(idle["last_operation_error"].is_null());
  snapshot.operation = "rejoining: pg_rewind";
  snapshot.lastOperationError = "earlier failure";
  auto busy = statusJson(snapshot, std::chrono::steady_clock::now());
  EXPECT_EQ(busy["operation"], "rejoining: pg_rewind");
  EXPECT_EQ(busy["last_operation_error"], "earlier failure");
}

}  // namespace
}  // namespace pgswarm::agent
