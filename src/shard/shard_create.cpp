// `pgswarm shard create`: see shard_create.hpp for the steps and why.
#include "shard/shard_create.hpp"

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

#include "shard/movement.hpp"
#include "shard/shard_move.hpp"
#include "shard/table_definition.hpp"

namespace pgswarm::shard {
namespace {

using cluster::PgConnection;
using cluster::quoteIdentifier;
using cluster::quoteLiteral;

constexpr const char* kNewSuffix = "_pgswarm_new";
constexpr const char* kOldSuffix = "_pgswarm_old";

bool isIntegerType(const std::string& type) {
  return type == "smallint" || type == "integer" || type == "bigint";
}

class ShardCreator {
 public:
  ShardCreator(const CreateOptions& options, std::ostream& progress, bool tty)
      : options_(options), progress_(progress), tty_(tty) {
    std::tie(schema_, table_) = splitTableName(options.table);
  }

  Result<CreateReport> run() { return recordEnd(operation_, runSteps()); }

 private:
  Result<CreateReport> runSteps() {
    auto coordinator = connectStable(options_.coordinator);
    if (!coordinator) return makeError("coordinator: {}", coordinator.error().message);
    coordinator_.emplace(std::move(*coordinator));
    if (auto ok = ensureCatalog(*coordinator_); !ok) return ok.error();
    operation_ = OperationRecorder::start(options_.coordinator, schema_, table_, "create", {});
    auto planned = planOrResume();
    if (!planned) return planned.error();
    // copyAll() names its phase with the rows to copy.
    auto done = runPhases<ShardCreator, 4>(*this, operation_,
                                           {{{"build", &ShardCreator::build},
                                             {nullptr, &ShardCreator::copyAll},
                                             {"verify", &ShardCreator::freezeVerifySwap},
                                             {"finish", &ShardCreator::finish}}});
    if (!done) return done.error();
    return report_;
  }

  [[nodiscard]] std::string original() const { return qualifiedName(schema_, table_); }
  [[nodiscard]] std::string parent() const { return qualifiedName(schema_, table_ + kNewSuffix); }
  [[nodiscard]] std::string local(const Partition& p) const {
    return qualifiedName(schema_, p.name);
  }

  Status planOrResume() {
    auto stored = loadTable(*coordinator_, schema_, table_);
    if (!stored) return stored.error();
    if (*stored && (*stored)->state == JobState::kDone) {
      return makeError("{} is already sharded (pgswarm shard status shows how)", original());
    }
    auto definition = readTableDefinition(*coordinator_, schema_, table_, options_.keyColumn);
    if (!definition) return definition.error();
    definition_ = std::move(*definition);
    if (*stored) return resume(**stored);
    return planNew();
  }

  Status resume(const StoredTable& stored) {
    if (stored.map.keyColumn != options_.keyColumn) {
      return makeError(
          "an interrupted shard create of {} by key {} is recorded; rerun it with --key {} to "
          "finish it",
          original(), stored.map.keyColumn, stored.map.keyColumn);
    }
    map_ = stored.map;
    copied_ = stored.copied;
    nodes_ = stored.nodes;
    // A node's address may have changed since (a restarted local cluster
    // keeps its ports, a moved one does not): the caller's address wins.
    for (auto& node : nodes_) {
      auto given = std::find_if(options_.nodes.begin(), options_.nodes.end(),
                                [&](const ShardNode& n) { return n.name == node.name; });
      if (given != options_.nodes.end()) node = *given;
    }
    report_.resumed = true;
    progress_ << fmt::format(
        "resuming the interrupted shard create of {} ({} of {} partitions "
        "copied)\n",
        original(), copied_.size(), map_.partitions.size());
    return Ok{};
  }

  Status planNew() {
    PlanRequest request{.table = table_,
                        .strategy = options_.strategy,
                        .partitions = options_.partitions,
                        .splitPoints = options_.splitPoints,
                        .keepLocal = options_.keepLocal};
    for (const auto& node : options_.nodes) request.nodes.push_back(node.name);
    const Column* key = definition_.column(options_.keyColumn);
    if (options_.strategy == Strategy::kRange) {
      if (auto bounds = keyBounds(*key, request); !bounds) return bounds;
    }
    auto partitions = planPartitions(request);
    if (!partitions) return partitions.error();
    map_ = ShardedTable{.schema = schema_,
                        .table = table_,
                        .keyColumn = options_.keyColumn,
                        .keyType = key->type,
                        .strategy = options_.strategy,
                        .modulus = options_.strategy == Strategy::kHash ? options_.partitions : 0,
                        .partitions = std::move(*partitions)};
    for (const auto& partition : map_.partitions) {
      if (partition.local()) continue;
      nodes_.push_back(*std::find_if(options_.nodes.begin(), options_.nodes.end(),
                                     [&](const ShardNode& n) { return n.name == partition.node; }));
    }
    if (auto clean = checkNoLeftovers(); !clean) return clean;
    return saveNewTable(*coordinator_, map_, nodes_);
  }

