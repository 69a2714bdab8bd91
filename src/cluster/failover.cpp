// The failover decision: see failover.hpp.
#include "cluster/failover.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace pgswarm::cluster {
namespace {

using S = FailoverState;
using E = FailoverEvent;
using A = FailoverAction;

int priorityOf(const FailoverPolicy& policy, std::size_t node) {
  return node < policy.priorities.size() ? policy.priorities[node] : 1;
}

bool isMember(const SyncMembers& sync, std::size_t node) {
  return std::ranges::find(sync.nodes, node) != sync.nodes.end();
}

std::string exclusion(const Topology& topology, std::size_t node, std::optional<Lsn> lostAt,
                      const FailoverPolicy& policy, const SyncMembers& sync) {
  const auto& observed = topology.nodes[node];
  if (observed.health != NodeHealth::kUp) return toString(observed.health);
  if (observed.role != NodeRole::kReplica) return "not a replica";
  if (priorityOf(policy, node) <= 0) return "failover priority 0";
  if (policy.syncMode != SyncMode::kOff && !isMember(sync, node)) {
    return "not a synchronous standby";
  }
  auto position = walPosition(observed);
  if (!position) return "no WAL position";
  if (policy.maximumLag > 0 && lostAt && *lostAt > *position &&
      *lostAt - *position > policy.maximumLag) {
    return fmt::format("{} bytes behind the lost primary (maximum_lag_on_failover {})",
                       *lostAt - *position, policy.maximumLag);
  }
  return "";
}

// a beats b: more WAL, then higher priority, then the smaller name.
bool better(const Topology& topology, const FailoverPolicy& policy, std::size_t a, std::size_t b) {
  auto lsnA = walPosition(topology.nodes[a]).value_or(0);
  auto lsnB = walPosition(topology.nodes[b]).value_or(0);
  if (lsnA != lsnB) return lsnA > lsnB;
  int priorityA = priorityOf(policy, a);
  int priorityB = priorityOf(policy, b);
  if (priorityA != priorityB) return priorityA > priorityB;
  return topology.nodes[a].node.name < topology.nodes[b].node.name;
}

}  // namespace

const char* toString(SyncMode mode) {
  switch (mode) {
    case SyncMode::kOff:
      return "off";
    case SyncMode::kOn:
      return "on";
    case SyncMode::kStrict:
      return "strict";
  }
  return "off";
}

std::string synchronousStandbyNames(const std::vector<std::string>& names) {
  if (names.empty()) return "";
  std::string list;
  for (const auto& name : names) {
    if (!list.empty()) list += ", ";
    bool plain = !name.empty() && std::ranges::all_of(name, [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    }) && !(name[0] >= '0' && name[0] <= '9');
    if (plain) {
      list += name;
    } else {
      list += '"';
      for (char c : name) list += c == '"' ? std::string("\"\"") : std::string(1, c);
      list += '"';
    }
  }
  return "ANY 1 (" + list + ")";
}

const char* toString(FailoverState state) {
  switch (state) {
    case S::kNoPrimary:
      return "no primary";
    case S::kHealthy:
      return "healthy";
    case S::kPrimaryLost:
      return "primary lost";
    case S::kElecting:
      return "electing";
    case S::kPromoting:
      return "promoting";
    case S::kRefused:
      return "refused";
  }
  return "unknown";
}

const char* toString(FailoverEvent event) {
  switch (event) {
    case E::kPrimaryUp:
      return "primary up";
    case E::kPrimaryDown:
      return "primary down";
    case E::kTimeoutElapsed:
      return "failover_timeout elapsed";
    case E::kCandidateFound:
      return "candidate found";
    case E::kNoCandidate:
      return "no candidate";
    case E::kPromoted:
      return "promoted";
    case E::kPromoteFailed:
      return "promotion failed";
    case E::kManualPromotion:
      return "manual promotion";
    case E::kSwitchover:
      return "switchover";
  }
  return "unknown";
}

const char* toString(FailoverAction action) {
  switch (action) {
    case A::kNone:
      return "none";
    case A::kAdoptPrimary:
      return "adopt primary";
    case A::kHoldWrites:
      return "hold writes";
    case A::kFenceAndElect:
      return "fence and elect";
    case A::kPromote:
      return "promote";
    case A::kRepoint:
      return "repoint replicas";
    case A::kRefuse:
      return "refuse";
  }
  return "unknown";
}

