// The shard map as stored on the coordinator, in schema `pgswarm`: one row
// per sharded table (its key, strategy and whether `shard create` finished)
// and one per partition (where it lives, its bounds, whether its rows were
// copied); also the routing holds, the pools' reads and the running shard
// commands' progress (routing_hold.hpp, shard_operations.hpp). It
// replicates with the coordinator, so the pool can read it from any node,
// and it is what lets an interrupted `shard create` resume.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/shard_map.hpp"

namespace pgswarm::shard {

// A shard node as the coordinator reaches it (postgres_fdw server options).
struct ShardNode {
  std::string name;  // also the suffix of its foreign server, pgswarm_<name>
  std::string host;
  int port = 5432;
  bool operator==(const ShardNode&) const = default;
};

enum class JobState { kCopying, kDone };

struct StoredTable {
  ShardedTable map;
  JobState state = JobState::kCopying;
  std::vector<ShardNode> nodes;     // the nodes its partitions live on
  std::vector<std::string> copied;  // partitions whose rows were copied
  // Why direct routing of the table is held (routing_hold.hpp), or empty.
  std::string hold;
};

[[nodiscard]] Status ensureCatalog(cluster::PgConnection& coordinator);

// nullopt when the table was never sharded by pgswarm.
[[nodiscard]] Result<std::optional<StoredTable>> loadTable(cluster::PgConnection& coordinator,
                                                           const std::string& schema,
                                                           const std::string& table);

// Every table in the catalog (for `shard status` and the pool's router);
// an empty list when the catalog does not exist yet.
[[nodiscard]] Result<std::vector<StoredTable>> loadAllTables(cluster::PgConnection& coordinator);

// Records a new job: the table in state copying and its partitions.
[[nodiscard]] Status saveNewTable(cluster::PgConnection& coordinator, const ShardedTable& map,
                                  const std::vector<ShardNode>& nodes);

[[nodiscard]] Status markCopied(cluster::PgConnection& coordinator, const ShardedTable& map,
                                const std::string& partition, bool copied);

// In the swap's transaction: the table's shards are now what it is.
[[nodiscard]] Status markDone(cluster::PgConnection& coordinator, const ShardedTable& map);

// `shard move`: partition `oldName` is now `moved` (its new name and node),
// at `address` (empty for the coordinator).
[[nodiscard]] Status recordMove(cluster::PgConnection& coordinator, const ShardedTable& map,
                                const std::string& oldName, const Partition& moved,
                                const std::optional<ShardNode>& address);

// `shard split`: partition `lower.name` now ends at lower.to, and `upper`
// (at `address`, empty for the coordinator) comes right after it; the
// partitions after it move one position down.
[[nodiscard]] Status recordSplit(cluster::PgConnection& coordinator, const ShardedTable& map,
                                 const Partition& lower, const Partition& upper,
                                 const std::optional<ShardNode>& address);

[[nodiscard]] Status forgetTable(cluster::PgConnection& coordinator, const ShardedTable& map);

}  // namespace pgswarm::shard
