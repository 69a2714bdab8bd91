// The dashboard's sampled history: see status_history.hpp.
#include "proxy/status_history.hpp"

#include <algorithm>

namespace pgswarm::proxy {

namespace {

// Node `index`'s traffic (the routed vectors are by node index; its server
// connections are found by address).
NodeTraffic trafficOf(const ProxySnapshot& snapshot, std::size_t index,
                      const pool::ServerAddress& address) {
  NodeTraffic node;
  for (const auto& worker : snapshot.workers) {
    if (index < worker.routedTotal.size()) node.routedTotal += worker.routedTotal[index];
    if (index < worker.routedNow.size()) node.routedNow += worker.routedNow[index];
    if (index < worker.queriesTotal.size()) node.queriesTotal += worker.queriesTotal[index];
    for (const auto& server : worker.servers) {
      if (server.addr != address.host || server.port != address.port) continue;
      ++(server.state == "active" ? node.serversActive : node.serversIdle);
    }
  }
  return node;
}

// A counter's growth per second; none when it went back (a restart).
std::optional<double> ratePerSecond(std::uint64_t now, std::uint64_t before, double elapsed) {
  if (now < before) return std::nullopt;
  return static_cast<double>(now - before) / elapsed;
}

// What the health checks saw of every node, by node index (null: unchecked).
std::vector<const cluster::NodeObservation*> observedNodes(const ProxySnapshot& snapshot,
                                                           const PoolConfig& config) {
  auto observe = [](const cluster::Topology* topology, std::size_t i) {
    return topology && i < topology->nodes.size() ? &topology->nodes[i] : nullptr;
  };
  std::vector<const cluster::NodeObservation*> nodes;
  for (std::size_t i = 0; i < config.servers.size(); ++i) {
    nodes.push_back(observe(snapshot.topology.get(), i));
  }
  for (const auto& group : snapshot.shardGroups) {
    for (std::size_t i = 0; i < group.servers.size(); ++i) {
      nodes.push_back(observe(group.topology.get(), i));
    }
  }
  return nodes;
}

}  // namespace

std::vector<NodeTraffic> nodeTraffic(const ProxySnapshot& snapshot, const PoolConfig& config) {
  std::vector<NodeTraffic> nodes;
  for (std::size_t i = 0; i < config.servers.size(); ++i) {
    nodes.push_back(trafficOf(snapshot, i, config.servers[i]));
  }
  return nodes;
}

std::vector<NodeTraffic> shardNodeTraffic(const ProxySnapshot& snapshot) {
  std::vector<NodeTraffic> nodes;
  for (const auto& group : snapshot.shardGroups) {
    for (std::size_t i = 0; i < group.servers.size(); ++i) {
      nodes.push_back(
          trafficOf(snapshot, static_cast<std::size_t>(group.base) + i, group.servers[i]));
    }
  }
  return nodes;
}

void StatusHistory::add(const ProxySnapshot& snapshot, const PoolConfig& config,
                        WallClock::time_point at) {
  auto traffic = nodeTraffic(snapshot, config);
  auto shards = shardNodeTraffic(snapshot);
  traffic.insert(traffic.end(), shards.begin(), shards.end());
  auto observed = observedNodes(snapshot, config);
  bool complete = static_cast<int>(snapshot.workers.size()) >= snapshot.workersAsked;
  HistorySample sample{.at = at, .nodes = std::vector<NodeSample>(traffic.size())};
  double elapsed = previousAt_ ? std::chrono::duration<double>(at - *previousAt_).count() : 0.0;
  for (std::size_t i = 0; i < traffic.size(); ++i) {
    auto& node = sample.nodes[i];
    if (observed[i] && observed[i]->role == cluster::NodeRole::kReplica) {
      node.lagBytes = observed[i]->lagBytes;
      node.lagSeconds = observed[i]->replayDelaySeconds;
    }
    if (complete && elapsed > 0 && i < previousRouted_.size()) {
      node.routedPerSecond = ratePerSecond(traffic[i].routedTotal, previousRouted_[i], elapsed);
      node.queriesPerSecond = ratePerSecond(traffic[i].queriesTotal, previousQueries_[i], elapsed);
    }
    sample.servers += traffic[i].serversActive + traffic[i].serversIdle;
  }
  sample.clients = snapshot.clientConnections;
  if (complete) {
    previousAt_ = at;
    previousRouted_.clear();
    previousQueries_.clear();
    for (const auto& node : traffic) {
      previousRouted_.push_back(node.routedTotal);
      previousQueries_.push_back(node.queriesTotal);
    }
  }
  if (ring_.size() < capacity_) {
    ring_.push_back(std::move(sample));
  } else {
    ring_[next_] = std::move(sample);
    next_ = (next_ + 1) % capacity_;
  }
}

std::vector<HistorySample> StatusHistory::samples(
    std::optional<WallClock::time_point> since) const {
  std::vector<HistorySample> out;
  out.reserve(ring_.size());
  for (std::size_t k = 0; k < ring_.size(); ++k) {
    const auto& sample = ring_[(next_ + k) % ring_.size()];
    if (!since || sample.at > *since) out.push_back(sample);
  }
  return out;
}

}  // namespace pgswarm::proxy
