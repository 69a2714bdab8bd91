// The pure half of agent-side fencing: when a primary that cannot reach any
// peer must fence itself, when it may lift the fence, the fence's record in
// the state folder, and the fenced settings as postgresql.auto.conf text.
// No I/O here: the checks, SQL and files live in fencer.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/node_config.hpp"
#include "cluster/node_status.hpp"
#include "common/result.hpp"

namespace pgswarm::agent {

// A synchronous standby name no standby has: every commit that writes waits.
inline constexpr const char* kFencedStandbyName = "\"pgswarm-fenced\"";
inline constexpr const char* kSyncNamesSetting = "synchronous_standby_names";
inline constexpr const char* kReadOnlySetting = "default_transaction_read_only";

// What one check learnt about one peer. `role` is set only when the peer
// answered the superuser's query (a plain TCP listener, or a pool that
// refuses the login, is reachable but says nothing).
struct PeerView {
  Peer peer;
  bool reachable = false;
  std::optional<cluster::NodeRole> role;
  int64_t timeline = 0;
};

enum class FenceAction {
  kStay,     // nothing to change
  kFence,    // no peer reachable for the whole timeout: fence postgres
  kUnfence,  // the pool vouches (or peers answered long enough) and none is a newer primary
};
[[nodiscard]] const char* toString(FenceAction action);

struct FenceFacts {
  cluster::NodeRole role = cluster::NodeRole::kUnknown;  // of our postgres, by the last probe
  int64_t timeline = 0;                                  // ours, by the last probe
  bool fenced = false;
  std::chrono::steady_clock::time_point lastReachable{};  // some peer answered TCP
  // The start of the current unbroken run of checks that reached a peer.
  std::chrono::steady_clock::time_point reachableSince{};
  std::chrono::steady_clock::time_point now{};
  std::chrono::milliseconds timeout{0};
  // A fenced primary lifts its fence on its own only after peers have been
  // reachable this long (0: at once, for a node no pool fails over).
  std::chrono::milliseconds liftAfter{0};
  // The pool's failover coordinator asked (POST /unfence) since the fence
  // began, and recently: it sees this node as its primary and elects nobody.
  bool poolVouches = false;
  std::vector<PeerView> peers;  // this check's view
};

struct FenceDecision {
  FenceAction action = FenceAction::kStay;
  std::string reason;  // for the log; empty with kStay unless something is worth saying
};

// The rules, in order:
//  - postgres does not answer: stay (nothing can be changed anyway);
//  - a fenced replica: unfence (it follows a primary now; a fenced replica
//    promoted later would refuse every write);
//  - an unfenced primary: fence once no peer was reachable for `timeout`;
//  - a fenced primary: while a peer is reachable and no peer that answered
//    is a primary on a newer timeline than ours, unfence on the pool's word,
//    or once peers have stayed reachable for `liftAfter`.
//    Found by the chaos tier: lifting as soon as a peer answered raced the
//    pool, which could be promoting a replica that did not yet answer as a
//    primary; only the pool's coordinator knows that it elects nobody, and
//    an election set off by the isolation ends well within `liftAfter`.
[[nodiscard]] FenceDecision decideFence(const FenceFacts& facts);

// The first peer that answered as a primary on a timeline newer than `ours`.
[[nodiscard]] std::optional<PeerView> newerPrimary(const std::vector<PeerView>& peers,
                                                   int64_t ours);

// The record in <state dir>/pgswarm-<name>.fence.json: the fence holds, and
// what the two settings were before it (nullopt: their default, RESET).
struct FenceRecord {
  std::optional<std::string> syncNames;
  std::optional<std::string> readOnly;
  std::string reason;
};
[[nodiscard]] std::string fenceRecordJson(const FenceRecord& record);
[[nodiscard]] Result<FenceRecord> parseFenceRecord(const std::string& text);

// A value read with current_setting() as the value to restore: nullopt when
// it is the default (or already the fenced value, from an earlier fence).
[[nodiscard]] std::optional<std::string> previousSyncNames(const std::string& current);
[[nodiscard]] std::optional<std::string> previousReadOnly(const std::string& current);

// The value ALTER SYSTEM wrote for `name` in postgresql.auto.conf, unquoted;
// nullopt when the file does not set it.
[[nodiscard]] std::optional<std::string> autoConfValue(const std::string& autoConf,
                                                       const std::string& name);
// postgresql.auto.conf with both fence settings set to their fenced values.
[[nodiscard]] std::string withFenceSettings(const std::string& autoConf);
// postgresql.auto.conf without any line for either setting (ALTER SYSTEM RESET).
[[nodiscard]] std::string withoutFenceSettings(const std::string& autoConf);

// "Latest checkpoint's TimeLineID:  3" in pg_controldata's output (LC_ALL=C).
[[nodiscard]] std::optional<int64_t> controlDataTimeline(const std::string& output);

}  // namespace pgswarm::agent
