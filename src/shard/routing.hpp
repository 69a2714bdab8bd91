// The pool's view of the shard map: which shard group owns the row a
// single-shard statement touches. The catalog's tables (shard_catalog.hpp)
// are compiled once per refresh into ShardRoutes, then each statement's key
// (sql::ShardKeyUse plus its Bind parameter) is placed exactly as
// PostgreSQL's partition routing places it, or not at all: any doubt sends
// the statement through the coordinator, where postgres_fdw is always right.
// Pure: no I/O, no clock, no logging. MapWatcher (map_watcher.hpp) loads it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shard/pg_hash.hpp"
#include "shard/shard_catalog.hpp"
#include "shard/shard_map.hpp"
#include "sql/shard_key.hpp"

namespace pgswarm::shard {

// The coordinator: a local partition, or a key the pool cannot place.
inline constexpr int kCoordinatorGroup = -1;

struct IntegerBounds {
  std::optional<std::int64_t> from;  // inclusive
  std::optional<std::int64_t> to;    // exclusive
  bool operator==(const IntegerBounds&) const = default;
};

struct TableRoute {
  ShardedTable map;
  // Hash tables whose key type pg_hash computes; otherwise hash keys go
  // through the coordinator.
  std::optional<HashKeyType> hashType;
  // Range tables keyed by smallint, integer or bigint with integer bounds;
  // other range keys go through the coordinator (their order depends on
  // collations and input rules the pool does not reproduce).
  bool integerRange = false;
  // integerRange only: each partition's bounds as integers (nullopt: MINVALUE
  // or MAXVALUE), read once per refresh rather than once per statement.
  std::vector<IntegerBounds> integerBounds;
  std::vector<int> groups;  // per partition: index into the group names, or kCoordinatorGroup
  // Set while a `shard move` or `shard split` of the table holds direct
  // routing (routing_hold.hpp): every statement goes through the coordinator.
  std::string hold;
  // Per partition: rows as the coordinator's statistics estimate them
  // (pg_class.reltuples: a foreign partition's as of its last ANALYZE
  // through the coordinator), -1 when never analyzed. For the operator views.
  std::vector<std::int64_t> rowEstimates;
  // Per partition: for a partition of the coordinator's own that a
  // statement may name instead of the parent (same owner and privileges, no
  // row security, triggers or rules that the parent would add: see
  // localRenamesQuery in map_watcher.cpp), its schema-qualified quoted name;
  // otherwise empty. Single-partition statements on its rows are sent to the
  // coordinator naming it (sql/relation_rename.hpp).
  std::vector<std::string> localNames;
  bool operator==(const TableRoute&) const = default;
};

// One database's sharded tables; relations[i] describes tables[i].
struct ShardRoutes {
  std::vector<sql::ShardedRelation> relations;
  std::vector<TableRoute> tables;
  // Field by field (routing.cpp): sql::ShardedRelation has no operator==.
  bool operator==(const ShardRoutes&) const;
};

// The routes of every database the pool reads catalogs in.
struct ShardMap {
  std::uint64_t version = 0;  // grows with every published change
  std::map<std::string, ShardRoutes, std::less<>> databases;
  // nullptr when the database has no sharded table.
  [[nodiscard]] const ShardRoutes* find(std::string_view database) const;
};

// Compiles the catalog's tables that `shard create` finished (state done;
// a table still copying is not sharded yet for its clients). A partition
// whose node is not among `groups` (the pool's shard_hosts names) is routed
// through the coordinator. `sequenceDefaults` lists per table
// ("schema.table") the columns whose default draws from a sequence: they
// become ShardedRelation::coordinatorDefaults.
[[nodiscard]] ShardRoutes compileRoutes(
    const std::vector<StoredTable>& tables, std::span<const std::string> groups,
    const std::map<std::string, std::vector<std::string>>& sequenceDefaults);

// Why statements on partition `partition` of `table` never go straight to
// a shard node ("local", "local, by name" where statements name the
// partition itself, "key type", "node not in shard_hosts", "held: ..."),
// or empty when they may: for the operator views.
[[nodiscard]] std::string whyNotDirect(const TableRoute& table, std::size_t partition);

// A key value as the statement carries it.
struct KeyValue {
  bool binary = false;  // a Bind parameter in binary format (send format)
  std::string_view bytes;
};

// The group that owns `key` in `table`: an index into the group names, or
// kCoordinatorGroup (a held table, a local partition, no partition for the key, a value
// or type the pool cannot place exactly). A text value is read as the
// type's input function reads it (pg_hash's rules; for integer ranges a
// plain decimal integer in range of the key's type); a binary one must have
// exactly the key type's width.
[[nodiscard]] int groupFor(const TableRoute& table, const KeyValue& key);

// The partition (index into table.map.partitions) that owns `key`, by the
// same rules as groupFor; nullopt when the pool cannot place it exactly or
// the table is held.
[[nodiscard]] std::optional<std::size_t> partitionFor(const TableRoute& table, const KeyValue& key);

// The coordinator partition a statement on `key`'s row may name instead of
// the parent (TableRoute::localNames), or nullptr.
[[nodiscard]] const std::string* localNameFor(const TableRoute& table, const KeyValue& key);

}  // namespace pgswarm::shard
