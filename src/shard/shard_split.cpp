// `pgswarm shard split`: see shard_split.hpp.
#include "shard/shard_split.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "shard/partition_transfer.hpp"
#include "shard/shard_status.hpp"

namespace pgswarm::shard {
namespace {

using cluster::PgConnection;
using cluster::quoteIdentifier;
using cluster::quoteLiteral;

constexpr int kMaxLocalNames = 10000;

class ShardSplitter : PartitionTransfer {
 public:
  ShardSplitter(const SplitOptions& options, std::ostream& progress, bool tty)
      : PartitionTransfer(options.coordinator, options.nodes, progress, tty), options_(options) {}

  Result<SplitReport> run() { return recordEnd(operation_, runSteps()); }

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

  // The rows that move: the new partition's, wherever they are now.
  [[nodiscard]] std::string movedRows() const { return rowFilter(map_, upper_, ""); }
  [[nodiscard]] std::string where() const { return placeOf(upper_); }
  [[nodiscard]] std::string label() const {
    return fmt::format("{} [{}, ...) -> {}", source_.name, options_.at, where());
  }
  // Marks a local table this split is filling, so that a rerun reuses it
  // and never mistakes another table (a copy kept by `move --keep-old`).
  [[nodiscard]] std::string marker() const {
    return "pgswarm shard split: the upper half of " + source_.name + " being copied";
  }

  Status plan() {
    if (auto found = locate(options_.partition); !found) return found;
    auto halves = splitPartition(map_, position_, options_.at);
    if (!halves) return halves.error();
    lower_ = halves->lower;
    upper_ = halves->upper;
    if (auto chosen = chooseTarget(); !chosen) return chosen;
    startOperation("split", where());
    return openEnds(upper_);
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
    auto node = freeNode(to);
    if (!node) return node.error();
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

  Status copy() { return copyRowsOf(movedRows(), label()); }

  // As in `shard move`: writes through the parent and, for a partition on
  // a shard node, straight to its table there are frozen (coordinator
  // first) before the verification; the node's transaction deletes the
  // moved rows and commits right after the coordinator's swap.
  Status freezeVerifySwap() {
    auto done = underFreeze("shard split", [&](PgConnection& locked) {
      auto ok = freezeSource(locked);
      if (ok) {
        ok = verifyCopy(movedRows(), fmt::format("{}'s rows from {} on", source_.name, options_.at),
                        upper_.name, label());
      }
      if (ok) ok = sealParent(locked);
      if (ok) ok = retireRemoteRows();
      if (ok) ok = swap(locked);
      return ok;
    });
    if (!done) return done;
    return commitSource();
  }

  // A local partition is frozen on the locked connection itself: the
  // parent's lock covers writes through the table, this one also those
  // naming the partition (its moved rows are deleted in the swap).
  Status freezeSource(PgConnection& locked) {
    if (source_.local()) {
      return locked.execute(fmt::format("LOCK TABLE {} IN SHARE MODE", onCoordinator(source_)));
    }
    return freezeSourceNode();
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
      auto privileges = parentPrivilegesFor(locked, upper_);
      if (!privileges) return privileges.error();
      statements.insert(statements.end(), privileges->begin(), privileges->end());
      statements.push_back(fmt::format("ALTER TABLE {} ATTACH PARTITION {} {}", parent(),
                                       onCoordinator(upper_), boundClause(map_, upper_)));
      statements.push_back(fmt::format("COMMENT ON TABLE {} IS NULL", onCoordinator(upper_)));
    } else {
      statements.push_back(foreignPartition(upper_, boundClause(map_, upper_)));
    }
    if (auto ok = runAll(locked, statements); !ok) return ok;
    if (auto ok = recordSplit(locked, map_, lower_, upper_, target_); !ok) return ok;
    return commitSwap(locked);
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
  Partition lower_;
  Partition upper_;
};

}  // namespace

Result<SplitReport> splitShard(const SplitOptions& options, std::ostream& progress, bool tty) {
  ShardSplitter splitter(options, progress, tty);
  return splitter.run();
}

}  // namespace pgswarm::shard
