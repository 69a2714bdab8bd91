// `pgswarm shard split`: see shard_split.hpp.
#include "shard/shard_split.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "shard/movement.hpp"
#include "shard/routing_hold.hpp"
#include "shard/shard_status.hpp"
#include "shard/table_definition.hpp"

namespace pgswarm::shard {
namespace {

using cluster::PgConnection;
using cluster::quoteIdentifier;
using cluster::quoteLiteral;

constexpr int kMaxLocalNames = 10000;

class ShardSplitter {
 public:
  ShardSplitter(const SplitOptions& options, std::ostream& progress, bool tty)
      : options_(options), progress_(progress), tty_(tty) {}

  Result<SplitReport> run() {
    auto result = runSteps();
    operation_.finish(result.ok(), result ? "" : result.error().message);
    return result;
  }

 private:
  Result<SplitReport> runSteps() {
    auto done = runPhases<ShardSplitter, 5>(*this, operation_,
                                            {{{nullptr, &ShardSplitter::plan},
                                              {"build", &ShardSplitter::build},
                                              {nullptr, &ShardSplitter::copy},
                                              {"verify", &ShardSplitter::freezeVerifySwap},
                                              {"finish", &ShardSplitter::analyze}}});
    if (!done) return done.error();
    return SplitReport{.lower = lower_, .upper = upper_, .rows = rows_};
  }

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
    operation_ =
        OperationRecorder::start(options_.coordinator, map_.schema, map_.table, "split",
                                 {.partition = source_.name,
                                  .sourceNode = source_.local() ? kCoordinatorNode : source_.node,
                                  .targetNode = where()});
    operation_.phase("plan");
    return openPlaces();
  }

  Status findPartition() {
    auto located = locatePartition(*coordinator_, options_.partition);
    if (!located) return located.error();
    map_ = std::move(located->map);
    position_ = located->position;
    source_ = map_.partitions[position_];
    return Ok{};
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

  Status openPlaces() {
    return ends_.open(*coordinator_, options_.coordinator, options_.nodes, map_, source_, upper_);
  }

  // A table like the partition where the new one goes (a local one marked
  // as this split's); a leftover of an interrupted run is reused.
  Status build() {
    std::vector<std::string> mark;
    if (upper_.local()) {
      mark.push_back(
          fmt::format("COMMENT ON TABLE {} IS {}", ends_.to.relation, quoteLiteral(marker())));
    }
    auto created = ends_.createDestination(map_, source_, upper_.local(), mark);
    if (!created) return created.error();
    if (!*created) {
      progress_ << fmt::format("reusing {} on {}, left by an interrupted run\n", ends_.to.relation,
                               where());
    }
    if (target_) return ensureForeignServer(*coordinator_, *target_, options_.coordinator);
    return Ok{};
  }

  Status copy() {
    auto counted = checksumOf(*ends_.from.conn, ends_.from.relation, movedRows());
    if (!counted) return counted.error();
    operation_.phase("copy", counted->rows);
    return copyOnce(counted->rows);
  }

  Status copyOnce(std::int64_t expected) {
    auto copied = copyRows(
        CopyJob{
            .source = *ends_.from.conn,
            .selectSql = fmt::format("SELECT * FROM {} WHERE {}", ends_.from.relation, movedRows()),
            .target = *ends_.to.conn,
            .destination = ends_.to.relation,
            .label = fmt::format("{} [{}, ...) -> {}", source_.name, options_.at, where()),
            .expectedRows = expected,
            .operation = &operation_},
        progress_, tty_);
    if (!copied) return copied.error();
    return Ok{};
  }

  // As in `shard move`: writes through the parent and, for a partition on
  // a shard node, straight to its table there are frozen (coordinator
  // first) before the verification; the node's transaction deletes the
  // moved rows and commits right after the coordinator's swap.
  Status freezeVerifySwap() {
    if (auto held = holdRouting(); !held) return held;
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
      if (!source_.local()) (void)ends_.from.conn->execute("ROLLBACK");
      return done;
    }
    return commitSource();
  }

  // A local partition is frozen on the locked connection itself: the
  // parent's lock covers writes through the table, this one also those
  // naming the partition (its moved rows are deleted in the swap).
  // Only a shard node's partition is reached straight by pools.
  Status holdRouting() {
    if (source_.local()) return Ok{};
    auto hold =
        RoutingHold::take(*coordinator_, map_, HoldOptions{.reason = "shard split"}, progress_);
    if (!hold) return hold.error();
    hold_.emplace(std::move(*hold));
    return Ok{};
  }

  Status freezeSource(PgConnection& locked) {
    if (source_.local()) {
      return locked.execute(fmt::format("LOCK TABLE {} IN SHARE MODE", onCoordinator(source_)));
    }
    if (auto ok = lockForShare(*ends_.from.conn, parent(), false); !ok) {
      return makeError("on {}: {}", source_.node, ok.error().message);
    }
    progress_ << fmt::format("writes to {} frozen on the coordinator and on {}\n", parent(),
                             source_.node);
    return Ok{};
  }

  Status verify() {
    auto verified = ends_.verify(
        movedRows(), fmt::format("{}'s rows from {} on", source_.name, options_.at), upper_.name,
        [&](std::int64_t rows) {
          operation_.phase("recopy", rows);
          auto ok = copyOnce(rows);
          operation_.phase("verify");
          return ok;
        },
        progress_);
    if (!verified) return verified.error();
    rows_ = verified->rows;
    return Ok{};
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
    auto ok = runAll(*ends_.from.conn,
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
    if (hold_) {
      if (auto ok = hold_->endIn(locked); !ok) return ok;
    }
    if (auto ok = locked.execute("COMMIT"); !ok) return ok;
    return Ok{};
  }

  Status commitSource() {
    if (!source_.local()) {
      if (auto ok = ends_.from.conn->execute("COMMIT"); !ok) {
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
  std::optional<RoutingHold> hold_;  // after coordinator_: released before it closes
  ShardedTable map_;
  std::size_t position_ = 0;
  Partition source_;
  Partition lower_;
  Partition upper_;
  std::optional<ShardNode> target_;
  TransferEnds ends_;
  std::int64_t rows_ = 0;
  OperationRecorder operation_;  // started once plan() knows the halves
};

}  // namespace

Result<SplitReport> splitShard(const SplitOptions& options, std::ostream& progress, bool tty) {
  ShardSplitter splitter(options, progress, tty);
  return splitter.run();
}

}  // namespace pgswarm::shard
