// The dashboard's sampled history: see status_history.hpp.
#include "proxy/status_history.hpp"

#include <algorithm>

namespace pgswarm::proxy {

std::vector<NodeTraffic> nodeTraffic(const ProxySnapshot& snapshot, const PoolConfig& config) {
  std::vector<NodeTraffic> nodes(config.servers.size());
  for (const auto& worker : snapshot.workers) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (i < worker.routedTotal.size()) nodes[i].routedTotal += worker.routedTotal[i];
      if (i < worker.routedNow.size()) nodes[i].routedNow += worker.routedNow[i];
    }
    for (const auto& server : worker.servers) {
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (config.servers[i].host != server.addr || config.servers[i].port != server.port) {
          continue;
        }
        ++(server.state == "active" ? nodes[i].serversActive : nodes[i].serversIdle);
        break;
      }
    }
  }
  return nodes;
}

void StatusHistory::add(const ProxySnapshot& snapshot, const PoolConfig& config,
                        WallClock::time_point at) {
  auto traffic = nodeTraffic(snapshot, config);
  bool complete = static_cast<int>(snapshot.workers.size()) >= snapshot.workersAsked;
  HistorySample sample{.at = at, .nodes = std::vector<NodeSample>(traffic.size())};
  double elapsed = previousAt_ ? std::chrono::duration<double>(at - *previousAt_).count() : 0.0;
  for (std::size_t i = 0; i < traffic.size(); ++i) {
    auto& node = sample.nodes[i];
    if (snapshot.topology && i < snapshot.topology->nodes.size()) {
      const auto& observed = snapshot.topology->nodes[i];
      if (observed.role == cluster::NodeRole::kReplica) {
        node.lagBytes = observed.lagBytes;
        node.lagSeconds = observed.replayDelaySeconds;
      }
    }
    if (complete && elapsed > 0 && i < previousRouted_.size() &&
        traffic[i].routedTotal >= previousRouted_[i]) {
      node.routedPerSecond =
          static_cast<double>(traffic[i].routedTotal - previousRouted_[i]) / elapsed;
    }
    sample.servers += traffic[i].serversActive + traffic[i].serversIdle;
  }
  sample.clients = snapshot.clientConnections;
  if (complete) {
    previousAt_ = at;
    previousRouted_.clear();
    for (const auto& node : traffic) previousRouted_.push_back(node.routedTotal);
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
