// Which node takes a transaction, as a pure function of the topology
// snapshot, the routing policy, the client's write fence and how busy each
// node is. Writes go to the primary; reads go to the eligible node with the
// fewest outstanding transactions per unit of weight (replicas, and the
// primary only with a primary_weight). A read may always fall back to the
// primary, so no client is refused for lack of replicas.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "cluster/topology.hpp"
#include "proxy/pool_config.hpp"

namespace pgswarm::proxy {

struct RoutingPolicy {
  std::vector<int> weights;  // per node, as a replica
  int primaryWeight = 0;
  bool loadBalance = true;
  bool readYourWrites = true;
  std::uint64_t maxLagBytes = 0;  // 0: no bound
  std::chrono::milliseconds maxLag{0};
  [[nodiscard]] static RoutingPolicy fromConfig(const PoolConfig& config);
};

// What a client's last write leaves for its reads (read-your-writes): the
// commit's WAL position is bounded from above by the primary's position
// observed after the commit, and a replica may serve the client once its
// replay reached that bound.
struct WriteFence {
  std::optional<std::chrono::steady_clock::time_point> committedAt;
  std::optional<cluster::Lsn> lsn;  // set once an observation after committedAt exists
  void noteWrite(std::chrono::steady_clock::time_point at) {
    committedAt = at;
    lsn.reset();
  }
};

// The primary: the topology's one node that says so, else the first
// configured node (before the first health check, or with checks off).
[[nodiscard]] int primaryNode(const cluster::Topology& topology);

// Why `node` takes no reads now (for SHOW NODES), or empty when it may.
// Ignores the write fence, which is per client.
[[nodiscard]] std::string_view readExclusion(const cluster::Topology& topology,
                                             const RoutingPolicy& policy, std::size_t node);

struct RouteInput {
  bool read = false;  // the transaction is read-only (autocommit reads, BEGIN READ ONLY)
  std::span<const int> outstanding;  // per node, transactions this worker has there now
  unsigned rotation = 0;             // breaks ties so equal nodes share the load
  std::uint64_t excluded = 0;        // bit i: node i failed a read just now (nodes 0..63)
};

// The node index for the transaction. `fence` gains its LSN when the
// topology has an observation of the primary made after the write.
[[nodiscard]] int route(const cluster::Topology& topology, const RoutingPolicy& policy,
                        const RouteInput& input, WriteFence& fence);

}  // namespace pgswarm::proxy
