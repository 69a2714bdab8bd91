// Agent-side fencing of a partitioned primary (node.peers): reaches the peers
// over TCP, asks them about their role and timeline over libpq, and fences or
// unfences the local postgres over a superuser connection (ALTER SYSTEM), with
// a record in the state folder so a restarted agent knows it fenced. Blocking:
// every member runs on the supervisor's operations worker, never on its loop,
// and on that one thread only, so the rejoin that also runs there is ordered
// with every check. Never starts or stops postgres.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "agent/agent_state.hpp"
#include "agent/bootstrap.hpp"
#include "agent/fence.hpp"

namespace pgswarm::agent {

class Fencer {
 public:
  // Reads the fence record an earlier run may have left.
  Fencer(const NodeContext& node, AgentState& state);

  // One check (every 500 ms while postgres answers): reach the peers, ask the
  // reachable ones when fenced, decide (decideFence) and act. A POST
  // /unfence (AgentState) is the pool's word for the decision.
  void check(cluster::NodeRole role, int64_t timeline);

  // Before postgres starts from a primary's data folder: when a reachable peer
  // is a primary on a newer timeline than the folder's last checkpoint (or
  // the record says we fenced), write the fenced settings into
  // postgresql.auto.conf first, so postgres never acknowledges a write.
  void fenceBeforeStart();

  // A rejoin made the folder a replica's and removed the settings and the
  // record (rejoin.cpp); forget the fence here too.
  void forget();

 private:
  [[nodiscard]] std::vector<PeerView> reachPeers() const;
  void askPeers(std::vector<PeerView>& views) const;
  [[nodiscard]] Status fence(const std::string& reason);
  [[nodiscard]] Status unfence(const std::string& reason);
  void publish();

  const NodeContext node_;  // a copy: the loop may change its own meanwhile
  AgentState& state_;
  std::optional<FenceRecord> record_;  // set while fenced
  // When this run of the agent fenced (or found the record of an earlier
  // run): only a POST /unfence after it vouches for lifting this fence.
  std::chrono::steady_clock::time_point fencedAt_{};
  std::chrono::steady_clock::time_point lastReachable_;
  std::chrono::steady_clock::time_point reachableSince_{};  // see FenceFacts
  bool reachedLastCheck_ = false;
  cluster::NodeRole lastRole_ = cluster::NodeRole::kUnknown;
  std::string lastReason_;  // the last "stay" reason logged, to log it once
};

// Removes the fence settings from the stopped data folder's
// postgresql.auto.conf and the fence record: the folder becomes a replica's.
[[nodiscard]] Status clearFenceFiles(const NodeContext& node);

}  // namespace pgswarm::agent
