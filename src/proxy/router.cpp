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
  auto bound = observed.insertLsn ? observed.insertLsn : observed.currentLsn;
  if (observed.health == cluster::NodeHealth::kUp && bound &&
      observed.observedAt > *fence.committedAt) {
    fence.lsn = bound;
  }
}

// primaryNode() for a topology whose primaryIndex() is `known`.
int primaryNodeGiven(const cluster::Topology& topology, int known) {
  if (known >= 0) return known;
  // Nothing answers as primary: the first node, unless fenced (then a
  // write reaches a replica and fails there, never a lost primary).
  for (std::size_t i = 0; i < topology.nodes.size(); ++i) {
    if (!topology.nodes[i].fenced) return static_cast<int>(i);
  }
  return 0;
}

// readExclusion() for a topology whose primaryIndex() is `primary`.
std::string_view exclusionGiven(const cluster::Topology& topology, const RoutingPolicy& policy,
                                std::size_t node, int primary) {
  const auto& observed = topology.nodes[node];
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
  return primaryNodeGiven(topology, topology.primaryIndex());
}

std::string_view readExclusion(const cluster::Topology& topology, const RoutingPolicy& policy,
                               std::size_t node) {
  return exclusionGiven(topology, policy, node, topology.primaryIndex());
}

int route(const cluster::Topology& topology, const RoutingPolicy& policy, const RouteInput& input,
          WriteFence& fence) {
  // Once per statement: primaryIndex() walks every node.
  const int known = topology.primaryIndex();
  const int primary = primaryNodeGiven(topology, known);
  if (!input.read || !policy.loadBalance) return primary;
  if (policy.readYourWrites) advanceFence(topology, known, fence);
  const std::size_t count = topology.nodes.size();
  auto eligible = [&](std::size_t node) {
    if (node < 64 && (input.excluded >> node & 1U) != 0) return false;
    if (!exclusionGiven(topology, policy, node, known).empty()) return false;
    return static_cast<int>(node) == known || !policy.readYourWrites ||
           meetsFence(topology.nodes[node], fence);
  };
  // Each node's verdict once; nodes past 64 (not a real cluster) are asked again below.
  std::uint64_t eligibleNodes = 0;
  std::size_t candidates = 0;
  for (std::size_t node = 0; node < count; ++node) {
    if (!eligible(node)) continue;
    ++candidates;
    if (node < 64) eligibleNodes |= std::uint64_t{1} << node;
  }
  if (candidates == 0) return primary;
  // Ties go round the eligible nodes only: turning over all of them would
  // give the node after an ineligible one (the primary, say) its turn too.
  const std::size_t first = input.rotation % candidates;
  int best = -1;
  long bestLoad = 0;
  int bestWeight = 1;
  std::size_t bestTurn = 0;
  std::size_t ordinal = 0;
  for (std::size_t node = 0; node < count; ++node) {
    if (node < 64 ? (eligibleNodes >> node & 1U) == 0 : !eligible(node)) continue;
    std::size_t turn = (ordinal++ + candidates - first) % candidates;
    int weight = weightOf(policy, node, known);
    long load = (node < input.outstanding.size() ? input.outstanding[node] : 0) + 1L;
    // load / weight against bestLoad / bestWeight, without division.
    long mine = load * bestWeight;
    long theirs = bestLoad * weight;
    if (best < 0 || mine < theirs || (mine == theirs && turn < bestTurn)) {
      best = static_cast<int>(node);
      bestLoad = load;
      bestWeight = weight;
      bestTurn = turn;
    }
  }
  return best >= 0 ? best : primary;
}

}  // namespace pgswarm::proxy
