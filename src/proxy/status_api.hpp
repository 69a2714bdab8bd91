// GET /api/status: the dashboard's one JSON document (nodes with role,
// health, fence, WAL positions, lag and traffic; pool connection counts;
// failover status; the sampled history; the event history; the shard
// groups' nodes and the shard map). Pure rendering of values the caller
// gathered; the field list is in docs/operations.md ("Dashboard"). Never
// reads a worker or a socket.
#pragma once

#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/event_log.hpp"
#include "proxy/pool_config.hpp"
#include "proxy/pool_snapshot.hpp"
#include "proxy/status_history.hpp"

namespace pgswarm::proxy {

struct StatusInputs {
  const ProxySnapshot& snapshot;
  WallClock::time_point sampledAt;  // when `snapshot` was gathered
  const PoolConfig& config;
  const std::vector<HistorySample>& history;
  std::size_t historyCapacity = 0;
  std::chrono::milliseconds historyInterval{1000};
  const std::vector<cluster::ClusterEvent>& events;
  // The node agents' last base backup or rewind, by node name
  // ("host:port"), as their /status gives it; nodes without one get null.
  const nlohmann::json* agentProgress = nullptr;
};

[[nodiscard]] nlohmann::json statusJson(const StatusInputs& inputs);

// Milliseconds since the Unix epoch: every time in the document.
[[nodiscard]] std::int64_t epochMillis(WallClock::time_point at);

}  // namespace pgswarm::proxy
