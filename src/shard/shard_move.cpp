// `pgswarm shard move`: see shard_move.hpp.
#include "shard/shard_move.hpp"

#include <spdlog/spdlog.h>

#include "shard/movement.hpp"
#include "shard/routing_hold.hpp"
#include "shard/table_definition.hpp"

namespace pgswarm::shard {
namespace {

using cluster::PgConnection;
using cluster::quoteIdentifier;
using cluster::quoteLiteral;

class ShardMover {
 public:
  ShardMover(const MoveOptions& options, std::ostream& progress, bool tty)
      : options_(options), progress_(progress), tty_(tty) {}

  Result<MoveReport> run() {
    auto result = runSteps();
    operation_.finish(result.ok(), result ? "" : result.error().message);
    return result;
  }

 private:
  Result<MoveReport> runSteps() {
    auto done = runPhases<ShardMover, 5>(*this, operation_,
                                         {{{nullptr, &ShardMover::plan},
                                           {"build", &ShardMover::build},
                                           {nullptr, &ShardMover::copy},
                                           {"verify", &ShardMover::freezeVerifySwap},
                                           {"finish", &ShardMover::dropOld}}});
    if (!done) return done.error();
    return MoveReport{.moved = moved_, .rows = rows_};
  }

  [[nodiscard]] std::string parent() const { return qualifiedName(map_.schema, map_.table); }
  [[nodiscard]] std::string onCoordinator(const Partition& p) const {
    return qualifiedName(map_.schema, p.name);
  }

  Status plan() {
    auto coordinator = connectStable(options_.coordinator);
    if (!coordinator) return makeError("coordinator: {}", coordinator.error().message);
    coordinator_.emplace(std::move(*coordinator));
    if (auto found = findPartition(); !found) return found;
    if (auto chosen = chooseTarget(); !chosen) return chosen;
    operation_ = OperationRecorder::start(options_.coordinator, map_.schema, map_.table, "move",
                                          operationTarget());
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
    moved_ = source_;
    if (options_.to == kCoordinatorNode) {
      if (source_.local()) return makeError("{} is on the coordinator already", source_.name);
      moved_.node.clear();
      moved_.name = map_.table + "_p" + std::to_string(position_);
      return Ok{};
    }
    const ShardNode* node = findNode(options_.nodes, options_.to);
    if (node == nullptr) {
      return makeError("{} is not a shard node here (nor '{}')", options_.to, kCoordinatorNode);
    }
    for (const auto& partition : map_.partitions) {
      if (partition.node == options_.to) {
        return makeError("{} holds {} of this table already (a node holds at most one)",
                         options_.to, partition.name);
      }
    }
    target_ = *node;
    moved_.node = node->name;
    moved_.name = map_.table + "_" + node->name;
    return Ok{};
  }

  [[nodiscard]] OperationTarget operationTarget() const {
    return {.partition = source_.name,
            .sourceNode = source_.local() ? kCoordinatorNode : source_.node,
            .targetNode = moved_.local() ? kCoordinatorNode : moved_.node};
  }

  Status openPlaces() {
    return ends_.open(*coordinator_, options_.coordinator, options_.nodes, map_, source_, moved_);
  }

  // A table like the partition where it goes; a leftover of an interrupted
  // move is reused (the copy empties it).
  Status build() {
    auto created = ends_.createDestination(map_, source_, moved_.local(), {});
    if (!created) return created.error();
    if (target_) return ensureForeignServer(*coordinator_, *target_, options_.coordinator);
    return Ok{};
  }

  Status copy() {
    auto counted = checksumOf(*ends_.from.conn, ends_.from.relation, "");
    if (!counted) return counted.error();
    operation_.phase("copy", counted->rows);
    return copyOnce(*ends_.from.conn, counted->rows);
  }

