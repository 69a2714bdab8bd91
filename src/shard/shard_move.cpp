// `pgswarm shard move`: see shard_move.hpp.
#include "shard/shard_move.hpp"

#include <spdlog/spdlog.h>

#include "shard/partition_transfer.hpp"

namespace pgswarm::shard {
namespace {

using cluster::PgConnection;
using cluster::quoteIdentifier;
using cluster::quoteLiteral;

class ShardMover : PartitionTransfer {
 public:
  ShardMover(const MoveOptions& options, std::ostream& progress, bool tty)
      : PartitionTransfer(options.coordinator, options.nodes, progress, tty), options_(options) {}

  Result<MoveReport> run() { return recordEnd(operation_, runSteps()); }

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

  [[nodiscard]] std::string label() const { return source_.name + " -> " + placeOf(moved_); }

  Status plan() {
    if (auto found = locate(options_.partition); !found) return found;
    if (auto chosen = chooseTarget(); !chosen) return chosen;
    startOperation("move", placeOf(moved_));
    return openEnds(moved_);
  }

  Status chooseTarget() {
    moved_ = source_;
    if (options_.to == kCoordinatorNode) {
      if (source_.local()) return makeError("{} is on the coordinator already", source_.name);
      moved_.node.clear();
      moved_.name = map_.table + "_p" + std::to_string(position_);
      return Ok{};
    }
    auto node = freeNode(options_.to);
    if (!node) return node.error();
    target_ = *node;
    moved_.node = node->name;
    moved_.name = map_.table + "_" + node->name;
    return Ok{};
  }

  // A table like the partition where it goes; a leftover of an interrupted
  // move is reused (the copy empties it).
  Status build() {
    auto created = ends_.createDestination(map_, source_, moved_.local(), {});
    if (!created) return created.error();
    if (target_) return ensureForeignServer(*coordinator_, *target_, options_.coordinator);
    return Ok{};
  }

  Status copy() { return copyRowsOf("", label()); }

  // Writes reach the source two ways: through the coordinator's parent and,
  // for a partition on a shard node, straight from pools that route by the
  // shard map. Both are frozen (coordinator first: its writers also hold the
  // node's table until they commit) before the verification; the node's old
  // table goes in its own transaction, committed right after the swap, so a
  // direct write that waited on the lock fails instead of landing in it.
  Status freezeVerifySwap() {
    auto done = underFreeze("shard move", [&](PgConnection& locked) {
      auto ok = freezeSourceNode();
      if (ok) ok = verifyCopy("", source_.name, moved_.name, label());
      if (ok) ok = retireSource();
      if (ok) ok = swap(locked);
      return ok;
    });
    if (!done) return done;
    return commitSource();
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
    std::string base = map_.table + "_moved_to_" + placeOf(moved_);
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
      auto privileges = parentPrivilegesFor(locked, moved_);
      if (!privileges) return privileges.error();
      statements.insert(statements.end(), privileges->begin(), privileges->end());
      statements.push_back(fmt::format("ALTER TABLE {} ATTACH PARTITION {} {}", parent(),
                                       onCoordinator(moved_), bounds));
    } else {
      statements.push_back(foreignPartition(moved_, bounds));
    }
    if (auto ok = runAll(locked, statements); !ok) return ok;
    if (auto ok = recordMove(locked, map_, source_.name, moved_, target_); !ok) return ok;
    if (auto ok = commitSwap(locked); !ok) return ok;
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
  Partition moved_;
  std::string keptAs_;  // --keep-old: the source node's table's new name
};

}  // namespace

Result<MoveReport> moveShard(const MoveOptions& options, std::ostream& progress, bool tty) {
  ShardMover mover(options, progress, tty);
  return mover.run();
}

}  // namespace pgswarm::shard
