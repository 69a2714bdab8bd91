// The transfer step `shard move` and `shard split` share: one partition's
// rows (all of them, or those a filter selects) copied to a new place,
// then verified and swapped in under a freeze of writers. The commands
// derive from PartitionTransfer and keep only what differs: which rows
// move, where they go, what the swap's DDL is and what the catalog records.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/movement.hpp"
#include "shard/routing_hold.hpp"
#include "shard/shard_map.hpp"
#include "shard/shard_move.hpp"
#include "shard/shard_operations.hpp"
#include "shard/table_definition.hpp"

namespace pgswarm::shard {

class PartitionTransfer {
 protected:
  PartitionTransfer(const cluster::ConnectTarget& coordinator, const std::vector<ShardNode>& nodes,
                    std::ostream& progress, bool tty)
      : coordinatorTarget_(coordinator), nodes_(nodes), progress_(progress), tty_(tty) {}

  [[nodiscard]] std::string parent() const { return qualifiedName(map_.schema, map_.table); }
  [[nodiscard]] std::string onCoordinator(const Partition& partition) const {
    return qualifiedName(map_.schema, partition.name);
  }
  // Where a partition lives: its node, or kCoordinatorNode.
  [[nodiscard]] static std::string placeOf(const Partition& partition) {
    return partition.local() ? std::string(kCoordinatorNode) : partition.node;
  }

  // Connects to the coordinator and finds `partition` there: map_,
  // position_ and source_.
  [[nodiscard]] Status locate(const std::string& partition);
  // The shard node `name` as a destination: one of the nodes given, and
  // holding no partition of the table yet.
  [[nodiscard]] Result<ShardNode> freeNode(const std::string& name) const;
  // Starts the operation's row (`verb` from source_ to `targetNode`), in
  // its plan phase.
  void startOperation(const char* verb, const std::string& targetNode);
  // Opens ends_ from source_ to `destination`.
  [[nodiscard]] Status openEnds(const Partition& destination);

  // Counts the rows `where` selects at the source (empty: all), names the
  // copy phase with them and copies them (copyOnce).
  [[nodiscard]] Status copyRowsOf(const std::string& where, const std::string& label);
  // The rows `where` selects at the source, copied into the emptied
  // destination, with a progress bar labelled `label`.
  [[nodiscard]] Status copyOnce(const std::string& where, const std::string& label,
                                std::int64_t expected);
  // Under the freeze: TransferEnds::verify of those rows, with one recopy
  // (phase "recopy") when they differ; sets rows_.
  [[nodiscard]] Status verifyCopy(const std::string& where, const std::string& sourceName,
                                  const std::string& destinationName, const std::string& label);

  // Holds direct routing of the table (a shard node's partition only, the
  // only kind pools reach straight), freezes writes through the parent on
  // a new coordinator connection and runs `steps` on it, which end with
  // commitSwap(). When a step fails, both frozen transactions (the
  // coordinator's and the source node's) are rolled back.
  [[nodiscard]] Status underFreeze(const char* reason,
                                   const std::function<Status(cluster::PgConnection&)>& steps);
  // The source node's SHARE lock on its table, for a shard node's
  // partition (the coordinator's lock covers a local one).
  [[nodiscard]] Status freezeSourceNode();
  // On the coordinator connection `conn`: the statements that give
  // `partition`, a coordinator table about to join the parent, the parent's
  // owner and grants (pools name such partitions in single-partition
  // statements only when they match).
  [[nodiscard]] Result<std::vector<std::string>> parentPrivilegesFor(
      cluster::PgConnection& conn, const Partition& partition) const;
  // CREATE FOREIGN TABLE of `partition` on target_, as a partition of the
  // parent with `bounds`.
  [[nodiscard]] std::string foreignPartition(const Partition& partition,
                                             const std::string& bounds) const;
  // The swap's last step on the frozen coordinator connection: the routing
  // hold ends in its transaction, which commits.
  [[nodiscard]] Status commitSwap(cluster::PgConnection& locked);

  const cluster::ConnectTarget& coordinatorTarget_;
  const std::vector<ShardNode>& nodes_;
  std::ostream& progress_;
  bool tty_;
  std::optional<cluster::PgConnection> coordinator_;
  std::optional<RoutingHold> hold_;  // after coordinator_: released before it closes
  ShardedTable map_;
  std::size_t position_ = 0;
  Partition source_;
  std::optional<ShardNode> target_;  // a shard node destination
  TransferEnds ends_;
  std::int64_t rows_ = 0;        // verified
  OperationRecorder operation_;  // started once the command knows its target
};

}  // namespace pgswarm::shard
