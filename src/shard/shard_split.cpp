// `pgswarm shard split`: see shard_split.hpp.
#include "shard/shard_split.hpp"

#include <algorithm>
#include <deque>

#include <spdlog/spdlog.h>

#include "shard/movement.hpp"
#include "shard/shard_status.hpp"
#include "shard/table_definition.hpp"

namespace pgswarm::shard {
namespace {

using cluster::PgConnection;
using cluster::quoteIdentifier;
using cluster::quoteLiteral;

constexpr int kMaxLocalNames = 10000;

// Where a partition's rows are: a connection and the relation there.
struct Place {
  PgConnection* conn = nullptr;
  std::string relation;
};

class ShardSplitter {
 public:
  ShardSplitter(const SplitOptions& options, std::ostream& progress, bool tty)
      : options_(options), progress_(progress), tty_(tty) {}

  Result<SplitReport> run() {
    for (const auto& step : {&ShardSplitter::plan, &ShardSplitter::build, &ShardSplitter::copy,
                             &ShardSplitter::freezeVerifySwap, &ShardSplitter::analyze}) {
      if (auto done = (this->*step)(); !done) return done.error();
    }
    return SplitReport{.lower = lower_, .upper = upper_, .rows = rows_};
  }

 private:
  [[nodiscard]] std::string parent() const { return qualifiedName(map_.schema, map_.table); }
  [[nodiscard]] std::string onCoordinator(const Partition& p) const {
    return qualifiedName(map_.schema, p.name);
  }
  // The rows that move: the new partition's, wherever they are now.
  [[nodiscard]] std::string movedRows() const { return rowFilter(map_, upper_, ""); }
  [[nodiscard]] std::string where() const {
    return upper_.local() ? std::string(kCoordinatorNode) : upper_.node;
  }
  // Marks a local table this split is filling, so that a rerun reuses it
  // and never mistakes another table (a copy kept by `move --keep-old`).
  [[nodiscard]] std::string marker() const {
    return "pgswarm shard split: the upper half of " + source_.name + " being copied";
  }

  Status plan() {
    auto coordinator = connectStable(options_.coordinator);
    if (!coordinator) return makeError("coordinator: {}", coordinator.error().message);
    coordinator_.emplace(std::move(*coordinator));
    if (auto found = findPartition(); !found) return found;
    auto halves = splitPartition(map_, position_, options_.at);
    if (!halves) return halves.error();
    lower_ = halves->lower;
    upper_ = halves->upper;
    if (auto chosen = chooseTarget(); !chosen) return chosen;
    return openPlaces();
  }

  Status findPartition() {
    auto tables = loadAllTables(*coordinator_);
    if (!tables) return tables.error();
    for (const auto& stored : *tables) {
      for (std::size_t i = 0; i < stored.map.partitions.size(); ++i) {
        if (stored.map.partitions[i].name != options_.partition) continue;
        if (stored.state != JobState::kDone) {
          return makeError("{}.{} is still being sharded: finish its shard create first",
                           stored.map.schema, stored.map.table);
        }
        map_ = stored.map;
        position_ = i;
        source_ = stored.map.partitions[i];
        return Ok{};
      }
    }
    return makeError("no partition named {} in the shard catalog (see pgswarm shard status)",
                     options_.partition);
  }