  // Range keys: NULL has no partition; an even split needs min and max.
  Status keyBounds(const Column& key, PlanRequest& request) {
    std::string column = quoteIdentifier(key.name);
    auto rows = coordinator_->query(fmt::format(
        "SELECT min({0})::text AS lo, max({0})::text AS hi, count(*) FILTER (WHERE {0} IS NULL) "
        "AS nulls FROM {1}",
        column, original()));
    if (!rows) return rows.error();
    if (rows->text(0, "nulls") != "0") {
      return makeError("{} has {} rows whose key {} is NULL: a range partition cannot hold them",
                       original(), rows->text(0, "nulls"), key.name);
    }
    if (isIntegerType(key.type) && rows->get(0, "lo") && rows->get(0, "hi")) {
      request.minKey = std::stoll(rows->text(0, "lo"));
      request.maxKey = std::stoll(rows->text(0, "hi"));
    }
    return Ok{};
  }

  Status checkNoLeftovers() {
    for (const auto& name : {parent(), qualifiedName(schema_, table_ + kOldSuffix)}) {
      auto exists = relationExists(*coordinator_, name);
      if (!exists) return exists.error();
      if (*exists)
        return makeError("{} exists on the coordinator: drop it or rename it first", name);
    }
    for (const auto& node : nodes_) {
      auto conn = nodeConnection(node);
      if (!conn) return conn.error();
      auto exists = relationExists(**conn, original());
      if (!exists) return exists.error();
      if (*exists) {
        return makeError("{} already has a table {}: drop it or choose other nodes", node.name,
                         original());
      }
    }
    return Ok{};
  }

  // One connection per node for the whole run.
  Result<PgConnection*> nodeConnection(const ShardNode& node) {
    if (auto it = nodeConnections_.find(node.name); it != nodeConnections_.end()) {
      return &it->second;
    }
    auto conn = connectNode(node, options_.coordinator);
    if (!conn) return conn.error();
    return &nodeConnections_.emplace(node.name, std::move(*conn)).first->second;
  }

  // build ------------------------------------------------------------------
  Status build() {
    if (auto ok = buildServers(); !ok) return ok;
    if (auto ok = buildParent(); !ok) return ok;
    for (const auto& partition : map_.partitions) {
      auto ok =
          partition.local() ? buildLocalPartition(partition) : buildRemotePartition(partition);
      if (!ok) return ok;
    }
    return Ok{};
  }

  Status buildServers() {
    for (const auto& node : nodes_) {
      if (auto ok = ensureForeignServer(*coordinator_, node, options_.coordinator); !ok) return ok;
    }
    return Ok{};
  }

  Status buildParent() {
    auto exists = relationExists(*coordinator_, parent());
    if (!exists) return exists.error();
    if (*exists) return Ok{};
    return coordinator_->execute(createParentDdl(definition_, parent(), map_));
  }

  Status buildLocalPartition(const Partition& partition) {
    auto exists = relationExists(*coordinator_, local(partition));
    if (!exists) return exists.error();
    if (*exists) return Ok{};
    auto statements = createTableDdl(definition_, local(partition), true);
    statements.push_back(fmt::format("ALTER TABLE {} ATTACH PARTITION {} {}", parent(),
                                     local(partition), boundClause(map_, partition)));
    return runAll(*coordinator_, statements);
  }

  Status buildRemotePartition(const Partition& partition) {
    const ShardNode& node = nodeNamed(partition.node);
    auto conn = nodeConnection(node);
    if (!conn) return conn.error();
    auto remote = relationExists(**conn, original());
    if (!remote) return remote.error();
    if (!*remote) {
      std::vector<std::string> statements{"CREATE SCHEMA IF NOT EXISTS " +
                                          quoteIdentifier(schema_)};
      auto table = createTableDdl(definition_, original(), false);
      statements.insert(statements.end(), table.begin(), table.end());
      if (auto ok = runAll(**conn, statements); !ok) {
        return makeError("{}: {}", node.name, ok.error().message);
      }
    }
    auto exists = relationExists(*coordinator_, local(partition));
    if (!exists) return exists.error();
    if (*exists) return Ok{};
    return coordinator_->execute(fmt::format(
        "CREATE FOREIGN TABLE {} PARTITION OF {} {} SERVER {} OPTIONS (schema_name {}, "
        "table_name {})",
        local(partition), parent(), boundClause(map_, partition), quoteIdentifier(serverName(node)),
        quoteLiteral(schema_), quoteLiteral(table_)));
  }

