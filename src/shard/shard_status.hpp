// `pgswarm shard status`: the shard map from the coordinator's catalog with
// each partition's live row count and size, read where the rows are (the
// coordinator for local partitions, the shard node for the others).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/shard_catalog.hpp"

namespace pgswarm::shard {

struct PartitionFigures {
  Partition partition;
  std::optional<std::int64_t> rows;   // nullopt when its node does not answer
  std::optional<std::int64_t> bytes;  // table + indexes
  std::string error;
};

struct TableStatus {
  StoredTable stored;
  std::vector<PartitionFigures> partitions;
};

// Every table in the catalog with its figures; `nodes` gives current
// addresses by name, overriding the catalog's.
[[nodiscard]] Result<std::vector<TableStatus>> shardStatus(
    const cluster::ConnectTarget& coordinator, const std::vector<ShardNode>& nodes);

[[nodiscard]] Result<std::string> shardStatusText(const cluster::ConnectTarget& coordinator,
                                                  const std::vector<ShardNode>& nodes);

// "[MINVALUE, 250000)" or "remainder 1 of 4".
[[nodiscard]] std::string describeBounds(const ShardedTable& table, const Partition& partition);

}  // namespace pgswarm::shard
