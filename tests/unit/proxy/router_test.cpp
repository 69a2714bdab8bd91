// The router as a pure function over topology snapshots: writes to the
// primary, reads by least outstanding per weight, exclusions (down, paused,
// lagging, weight 0), the fallback to the primary, and read-your-writes.
#include "proxy/router.hpp"

#include <array>

#include <gtest/gtest.h>

namespace pgswarm::proxy {
namespace {

using namespace std::chrono_literals;
using cluster::NodeHealth;
using cluster::NodeRole;
using Clock = std::chrono::steady_clock;

cluster::NodeObservation node(NodeRole role, cluster::Lsn lsn, Clock::time_point at) {
  cluster::NodeObservation observed;
  observed.health = NodeHealth::kUp;
  observed.role = role;
  observed.observedAt = at;
  if (role == NodeRole::kPrimary) {
    observed.currentLsn = lsn;
  } else {
    observed.replayLsn = lsn;
    observed.receiveLsn = lsn;
    observed.replayDelaySeconds = 0;
    observed.lagBytes = 0;
  }
  return observed;
}

// Node 0 primary at LSN 1000, nodes 1 and 2 replicas caught up.
cluster::Topology threeNodes(Clock::time_point at = Clock::now()) {
  cluster::Topology topology;
  topology.nodes = {node(NodeRole::kPrimary, 1000, at), node(NodeRole::kReplica, 1000, at),
                    node(NodeRole::kReplica, 1000, at)};
  return topology;
}

RoutingPolicy policy() {
  return {.weights = {1, 1, 1}, .maxLagBytes = 1 << 20, .maxLag = 10s};
}

int routeRead(const cluster::Topology& topology, const RoutingPolicy& rules,
              std::vector<int> outstanding = {0, 0, 0}, unsigned rotation = 0) {
  WriteFence fence;
  return route(topology, rules, {.read = true, .outstanding = outstanding, .rotation = rotation},
               fence);
}

TEST(Router, WritesGoToThePrimaryWhereverItIs) {
  auto topology = threeNodes();
  WriteFence fence;
  EXPECT_EQ(route(topology, policy(), {.read = false}, fence), 0);
  std::swap(topology.nodes[0], topology.nodes[2]);  // node 2 became the primary
  EXPECT_EQ(route(topology, policy(), {.read = false}, fence), 2);
}

TEST(Router, WithoutAKnownPrimaryTheFirstNodeTakesWrites) {
  cluster::Topology unknown;
  unknown.nodes.resize(3);
  WriteFence fence;
  EXPECT_EQ(route(unknown, policy(), {.read = false}, fence), 0);
  EXPECT_EQ(route(unknown, policy(), {.read = true}, fence), 0);
}

TEST(Router, ReadsGoToTheLeastBusyReplica) {
  auto topology = threeNodes();
  EXPECT_EQ(routeRead(topology, policy(), {0, 5, 2}), 2);
  EXPECT_EQ(routeRead(topology, policy(), {0, 1, 4}), 1);
}

TEST(Router, EqualReplicasShareByRotation) {
  auto topology = threeNodes();
  EXPECT_NE(routeRead(topology, policy(), {0, 0, 0}, 1),
            routeRead(topology, policy(), {0, 0, 0}, 2));
}

TEST(Router, TiesShareEvenlyAroundIneligibleNodes) {
  // The primary (no read weight) sits before the replicas in the rotation:
  // it must not hand its turns to the replica after it.
  auto topology = threeNodes();
  std::array<int, 3> picks{};
  for (unsigned rotation = 0; rotation < 6; ++rotation) {
    ++picks[static_cast<std::size_t>(routeRead(topology, policy(), {0, 0, 0}, rotation))];
  }
  EXPECT_EQ(picks, (std::array<int, 3>{0, 3, 3}));

  // Four nodes, one of them down: the other two replicas still alternate.
  topology.nodes.push_back(topology.nodes[1]);
  topology.nodes[1].health = NodeHealth::kDown;
  auto rules = policy();
  rules.weights = {1, 1, 1, 1};
  std::array<int, 4> four{};
  for (unsigned rotation = 0; rotation < 8; ++rotation) {
    ++four[static_cast<std::size_t>(routeRead(topology, rules, {0, 0, 0, 0}, rotation))];
  }
  EXPECT_EQ(four, (std::array<int, 4>{0, 0, 4, 4}));
}

TEST(Router, WeightsScaleTheShare) {
  auto topology = threeNodes();
  auto rules = policy();
  rules.weights = {1, 3, 1};
  // Node 1 with 2 outstanding per weight 3 beats node 2 with 1 per weight 1.
  EXPECT_EQ(routeRead(topology, rules, {0, 2, 1}), 1);
  rules.weights = {1, 0, 1};
  EXPECT_EQ(routeRead(topology, rules, {0, 0, 9}), 2);
}

TEST(Router, ThePrimaryReadsOnlyWithAPrimaryWeight) {
  auto topology = threeNodes();
  auto rules = policy();
  EXPECT_NE(routeRead(topology, rules, {0, 9, 9}), 0);
  rules.primaryWeight = 1;
  EXPECT_EQ(routeRead(topology, rules, {0, 9, 9}), 0);
}

TEST(Router, ExcludedReplicasTakeNoReads) {
  auto rules = policy();
  auto down = threeNodes();
  down.nodes[1].health = NodeHealth::kDown;
  EXPECT_EQ(routeRead(down, rules, {0, 0, 5}), 2);
  EXPECT_EQ(readExclusion(down, rules, 1), "down");

  auto paused = threeNodes();
  paused.nodes[2].replayPaused = true;
  EXPECT_EQ(routeRead(paused, rules, {0, 5, 0}), 1);
  EXPECT_EQ(readExclusion(paused, rules, 2), "replay paused");

  auto lagging = threeNodes();
  lagging.nodes[1].lagBytes = 2 << 20;
  lagging.nodes[2].replayDelaySeconds = 11;
  EXPECT_EQ(readExclusion(lagging, rules, 1), "lag bytes");
  EXPECT_EQ(readExclusion(lagging, rules, 2), "lag time");
  EXPECT_EQ(routeRead(lagging, rules), 0) << "no replica left: the primary reads";
  rules.maxLagBytes = 0;
  rules.maxLag = 0s;
  EXPECT_NE(routeRead(lagging, rules), 0) << "bounds of 0 are off";

  auto unknown = threeNodes();
  unknown.nodes[1].health = NodeHealth::kUnknown;
  unknown.nodes[2].role = NodeRole::kPrimary;  // two primaries: none is trusted
  EXPECT_EQ(readExclusion(unknown, policy(), 1), "unknown");
  EXPECT_EQ(routeRead(unknown, policy()), 0);
}

TEST(Router, LoadBalanceOffSendsEverythingToThePrimary) {
  auto rules = policy();
  rules.loadBalance = false;
  EXPECT_EQ(routeRead(threeNodes(), rules), 0);
}

TEST(Router, AfterAWriteReadsWaitForAReplicaThatReplayedIt) {
  auto before = Clock::now();
  auto topology = threeNodes(before);
  auto rules = policy();
  WriteFence fence;
  fence.noteWrite(before + 1ms);
  RouteInput read{.read = true};
  // No observation of the primary since the write: only the primary is safe.
  EXPECT_EQ(route(topology, rules, read, fence), 0);
  EXPECT_FALSE(fence.lsn.has_value());

  auto later = threeNodes(before + 2ms);
  later.nodes[0].currentLsn = 1500;  // the primary after the write
  later.nodes[1].replayLsn = 1400;
  later.nodes[2].replayLsn = 1500;
  EXPECT_EQ(route(later, rules, read, fence), 2);
  ASSERT_TRUE(fence.lsn.has_value());
  EXPECT_EQ(*fence.lsn, 1500U);

  // The bound stays what was first observed, even as the primary moves on.
  later.nodes[0].currentLsn = 9000;
  later.nodes[1].replayLsn = 1600;
  later.nodes[2].replayLsn = 1000;
  EXPECT_EQ(route(later, rules, read, fence), 1);

  rules.readYourWrites = false;
  WriteFence ignored;
  ignored.noteWrite(Clock::now() + 1h);
  EXPECT_NE(route(topology, rules, read, ignored), 0);
}

}  // namespace
}  // namespace pgswarm::proxy
