// Holding direct routing during a partition swap: see routing_hold.hpp.
#include "shard/routing_hold.hpp"

#include <thread>
#include <utility>

#include <fmt/format.h>

#include "shard/shard_catalog.hpp"

namespace pgswarm::shard {
namespace {

using cluster::PgConnection;

// Live readers (recorded within their lifetime) whose last recorded read
// was taken before the hold: their maps may still route the table directly.
constexpr const char* kLaggingReaders = R"(
SELECT reader, to_char(read_at, 'HH24:MI:SS.MS') AS read_at FROM pgswarm.map_readers
WHERE seen_at > now() - lifetime_ms * interval '1 millisecond' AND read_at < $1::timestamptz
ORDER BY reader)";

Status recordHold(PgConnection& coordinator, const ShardedTable& map, const std::string& reason) {
  // A hold whose session ended is a leftover of a killed run.
  auto cleared = coordinator.execute(
      "DELETE FROM pgswarm.routing_holds h WHERE table_schema = $1 AND table_name = $2 AND NOT "
      "EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = h.holder_pid)",
      {map.schema, map.table});
  if (!cleared) return cleared;
  auto held = coordinator.query(
      "INSERT INTO pgswarm.routing_holds (table_schema, table_name, holder_pid, reason) "
      "VALUES ($1, $2, pg_backend_pid(), $3) ON CONFLICT (table_schema, table_name) DO NOTHING "
      "RETURNING holder_pid",
      {map.schema, map.table, reason});
  if (!held) return held.error();
  if (!held->empty()) return Ok{};
  auto holder = coordinator.query(
      "SELECT holder_pid::text AS pid, reason FROM pgswarm.routing_holds WHERE table_schema = $1 "
      "AND table_name = $2",
      {map.schema, map.table});
  std::string who = holder && !holder->empty()
                        ? fmt::format("a {} (coordinator backend {})", holder->text(0, "reason"),
                                      holder->text(0, "pid"))
                        : "another run";
  return makeError("{} of {}.{} is running: wait for it to end", who, map.schema, map.table);
}

std::string listOf(const cluster::QueryRows& rows) {
  std::string list;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!list.empty()) list += ", ";
    list += fmt::format("{} (last read {})", rows.text(i, "reader"), rows.text(i, "read_at"));
  }
  return list;
}

Status waitForReaders(PgConnection& coordinator, const std::string& since,
                      const HoldOptions& options, std::ostream& progress) {
  auto deadline = std::chrono::steady_clock::now() + options.wait;
  bool told = false;
  for (;;) {
    auto lagging = coordinator.query(kLaggingReaders, {since});
    if (!lagging) return lagging.error();
    if (lagging->empty()) return Ok{};
    if (std::chrono::steady_clock::now() >= deadline) {
      return makeError(
          "pools still route the table with a shard map read before the hold: {}. Check that "
          "they reach the coordinator; a stopped pool is forgotten once its lifetime "
          "(pgswarm.map_readers.lifetime_ms) has passed",
          listOf(*lagging));
    }
    if (!told) {
      progress << fmt::format("waiting for {} pool(s) to stop routing straight to the shards\n",
                              lagging->size());
      told = true;
    }
    std::this_thread::sleep_for(options.poll);
  }
}

}  // namespace

Status holdDirectRouting(PgConnection& coordinator, const ShardedTable& map,
                         const HoldOptions& options, std::ostream& progress) {
  // Catalogs made before holds existed get their tables now.
  if (auto ok = ensureCatalog(coordinator); !ok) return ok;
  if (auto held = recordHold(coordinator, map, options.reason); !held) return held;
  // Committed: a reader whose snapshot starts after this time sees it.
  auto since = coordinator.query("SELECT clock_timestamp()::text AS since");
  auto waited = since ? waitForReaders(coordinator, since->text(0, "since"), options, progress)
                      : Status(since.error());
  if (!waited) {
    (void)releaseDirectRouting(coordinator, map);
    return waited;
  }
  return Ok{};
}

Status releaseDirectRouting(PgConnection& coordinator, const ShardedTable& map) {
  return coordinator.execute(
      "DELETE FROM pgswarm.routing_holds WHERE table_schema = $1 AND table_name = $2",
      {map.schema, map.table});
}

Result<RoutingHold> RoutingHold::take(PgConnection& coordinator, const ShardedTable& map,
                                      const HoldOptions& options, std::ostream& progress) {
  if (auto held = holdDirectRouting(coordinator, map, options, progress); !held) {
    return held.error();
  }
  return RoutingHold(coordinator, map);
}

RoutingHold::RoutingHold(RoutingHold&& other) noexcept
    : coordinator_(std::exchange(other.coordinator_, nullptr)), map_(std::move(other.map_)) {}

RoutingHold::~RoutingHold() {
  if (coordinator_ != nullptr) (void)releaseDirectRouting(*coordinator_, map_);
}

// Once committed with the swap the hold is gone; if that commit fails, the
// destructor's delete on the holder's session is harmless.
Status RoutingHold::endIn(PgConnection& transaction) {
  return releaseDirectRouting(transaction, map_);
}

}  // namespace pgswarm::shard
