// What the dashboard charts: per node (the coordinator's, then the shard
// nodes'), the replication lag and the transactions routed per second,
// sampled from ProxySnapshots on a timer into a fixed ring (the last
// `capacity` samples), plus the per-node traffic sums /metrics and
// /api/status both show. Pure data and arithmetic: the
// caller owns the clock, the timer and any locking.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "proxy/pool_config.hpp"
#include "proxy/pool_snapshot.hpp"

namespace pgswarm::proxy {

// One node's traffic summed over the workers that answered.
struct NodeTraffic {
  std::uint64_t routedTotal = 0;   // transactions sent there since the pool started
  std::uint64_t queriesTotal = 0;  // Query and Execute messages sent there
  int routedNow = 0;               // running there now
  int serversActive = 0;           // server connections leased to a client (one client each)
  int serversIdle = 0;
};
// One entry per configured server, in configuration order.
[[nodiscard]] std::vector<NodeTraffic> nodeTraffic(const ProxySnapshot& snapshot,
                                                   const PoolConfig& config);
// One entry per shard node: the groups in ProxySnapshot::shardGroups order,
// each group's servers in order (node indices base, base + 1, ...).
[[nodiscard]] std::vector<NodeTraffic> shardNodeTraffic(const ProxySnapshot& snapshot);

struct NodeSample {
  std::optional<std::uint64_t> lagBytes;
  std::optional<double> lagSeconds;
  // Transactions routed per second since the previous sample; absent for
  // the first one and when a worker did not answer (a partial sum).
  std::optional<double> routedPerSecond;
  std::optional<double> queriesPerSecond;  // the same for queries
};

struct HistorySample {
  WallClock::time_point at;
  // By node index: the configured servers, then the shard nodes in
  // shardNodeTraffic's order (which is their node index order).
  std::vector<NodeSample> nodes;
  int clients = 0;
  int servers = 0;  // server connections of every pool, any state
};

class StatusHistory {
 public:
  explicit StatusHistory(std::size_t capacity = 300) : capacity_(capacity > 0 ? capacity : 1) {}

  void add(const ProxySnapshot& snapshot, const PoolConfig& config, WallClock::time_point at);
  // Oldest first; only those taken after `since` when given.
  [[nodiscard]] std::vector<HistorySample> samples(
      std::optional<WallClock::time_point> since = std::nullopt) const;
  [[nodiscard]] std::size_t capacity() const { return capacity_; }

 private:
  std::size_t capacity_;
  std::vector<HistorySample> ring_;  // grows to capacity_, then next_ wraps
  std::size_t next_ = 0;
  // The previous complete sample's counters, for the rates.
  std::optional<WallClock::time_point> previousAt_;
  std::vector<std::uint64_t> previousRouted_;
  std::vector<std::uint64_t> previousQueries_;
};

}  // namespace pgswarm::proxy
