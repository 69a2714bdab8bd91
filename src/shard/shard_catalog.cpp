// The coordinator's shard catalog: see shard_catalog.hpp.
#include "shard/shard_catalog.hpp"

#include <algorithm>

namespace pgswarm::shard {
namespace {

constexpr const char* kCatalogDdl = R"(
CREATE SCHEMA IF NOT EXISTS pgswarm;
CREATE TABLE IF NOT EXISTS pgswarm.sharded_tables (
  table_schema text NOT NULL,
  table_name text NOT NULL,
  key_column text NOT NULL,
  key_type text NOT NULL,
  strategy text NOT NULL CHECK (strategy IN ('range', 'hash')),
  modulus int NOT NULL DEFAULT 0,
  state text NOT NULL CHECK (state IN ('copying', 'done')),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_schema, table_name));
CREATE TABLE IF NOT EXISTS pgswarm.shards (
  table_schema text NOT NULL,
  table_name text NOT NULL,
  position int NOT NULL,
  partition_name text NOT NULL,
  node text NOT NULL,
  host text,
  port int,
  range_from text,
  range_to text,
  remainder int NOT NULL DEFAULT -1,
  copied boolean NOT NULL DEFAULT false,
  PRIMARY KEY (table_schema, table_name, partition_name),
  FOREIGN KEY (table_schema, table_name) REFERENCES pgswarm.sharded_tables ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS pgswarm.routing_holds (
  table_schema text NOT NULL,
  table_name text NOT NULL,
  holder_pid int NOT NULL,
  reason text NOT NULL,
  since timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (table_schema, table_name));
CREATE TABLE IF NOT EXISTS pgswarm.map_readers (
  reader text PRIMARY KEY,
  read_at timestamptz NOT NULL,
  seen_at timestamptz NOT NULL,
  lifetime_ms bigint NOT NULL);
CREATE TABLE IF NOT EXISTS pgswarm.operations (
  id bigserial PRIMARY KEY,
  table_schema text NOT NULL,
  table_name text NOT NULL,
  verb text NOT NULL CHECK (verb IN ('create', 'move', 'split')),
  partition_name text NOT NULL DEFAULT '',
  source_node text NOT NULL DEFAULT '',
  target_node text NOT NULL DEFAULT '',
  phase text NOT NULL,
  rows_done bigint NOT NULL DEFAULT 0,
  bytes_done bigint NOT NULL DEFAULT 0,
  rows_total bigint NOT NULL DEFAULT 0,
  bytes_total bigint NOT NULL DEFAULT 0,
  state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
  message text NOT NULL DEFAULT '',
  backend_pid int NOT NULL,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  copy_started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  copy_updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
GRANT USAGE ON SCHEMA pgswarm TO PUBLIC;
GRANT SELECT, INSERT, UPDATE ON pgswarm.map_readers TO PUBLIC)";

// Holds whose holder's session ended (a killed `shard move`) hold nothing.
constexpr const char* kHoldsQuery = R"(
SELECT table_schema, table_name, reason FROM pgswarm.routing_holds h
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = h.holder_pid))";

constexpr const char* kTablesQuery = R"(
SELECT table_schema, table_name, key_column, key_type, strategy, modulus::text, state
FROM pgswarm.sharded_tables
WHERE ($1 = '' OR (table_schema = $1 AND table_name = $2))
ORDER BY table_schema, table_name)";

constexpr const char* kShardsQuery = R"(
SELECT partition_name, node, host, port::text, range_from, range_to, remainder::text,
       copied::text
FROM pgswarm.shards WHERE table_schema = $1 AND table_name = $2 ORDER BY position)";

int toInt(const std::string& text) {
  try {
    return std::stoi(text);
  } catch (const std::exception&) {
    return 0;
  }
}

