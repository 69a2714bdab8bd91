// Fencing's pure parts: the peer list, the fence/unfence decision as a
// table, the fence record, and the fenced settings in postgresql.auto.conf.
#include "agent/fence.hpp"

#include <gtest/gtest.h>

namespace pgswarm::agent {
namespace {

using cluster::NodeRole;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(Peers, ParsesACommaListWithBlanksAndIpv6) {
  auto peers = parsePeers(" db2:5432, 10.0.0.3:6432,,[::1]:5433 ,db2:5432");
  ASSERT_TRUE(peers.ok()) << peers.error().message;
  ASSERT_EQ(peers->size(), 3u);  // the duplicate is dropped
  EXPECT_EQ((*peers)[0], (Peer{"db2", 5432}));
  EXPECT_EQ((*peers)[1], (Peer{"10.0.0.3", 6432}));
  EXPECT_EQ((*peers)[2], (Peer{"::1", 5433}));
  auto none = parsePeers("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(Peers, RefusesEntriesWithoutAPortOrWithABadOne) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const auto& c : std::vector<Case>{
           {"db2", "'db2' has no port (host:port)"},
           {"db2:", "'db2:' has no port (host:port)"},
           {"db2:0", "'db2:0': '0' is not a port"},
           {"db2:65536", "'db2:65536': '65536' is not a port"},
           {"db2:54x", "'db2:54x': '54x' is not a port"},
           {":5432", "':5432': '' is not a host name"},
           {"::1:5432", "'::1:5432': write an IPv6 address in brackets, [addr]:port"},
           {"[::1", "'[::1' has no closing ']'"},
           {"[::1]5432", "'[::1]5432' has no port (host:port)"},
       }) {
    auto peers = parsePeers(c.text);
    ASSERT_FALSE(peers.ok()) << c.text;
    EXPECT_EQ(peers.error().message, c.message);
  }
}

PeerView view(bool reachable, std::optional<NodeRole> role = std::nullopt, int64_t timeline = 0) {
  return PeerView{
      .peer = {"db2", 5432}, .reachable = reachable, .role = role, .timeline = timeline};
}

TEST(FenceDecision, Table) {
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  const auto timeout = milliseconds(2000);
  struct Case {
    const char* name;
    NodeRole role;
    bool fenced;
    milliseconds silentFor;  // now - lastReachable
    std::vector<PeerView> peers;
    FenceAction expected;
  };
  const auto kPrimary = NodeRole::kPrimary;
  const auto kReplica = NodeRole::kReplica;
  const auto kUnknown = NodeRole::kUnknown;
  std::vector<Case> cases{
      {"primary, peer reachable",
       kPrimary,
       false,
       milliseconds(0),
       {view(true)},
       FenceAction::kStay},
      {"primary, unreachable within timeout",
       kPrimary,
       false,
       milliseconds(1999),
       {view(false)},
       FenceAction::kStay},
      {"primary, unreachable for the timeout",
       kPrimary,
       false,
       milliseconds(2000),
       {view(false)},
       FenceAction::kFence},
      {"primary, one of two reachable",
       kPrimary,
       false,
       milliseconds(5000),
       {view(false), view(true)},
       FenceAction::kStay},
      {"postgres unknown, unreachable long",
       kUnknown,
       false,
       milliseconds(9000),
       {view(false)},
       FenceAction::kStay},
      {"replica, unreachable long",
       kReplica,
       false,
       milliseconds(9000),
       {view(false)},
       FenceAction::kStay},
      {"fenced replica", kReplica, true, milliseconds(9000), {view(false)}, FenceAction::kUnfence},
      {"fenced, still unreachable",
       kPrimary,
       true,
       milliseconds(9000),
       {view(false)},
       FenceAction::kStay},
      {"fenced, peer back, says nothing",
       kPrimary,
       true,
       milliseconds(0),
       {view(true)},
       FenceAction::kUnfence},
      {"fenced, peer back as a replica",
       kPrimary,
       true,
       milliseconds(0),
       {view(true, kReplica, 9)},
       FenceAction::kUnfence},
      {"fenced, peer a primary on our timeline",
       kPrimary,
       true,
       milliseconds(0),
       {view(true, kPrimary, 3)},
       FenceAction::kUnfence},
      {"fenced, peer a primary on a newer timeline",
       kPrimary,
       true,
       milliseconds(0),
       {view(true, kReplica, 3), view(true, kPrimary, 4)},
       FenceAction::kStay},
      {"fenced, a newer primary seen but unreachable",
       kPrimary,
       true,
       milliseconds(0),
       {view(true), view(false, kPrimary, 4)},
       FenceAction::kUnfence},
  };
  for (const auto& c : cases) {
    auto decision = decideFence(FenceFacts{.role = c.role,
                                           .timeline = 3,
                                           .fenced = c.fenced,
                                           .lastReachable = t0 - c.silentFor,
                                           .now = t0,
                                           .timeout = timeout,
                                           .poolVouches = true,
                                           .peers = c.peers});
    EXPECT_EQ(decision.action, c.expected)
        << c.name << ": got " << toString(decision.action) << " (" << decision.reason << ")";
  }
}

// The table above runs with the pool's word given; without it a fenced
// primary waits for it, or for an unbroken run of reachable peers.
TEST(FenceDecision, AFencedPrimaryWaitsForThePoolsWordOrASteadyRun) {
  const auto t0 = std::chrono::steady_clock::now();
  auto facts = [&](milliseconds reachableFor, milliseconds liftAfter, bool vouches,
                   std::vector<PeerView> peers) {
    return FenceFacts{.role = NodeRole::kPrimary,
                      .timeline = 3,
                      .fenced = true,
                      .lastReachable = t0,
                      .reachableSince = t0 - reachableFor,
                      .now = t0,
                      .timeout = milliseconds(2000),
                      .liftAfter = liftAfter,
                      .poolVouches = vouches,
                      .peers = std::move(peers)};
  };
  const milliseconds kLift(30000);
  auto waiting = decideFence(facts(milliseconds(29999), kLift, false, {view(true)}));
  EXPECT_EQ(waiting.action, FenceAction::kStay);
  EXPECT_NE(waiting.reason.find("waiting for the pool's word"), std::string::npos)
      << waiting.reason;
  EXPECT_EQ(decideFence(facts(kLift, kLift, false, {view(true, NodeRole::kReplica, 3)})).action,
            FenceAction::kUnfence);
  EXPECT_EQ(decideFence(facts(milliseconds(0), kLift, true, {view(true)})).action,
            FenceAction::kUnfence);
  // unfence_after_ms = 0 (no pool fails this node over): the first answer lifts it.
  EXPECT_EQ(decideFence(facts(milliseconds(0), milliseconds(0), false, {view(true)})).action,
            FenceAction::kUnfence);
  // Neither the word nor a long run lifts it while a peer is a newer primary.
  EXPECT_EQ(
      decideFence(facts(std::chrono::hours(1), kLift, true, {view(true, NodeRole::kPrimary, 4)}))
          .action,
      FenceAction::kStay);
  // The word needs a reachable peer: an agent cut off from every peer stays.
  EXPECT_EQ(decideFence(facts(milliseconds(0), kLift, true, {view(false)})).action,
            FenceAction::kStay);
}

TEST(FenceDecision, ReasonsNameTheNewerPrimary) {
  auto decision = decideFence(FenceFacts{.role = NodeRole::kPrimary,
                                         .timeline = 3,
                                         .fenced = true,
                                         .peers = {view(true, NodeRole::kPrimary, 4)}});
  EXPECT_EQ(decision.action, FenceAction::kStay);
  EXPECT_NE(decision.reason.find("db2:5432 is a primary on timeline 4"), std::string::npos)
      << decision.reason;
}

TEST(FenceRecord, RoundTripsWithDefaultsAsNull) {
  FenceRecord record{.syncNames = "ANY 1 (a, b)", .readOnly = std::nullopt, .reason = "cut off"};
  auto parsed = parseFenceRecord(fenceRecordJson(record));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->syncNames, "ANY 1 (a, b)");
  EXPECT_EQ(parsed->readOnly, std::nullopt);
  EXPECT_EQ(parsed->reason, "cut off");
  EXPECT_FALSE(parseFenceRecord("{").ok());
  EXPECT_FALSE(parseFenceRecord("{\"fenced\": true}").ok());
}