  const ShardNode& nodeNamed(const std::string& name) const {
    return *std::find_if(nodes_.begin(), nodes_.end(),
                         [&](const ShardNode& n) { return n.name == name; });
  }

  // copy -------------------------------------------------------------------
  Status copyAll() {
    auto counts = partitionCounts(*coordinator_);
    if (!counts) return counts.error();
    std::int64_t toCopy = 0;
    for (std::size_t i = 0; i < map_.partitions.size(); ++i) {
      const auto& name = map_.partitions[i].name;
      if (std::find(copied_.begin(), copied_.end(), name) == copied_.end()) toCopy += (*counts)[i];
    }
    operation_.phase("copy", toCopy);
    for (std::size_t i = 0; i < map_.partitions.size(); ++i) {
      const auto& partition = map_.partitions[i];
      if (std::find(copied_.begin(), copied_.end(), partition.name) != copied_.end()) continue;
      if (auto ok = copyPartition(*coordinator_, partition, (*counts)[i]); !ok) return ok;
      if (auto ok = markCopied(*coordinator_, map_, partition.name, true); !ok) return ok;
    }
    return Ok{};
  }

  // Rows per partition in one scan of the original, for the progress bars.
  Result<std::vector<std::int64_t>> partitionCounts(PgConnection& source) {
    std::string columns;
    for (const auto& partition : map_.partitions) {
      columns += fmt::format("{}count(*) FILTER (WHERE {})", columns.empty() ? "" : ", ",
                             rowFilter(map_, partition, parent()));
    }
    // One row per partition: QueryRows finds values by column name.
    auto rows = source.query(
        fmt::format("SELECT (c.counts)[i]::text AS n FROM (SELECT ARRAY[{}] AS counts FROM {}) c, "
                    "generate_series(1, {}) i ORDER BY i",
                    columns, original(), map_.partitions.size()));
    if (!rows) return rows.error();
    std::vector<std::int64_t> counts;
    for (std::size_t i = 0; i < rows->size(); ++i) counts.push_back(std::stoll(rows->text(i, "n")));
    return counts;
  }

  // Empties the partition's table and streams its rows in, in one
  // transaction on the receiving side.
  Status copyPartition(PgConnection& source, const Partition& partition, std::int64_t rows) {
    PgConnection* target = nullptr;
    std::string destination = original();
    if (partition.local()) {
      if (!localWriter_) {
        auto conn = connectStable(options_.coordinator);
        if (!conn) return conn.error();
        localWriter_.emplace(std::move(*conn));
      }
      target = &*localWriter_;
      destination = local(partition);
    } else {
      auto conn = nodeConnection(nodeNamed(partition.node));
      if (!conn) return conn.error();
      target = *conn;
    }
    operation_.target({.partition = partition.name,
                       .sourceNode = kCoordinatorNode,
                       .targetNode = partition.local() ? kCoordinatorNode : partition.node});
    auto copied =
        copyRows(CopyJob{.source = source,
                         .selectSql = fmt::format("SELECT * FROM {} WHERE {}", original(),
                                                  rowFilter(map_, partition, parent())),
                         .target = *target,
                         .destination = destination,
                         .label = partition.local() ? partition.name + " (local)"
                                                    : partition.name + " -> " + partition.node,
                         .expectedRows = rows,
                         .operation = &operation_},
                 progress_, tty_);
    if (!copied) return copied.error();
    report_.rows += copied->rows;
    return Ok{};
  }

  // freeze, verify, swap ----------------------------------------------------
  Status freezeVerifySwap() {
    auto conn = freezeWrites(options_.coordinator, original(), false);
    if (!conn) return conn.error();
    PgConnection& locked = *conn;
    progress_ << fmt::format("verifying {} partitions (writes to {} wait meanwhile)\n",
                             map_.partitions.size(), original());
    report_.rows = 0;
    for (const auto& partition : map_.partitions) {
      auto ok = verifyPartition(locked, partition);
      if (!ok) {
        (void)locked.execute("ROLLBACK");
        return ok;
      }
    }
    auto swapped = swap(locked);
    if (!swapped) {
      (void)locked.execute("ROLLBACK");
      return swapped;
    }
    return Ok{};
  }

  Result<PgConnection*> holder(const Partition& partition, PgConnection& locked) {
    if (partition.local()) return &locked;
    return nodeConnection(nodeNamed(partition.node));
  }