Status loadPartitions(cluster::PgConnection& coordinator, StoredTable& stored) {
  auto rows = coordinator.query(kShardsQuery, {stored.map.schema, stored.map.table});
  if (!rows) return rows.error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    Partition partition{.name = rows->text(i, "partition_name"),
                        .node = rows->text(i, "node"),
                        .from = rows->get(i, "range_from"),
                        .to = rows->get(i, "range_to"),
                        .remainder = toInt(rows->text(i, "remainder"))};
    if (!partition.local()) {
      bool known = std::any_of(stored.nodes.begin(), stored.nodes.end(),
                               [&](const ShardNode& node) { return node.name == partition.node; });
      if (!known) {
        stored.nodes.push_back(ShardNode{.name = partition.node,
                                         .host = rows->text(i, "host"),
                                         .port = toInt(rows->text(i, "port"))});
      }
    }
    if (rows->text(i, "copied") == "true" || rows->text(i, "copied") == "t") {
      stored.copied.push_back(partition.name);
    }
    stored.map.partitions.push_back(std::move(partition));
  }
  return Ok{};
}

bool present(const cluster::QueryRows& rows) {
  return rows.text(0, "present") == "t" || rows.text(0, "present") == "true";
}

// Catalogs made before routing holds existed have no holds table: nothing held.
Status loadHolds(cluster::PgConnection& coordinator, std::vector<StoredTable>& tables) {
  auto exists =
      coordinator.query("SELECT to_regclass('pgswarm.routing_holds') IS NOT NULL AS present");
  if (!exists) return exists.error();
  if (!present(*exists)) return Ok{};
  auto rows = coordinator.query(kHoldsQuery);
  if (!rows) return rows.error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    for (auto& stored : tables) {
      if (stored.map.schema == rows->text(i, "table_schema") &&
          stored.map.table == rows->text(i, "table_name")) {
        stored.hold = rows->text(i, "reason");
      }
    }
  }
  return Ok{};
}

Result<std::vector<StoredTable>> loadTables(cluster::PgConnection& coordinator,
                                            const std::string& schema, const std::string& table) {
  auto exists = coordinator.query("SELECT to_regclass('pgswarm.shards') IS NOT NULL AS present");
  if (!exists) return exists.error();
  std::vector<StoredTable> tables;
  if (!present(*exists)) return tables;
  auto rows = coordinator.query(kTablesQuery, {schema, table});
  if (!rows) return rows.error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    auto strategy = parseStrategy(rows->text(i, "strategy"));
    if (!strategy) return strategy.error();
    StoredTable stored{
        .map = ShardedTable{.schema = rows->text(i, "table_schema"),
                            .table = rows->text(i, "table_name"),
                            .keyColumn = rows->text(i, "key_column"),
                            .keyType = rows->text(i, "key_type"),
                            .strategy = *strategy,
                            .modulus = toInt(rows->text(i, "modulus"))},
        .state = rows->text(i, "state") == "done" ? JobState::kDone : JobState::kCopying};
    if (auto loaded = loadPartitions(coordinator, stored); !loaded) return loaded.error();
    tables.push_back(std::move(stored));
  }
  if (auto held = loadHolds(coordinator, tables); !held) return held.error();
  return tables;
}

std::string optionalText(const std::optional<std::string>& value) {
  return value.value_or("");
}

}  // namespace

Status ensureCatalog(cluster::PgConnection& coordinator) {
  return coordinator.execute(kCatalogDdl);
}

Result<std::optional<StoredTable>> loadTable(cluster::PgConnection& coordinator,
                                             const std::string& schema, const std::string& table) {
  auto tables = loadTables(coordinator, schema, table);
  if (!tables) return tables.error();
  if (tables->empty()) return std::optional<StoredTable>{};
  return std::optional<StoredTable>{std::move(tables->front())};
}

Result<std::vector<StoredTable>> loadAllTables(cluster::PgConnection& coordinator) {
  return loadTables(coordinator, "", "");
}