const std::vector<FailoverTransition>& failoverTable() {
  static const std::vector<FailoverTransition> table = {
      {S::kNoPrimary, E::kPrimaryUp, S::kHealthy, A::kAdoptPrimary},
      {S::kHealthy, E::kPrimaryDown, S::kPrimaryLost, A::kHoldWrites},
      {S::kPrimaryLost, E::kPrimaryUp, S::kHealthy, A::kAdoptPrimary},
      {S::kPrimaryLost, E::kTimeoutElapsed, S::kElecting, A::kFenceAndElect},
      {S::kElecting, E::kCandidateFound, S::kPromoting, A::kPromote},
      {S::kElecting, E::kNoCandidate, S::kRefused, A::kRefuse},
      // Some other primary appeared meanwhile (an operator promoted one).
      {S::kElecting, E::kPrimaryUp, S::kHealthy, A::kAdoptPrimary},
      {S::kPromoting, E::kPromoted, S::kHealthy, A::kRepoint},
      // Back to waiting: the next timeout elects afresh, from new checks.
      {S::kPromoting, E::kPromoteFailed, S::kPrimaryLost, A::kHoldWrites},
      {S::kRefused, E::kPrimaryUp, S::kHealthy, A::kAdoptPrimary},
      // Conditions change (a replica returns, catches up): try again.
      {S::kRefused, E::kTimeoutElapsed, S::kElecting, A::kFenceAndElect},
      {S::kRefused, E::kManualPromotion, S::kPromoting, A::kPromote},
      {S::kPrimaryLost, E::kManualPromotion, S::kPromoting, A::kPromote},
      {S::kHealthy, E::kSwitchover, S::kPromoting, A::kPromote},
  };
  return table;
}

std::optional<FailoverTransition> nextTransition(FailoverState state, FailoverEvent event) {
  for (const auto& transition : failoverTable()) {
    if (transition.from == state && transition.event == event) return transition;
  }
  return std::nullopt;
}

std::string failoverDiagram() {
  std::string dot = "digraph failover {\n  rankdir=LR;\n  node [shape=box];\n";
  for (const auto& transition : failoverTable()) {
    dot += fmt::format("  \"{}\" -> \"{}\" [label=\"{} / {}\"];\n", toString(transition.from),
                       toString(transition.to), toString(transition.event),
                       toString(transition.action));
  }
  dot += "}\n";
  return dot;
}

std::optional<Lsn> walPosition(const NodeObservation& node) {
  std::optional<Lsn> best;
  for (const auto& lsn : {node.receiveLsn, node.replayLsn, node.currentLsn, node.insertLsn}) {
    if (lsn && (!best || *lsn > *best)) best = lsn;
  }
  return best;
}

bool isPrimaryLost(const Topology& topology, int primary, const FailoverPolicy& policy,
                   std::chrono::steady_clock::time_point now) {
  if (primary < 0 || static_cast<std::size_t>(primary) >= topology.nodes.size()) return false;
  const auto& observed = topology.nodes[static_cast<std::size_t>(primary)];
  // Counted from the last good check, as a leader lease would be: the
  // first failed check comes up to a period after the crash.
  auto lastGood = observed.observedAt != std::chrono::steady_clock::time_point{}
                      ? observed.observedAt
                      : observed.healthSince;
  return observed.health == NodeHealth::kDown &&
         observed.consecutiveFailures >= static_cast<std::uint64_t>(policy.minFailedProbes) &&
         now - lastGood >= policy.timeout;
}

bool agentVouchesForPrimary(std::string_view agentState,
                            std::chrono::steady_clock::duration lostFor,
                            std::chrono::steady_clock::duration restartGrace) {
  if (lostFor >= restartGrace) return false;
  return agentState == "starting" || agentState == "restarting" || agentState == "running";
}

bool replicaStrandedOnOldTimeline(const NodeObservation& replica, std::int64_t primaryTimeline,
                                  std::chrono::steady_clock::duration stuckFor,
                                  std::chrono::steady_clock::duration grace) {
  return replica.health == NodeHealth::kUp && replica.role == NodeRole::kReplica &&
         replica.receiverStatus != "streaming" && replica.timeline > 0 &&
         replica.timeline < primaryTimeline && stuckFor >= grace;
}

