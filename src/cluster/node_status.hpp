// What one PostgreSQL node says about itself: role, timeline, WAL positions,
// lag, and (on a primary) its streaming replicas. Observed state only; the
// desired state of the cluster lives elsewhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"

namespace pgswarm::cluster {

enum class NodeRole { kUnknown, kPrimary, kReplica };
[[nodiscard]] const char* toString(NodeRole role);

// One row of pg_stat_replication on a primary.
struct StandbyInfo {
  std::string applicationName;
  std::string clientAddress;
  std::string state;      // startup, catchup, streaming, backup, stopping
  std::string syncState;  // async, potential, sync, quorum
  std::string sentLsn;
  std::string replayLsn;
  std::optional<int64_t> replayLagBytes;
  std::optional<double> replayLagSeconds;
};

struct NodeStatus {
  NodeRole role = NodeRole::kUnknown;
  int64_t timeline = 0;
  std::string currentLsn;  // primary: pg_current_wal_lsn
  std::string receiveLsn;  // replica: pg_last_wal_receive_lsn
  std::string replayLsn;   // replica: pg_last_wal_replay_lsn
  bool streaming = false;  // replica: WAL receiver in state 'streaming'
  std::string upstream;    // replica: sender host:port
  bool replayPaused = false;
  std::optional<double> replayDelaySeconds;  // replica: now() - last replayed commit
  double uptimeSeconds = 0;
  std::string serverVersion;
  std::vector<StandbyInfo> standbys;  // primary only
};

// Asks the node over an open control connection.
[[nodiscard]] Result<NodeStatus> probeNode(PgConnection& conn);

[[nodiscard]] nlohmann::json toJson(const NodeStatus& status);
[[nodiscard]] nlohmann::json toJson(const StandbyInfo& standby);

}  // namespace pgswarm::cluster