Status saveNewTable(cluster::PgConnection& coordinator, const ShardedTable& map,
                    const std::vector<ShardNode>& nodes) {
  if (auto begun = coordinator.execute("BEGIN"); !begun) return begun;
  auto saved = coordinator.execute(
      "INSERT INTO pgswarm.sharded_tables (table_schema, table_name, key_column, key_type, "
      "strategy, modulus, state) VALUES ($1, $2, $3, $4, $5, $6::int, 'copying')",
      {map.schema, map.table, map.keyColumn, map.keyType, toString(map.strategy),
       std::to_string(map.modulus)});
  for (std::size_t i = 0; saved && i < map.partitions.size(); ++i) {
    const auto& partition = map.partitions[i];
    auto node = std::find_if(nodes.begin(), nodes.end(),
                             [&](const ShardNode& n) { return n.name == partition.node; });
    std::string host = node == nodes.end() ? "" : node->host;
    std::string port = node == nodes.end() ? "" : std::to_string(node->port);
    // NULLIF: "" stands for NULL (a local partition's address, an unbounded range end).
    saved = coordinator.execute(
        "INSERT INTO pgswarm.shards (table_schema, table_name, position, partition_name, node, "
        "host, port, range_from, range_to, remainder) VALUES ($1, $2, $3::int, $4, $5, "
        "NULLIF($6, ''), NULLIF($7, '')::int, NULLIF($8, ''), NULLIF($9, ''), $10::int)",
        {map.schema, map.table, std::to_string(i), partition.name, partition.node, host, port,
         optionalText(partition.from), optionalText(partition.to),
         std::to_string(partition.remainder)});
  }
  if (!saved) {
    (void)coordinator.execute("ROLLBACK");
    return saved;
  }
  return coordinator.execute("COMMIT");
}

Status markCopied(cluster::PgConnection& coordinator, const ShardedTable& map,
                  const std::string& partition, bool copied) {
  return coordinator.execute(
      "UPDATE pgswarm.shards SET copied = $4::boolean WHERE table_schema = $1 AND table_name = $2 "
      "AND partition_name = $3",
      {map.schema, map.table, partition, copied ? "true" : "false"});
}

Status markDone(cluster::PgConnection& coordinator, const ShardedTable& map) {
  return coordinator.execute(
      "UPDATE pgswarm.sharded_tables SET state = 'done', updated_at = now() "
      "WHERE table_schema = $1 AND table_name = $2",
      {map.schema, map.table});
}

Status recordMove(cluster::PgConnection& coordinator, const ShardedTable& map,
                  const std::string& oldName, const Partition& moved,
                  const std::optional<ShardNode>& address) {
  return coordinator.execute(
      "UPDATE pgswarm.shards SET partition_name = $4, node = $5, host = NULLIF($6, ''), "
      "port = NULLIF($7, '')::int, copied = true "
      "WHERE table_schema = $1 AND table_name = $2 AND partition_name = $3",
      {map.schema, map.table, oldName, moved.name, moved.node, address ? address->host : "",
       address ? std::to_string(address->port) : ""});
}

Status recordSplit(cluster::PgConnection& coordinator, const ShardedTable& map,
                   const Partition& lower, const Partition& upper,
                   const std::optional<ShardNode>& address) {
  auto cut = coordinator.execute(
      "UPDATE pgswarm.shards SET range_to = $4 WHERE table_schema = $1 AND table_name = $2 AND "
      "partition_name = $3",
      {map.schema, map.table, lower.name, optionalText(lower.to)});
  if (!cut) return cut;
  // The position is no key: renumbering in place cannot collide.
  auto shifted = coordinator.execute(
      "UPDATE pgswarm.shards SET position = position + 1 WHERE table_schema = $1 AND "
      "table_name = $2 AND position > (SELECT position FROM pgswarm.shards WHERE table_schema = $1 "
      "AND table_name = $2 AND partition_name = $3)",
      {map.schema, map.table, lower.name});
  if (!shifted) return shifted;
  return coordinator.execute(
      "INSERT INTO pgswarm.shards (table_schema, table_name, position, partition_name, node, "
      "host, port, range_from, range_to, copied) SELECT $1, $2, position + 1, $4, $5, "
      "NULLIF($6, ''), NULLIF($7, '')::int, NULLIF($8, ''), NULLIF($9, ''), true "
      "FROM pgswarm.shards WHERE table_schema = $1 AND table_name = $2 AND partition_name = $3",
      {map.schema, map.table, lower.name, upper.name, upper.node, address ? address->host : "",
       address ? std::to_string(address->port) : "", optionalText(upper.from),
       optionalText(upper.to)});
}

Status forgetTable(cluster::PgConnection& coordinator, const ShardedTable& map) {
  return coordinator.execute(
      "DELETE FROM pgswarm.sharded_tables WHERE table_schema = $1 AND table_name = $2",
      {map.schema, map.table});
}

}  // namespace pgswarm::shard
