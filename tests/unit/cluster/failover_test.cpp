// The failover decision without servers: the state table, when a primary
// counts as lost, and which replica is promoted (or why none is).
#include "cluster/failover.hpp"

#include <set>

#include <gtest/gtest.h>

namespace pgswarm::cluster {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using S = FailoverState;
using E = FailoverEvent;

NodeObservation replica(std::string name, Lsn received) {
  NodeObservation node;
  node.node.name = std::move(name);
  node.health = NodeHealth::kUp;
  node.role = NodeRole::kReplica;
  node.receiveLsn = received;
  node.replayLsn = received;
  return node;
}

NodeObservation lostPrimary(Lsn written, Clock::time_point lastGood, std::uint64_t failures) {
  NodeObservation node;
  node.node.name = "old";
  node.health = NodeHealth::kDown;
  node.role = NodeRole::kPrimary;
  node.currentLsn = written;
  node.observedAt = lastGood;
  node.healthSince = lastGood + 500ms;
  node.consecutiveFailures = failures;
  return node;
}

TEST(StrandedReplica, IsOnAnOlderTimelineAndNotStreamingForTheGrace) {
  auto stuck = replica("b", 100);
  stuck.timeline = 2;
  stuck.receiverStatus = "waiting";
  EXPECT_TRUE(replicaStrandedOnOldTimeline(stuck, 3, 10s, 10s));
  EXPECT_FALSE(replicaStrandedOnOldTimeline(stuck, 3, 9s, 10s)) << "right after the failover";
  EXPECT_FALSE(replicaStrandedOnOldTimeline(stuck, 2, 60s, 10s)) << "same timeline: lag only";
  auto streaming = stuck;
  streaming.receiverStatus = "streaming";
  EXPECT_FALSE(replicaStrandedOnOldTimeline(streaming, 3, 60s, 10s));
  auto down = stuck;
  down.health = NodeHealth::kDown;
  EXPECT_FALSE(replicaStrandedOnOldTimeline(down, 3, 60s, 10s));
  auto unknown = stuck;
  unknown.timeline = 0;
  EXPECT_FALSE(replicaStrandedOnOldTimeline(unknown, 3, 60s, 10s)) << "timeline not read";
}

TEST(FailoverTable, EveryStateCanLeaveAndNoPairIsTwice) {
  std::set<std::pair<S, E>> seen;
  std::set<S> left;
  for (const auto& transition : failoverTable()) {
    EXPECT_TRUE(seen.insert({transition.from, transition.event}).second)
        << toString(transition.from) << " on " << toString(transition.event);
    left.insert(transition.from);
  }
  for (auto state :
       {S::kNoPrimary, S::kHealthy, S::kPrimaryLost, S::kElecting, S::kPromoting, S::kRefused}) {
    EXPECT_TRUE(left.contains(state)) << toString(state);
  }
}

TEST(FailoverTable, TheFailoverPath) {
  auto state = S::kNoPrimary;
  for (auto [event, expected] : {std::pair{E::kPrimaryUp, S::kHealthy},
                                 {E::kPrimaryDown, S::kPrimaryLost},
                                 {E::kTimeoutElapsed, S::kElecting},
                                 {E::kCandidateFound, S::kPromoting},
                                 {E::kPromoted, S::kHealthy}}) {
    auto transition = nextTransition(state, event);
    ASSERT_TRUE(transition) << toString(state) << " on " << toString(event);
    EXPECT_EQ(transition->to, expected);
    state = transition->to;
  }
}

TEST(FailoverTable, IgnoredEventsChangeNothing) {
  EXPECT_FALSE(nextTransition(S::kHealthy, E::kTimeoutElapsed));
  EXPECT_FALSE(nextTransition(S::kHealthy, E::kManualPromotion));  // switchover's job
  EXPECT_FALSE(nextTransition(S::kNoPrimary, E::kPrimaryDown));
  EXPECT_FALSE(nextTransition(S::kPrimaryLost, E::kPrimaryDown));
}

TEST(FailoverTable, ARefusalWaitsForThePrimaryOrAnOperator) {
  EXPECT_EQ(nextTransition(S::kElecting, E::kNoCandidate)->to, S::kRefused);
  EXPECT_EQ(nextTransition(S::kRefused, E::kPrimaryUp)->to, S::kHealthy);
  EXPECT_EQ(nextTransition(S::kRefused, E::kManualPromotion)->to, S::kPromoting);
  EXPECT_EQ(nextTransition(S::kPromoting, E::kPromoteFailed)->to, S::kPrimaryLost);
}

TEST(FailoverDiagram, HasEveryTransition) {
  auto dot = failoverDiagram();
  EXPECT_TRUE(dot.starts_with("digraph failover {"));
  EXPECT_NE(dot.find("\"primary lost\" -> \"electing\" [label=\"failover_timeout elapsed / "
                     "fence and elect\"]"),
            std::string::npos)
      << dot;
  std::size_t arrows = 0;
  for (std::size_t at = dot.find("->"); at != std::string::npos; at = dot.find("->", at + 2)) {
    ++arrows;
  }
  EXPECT_EQ(arrows, failoverTable().size());
}

TEST(PrimaryLost, NeedsTheTimeoutAndTheLastCheckFailed) {
  FailoverPolicy policy;  // 3 s, 1 check
  auto lastGood = Clock::now();
  Topology one{.version = 1, .nodes = {lostPrimary(100, lastGood, 1), replica("a", 100)}};
  EXPECT_FALSE(isPrimaryLost(one, 0, policy, lastGood + 2999ms));
  EXPECT_TRUE(isPrimaryLost(one, 0, policy, lastGood + 3s));
  one.nodes[0].consecutiveFailures = 0;  // the check after a dropped connection answered
  one.nodes[0].health = NodeHealth::kUp;
  EXPECT_FALSE(isPrimaryLost(one, 0, policy, lastGood + 10s));
}

TEST(PrimaryLost, CanAskForMoreFailedChecks) {
  FailoverPolicy policy;
  policy.minFailedProbes = 2;
  auto lastGood = Clock::now();
  Topology topology{.version = 1, .nodes = {lostPrimary(100, lastGood, 2), replica("a", 100)}};
  EXPECT_FALSE(isPrimaryLost(topology, 0, policy, lastGood + 2999ms));
  EXPECT_TRUE(isPrimaryLost(topology, 0, policy, lastGood + 3s));
  topology.nodes[0].consecutiveFailures = 1;  // one dropped connection is no failure
  EXPECT_FALSE(isPrimaryLost(topology, 0, policy, lastGood + 10s));
  topology.nodes[0].consecutiveFailures = 5;
  topology.nodes[0].health = NodeHealth::kUp;
  EXPECT_FALSE(isPrimaryLost(topology, 0, policy, lastGood + 10s));
  EXPECT_FALSE(isPrimaryLost(topology, -1, policy, lastGood + 10s));
}

TEST(AgentVouches, OnlyWhileItBringsPostgresBackWithinTheGrace) {
  for (const char* state : {"starting", "restarting", "running"}) {
    EXPECT_TRUE(agentVouchesForPrimary(state, 5s, 30s)) << state;
    EXPECT_FALSE(agentVouchesForPrimary(state, 30s, 30s)) << state;
  }
  for (const char* state : {"", "failed", "stopped", "rejoining"}) {
    EXPECT_FALSE(agentVouchesForPrimary(state, 1s, 30s)) << state;
  }
  EXPECT_FALSE(agentVouchesForPrimary("restarting", 1s, 0s));  // grace 0: never waits
}

TEST(PickCandidate, TheMostWalReceivedWins) {
  FailoverPolicy policy;
  auto now = Clock::now();
  Topology topology{.version = 1,
                    .nodes = {lostPrimary(1000, now, 3), replica("a", 900), replica("b", 990),
                              replica("c", 950)}};
  auto election = pickCandidate(topology, 0, policy);
  ASSERT_TRUE(election.winner);
  EXPECT_EQ(*election.winner, 2U);
  EXPECT_EQ(election.verdicts.size(), 3U);
  // Received but not yet replayed counts: promotion replays it first.
  topology.nodes[1].receiveLsn = 995;
  EXPECT_EQ(*pickCandidate(topology, 0, policy).winner, 1U);
}

TEST(PickCandidate, TiesGoToPriorityThenName) {
  FailoverPolicy policy;
  auto now = Clock::now();
  Topology topology{.version = 1,
                    .nodes = {lostPrimary(100, now, 3), replica("b", 100), replica("a", 100)}};
  EXPECT_EQ(*pickCandidate(topology, 0, policy).winner, 2U);
  policy.priorities = {1, 2, 1};
  EXPECT_EQ(*pickCandidate(topology, 0, policy).winner, 1U);
}

TEST(PickCandidate, SkipsDownPrimariesAndPriorityZero) {
  FailoverPolicy policy;
  policy.priorities = {1, 0, 1, 1};
  auto now = Clock::now();
  auto down = replica("down", 500);
  down.health = NodeHealth::kDown;
  auto primary = replica("also-primary", 500);
  primary.role = NodeRole::kPrimary;
  Topology topology{.version = 1,
                    .nodes = {lostPrimary(500, now, 3), replica("never", 500), down, primary}};
  auto election = pickCandidate(topology, 0, policy);
  EXPECT_FALSE(election.winner);
  EXPECT_NE(election.refusal.find("never: failover priority 0"), std::string::npos)
      << election.refusal;
  EXPECT_NE(election.refusal.find("down: down"), std::string::npos) << election.refusal;
  EXPECT_NE(election.refusal.find("also-primary: not a replica"), std::string::npos)
      << election.refusal;
}

TEST(PickCandidate, RefusesAReplicaTooFarBehind) {
  FailoverPolicy policy;
  policy.maximumLag = 1000;
  auto now = Clock::now();
  Topology topology{.version = 1, .nodes = {lostPrimary(5000, now, 3), replica("a", 3999)}};
  auto election = pickCandidate(topology, 0, policy);
  EXPECT_FALSE(election.winner);
  EXPECT_NE(election.refusal.find("1001 bytes behind"), std::string::npos) << election.refusal;
  topology.nodes[1].receiveLsn = 4000;
  EXPECT_TRUE(pickCandidate(topology, 0, policy).winner);
  policy.maximumLag = 0;  // no bound
  topology.nodes[1].receiveLsn = 1;
  EXPECT_TRUE(pickCandidate(topology, 0, policy).winner);
}

TEST(PickCandidate, RefusesWhileAReplicaStillHearsThePrimary) {
  FailoverPolicy policy;
  auto now = Clock::now();
  auto hearing = replica("a", 100);
  hearing.receiverStatus = "streaming";
  hearing.receiverSilenceSeconds = 0.5;
  Topology topology{.version = 1, .nodes = {lostPrimary(100, now, 3), hearing, replica("b", 100)}};
  auto election = pickCandidate(topology, 0, policy);
  EXPECT_FALSE(election.winner);
  EXPECT_NE(election.refusal.find("a still receives WAL from the primary"), std::string::npos)
      << election.refusal;
  // Silent for longer than the timeout: its receiver has not noticed yet.
  topology.nodes[1].receiverSilenceSeconds = 3.5;
  EXPECT_TRUE(pickCandidate(topology, 0, policy).winner);
  topology.nodes[1].receiverSilenceSeconds = 0.5;
  topology.nodes[1].receiverStatus = "waiting";
  EXPECT_TRUE(pickCandidate(topology, 0, policy).winner);
}

TEST(PickCandidate, NoReplicasAtAll) {
  auto election = pickCandidate(Topology{.version = 1, .nodes = {lostPrimary(1, {}, 3)}}, 0, {});
  EXPECT_FALSE(election.winner);
  EXPECT_NE(election.refusal.find("there are none"), std::string::npos);
}

}  // namespace
}  // namespace pgswarm::cluster
