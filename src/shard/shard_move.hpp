// `pgswarm shard move PARTITION --to NODE`: moves one partition of a sharded
// table to another shard node, or home to the coordinator (`--to
// coordinator`), with the discipline of `shard create`: copy without
// blocking anyone, then freeze writes through the table (a SHARE lock on
// its parent), verify count and checksum (copy again what changed), and
// swap the partition (detach the old, attach the new, update the catalog)
// in that same transaction. The old copy is dropped only after the swap
// committed (kept, detached, with --keep-old), so an interrupted move loses
// nothing and can simply be run again.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/shard_catalog.hpp"

namespace pgswarm::shard {

inline constexpr const char* kCoordinatorNode = "coordinator";

struct MoveOptions {
  std::string partition;  // its name in `shard status`
  std::string to;         // a shard node, or kCoordinatorNode
  bool keepOld = false;
  cluster::ConnectTarget coordinator;
  std::vector<ShardNode> nodes;  // the shard nodes at their current addresses
};

struct MoveReport {
  Partition moved;
  std::int64_t rows = 0;
};

[[nodiscard]] Result<MoveReport> moveShard(const MoveOptions& options, std::ostream& progress,
                                           bool tty);

}  // namespace pgswarm::shard
