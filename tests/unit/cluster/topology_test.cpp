// Topology values without a server: LSN text round trips and rejects, the
// single-primary rule, replica lag, and how one probe outcome changes a
// node's observation.
#include "cluster/topology.hpp"

#include <gtest/gtest.h>

#include "cluster/node_probe.hpp"

namespace pgswarm::cluster {
namespace {

using namespace std::chrono_literals;

TEST(Lsn, ParsesPostgresText) {
  EXPECT_EQ(parseLsn("16/B374D848"), Lsn{0x16B374D848});
  EXPECT_EQ(parseLsn("0/0"), Lsn{0});
  EXPECT_EQ(parseLsn("0/3000060"), Lsn{0x3000060});
  EXPECT_EQ(parseLsn("ffffffff/ffffffff"), Lsn{0xFFFFFFFFFFFFFFFF});
  EXPECT_EQ(parseLsn("00000001/00000010"), Lsn{0x100000010});
}

TEST(Lsn, RejectsWhatPostgresWouldNotPrint) {
  for (const char* bad :
       {"", "/", "16", "16/", "/B374D848", "16/B374D848/1", "G/0", "0/x1", " 0/1", "0/1 ", "+1/0",
        "-1/0", "0x1/0", "123456789/0", "0/123456789", "0\\1", "0/1\n"}) {
    EXPECT_FALSE(parseLsn(bad).has_value()) << "accepted '" << bad << "'";
  }
  EXPECT_FALSE(parseLsn(std::string_view("0/1\0", 4)).has_value());
}

TEST(Lsn, FormatsAsPostgresDoes) {
  EXPECT_EQ(formatLsn(0x16B374D848), "16/B374D848");
  EXPECT_EQ(formatLsn(0), "0/0");
  EXPECT_EQ(formatLsn(0x3000060), "0/3000060");
  EXPECT_EQ(formatLsn(0xFFFFFFFFFFFFFFFF), "FFFFFFFF/FFFFFFFF");
}

TEST(Lsn, RoundTrips) {
  for (Lsn lsn : {Lsn{0}, Lsn{1}, Lsn{0xFFFFFFFF}, Lsn{0x100000000}, Lsn{0x16B374D848},
                  Lsn{0xDEADBEEF00C0FFEE}, Lsn{0xFFFFFFFFFFFFFFFF}}) {
    EXPECT_EQ(parseLsn(formatLsn(lsn)), lsn) << formatLsn(lsn);
  }
  for (const char* text : {"0/0", "16/B374D848", "1/0", "A/FF"}) {
    auto lsn = parseLsn(text);
    ASSERT_TRUE(lsn.has_value()) << text;
    EXPECT_EQ(formatLsn(*lsn), text);
  }
}

TEST(NodeHealthNames, AreStable) {
  EXPECT_STREQ(toString(NodeHealth::kUnknown), "unknown");
  EXPECT_STREQ(toString(NodeHealth::kUp), "up");
  EXPECT_STREQ(toString(NodeHealth::kDown), "down");
}

NodeObservation node(NodeHealth health, NodeRole role, std::optional<Lsn> current = std::nullopt,
                     std::optional<Lsn> replay = std::nullopt) {
  NodeObservation observation;
  observation.health = health;
  observation.role = role;
  observation.currentLsn = current;
  observation.replayLsn = replay;
  return observation;
}

TEST(PrimaryIndex, NoneWhenNoNodeIsAnUpPrimary) {
  EXPECT_EQ(Topology{}.primaryIndex(), -1);
  Topology replicas{.version = 1,
                    .nodes = {node(NodeHealth::kUp, NodeRole::kReplica),
                              node(NodeHealth::kUnknown, NodeRole::kUnknown)}};
  EXPECT_EQ(replicas.primaryIndex(), -1);
}

TEST(PrimaryIndex, TheOneUpPrimary) {
  Topology topology{.version = 1,
                    .nodes = {node(NodeHealth::kUp, NodeRole::kReplica),
                              node(NodeHealth::kUp, NodeRole::kPrimary),
                              node(NodeHealth::kDown, NodeRole::kReplica)}};
  EXPECT_EQ(topology.primaryIndex(), 1);
}

TEST(PrimaryIndex, NoneWhenTwoSayPrimary) {
  Topology topology{.version = 1,
                    .nodes = {node(NodeHealth::kUp, NodeRole::kPrimary),
                              node(NodeHealth::kUp, NodeRole::kReplica),
                              node(NodeHealth::kUp, NodeRole::kPrimary)}};
  EXPECT_EQ(topology.primaryIndex(), -1);
}

TEST(PrimaryIndex, ADownPrimaryDoesNotCount) {
  Topology down{.version = 1,
                .nodes = {node(NodeHealth::kDown, NodeRole::kPrimary),
                          node(NodeHealth::kUp, NodeRole::kReplica)}};
  EXPECT_EQ(down.primaryIndex(), -1);
  // An old primary that is down next to a promoted one: the promoted one.
  Topology promoted{.version = 1,
                    .nodes = {node(NodeHealth::kDown, NodeRole::kPrimary),
                              node(NodeHealth::kUp, NodeRole::kPrimary)}};
  EXPECT_EQ(promoted.primaryIndex(), 1);
}

TEST(PrimaryIndex, TheHighestTimelineWins) {
  // An old primary back after a failover is on the older timeline.
  auto old = node(NodeHealth::kUp, NodeRole::kPrimary);
  old.timeline = 1;
  auto promoted = node(NodeHealth::kUp, NodeRole::kPrimary);
  promoted.timeline = 2;
  EXPECT_EQ((Topology{.version = 1, .nodes = {old, promoted}}.primaryIndex()), 1);
  EXPECT_EQ((Topology{.version = 1, .nodes = {promoted, old}}.primaryIndex()), 0);
  auto third = promoted;
  EXPECT_EQ((Topology{.version = 1, .nodes = {promoted, old, third}}.primaryIndex()), -1);
  third.timeline = 3;
  EXPECT_EQ((Topology{.version = 1, .nodes = {promoted, old, promoted, third}}.primaryIndex()), 3);
}

TEST(PrimaryIndex, AFencedNodeNeverIs) {
  auto fenced = node(NodeHealth::kUp, NodeRole::kPrimary);
  fenced.fenced = true;
  fenced.timeline = 5;
  auto other = node(NodeHealth::kUp, NodeRole::kPrimary);
  other.timeline = 2;
  EXPECT_EQ((Topology{.version = 1, .nodes = {fenced}}.primaryIndex()), -1);
  EXPECT_EQ((Topology{.version = 1, .nodes = {fenced, other}}.primaryIndex()), 1);
}

TEST(ComputeLag, PrimaryLsnMinusReplay) {
  Topology topology{.version = 1,
                    .nodes = {node(NodeHealth::kUp, NodeRole::kPrimary, 0x5000),
                              node(NodeHealth::kUp, NodeRole::kReplica, std::nullopt, 0x4000),
                              node(NodeHealth::kUp, NodeRole::kReplica, std::nullopt, 0x5000)}};
  computeLag(topology);
  EXPECT_FALSE(topology.nodes[0].lagBytes.has_value());
  EXPECT_EQ(topology.nodes[1].lagBytes, std::uint64_t{0x1000});
  EXPECT_EQ(topology.nodes[2].lagBytes, std::uint64_t{0});
}

TEST(ComputeLag, ClampsAReplicaAheadOfTheLastPrimaryReading) {
  Topology topology{.version = 1,
                    .nodes = {node(NodeHealth::kUp, NodeRole::kPrimary, 0x5000),
                              node(NodeHealth::kUp, NodeRole::kReplica, std::nullopt, 0x6000)}};
  computeLag(topology);
  EXPECT_EQ(topology.nodes[1].lagBytes, std::uint64_t{0});
}

TEST(ComputeLag, AbsentWithoutASinglePrimary) {
  auto replica = node(NodeHealth::kUp, NodeRole::kReplica, std::nullopt, 0x4000);
  replica.lagBytes = 7;  // stale from an earlier snapshot: must be cleared
  Topology none{.version = 1,
                .nodes = {node(NodeHealth::kDown, NodeRole::kPrimary, 0x5000), replica}};
  computeLag(none);
  EXPECT_FALSE(none.nodes[1].lagBytes.has_value());

  Topology two{.version = 1,
               .nodes = {node(NodeHealth::kUp, NodeRole::kPrimary, 0x5000),
                         node(NodeHealth::kUp, NodeRole::kPrimary, 0x5000), replica}};
  computeLag(two);
  EXPECT_FALSE(two.nodes[2].lagBytes.has_value());
}

TEST(ComputeLag, AbsentWithoutLsns) {
  Topology noPrimaryLsn{.version = 1,
                        .nodes = {node(NodeHealth::kUp, NodeRole::kPrimary),
                                  node(NodeHealth::kUp, NodeRole::kReplica, std::nullopt, 0x10)}};
  computeLag(noPrimaryLsn);
  EXPECT_FALSE(noPrimaryLsn.nodes[1].lagBytes.has_value());

  Topology noReplay{.version = 1,
                    .nodes = {node(NodeHealth::kUp, NodeRole::kPrimary, 0x10),
                              node(NodeHealth::kUp, NodeRole::kReplica)}};
  computeLag(noReplay);
  EXPECT_FALSE(noReplay.nodes[1].lagBytes.has_value());
}

TEST(ComputeLag, AbsentForADownReplica) {
  Topology topology{.version = 1,
                    .nodes = {node(NodeHealth::kUp, NodeRole::kPrimary, 0x5000),
                              node(NodeHealth::kDown, NodeRole::kReplica, std::nullopt, 0x4000)}};
  computeLag(topology);
  EXPECT_FALSE(topology.nodes[1].lagBytes.has_value());
}

ProbeOutcome answered(NodeRole role, std::chrono::steady_clock::time_point sentAt) {
  ProbeReading reading;
  reading.role = role;
  reading.timeline = 3;
  reading.replayLsn = 0x42;
  reading.sentAt = sentAt;
  return ProbeOutcome{.failure = ProbeFailure::kNone, .reading = reading, .error = {}};
}

ProbeOutcome refused() {
  return ProbeOutcome{
      .failure = ProbeFailure::kConnect, .reading = std::nullopt, .error = "node x: refused"};
}

TEST(ApplyOutcome, RefusedLoginLeavesHealthUnknownNotDown) {
  auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  NodeObservation observation;
  applyOutcome(observation, answered(NodeRole::kPrimary, t0 + 1s), t0 + 2s);
  ASSERT_EQ(observation.health, NodeHealth::kUp);
  ProbeOutcome login{.failure = ProbeFailure::kLogin,
                     .reading = std::nullopt,
                     .error = "node x: connect failed: FATAL:  28P01: password authentication"};
  applyOutcome(observation, login, t0 + 3s);
  EXPECT_EQ(observation.health, NodeHealth::kUnknown);
  EXPECT_EQ(observation.healthSince, t0 + 3s);
  EXPECT_EQ(observation.lastError, login.error);
  EXPECT_EQ(observation.consecutiveFailures, 1u);
  EXPECT_EQ(observation.role, NodeRole::kPrimary);  // as of the last good probe
  applyOutcome(observation, refused(), t0 + 4s);
  EXPECT_EQ(observation.health, NodeHealth::kDown);
}

TEST(ApplyOutcome, HealthSinceMovesOnlyWhenHealthChanges) {
  auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  NodeObservation observation;
  observation.healthSince = t0;

  applyOutcome(observation, answered(NodeRole::kReplica, t0 + 1s), t0 + 2s);
  EXPECT_EQ(observation.health, NodeHealth::kUp);
  EXPECT_EQ(observation.healthSince, t0 + 2s);
  EXPECT_EQ(observation.observedAt, t0 + 1s);
  EXPECT_EQ(observation.role, NodeRole::kReplica);
  EXPECT_EQ(observation.replayLsn, Lsn{0x42});

  applyOutcome(observation, answered(NodeRole::kReplica, t0 + 3s), t0 + 4s);
  EXPECT_EQ(observation.healthSince, t0 + 2s);
  EXPECT_EQ(observation.observedAt, t0 + 3s);

  applyOutcome(observation, refused(), t0 + 5s);
  EXPECT_EQ(observation.health, NodeHealth::kDown);
  EXPECT_EQ(observation.healthSince, t0 + 5s);
  EXPECT_EQ(observation.lastError, "node x: refused");
  // As of the last successful probe.
  EXPECT_EQ(observation.observedAt, t0 + 3s);
  EXPECT_EQ(observation.role, NodeRole::kReplica);

  applyOutcome(observation, refused(), t0 + 6s);
  EXPECT_EQ(observation.healthSince, t0 + 5s);

  applyOutcome(observation, answered(NodeRole::kPrimary, t0 + 7s), t0 + 8s);
  EXPECT_EQ(observation.health, NodeHealth::kUp);
  EXPECT_EQ(observation.healthSince, t0 + 8s);
  EXPECT_TRUE(observation.lastError.empty());
  EXPECT_EQ(observation.role, NodeRole::kPrimary);
  EXPECT_EQ(observation.probes, 5u);
  EXPECT_EQ(observation.failures, 2u);
}

}  // namespace
}  // namespace pgswarm::cluster