  Result<bool> matches(PgConnection& locked, const Partition& partition, Checksum& expected) {
    auto source = checksumOf(locked, original(), rowFilter(map_, partition, parent()));
    if (!source) return source.error();
    expected = *source;
    auto conn = holder(partition, locked);
    if (!conn) return conn.error();
    auto target = checksumOf(**conn, partition.local() ? local(partition) : original(), "");
    if (!target) return target.error();
    return *source == *target;
  }

  Status verifyPartition(PgConnection& locked, const Partition& partition) {
    Checksum expected;
    auto same = matches(locked, partition, expected);
    if (!same) return same.error();
    if (!*same) {
      progress_ << fmt::format(
          "{} differs from the original (written to since its copy): "
          "copying it again\n",
          partition.name);
      if (auto ok = markCopied(locked, map_, partition.name, false); !ok) return ok;
      operation_.phase("recopy", expected.rows);
      if (auto ok = copyPartition(locked, partition, expected.rows); !ok) return ok;
      operation_.phase("verify");
      same = matches(locked, partition, expected);
      if (!same) return same.error();
      if (!*same) return makeError("{} still differs after a fresh copy", partition.name);
    }
    report_.rows += expected.rows;
    progress_ << fmt::format("{:<20} verified: {} rows, checksum {}\n", partition.name,
                             expected.rows, expected.sum);
    return markCopied(locked, map_, partition.name, true);
  }

  Status swap(PgConnection& locked) {
    std::string old = table_ + kOldSuffix;
    std::vector<std::string> statements{
        "LOCK TABLE " + original() + " IN ACCESS EXCLUSIVE MODE",
        fmt::format("ALTER TABLE {} RENAME TO {}", original(), quoteIdentifier(old)),
        fmt::format("ALTER TABLE {} RENAME TO {}", parent(), quoteIdentifier(table_))};
    auto parentPrivileges = privilegeDdl(definition_, original());
    statements.insert(statements.end(), parentPrivileges.begin(), parentPrivileges.end());
    for (const auto& [sequence, column] : definition_.ownedSequences) {
      statements.push_back(fmt::format("ALTER SEQUENCE {} OWNED BY {}.{}", sequence, original(),
                                       quoteIdentifier(column)));
    }
    // The coordinator's partitions get the parent's owner and grants too,
    // so that pools may name them in single-partition statements.
    for (const auto& partition : map_.partitions) {
      if (!partition.local()) continue;
      auto privileges = privilegeDdl(definition_, local(partition));
      statements.insert(statements.end(), privileges.begin(), privileges.end());
    }
    if (auto ok = runAll(locked, statements); !ok) return ok;
    if (auto ok = markDone(locked, map_); !ok) return ok;
    if (auto ok = locked.execute("COMMIT"); !ok) return ok;
    progress_ << fmt::format(
        "{} is now partitioned by {} ({}), {} partitions; the original is "
        "{}\n",
        original(), map_.keyColumn, toString(map_.strategy), map_.partitions.size(),
        qualifiedName(schema_, old));
    return Ok{};
  }

  // finish -----------------------------------------------------------------
  Status finish() {
    report_.map = map_;
    for (auto& [name, conn] : nodeConnections_) {
      if (auto ok = conn.execute("ANALYZE " + original()); !ok) {
        spdlog::warn("ANALYZE on {}: {}", name, ok.error().message);
      }
    }
    if (auto ok = coordinator_->execute("ANALYZE " + original()); !ok) {
      spdlog::warn("ANALYZE {}: {}", original(), ok.error().message);
    }
    if (options_.keepOld) return Ok{};
    std::string old = qualifiedName(schema_, table_ + kOldSuffix);
    if (auto ok = coordinator_->execute("DROP TABLE " + old); !ok) {
      return makeError("{} is sharded, but dropping the original {} failed: {}", original(), old,
                       ok.error().message);
    }
    progress_ << "dropped " << old << " (keep it next time with --keep-old)\n";
    return Ok{};
  }

  const CreateOptions& options_;
  std::ostream& progress_;
  bool tty_;
  std::string schema_;
  std::string table_;
  std::optional<PgConnection> coordinator_;
  std::optional<PgConnection> localWriter_;
  std::map<std::string, PgConnection> nodeConnections_;
  TableDefinition definition_;
  ShardedTable map_;
  std::vector<ShardNode> nodes_;
  std::vector<std::string> copied_;
  CreateReport report_;
  OperationRecorder operation_;
};

}  // namespace

Result<CreateReport> createShardedTable(const CreateOptions& options, std::ostream& progress,
                                        bool tty) {
  ShardCreator creator(options, progress, tty);
  return creator.run();
}

}  // namespace pgswarm::shard
