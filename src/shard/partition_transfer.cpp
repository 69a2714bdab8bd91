// The transfer step of `shard move` and `shard split`: see
// partition_transfer.hpp.
#include "shard/partition_transfer.hpp"

#include <fmt/format.h>

namespace pgswarm::shard {

using cluster::PgConnection;
using cluster::quoteIdentifier;
using cluster::quoteLiteral;

Status PartitionTransfer::locate(const std::string& partition) {
  auto coordinator = connectStable(coordinatorTarget_);
  if (!coordinator) return makeError("coordinator: {}", coordinator.error().message);
  coordinator_.emplace(std::move(*coordinator));
  auto located = locatePartition(*coordinator_, partition);
  if (!located) return located.error();
  map_ = std::move(located->map);
  position_ = located->position;
  source_ = map_.partitions[position_];
  return Ok{};
}

Result<ShardNode> PartitionTransfer::freeNode(const std::string& name) const {
  const ShardNode* node = findNode(nodes_, name);
  if (node == nullptr) {
    return makeError("{} is not a shard node here (nor '{}')", name, kCoordinatorNode);
  }
  for (const auto& partition : map_.partitions) {
    if (partition.node == name) {
      return makeError("{} holds {} of this table already (a node holds at most one)", name,
                       partition.name);
    }
  }
  return *node;
}

void PartitionTransfer::startOperation(const char* verb, const std::string& targetNode) {
  operation_ = OperationRecorder::start(
      coordinatorTarget_, map_.schema, map_.table, verb,
      {.partition = source_.name, .sourceNode = placeOf(source_), .targetNode = targetNode});
  operation_.phase("plan");
}

Status PartitionTransfer::openEnds(const Partition& destination) {
  return ends_.open(*coordinator_, coordinatorTarget_, nodes_, map_, source_, destination);
}

Status PartitionTransfer::copyRowsOf(const std::string& where, const std::string& label) {
  auto counted = checksumOf(*ends_.from.conn, ends_.from.relation, where);
  if (!counted) return counted.error();
  operation_.phase("copy", counted->rows);
  return copyOnce(where, label, counted->rows);
}

Status PartitionTransfer::copyOnce(const std::string& where, const std::string& label,
                                   std::int64_t expected) {
  auto copied = copyRows(CopyJob{.source = *ends_.from.conn,
                                 .selectSql = "SELECT * FROM " + ends_.from.relation +
                                              (where.empty() ? "" : " WHERE " + where),
                                 .target = *ends_.to.conn,
                                 .destination = ends_.to.relation,
                                 .label = label,
                                 .expectedRows = expected,
                                 .operation = &operation_},
                         progress_, tty_);
  if (!copied) return copied.error();
  return Ok{};
}

Status PartitionTransfer::verifyCopy(const std::string& where, const std::string& sourceName,
                                     const std::string& destinationName, const std::string& label) {
  auto verified = ends_.verify(
      where, sourceName, destinationName,
      [&](std::int64_t rows) {
        operation_.phase("recopy", rows);
        auto ok = copyOnce(where, label, rows);
        operation_.phase("verify");
        return ok;
      },
      progress_);
  if (!verified) return verified.error();
  rows_ = verified->rows;
  return Ok{};
}

Status PartitionTransfer::underFreeze(const char* reason,
                                      const std::function<Status(PgConnection&)>& steps) {
  if (!source_.local()) {
    auto hold = RoutingHold::take(*coordinator_, map_, HoldOptions{.reason = reason}, progress_);
    if (!hold) return hold.error();
    hold_.emplace(std::move(*hold));
  }
  // ONLY the parent: every write through the table takes a lock on it,
  // and foreign partitions cannot be locked themselves.
  auto locked = freezeWrites(coordinatorTarget_, parent(), true);
  if (!locked) return locked.error();
  auto done = steps(*locked);
  if (!done) {
    (void)locked->execute("ROLLBACK");
    if (!source_.local()) (void)ends_.from.conn->execute("ROLLBACK");
  }
  return done;
}

Status PartitionTransfer::freezeSourceNode() {
  if (source_.local()) return Ok{};
  if (auto ok = lockForShare(*ends_.from.conn, parent(), false); !ok) {
    return makeError("on {}: {}", source_.node, ok.error().message);
  }
  progress_ << fmt::format("writes to {} frozen on the coordinator and on {}\n", parent(),
                           source_.node);
  return Ok{};
}

std::string PartitionTransfer::foreignPartition(const Partition& partition,
                                                const std::string& bounds) const {
  return fmt::format(
      "CREATE FOREIGN TABLE {} PARTITION OF {} {} SERVER {} OPTIONS (schema_name {}, table_name "
      "{})",
      onCoordinator(partition), parent(), bounds, quoteIdentifier(serverName(*target_)),
      quoteLiteral(map_.schema), quoteLiteral(map_.table));
}

Result<std::vector<std::string>> PartitionTransfer::parentPrivilegesFor(
    PgConnection& conn, const Partition& partition) const {
  auto privileges = readPrivileges(conn, map_.schema, map_.table);
  if (!privileges) return privileges.error();
  return privilegeDdl(*privileges, onCoordinator(partition));
}

Status PartitionTransfer::commitSwap(PgConnection& locked) {
  if (hold_) {
    if (auto ok = hold_->endIn(locked); !ok) return ok;
  }
  return locked.execute("COMMIT");
}

}  // namespace pgswarm::shard