TEST(FenceRecord, PreviousValuesForgetDefaultsAndTheFenceItself) {
  EXPECT_EQ(previousSyncNames(""), std::nullopt);
  EXPECT_EQ(previousSyncNames("\"pgswarm-fenced\""), std::nullopt);
  EXPECT_EQ(previousSyncNames("ANY 1 (node1)"), "ANY 1 (node1)");
  EXPECT_EQ(previousReadOnly("off"), std::nullopt);
  EXPECT_EQ(previousReadOnly("on"), "on");
}

TEST(AutoConf, FenceSettingsReplaceAndRemoveTheirLines) {
  std::string conf =
      "# Do not edit this file manually!\n"
      "synchronous_standby_names = 'ANY 1 (node1)'\n"
      "work_mem = '8MB'\n";
  auto fenced = withFenceSettings(conf);
  EXPECT_EQ(fenced,
            "# Do not edit this file manually!\n"
            "work_mem = '8MB'\n"
            "synchronous_standby_names = '\"pgswarm-fenced\"'\n"
            "default_transaction_read_only = 'on'\n");
  EXPECT_EQ(autoConfValue(fenced, kSyncNamesSetting), "\"pgswarm-fenced\"");
  EXPECT_EQ(autoConfValue(conf, kSyncNamesSetting), "ANY 1 (node1)");
  EXPECT_EQ(autoConfValue(conf, kReadOnlySetting), std::nullopt);
  EXPECT_EQ(autoConfValue("work_mem = 'it''s'\n", "work_mem"), "it's");
  EXPECT_EQ(withoutFenceSettings(fenced),
            "# Do not edit this file manually!\n"
            "work_mem = '8MB'\n");
  EXPECT_EQ(withFenceSettings(""),
            "synchronous_standby_names = '\"pgswarm-fenced\"'\n"
            "default_transaction_read_only = 'on'\n");
}

TEST(ControlData, ReadsTheLatestCheckpointsTimeline) {
  std::string output =
      "pg_control version number:            1300\n"
      "Latest checkpoint's REDO WAL file:    000000030000000000000005\n"
      "Latest checkpoint's TimeLineID:       3\n"
      "Latest checkpoint's PrevTimeLineID:   2\n";
  EXPECT_EQ(controlDataTimeline(output), 3);
  EXPECT_EQ(controlDataTimeline("nothing here"), std::nullopt);
  EXPECT_EQ(controlDataTimeline("Latest checkpoint's TimeLineID: x\n"), std::nullopt);
}

}  // namespace
}  // namespace pgswarm::agent