  Status copyOnce(PgConnection& source, std::int64_t expected) {
    auto copied = copyRows(
        CopyJob{.source = source,
                .selectSql = "SELECT * FROM " + ends_.from.relation,
                .target = *ends_.to.conn,
                .destination = ends_.to.relation,
                .label = source_.name + " -> " + (moved_.local() ? kCoordinatorNode : moved_.node),
                .expectedRows = expected,
                .operation = &operation_},
        progress_, tty_);
    if (!copied) return copied.error();
    return Ok{};
  }

  // Writes reach the source two ways: through the coordinator's parent and,
  // for a partition on a shard node, straight from pools that route by the
  // shard map. Both are frozen (coordinator first: its writers also hold the
  // node's table until they commit) before the verification; the node's old
  // table goes in its own transaction, committed right after the swap, so a
  // direct write that waited on the lock fails instead of landing in it.
  Status freezeVerifySwap() {
    if (auto held = holdRouting(); !held) return held;
    // ONLY the parent: every write through the table takes a lock on it,
    // and foreign partitions cannot be locked themselves.
    auto conn = freezeWrites(options_.coordinator, parent(), true);
    if (!conn) return conn.error();
    PgConnection& locked = *conn;
    auto done = freezeSource();
    if (done) done = verify();
    if (done) done = retireSource();
    if (done) done = swap(locked);
    if (!done) {
      (void)locked.execute("ROLLBACK");
      if (!source_.local()) (void)ends_.from.conn->execute("ROLLBACK");
      return done;
    }
    return commitSource();
  }

  // Only a shard node's partition is reached straight by pools.
  Status holdRouting() {
    if (source_.local()) return Ok{};
    auto hold =
        RoutingHold::take(*coordinator_, map_, HoldOptions{.reason = "shard move"}, progress_);
    if (!hold) return hold.error();
    hold_.emplace(std::move(*hold));
    return Ok{};
  }

  Status freezeSource() {
    if (source_.local()) return Ok{};  // the coordinator's lock covers it
    if (auto ok = lockForShare(*ends_.from.conn, parent(), false); !ok) {
      return makeError("on {}: {}", source_.node, ok.error().message);
    }
    progress_ << fmt::format("writes to {} frozen on the coordinator and on {}\n", parent(),
                             source_.node);
    return Ok{};
  }

  // In the source node's locked transaction, before the coordinator commits:
  // a failure here leaves the move undone.
  Status retireSource() {
    if (source_.local()) return Ok{};
    if (!options_.keepOld) return ends_.from.conn->execute("DROP TABLE " + parent());
    auto name = keptName();
    if (!name) return name.error();
    keptAs_ = *name;
    return ends_.from.conn->execute(
        fmt::format("ALTER TABLE {} RENAME TO {}", parent(), quoteIdentifier(keptAs_)));
  }

  // TABLE_moved_to_TARGET, numbered when an earlier move kept one already.
  Result<std::string> keptName() {
    std::string base =
        map_.table + "_moved_to_" + (moved_.local() ? std::string(kCoordinatorNode) : moved_.node);
    for (int n = 1; n < 100; ++n) {
      std::string name = n == 1 ? base : base + "_" + std::to_string(n);
      auto exists = relationExists(*ends_.from.conn, qualifiedName(map_.schema, name));
      if (!exists) return exists.error();
      if (!*exists) return name;
    }
    return makeError("{} on {} has 99 kept copies already: drop some", base, source_.node);
  }

  Status commitSource() {
    if (source_.local()) return Ok{};
    if (auto ok = ends_.from.conn->execute("COMMIT"); !ok) {
      return makeError(
          "{} moved, but the old table on {} may still be there ({}): drop {} there by hand, or "
          "writes sent straight to {} can land in it",
          source_.name, source_.node, ok.error().message, parent(), source_.node);
    }
    if (options_.keepOld) {
      progress_ << fmt::format("kept the old table on {} as {}\n", source_.node,
                               qualifiedName(map_.schema, keptAs_));
    } else {
      progress_ << fmt::format("dropped {} on {}\n", parent(), source_.node);
    }
    return Ok{};
  }