  Status chooseTarget() {
    std::string to = options_.to;
    if (to.empty()) {
      if (!source_.local()) {
        return makeError(
            "{} lives on {}, which can hold only one partition of {}: say where the new "
            "partition goes with --to NODE (a shard node without one) or --to {}",
            source_.name, source_.node, map_.table, kCoordinatorNode);
      }
      to = kCoordinatorNode;
    }
    if (to == kCoordinatorNode) return chooseLocalName();
    const ShardNode* node = findNode(options_.nodes, to);
    if (node == nullptr)
      return makeError("{} is not a shard node here (nor '{}')", to, kCoordinatorNode);
    for (const auto& partition : map_.partitions) {
      if (partition.node == to) {
        return makeError("{} holds {} of this table already (a node holds at most one)", to,
                         partition.name);
      }
    }
    auto name = partitionName(map_.table, to);
    if (!name) return name.error();
    auto taken = relationExists(*coordinator_, qualifiedName(map_.schema, *name));
    if (!taken) return taken.error();
    if (*taken) {
      return makeError(
          "{} exists on the coordinator but is no partition of {} (a kept copy?): "
          "drop or rename it first",
          qualifiedName(map_.schema, *name), map_.table);
    }
    target_ = *node;
    upper_.node = to;
    upper_.name = *name;
    return Ok{};
  }

  // TABLE_p<k> for the least k that no partition of the table uses and no
  // other table holds (a half-made copy of this split is reused).
  Status chooseLocalName() {
    for (int k = 0; k < kMaxLocalNames; ++k) {
      auto name = partitionName(map_.table, "p" + std::to_string(k));
      if (!name) return name.error();
      bool used = std::any_of(map_.partitions.begin(), map_.partitions.end(),
                              [&](const Partition& p) { return p.name == *name; });
      if (used) continue;
      auto rows = coordinator_->query(
          "SELECT to_regclass($1) IS NOT NULL AS present, "
          "coalesce(obj_description(to_regclass($1), 'pg_class'), '') AS comment",
          {qualifiedName(map_.schema, *name)});
      if (!rows) return rows.error();
      if (rows->text(0, "present") == "t" && rows->text(0, "comment") != marker()) continue;
      upper_.node.clear();
      upper_.name = *name;
      return Ok{};
    }
    return makeError("no free local partition name {}_p<k>", map_.table);
  }

  Result<PgConnection*> nodeConnection(const ShardNode& node) {
    auto conn = connectNode(node, options_.coordinator);
    if (!conn) return conn.error();
    return &connections_.emplace_back(std::move(*conn));
  }

  Status openPlaces() {
    if (source_.local()) {
      from_ = Place{&*coordinator_, onCoordinator(source_)};
    } else {
      const ShardNode* node = findNode(options_.nodes, source_.node);
      if (node == nullptr) {
        return makeError("{}'s node {} is not known here", source_.name, source_.node);
      }
      auto conn = nodeConnection(*node);
      if (!conn) return conn.error();
      from_ = Place{*conn, parent()};
    }
    if (upper_.local()) {
      auto conn = connectStable(options_.coordinator);
      if (!conn) return conn.error();
      to_ = Place{&connections_.emplace_back(std::move(*conn)), onCoordinator(upper_)};
    } else {
      auto conn = nodeConnection(*target_);
      if (!conn) return conn.error();
      to_ = Place{*conn, parent()};
    }
    return Ok{};
  }

  // A table like the partition where the new one goes; a leftover of an
  // interrupted split is reused (the copy empties it).
  Status build() {
    auto definition =
        readTableDefinition(*from_.conn, map_.schema, source_.local() ? source_.name : map_.table,
                            map_.keyColumn, source_.local());
    if (!definition) return definition.error();
    auto exists = relationExists(*to_.conn, to_.relation);
    if (!exists) return exists.error();
    if (!*exists) {
      std::vector<std::string> statements{"CREATE SCHEMA IF NOT EXISTS " +
                                          quoteIdentifier(map_.schema)};
      auto table = createTableDdl(*definition, to_.relation, upper_.local());
      statements.insert(statements.end(), table.begin(), table.end());
      if (upper_.local()) {
        statements.push_back(
            fmt::format("COMMENT ON TABLE {} IS {}", to_.relation, quoteLiteral(marker())));
      }
      if (auto ok = runAll(*to_.conn, statements); !ok) return ok;
    } else {
      progress_ << fmt::format("reusing {} on {}, left by an interrupted run\n", to_.relation,
                               where());
    }
    if (target_) return ensureForeignServer(*coordinator_, *target_, options_.coordinator);
    return Ok{};
  }

