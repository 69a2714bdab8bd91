// The failover decision, pure: when the primary counts as lost, which replica
// may replace it, and the state machine that orders detection, fencing,
// promotion and refusal. Table-driven, so every transition is logged by one
// function and the whole machine prints as a Graphviz diagram
// (`pgswarm failover-diagram`). FailoverCoordinator runs it against the
// health monitor's snapshots and carries out the actions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/topology.hpp"
#include "common/result.hpp"

namespace pgswarm::cluster {

enum class SyncMode : unsigned char {
  kOff,     // asynchronous replication: a failover may lose the last commits
  kOn,      // ANY 1 of the streaming replicas; async when none streams (said loudly)
  kStrict,  // ANY 1 always: with no replica streaming, commits wait
};
[[nodiscard]] const char* toString(SyncMode mode);

struct FailoverPolicy {
  bool enabled = true;
  // No good check for this long, and the last minFailedProbes checks
  // failed: the primary is lost. One dropped connection is no failure: the
  // next check, a period later, answers. A check of a black-holed host
  // takes its whole timeout to fail, so requiring two would add one.
  std::chrono::milliseconds timeout{3000};
  int minFailedProbes = 1;
  // Bytes the candidate may miss of what the lost primary last reported
  // having written; a candidate further behind is refused. 0: no limit.
  std::uint64_t maximumLag = 1U << 20U;
  // Per node in configuration order; a higher priority wins LSN ties and 0
  // never promotes the node. Missing entries count as 1.
  std::vector<int> priorities;
  SyncMode syncMode = SyncMode::kOff;
  // How long an agent that is restarting the lost primary's postgres may
  // hold the failover back (agentVouchesForPrimary).
  std::chrono::milliseconds restartGrace{30000};
};

// Synchronous mode: the replicas that may hold a commit no other node has
// (every member of synchronous_standby_names since the primary last showed
// the others caught up). Only they may be promoted, and only while all of
// them answer: a member that is down may be the one that acknowledged the
// last commits.
struct SyncMembers {
  std::vector<std::size_t> nodes;
};

enum class FailoverState : unsigned char {
  kNoPrimary,    // no primary seen yet: nothing to fail over from
  kHealthy,      // the primary answers
  kPrimaryLost,  // the primary stopped answering; waiting out the timeout
  kElecting,     // the primary is fenced; a candidate is being chosen
  kPromoting,    // the candidate is being promoted
  kRefused,      // no safe candidate: waiting for the primary or an operator
};
[[nodiscard]] const char* toString(FailoverState state);

enum class FailoverEvent : unsigned char {
  kPrimaryUp,        // a primary answers (the old one, or one promoted elsewhere)
  kPrimaryDown,      // a check of the primary failed
  kTimeoutElapsed,   // isPrimaryLost() holds
  kCandidateFound,   // pickCandidate() named a node
  kNoCandidate,      // pickCandidate() refused
  kPromoted,         // the candidate reports itself primary
  kPromoteFailed,    // the promotion call failed or timed out
  kManualPromotion,  // an operator named the node to promote
  kSwitchover,       // planned: the primary was frozen and the candidate caught up
};
[[nodiscard]] const char* toString(FailoverEvent event);

// What the coordinator does on entering the transition's target state.
enum class FailoverAction : unsigned char {
  kNone,
  kAdoptPrimary,   // record the primary; stop waiting for one
  kHoldWrites,     // new writes wait for a primary instead of failing
  kFenceAndElect,  // stop routing to the old primary, close its connections, pick
  kPromote,        // promote the candidate
  kRepoint,        // point the other replicas at the new primary
  kRefuse,         // say loudly why no replica is promoted
};
[[nodiscard]] const char* toString(FailoverAction action);

struct FailoverTransition {
  FailoverState from;
  FailoverEvent event;
  FailoverState to;
  FailoverAction action;
};

// The transition for (state, event), or nullopt: the event changes nothing
// there (a kPrimaryDown while already lost, say).
[[nodiscard]] std::optional<FailoverTransition> nextTransition(FailoverState state,
                                                               FailoverEvent event);
// The whole table, in order, for the diagram and tests.
[[nodiscard]] const std::vector<FailoverTransition>& failoverTable();
// The table as a Graphviz digraph.
[[nodiscard]] std::string failoverDiagram();

// The primary (node `primary`) counts as lost: no good check for
// policy.timeout and at least policy.minFailedProbes failed ones in a row.
[[nodiscard]] bool isPrimaryLost(const Topology& topology, int primary,
                                 const FailoverPolicy& policy,
                                 std::chrono::steady_clock::time_point now);

// What the lost primary's agent says of it decides whether the failover
// waits: an agent that restarts its postgres (or still sees it run, when
// only the pool lost it) brings it back without losing a commit, so the
// pool waits for it up to restartGrace after the last good check. A
// silent agent (host down, link cut), or one that gave up, changes nothing.
[[nodiscard]] bool agentVouchesForPrimary(std::string_view agentState,
                                          std::chrono::steady_clock::duration lostFor,
                                          std::chrono::steady_clock::duration restartGrace);

// A replica that can still hear the lost primary: its WAL receiver streams
// and got a message within policy.timeout. The primary is then alive and
// only the pool lost it, so failing over would make two primaries.
[[nodiscard]] std::optional<std::size_t> replicaHearingPrimary(const Topology& topology,
                                                               int primary,
                                                               const FailoverPolicy& policy);

// A replica left behind by a failover: up, its WAL receiver not streaming
// for at least `grace` (`stuckFor`), on a timeline older than the primary's.
// It took WAL from the old primary after the election (past the new
// timeline's fork), so it can never follow the new primary by streaming;
// only a rewind brings it back. Right after a failover every replica is on
// the old timeline for a moment, hence the grace.
[[nodiscard]] bool replicaStrandedOnOldTimeline(const NodeObservation& replica,
                                                std::int64_t primaryTimeline,
                                                std::chrono::steady_clock::duration stuckFor,
                                                std::chrono::steady_clock::duration grace);

struct CandidateVerdict {
  std::size_t node = 0;
  std::string excluded;  // empty: eligible
};

struct Election {
  std::optional<std::size_t> winner;
  std::string refusal;                     // why there is no winner
  std::vector<CandidateVerdict> verdicts;  // every node but the lost primary
};

// A switchover's target: `wanted` when it is a healthy, streaming replica
// (a member in synchronous mode), else when nullopt the one with the most
// WAL (ties: priority, then name); an error says why there is none.
[[nodiscard]] Result<std::size_t> pickSwitchoverTarget(const Topology& topology, int primary,
                                                       std::optional<std::size_t> wanted,
                                                       const FailoverPolicy& policy,
                                                       const SyncMembers& sync);

// The healthy replica with the most WAL received (ties: higher priority,
// then name), unless it misses more than policy.maximumLag of what the lost
// primary last reported, or a replica still hears the primary.
[[nodiscard]] Election pickCandidate(const Topology& topology, int lostPrimary,
                                     const FailoverPolicy& policy, const SyncMembers& sync = {});

// synchronous_standby_names for these standby names: "ANY 1 (a, b)", or ""
// for none. Names are double-quoted when PostgreSQL would need it.
[[nodiscard]] std::string synchronousStandbyNames(const std::vector<std::string>& names);

// How much WAL a node holds: received (replicas) or written (primaries).
[[nodiscard]] std::optional<Lsn> walPosition(const NodeObservation& node);

}  // namespace pgswarm::cluster
