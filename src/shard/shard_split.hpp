// `pgswarm shard split PARTITION --at VALUE [--to NODE|coordinator]`: cuts
// a range partition [from, to) of a table with an integer key in two. The
// old partition keeps [from, VALUE) where it is; the rows of [VALUE, to) go
// to a new partition on another shard node (one that holds no partition of
// the table yet) or on the coordinator, with the discipline of `shard move`:
// copy without blocking anyone, freeze writes through the parent (SHARE
// lock) and, for a partition on a shard node, to its table there (pools
// route single-shard statements straight to it), verify count and checksum
// of the moved rows (copy again once if they changed), then in one
// coordinator transaction re-attach the old partition with its narrower
// bounds, attach the new one and update the catalog. The moved rows are
// deleted from the old place before the coordinator commits: locally in
// that same transaction; on a shard node in its locked transaction, which
// also gets a CHECK of its new bounds (a stale direct insert is refused,
// not stranded) and commits right after the coordinator. An interrupted
// split changes nothing and can simply be run again.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/shard_catalog.hpp"
#include "shard/shard_move.hpp"

namespace pgswarm::shard {

struct SplitOptions {
  std::string partition;  // its name in `shard status`
  std::string at;         // the first key of the new partition
  // A shard node, kCoordinatorNode, or empty: the coordinator for a local
  // partition (a shard node's partition needs a place named).
  std::string to;
  cluster::ConnectTarget coordinator;
  std::vector<ShardNode> nodes;  // the shard nodes at their current addresses
};

struct SplitReport {
  Partition lower;        // the old partition with its new bounds
  Partition upper;        // the new one
  std::int64_t rows = 0;  // moved to the new one
};

[[nodiscard]] Result<SplitReport> splitShard(const SplitOptions& options, std::ostream& progress,
                                             bool tty);

}  // namespace pgswarm::shard