  Status copy() {
    auto counted = checksumOf(*from_.conn, from_.relation, movedRows());
    if (!counted) return counted.error();
    return copyOnce(counted->rows);
  }

  Status copyOnce(std::int64_t expected) {
    auto copied = copyRows(
        CopyJob{.source = *from_.conn,
                .selectSql = fmt::format("SELECT * FROM {} WHERE {}", from_.relation, movedRows()),
                .target = *to_.conn,
                .destination = to_.relation,
                .label = fmt::format("{} [{}, ...) -> {}", source_.name, options_.at, where()),
                .expectedRows = expected},
        progress_, tty_);
    if (!copied) return copied.error();
    return Ok{};
  }

  // As in `shard move`: writes through the parent and, for a partition on
  // a shard node, straight to its table there are frozen (coordinator
  // first) before the verification; the node's transaction deletes the
  // moved rows and commits right after the coordinator's swap.
  Status freezeVerifySwap() {
    // ONLY the parent: every write through the table takes a lock on it,
    // and foreign partitions cannot be locked themselves.
    auto conn = freezeWrites(options_.coordinator, parent(), true);
    if (!conn) return conn.error();
    PgConnection& locked = *conn;
    auto done = freezeSource(locked);
    if (done) done = verify();
    if (done) done = sealParent(locked);
    if (done) done = retireRemoteRows();
    if (done) done = swap(locked);
    if (!done) {
      (void)locked.execute("ROLLBACK");
      if (!source_.local()) (void)from_.conn->execute("ROLLBACK");
      return done;
    }
    return commitSource();
  }

  // A local partition is frozen on the locked connection itself: the
  // parent's lock covers writes through the table, this one also those
  // naming the partition (its moved rows are deleted in the swap).
  Status freezeSource(PgConnection& locked) {
    if (source_.local()) {
      return locked.execute(fmt::format("LOCK TABLE {} IN SHARE MODE", onCoordinator(source_)));
    }
    if (auto ok = lockForShare(*from_.conn, parent(), false); !ok) {
      return makeError("on {}: {}", source_.node, ok.error().message);
    }
    progress_ << fmt::format("writes to {} frozen on the coordinator and on {}\n", parent(),
                             source_.node);
    return Ok{};
  }

  Status verify() {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto source = checksumOf(*from_.conn, from_.relation, movedRows());
      if (!source) return source.error();
      auto target = checksumOf(*to_.conn, to_.relation, "");
      if (!target) return target.error();
      if (*source == *target) {
        rows_ = source->rows;
        progress_ << fmt::format("{} verified: {} rows, checksum {}\n", upper_.name, source->rows,
                                 source->sum);
        return Ok{};
      }
      if (attempt == 0) {
        progress_ << source_.name << " was written to during the copy: copying it again\n";
        if (auto ok = copyOnce(source->rows); !ok) return ok;
      }
    }
    return makeError("{} still differs from {}'s rows from {} on after a fresh copy", upper_.name,
                     source_.name, options_.at);
  }

  // Readers through the coordinator wait from here to its commit. Taken
  // before the node's ACCESS EXCLUSIVE lock: a coordinator reader holding
  // the parent while waiting for the node would otherwise deadlock with
  // the swap across two servers (no detector sees that; lock_timeout ends
  // it after 30 s).
  Status sealParent(PgConnection& locked) {
    return locked.execute(fmt::format("LOCK TABLE ONLY {} IN ACCESS EXCLUSIVE MODE", parent()));
  }