std::optional<std::size_t> replicaHearingPrimary(const Topology& topology, int primary,
                                                 const FailoverPolicy& policy) {
  for (std::size_t i = 0; i < topology.nodes.size(); ++i) {
    const auto& observed = topology.nodes[i];
    if (static_cast<int>(i) == primary || observed.health != NodeHealth::kUp) continue;
    if (observed.role != NodeRole::kReplica || observed.receiverStatus != "streaming") continue;
    auto silence = observed.receiverSilenceSeconds.value_or(1e9);
    if (silence * 1000.0 < static_cast<double>(policy.timeout.count())) return i;
  }
  return std::nullopt;
}

Result<std::size_t> pickSwitchoverTarget(const Topology& topology, int primary,
                                         std::optional<std::size_t> wanted,
                                         const FailoverPolicy& policy, const SyncMembers& sync) {
  std::optional<std::size_t> best;
  std::string reasons;
  for (std::size_t i = 0; i < topology.nodes.size(); ++i) {
    if (static_cast<int>(i) == primary || (wanted && *wanted != i)) continue;
    auto why = exclusion(topology, i, std::nullopt, policy, sync);
    if (why.empty() && topology.nodes[i].receiverStatus != "streaming") why = "not streaming";
    if (!why.empty()) {
      reasons += (reasons.empty() ? "" : "; ") + topology.nodes[i].node.name + ": " + why;
      continue;
    }
    if (!best || better(topology, policy, i, *best)) best = i;
  }
  if (!best) {
    return makeError("no replica can take over ({})",
                     reasons.empty() ? std::string("there are none") : reasons);
  }
  return *best;
}

// Synchronous mode: a member that does not answer may hold the last
// acknowledged commits.
std::string unreachableMember(const Topology& topology, const SyncMembers& sync) {
  for (auto node : sync.nodes) {
    if (node < topology.nodes.size() && topology.nodes[node].health != NodeHealth::kUp) {
      return fmt::format(
          "synchronous standby {} is {}: it may hold acknowledged commits no other node has",
          topology.nodes[node].node.name, toString(topology.nodes[node].health));
    }
  }
  if (sync.nodes.empty()) {
    return "synchronous_mode is on but no replica is a synchronous standby (replication was "
           "degraded to asynchronous)";
  }
  return "";
}

Election pickCandidate(const Topology& topology, int lostPrimary, const FailoverPolicy& policy,
                       const SyncMembers& sync) {
  Election election;
  std::optional<Lsn> lostAt;
  if (lostPrimary >= 0 && static_cast<std::size_t>(lostPrimary) < topology.nodes.size()) {
    lostAt = walPosition(topology.nodes[static_cast<std::size_t>(lostPrimary)]);
  }
  for (std::size_t i = 0; i < topology.nodes.size(); ++i) {
    if (static_cast<int>(i) == lostPrimary) continue;
    auto verdict = CandidateVerdict{i, exclusion(topology, i, lostAt, policy, sync)};
    if (verdict.excluded.empty() &&
        (!election.winner || better(topology, policy, i, *election.winner))) {
      election.winner = i;
    }
    election.verdicts.push_back(std::move(verdict));
  }
  if (auto hearing = replicaHearingPrimary(topology, lostPrimary, policy)) {
    election.winner.reset();
    election.refusal = fmt::format(
        "{} still receives WAL from the primary: the primary is alive and only the pool "
        "lost it (a network partition?)",
        topology.nodes[*hearing].node.name);
    return election;
  }
  if (policy.syncMode != SyncMode::kOff) {
    if (auto refusal = unreachableMember(topology, sync); !refusal.empty()) {
      election.winner.reset();
      election.refusal = refusal;
      return election;
    }
  }
  if (!election.winner) {
    std::string reasons;
    for (const auto& verdict : election.verdicts) {
      if (!reasons.empty()) reasons += "; ";
      reasons += topology.nodes[verdict.node].node.name + ": " + verdict.excluded;
    }
    election.refusal = "no replica can safely be promoted (" +
                       (reasons.empty() ? std::string("there are none") : reasons) + ")";
  }
  return election;
}

}  // namespace pgswarm::cluster
