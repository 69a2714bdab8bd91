// A table's definition read from the coordinator's catalog, and the DDL
// that recreates it: as a shard table on a shard node (same name, so a
// statement can be forwarded unchanged), as a local partition, and as the
// partitioned parent. Only what PostgreSQL can carry over faithfully is
// accepted; anything else (triggers, views on the table, foreign keys,
// identity or generated columns, row security) is refused up front with
// the reason, before anything is changed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/shard_map.hpp"

namespace pgswarm::shard {

struct Column {
  std::string name;
  std::string type;                      // format_type(), e.g. "character varying(20)"
  std::optional<std::string> collation;  // qualified, only when not the type's default
  bool notNull = false;
  std::optional<std::string> defaultExpr;
  // A default drawn from a sequence (serial): evaluated on the coordinator
  // only, since the sequence lives there.
  [[nodiscard]] bool sequenceDefault() const;
};

struct TableDefinition {
  std::string schema;
  std::string table;
  std::string owner;
  std::vector<Column> columns;
  std::vector<std::string> constraints;  // PRIMARY KEY / UNIQUE / CHECK definitions
  std::vector<std::string> checks;       // the CHECK ones alone (the parent gets these)
  std::vector<std::string> indexes;      // "USING btree (abalance)" tails, UNIQUE noted
  std::vector<std::string> grants;       // "SELECT TO reporting" pieces
  std::vector<std::pair<std::string, std::string>> ownedSequences;  // (sequence, column)

  [[nodiscard]] const Column* column(const std::string& name) const;
  [[nodiscard]] std::string qualified() const;
};

// Reads schema.table; refuses (with every reason at once) what cannot be
// sharded by this tool. `keyColumn` must be a column, in every unique
// constraint, and of a type the shard map can place.
// `partition` true reads a partition of a sharded table (for `shard move`),
// which is an inheritance child by nature.
[[nodiscard]] Result<TableDefinition> readTableDefinition(cluster::PgConnection& conn,
                                                          const std::string& schema,
                                                          const std::string& table,
                                                          const std::string& keyColumn,
                                                          bool partition = false);

// CREATE TABLE `name` with the columns, constraints and indexes (a shard
// table or a local partition); `withSequenceDefaults` false drops the
// serial defaults a shard node cannot evaluate.
// The parent's owner and table grants as they are now (only
// TableDefinition's schema, table, owner and grants are filled), for a
// partition that joins it on the coordinator.
[[nodiscard]] Result<TableDefinition> readPrivileges(cluster::PgConnection& conn,
                                                     const std::string& schema,
                                                     const std::string& table);

// ALTER TABLE OWNER and GRANT statements that give `qualifiedName` the
// owner and grants of `definition`: a coordinator partition with its
// parent's may be named by pools in single-partition statements
// (kLocalNamesQuery, shard/map_watcher.cpp).
[[nodiscard]] std::vector<std::string> privilegeDdl(const TableDefinition& definition,
                                                    const std::string& qualifiedName);

[[nodiscard]] std::vector<std::string> createTableDdl(const TableDefinition& definition,
                                                      const std::string& qualifiedName,
                                                      bool withSequenceDefaults);

// CREATE TABLE `name` (columns, defaults, CHECKs) PARTITION BY ... (key).
[[nodiscard]] std::string createParentDdl(const TableDefinition& definition,
                                          const std::string& qualifiedName,
                                          const ShardedTable& table);

// "schema.name" with both parts quoted.
[[nodiscard]] std::string qualifiedName(const std::string& schema, const std::string& name);

// Splits "schema.table" (or "table": public) into its two parts.
[[nodiscard]] std::pair<std::string, std::string> splitTableName(const std::string& name);

}  // namespace pgswarm::shard