  // In the source node's locked transaction, before the coordinator
  // commits (a failure leaves the split undone). ACCESS EXCLUSIVE: readers
  // through the coordinator that start between the two commits wait for
  // the node's and never see the moved rows twice. The CHECK refuses a
  // direct insert that a pool with the old map still sends here.
  Status retireRemoteRows() {
    if (source_.local()) return Ok{};
    auto check = quoteIdentifier(kRangeCheck);
    auto ok = runAll(*from_.conn,
                     {fmt::format("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", parent()),
                      fmt::format("DELETE FROM {} WHERE {}", parent(), movedRows()),
                      fmt::format("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}", parent(), check),
                      fmt::format("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({})", parent(), check,
                                  rowFilter(map_, lower_, ""))});
    if (!ok) return makeError("on {}: {}", source_.node, ok.error().message);
    return Ok{};
  }

  Status swap(PgConnection& locked) {
    std::vector<std::string> statements{
        fmt::format("ALTER TABLE {} DETACH PARTITION {}", parent(), onCoordinator(source_))};
    if (source_.local()) {
      statements.push_back(
          fmt::format("DELETE FROM {} WHERE {}", onCoordinator(source_), movedRows()));
    }
    statements.push_back(fmt::format("ALTER TABLE {} ATTACH PARTITION {} {}", parent(),
                                     onCoordinator(source_), boundClause(map_, lower_)));
    if (upper_.local()) {
      statements.push_back(fmt::format("ALTER TABLE {} ATTACH PARTITION {} {}", parent(),
                                       onCoordinator(upper_), boundClause(map_, upper_)));
      statements.push_back(fmt::format("COMMENT ON TABLE {} IS NULL", onCoordinator(upper_)));
    } else {
      statements.push_back(fmt::format(
          "CREATE FOREIGN TABLE {} PARTITION OF {} {} SERVER {} OPTIONS (schema_name {}, "
          "table_name {})",
          onCoordinator(upper_), parent(), boundClause(map_, upper_),
          quoteIdentifier(serverName(*target_)), quoteLiteral(map_.schema),
          quoteLiteral(map_.table)));
    }
    if (auto ok = runAll(locked, statements); !ok) return ok;
    if (auto ok = recordSplit(locked, map_, lower_, upper_, target_); !ok) return ok;
    if (auto ok = locked.execute("COMMIT"); !ok) return ok;
    return Ok{};
  }

  Status commitSource() {
    if (!source_.local()) {
      if (auto ok = from_.conn->execute("COMMIT"); !ok) {
        return makeError(
            "{} is split, but the moved rows may still be on {} ({}): there, run DELETE FROM {} "
            "WHERE {}; ALTER TABLE {} ADD CONSTRAINT {} CHECK ({}) by hand (until then a scan "
            "through the coordinator returns them twice)",
            source_.name, source_.node, ok.error().message, parent(), movedRows(), parent(),
            quoteIdentifier(kRangeCheck), rowFilter(map_, lower_, ""));
      }
      progress_ << fmt::format("deleted the moved rows on {}\n", source_.node);
    }
    progress_ << fmt::format(
        "{} now holds {}; {} holds {} {}\n", lower_.name, describeBounds(map_, lower_), upper_.name,
        describeBounds(map_, upper_), upper_.local() ? "on the coordinator" : "on " + upper_.node);
    return Ok{};
  }

  Status analyze() {
    for (const auto* partition : {&lower_, &upper_}) {
      if (auto ok = coordinator_->execute("ANALYZE " + onCoordinator(*partition)); !ok) {
        spdlog::warn("ANALYZE {}: {}", partition->name, ok.error().message);
      }
    }
    return Ok{};
  }

  const SplitOptions& options_;
  std::ostream& progress_;
  bool tty_;
  std::optional<PgConnection> coordinator_;
  std::deque<PgConnection> connections_;  // stable addresses for Place
  ShardedTable map_;
  std::size_t position_ = 0;
  Partition source_;
  Partition lower_;
  Partition upper_;
  std::optional<ShardNode> target_;
  Place from_;
  Place to_;
  std::int64_t rows_ = 0;
};

}  // namespace

Result<SplitReport> splitShard(const SplitOptions& options, std::ostream& progress, bool tty) {
  ShardSplitter splitter(options, progress, tty);
  return splitter.run();
}

}  // namespace pgswarm::shard
