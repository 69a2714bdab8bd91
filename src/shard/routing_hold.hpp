// Holding direct routing of a table while `shard move` or `shard split`
// swaps one of its partitions. Pools route single-shard statements by the
// catalog as they last read it (map_watcher.hpp); after the swap, a pool
// still on the old map would read a moved key on the node that no longer
// has it and find nothing. So before the freeze the mover records a hold
// in pgswarm.routing_holds (tied to its coordinator session: a killed mover
// holds nothing), and waits until every pool that reads the catalog has
// recorded in pgswarm.map_readers a read taken after the hold. From then
// on those pools send the table's statements through the coordinator,
// which waits on the freeze and sees the swap whole. The hold is deleted
// in the swap's own transaction, with the new shard map.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/shard_map.hpp"

namespace pgswarm::shard {

struct HoldOptions {
  std::string reason;  // "shard move", "shard split": shown in SHOW SHARD_MAP
  // How long to wait for the pools; past it the hold is released and the
  // caller gives up before anything changed.
  std::chrono::milliseconds wait{15000};
  std::chrono::milliseconds poll{100};
};

// Records the hold on `coordinator` (autocommit; the hold lives as long as
// this session) and waits for every live reader. Refused when another live
// session holds the table.
[[nodiscard]] Status holdDirectRouting(cluster::PgConnection& coordinator, const ShardedTable& map,
                                       const HoldOptions& options, std::ostream& progress);

// The hold's end: run inside the swap's transaction, or alone after a
// failure (then on any coordinator connection).
[[nodiscard]] Status releaseDirectRouting(cluster::PgConnection& coordinator,
                                          const ShardedTable& map);

// A hold for the length of a move: ended in the swap's transaction
// (endIn), or released by the destructor when the move failed before.
class RoutingHold {
 public:
  [[nodiscard]] static Result<RoutingHold> take(cluster::PgConnection& coordinator,
                                                const ShardedTable& map, const HoldOptions& options,
                                                std::ostream& progress);
  RoutingHold(RoutingHold&& other) noexcept;
  RoutingHold& operator=(RoutingHold&&) = delete;
  RoutingHold(const RoutingHold&) = delete;
  RoutingHold& operator=(const RoutingHold&) = delete;
  ~RoutingHold();

  // Deletes the hold in `transaction`, which commits the swap with it.
  [[nodiscard]] Status endIn(cluster::PgConnection& transaction);

 private:
  RoutingHold(cluster::PgConnection& coordinator, ShardedTable map)
      : coordinator_(&coordinator), map_(std::move(map)) {}
  cluster::PgConnection* coordinator_;  // nullptr once ended or moved from
  ShardedTable map_;
};

}  // namespace pgswarm::shard
