// pg_promote over libpq: see promote.hpp.
#include "agent/promote.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

namespace pgswarm::agent {
namespace {

// The timeline of the WAL the server writes now; pg_control_checkpoint()
// would still show the old one until the first checkpoint after promotion.
constexpr const char* kTimelineSql =
    "SELECT pg_is_in_recovery() AS recovering, "
    "substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS timeline";

Result<int64_t> currentTimeline(cluster::PgConnection& conn) {
  auto rows = conn.query(kTimelineSql);
  if (!rows) return rows.error();
  if (rows->text(0, "recovering") != "f") return makeError("postgres is still in recovery");
  auto hex = rows->text(0, "timeline");
  int64_t timeline = 0;
  auto [end, error] = std::from_chars(hex.data(), hex.data() + hex.size(), timeline, 16);
  if (error != std::errc() || end != hex.data() + hex.size() || hex.empty()) {
    return makeError("cannot read the timeline from '{}'", hex);
  }
  return timeline;
}

}  // namespace

Result<int64_t> promoteLocal(const NodeContext& node) {
  auto conn = cluster::PgConnection::connect(localTarget(node));
  if (!conn) return conn.error();
  spdlog::info("promoting postgres to primary (pg_promote)");
  auto promoted = conn->query("SELECT pg_promote(wait => true, wait_seconds => 60) AS done");
  if (!promoted) return makeError("pg_promote failed: {}", promoted.error().message);
  if (promoted->text(0, "done") != "t") {
    return makeError("postgres did not finish promotion within 60 s");
  }
  auto timeline = currentTimeline(*conn);
  if (timeline) spdlog::info("postgres is the primary now, on timeline {}", *timeline);
  return timeline;
}

}  // namespace pgswarm::agent
