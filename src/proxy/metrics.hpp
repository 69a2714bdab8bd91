// Prometheus text exposition (format 0.0.4) of a ProxySnapshot: clients and
// servers per state, transactions, queries, server connects, waits, the
// nodes, failover, the shard nodes and the shard map. Pure rendering;
// serving it over HTTP is http_endpoint.cpp's job.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "proxy/pool_config.hpp"
#include "proxy/pool_snapshot.hpp"

namespace pgswarm::proxy {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

[[nodiscard]] std::string renderMetrics(const ProxySnapshot& snapshot, const PoolConfig& config);
// pgswarm_cluster_events_total{kind}: the event log's counts, appended to the above.
[[nodiscard]] std::string renderEventCounts(const std::map<std::string, std::uint64_t>& counts);

// The node agents' last base backup or rewind per node (the dashboard's
// long operations): `progress` maps "host:port" to the agent's JSON.
[[nodiscard]] std::string renderOperationProgress(const nlohmann::json& progress);
// A label value with \, " and newline escaped as the format requires.
[[nodiscard]] std::string escapeLabelValue(std::string_view value);

}  // namespace pgswarm::proxy
