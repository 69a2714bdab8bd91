// Making this node a streaming replica of another primary (POST /rejoin):
// checks and our slot on the new primary before anything here is touched,
// then pg_rewind of the stopped data folder or, when that fails, a fresh
// pg_basebackup clone; then the standby files. Runs on the supervisor's
// worker thread; never starts or stops postgres itself.
#pragma once

#include <functional>
#include <string>

#include "agent/bootstrap.hpp"
#include "agent/failover_api.hpp"
#include "common/result.hpp"

namespace pgswarm::agent {

// Reports the stage now running, e.g. "rejoining: pg_rewind".
using StageReport = std::function<void(const std::string& stage)>;

// `node` with the new primary as its upstream.
[[nodiscard]] NodeContext withPrimary(const NodeContext& node, const RejoinTarget& target);

// While our postgres still runs: the new primary answers the superuser, is
// not in recovery, belongs to our cluster (same system identifier) and is
// not this node; and our replication slot exists there.
[[nodiscard]] Status prepareRejoin(const NodeContext& node);

enum class RejoinMethod {
  kRewind,  // pg_rewind kept the data folder and rewound what diverged
  kClone,   // pg_rewind could not; the folder was set aside and cloned anew
};
[[nodiscard]] const char* toString(RejoinMethod method);

// With postgres stopped: rewind or clone from node.config's primary, write
// the standby files, and remember that primary for later agent starts.
[[nodiscard]] Result<RejoinMethod> rewindOrClone(const NodeContext& node, const StageReport& stage);

// A primary chosen by an earlier rejoin replaces the configured one, so a
// restarted agent keeps following it.
void applyPrimaryOverride(NodeConfig& config);

}  // namespace pgswarm::agent
