// Read/write routing: see router.hpp.
#include "proxy/router.hpp"

namespace pgswarm::proxy {
namespace {

int weightOf(const RoutingPolicy& policy, std::size_t node, int primary) {
  if (static_cast<int>(node) == primary) return policy.primaryWeight;
  return node < policy.weights.size() ? policy.weights[node] : 1;
}

// The fence is met by replicas that replayed past the primary's position
// seen after the write; until such an observation exists, only the primary.
bool meetsFence(const cluster::NodeObservation& node, const WriteFence& fence) {
  if (!fence.committedAt) return true;
  if (!fence.lsn) return false;
  return node.replayLsn && *node.replayLsn >= *fence.lsn;
}

void advanceFence(const cluster::Topology& topology, int primary, WriteFence& fence) {
  if (!fence.committedAt || fence.lsn || primary < 0) return;
  const auto& observed = topology.nodes[static_cast<std::size_t>(primary)];
  if (observed.health == cluster::NodeHealth::kUp && observed.currentLsn &&
      observed.observedAt > *fence.committedAt) {
    fence.lsn = observed.currentLsn;
  }
}

}  // namespace

RoutingPolicy RoutingPolicy::fromConfig(const PoolConfig& config) {
  return {.weights = config.weights,
          .primaryWeight = config.primaryWeight,
          .loadBalance = config.loadBalance,
          .readYourWrites = config.readYourWrites,
          .maxLagBytes = config.maxReplicaLagBytes,
          .maxLag = config.maxReplicaLag};
}

int primaryNode(const cluster::Topology& topology) {
  int primary = topology.primaryIndex();
  return primary >= 0 ? primary : 0;
}

std::string_view readExclusion(const cluster::Topology& topology, const RoutingPolicy& policy,
                               std::size_t node) {
  const auto& observed = topology.nodes[node];
  int primary = topology.primaryIndex();
  if (static_cast<int>(node) == primary) return policy.primaryWeight > 0 ? "" : "primary";
  if (!policy.loadBalance) return "load_balance off";
  if (observed.health != cluster::NodeHealth::kUp) return toString(observed.health);
  if (observed.role != cluster::NodeRole::kReplica) return "not a replica";
  if (weightOf(policy, node, primary) == 0) return "weight 0";
  if (observed.replayPaused) return "replay paused";
  if (policy.maxLagBytes > 0 && observed.lagBytes && *observed.lagBytes > policy.maxLagBytes) {
    return "lag bytes";
  }
  if (policy.maxLag.count() > 0 && observed.replayDelaySeconds &&
      *observed.replayDelaySeconds * 1000.0 > static_cast<double>(policy.maxLag.count())) {
    return "lag time";
  }
  return "";
}

int route(const cluster::Topology& topology, const RoutingPolicy& policy, const RouteInput& input,
          WriteFence& fence) {
  int primary = primaryNode(topology);
  if (!input.read || !policy.loadBalance) return primary;
  int known = topology.primaryIndex();
  if (policy.readYourWrites) advanceFence(topology, known, fence);
  const std::size_t count = topology.nodes.size();
  int best = -1;
  long bestLoad = 0;
  int bestWeight = 1;
  for (std::size_t step = 0; step < count; ++step) {
    std::size_t node = (step + input.rotation) % count;
    if (node < 64 && (input.excluded >> node & 1U) != 0) continue;
    if (!readExclusion(topology, policy, node).empty()) continue;
    bool isPrimary = static_cast<int>(node) == known;
    if (!isPrimary && policy.readYourWrites && !meetsFence(topology.nodes[node], fence)) continue;
    int weight = weightOf(policy, node, known);
    long load = (node < input.outstanding.size() ? input.outstanding[node] : 0) + 1L;
    // load / weight < bestLoad / bestWeight, without division.
    if (best < 0 || load * bestWeight < bestLoad * weight) {
      best = static_cast<int>(node);
      bestLoad = load;
      bestWeight = weight;
    }
  }
  return best >= 0 ? best : primary;
}

}  // namespace pgswarm::proxy
