// The event history: bounded, ordered, counted per kind, and the topology
// diff that turns consecutive snapshots into node events.
#include "cluster/event_log.hpp"

#include <gtest/gtest.h>

namespace pgswarm::cluster {
namespace {

Topology twoNodes() {
  Topology topology;
  for (const char* name : {"a:1", "b:2"}) {
    NodeObservation node;
    node.node.name = name;
    topology.nodes.push_back(node);
  }
  return topology;
}

TEST(EventLog, KeepsTheNewestInOrderAndCountsAll) {
  EventLog log(3);
  for (int i = 0; i < 5; ++i) log.add(i % 2 == 0 ? "node_up" : "node_down", "n", std::to_string(i));
  auto events = log.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].message, "2");
  EXPECT_EQ(events[2].message, "4");
  EXPECT_EQ(events[0].sequence + 2, events[2].sequence);
  EXPECT_LE(events[0].at, events[2].at);
  auto counts = log.countsByKind();
  EXPECT_EQ(counts["node_up"], 3u);
  EXPECT_EQ(counts["node_down"], 2u);
}

TEST(EventLog, TopologyChangesBecomeNodeEvents) {
  EventLog log;
  auto before = twoNodes();
  auto after = before;
  after.nodes[0].health = NodeHealth::kUp;
  after.nodes[0].role = NodeRole::kPrimary;
  after.nodes[0].timeline = 1;
  after.nodes[1].health = NodeHealth::kDown;
  after.nodes[1].lastError = "connection refused";
  recordTopologyChanges(log, before, after);
  auto events = log.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, "node_up");
  EXPECT_EQ(events[0].node, "a:1");
  EXPECT_EQ(events[0].message, "a:1 is up as primary on timeline 1");
  EXPECT_EQ(events[1].kind, "node_down");
  EXPECT_EQ(events[1].message, "b:2 is down: connection refused");

  // Nothing changed: nothing recorded (a probe per node per second must not fill the log).
  recordTopologyChanges(log, after, after);
  EXPECT_EQ(log.events().size(), 2u);

  auto promoted = after;
  promoted.nodes[0].fenced = true;
  promoted.nodes[1].health = NodeHealth::kUp;
  promoted.nodes[1].role = NodeRole::kPrimary;
  promoted.nodes[1].timeline = 2;
  recordTopologyChanges(log, after, promoted);
  auto rejoined = promoted;
  rejoined.nodes[0].role = NodeRole::kReplica;
  rejoined.nodes[0].timeline = 2;
  rejoined.nodes[0].fenced = false;
  recordTopologyChanges(log, promoted, rejoined);
  events = log.events();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[2].kind, "fenced");
  EXPECT_EQ(events[2].node, "a:1");
  EXPECT_EQ(events[3].kind, "node_up");
  EXPECT_EQ(events[3].node, "b:2");
  EXPECT_EQ(events[4].kind, "role");
  EXPECT_EQ(events[4].message, "a:1 is now replica on timeline 2 (was primary on timeline 1)");
  EXPECT_EQ(events[5].kind, "unfenced");
}

}  // namespace
}  // namespace pgswarm::cluster
