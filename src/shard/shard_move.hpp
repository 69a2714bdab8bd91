// `pgswarm shard move PARTITION --to NODE`: moves one partition of a sharded
// table to another shard node, or home to the coordinator (`--to
// coordinator`), with the discipline of `shard create`: copy without
// blocking anyone, then freeze writes through the table (a SHARE lock on
// its parent) and, for a partition on a shard node, straight to its table
// there (pools route single-shard statements past the coordinator), verify
// count and checksum (copy again what changed), and swap the partition
// (detach the old, attach the new, update the catalog) in that same
// transaction. The node's old table is dropped (renamed with --keep-old) in
// its locked transaction, committed right after the swap, so a direct write
// that waited fails instead of landing in it; the coordinator's old copy is
// dropped after the swap (kept, detached, with --keep-old). An interrupted
// move loses nothing and can simply be run again.
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