  Status verify() {
    auto verified = ends_.verify(
        "", source_.name, moved_.name,
        [&](std::int64_t rows) {
          operation_.phase("recopy", rows);
          auto ok = copyOnce(*ends_.from.conn, rows);
          operation_.phase("verify");
          return ok;
        },
        progress_);
    if (!verified) return verified.error();
    rows_ = verified->rows;
    return Ok{};
  }

  Status swap(PgConnection& locked) {
    std::string bounds = boundClause(map_, source_);
    std::vector<std::string> statements{
        fmt::format("ALTER TABLE {} DETACH PARTITION {}", parent(), onCoordinator(source_))};
    if (!keptAs_.empty()) {
      // The kept foreign table keeps reading the old rows under their new name.
      statements.push_back(fmt::format("ALTER FOREIGN TABLE {} OPTIONS (SET table_name {})",
                                       onCoordinator(source_), quoteLiteral(keptAs_)));
    }
    if (moved_.local()) {
      statements.push_back(fmt::format("ALTER TABLE {} ATTACH PARTITION {} {}", parent(),
                                       onCoordinator(moved_), bounds));
    } else {
      statements.push_back(fmt::format(
          "CREATE FOREIGN TABLE {} PARTITION OF {} {} SERVER {} OPTIONS (schema_name {}, "
          "table_name {})",
          onCoordinator(moved_), parent(), bounds, quoteIdentifier(serverName(*target_)),
          quoteLiteral(map_.schema), quoteLiteral(map_.table)));
    }
    if (auto ok = runAll(locked, statements); !ok) return ok;
    if (auto ok = recordMove(locked, map_, source_.name, moved_, target_); !ok) return ok;
    if (hold_) {
      if (auto ok = hold_->endIn(locked); !ok) return ok;
    }
    if (auto ok = locked.execute("COMMIT"); !ok) return ok;
    progress_ << fmt::format("{} now lives {} as {}\n", source_.name,
                             moved_.local() ? "on the coordinator" : "on " + moved_.node,
                             moved_.name);
    return Ok{};
  }

  // What is left of the old copy on the coordinator (the source node's
  // table went with the swap).
  Status dropOld() {
    if (auto ok = coordinator_->execute("ANALYZE " + onCoordinator(moved_)); !ok) {
      spdlog::warn("ANALYZE {}: {}", moved_.name, ok.error().message);
    }
    if (options_.keepOld) {
      progress_ << fmt::format(
          "kept the old copy: {} (detached{})\n", onCoordinator(source_),
          keptAs_.empty() ? "" : ", reading " + keptAs_ + " on " + source_.node);
      return Ok{};
    }
    std::string sql =
        fmt::format("DROP {}TABLE {}", source_.local() ? "" : "FOREIGN ", onCoordinator(source_));
    if (auto ok = coordinator_->execute(sql); !ok) {
      return makeError("{} moved, but dropping the old copy failed ({}): {}", source_.name, sql,
                       ok.error().message);
    }
    progress_ << "dropped the old copy (keep it next time with --keep-old)\n";
    return Ok{};
  }

  const MoveOptions& options_;
  std::ostream& progress_;
  bool tty_;
  std::optional<PgConnection> coordinator_;
  std::optional<RoutingHold> hold_;  // after coordinator_: released before it closes
  ShardedTable map_;
  std::size_t position_ = 0;
  Partition source_;
  Partition moved_;
  std::optional<ShardNode> target_;
  TransferEnds ends_;
  std::string keptAs_;  // --keep-old: the source node's table's new name
  std::int64_t rows_ = 0;
  OperationRecorder operation_;  // started once plan() knows the partition
};

}  // namespace

Result<MoveReport> moveShard(const MoveOptions& options, std::ostream& progress, bool tty) {
  ShardMover mover(options, progress, tty);
  return mover.run();
}

}  // namespace pgswarm::shard
