// The shard map: how a table is split into partitions and where each lives.
// Pure data and planning, no I/O: `shard create` plans with it, the
// coordinator's catalog (shard_catalog.hpp) stores it, the pool routes by it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace pgswarm::shard {

enum class Strategy { kRange, kHash };

// The CHECK `shard split` puts on a shard node's table: its partition's
// bounds. A pool that still routes by the map before the split meets it.
inline constexpr const char* kRangeCheck = "pgswarm_range";

[[nodiscard]] const char* toString(Strategy strategy);
[[nodiscard]] Result<Strategy> parseStrategy(const std::string& text);

// One partition. Range bounds are PostgreSQL literals of the key's type
// (FROM inclusive, TO exclusive); nullopt is MINVALUE / MAXVALUE, so the
// first and last partitions take every key below or above the split points.
struct Partition {
  std::string name;  // the partition's relation on the coordinator
  std::string node;  // "" = a local partition on the coordinator
  std::optional<std::string> from;
  std::optional<std::string> to;
  int remainder = -1;  // hash only
  [[nodiscard]] bool local() const { return node.empty(); }
  bool operator==(const Partition&) const = default;
};

struct ShardedTable {
  std::string schema = "public";
  std::string table;
  std::string keyColumn;
  std::string keyType;  // format_type() of the key column, e.g. "integer"
  Strategy strategy = Strategy::kRange;
  int modulus = 0;  // hash only: the number of partitions
  std::vector<Partition> partitions;
  bool operator==(const ShardedTable&) const = default;
};

// What `shard create` was asked for, after its flags were read.
struct PlanRequest {
  std::string table;
  Strategy strategy = Strategy::kRange;
  int partitions = 0;  // --shards: how many partitions in all
  // Range split points (partitions - 1 of them), as literals; empty means
  // an even split of [minKey, maxKey], which then must be integers.
  std::vector<std::string> splitPoints;
  std::optional<std::int64_t> minKey;
  std::optional<std::int64_t> maxKey;
  int keepLocal = 0;               // how many partitions stay on the coordinator
  std::vector<std::string> nodes;  // shard nodes that take the others
};

// Names and places the partitions: the first keepLocal stay local (named
// TABLE_p<i>), the others go one per shard node in order (named
// TABLE_<node>). A node holds at most one partition of a table, because
// every shard keeps the table's own name there.
[[nodiscard]] Result<std::vector<Partition>> planPartitions(const PlanRequest& request);

// Even split points of [minKey, maxKey] into `parts` ranges.
[[nodiscard]] std::vector<std::int64_t> evenSplitPoints(std::int64_t minKey, std::int64_t maxKey,
                                                        int parts);

// The partition bound clause: "FOR VALUES FROM (MINVALUE) TO ('100')" or
// "FOR VALUES WITH (MODULUS 4, REMAINDER 1)".
[[nodiscard]] std::string boundClause(const ShardedTable& table, const Partition& partition);

// An SQL condition true exactly for the rows of `partition` in the original
// (unpartitioned) table; `parent` is the new partitioned table, whose
// partition key satisfies_hash_partition() reads for hash partitions.
[[nodiscard]] std::string rowFilter(const ShardedTable& table, const Partition& partition,
                                    const std::string& parent);

// TABLE_<suffix>, refused when longer than a PostgreSQL identifier.
[[nodiscard]] Result<std::string> partitionName(const std::string& table,
                                                const std::string& suffix);

// `shard split`: the range partition at `position` cut at the integer `at`.
// The lower half keeps the partition's name and node with bounds
// [from, at); the upper half [at, to) has no name or node yet (the caller
// places it). Refused, with the reason, for hash tables, keys that are not
// smallint/integer/bigint, values that are not an integer of the key's type,
// and values not strictly inside the partition.
struct SplitHalves {
  Partition lower;
  Partition upper;
};
[[nodiscard]] Result<SplitHalves> splitPartition(const ShardedTable& table, std::size_t position,
                                                 const std::string& at);

// The partition a range key belongs to, for integer keys; nullopt when the
// key is not an integer or falls in no partition.
[[nodiscard]] std::optional<std::size_t> rangePartitionFor(const ShardedTable& table,
                                                           std::int64_t key);

}  // namespace pgswarm::shard
