// Shard commands' progress in the coordinator's catalog: see shard_operations.hpp.
#include "shard/shard_operations.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "shard/shard_catalog.hpp"

namespace pgswarm::shard {
namespace {

using namespace std::chrono_literals;

// Four times a second: a copy of a few seconds still shows it growing.
constexpr auto kWriteInterval = 250ms;
// A coordinator slower than this to update one row would stall the copy
// that reports to it: the update is dropped instead.
constexpr int kStatementTimeoutMs = 2000;

// A running row's session is gone (the command was killed) when no
// backend has its pid, or the one that has it started after the row (the
// pid was reused). backend_start is NULL for other users' sessions to a
// reader without pg_read_all_stats: then the pid alone decides. {} names
// the sessions: pg_stat_activity itself, or a list read from it earlier.
constexpr const char* kSessionGoneFrom = R"(
NOT EXISTS (SELECT 1 FROM {} WHERE a.pid = o.backend_pid
            AND (a.backend_start IS NULL OR a.backend_start <= o.started_at)))";
constexpr const char* kLiveSessions = "pg_catalog.pg_stat_activity a";
constexpr const char* kListedSessions =
    "json_to_recordset($1::json) AS a(pid int, backend_start timestamptz)";

// A reader must see the sessions before it sees the rows: a command marks
// its row done and then ends its session, so a row still running in a
// snapshot taken after its session was seen gone was never marked. Read
// the other way round (one statement's snapshot comes before its
// pg_stat_activity), a command ending meanwhile would show as stale.
constexpr const char* kSessionsQuery = R"(
SELECT coalesce(json_agg(json_build_object('pid', pid, 'backend_start', backend_start)),
                '[]')::text AS sessions
FROM pg_catalog.pg_stat_activity)";

constexpr const char* kOperationsQuery = R"(
SELECT id::text, table_schema || '.' || table_name AS "table", verb, partition_name, source_node,
       target_node, phase, rows_done::text, bytes_done::text, rows_total::text, bytes_total::text,
       CASE WHEN state = 'running' AND {} THEN 'stale' ELSE state END AS state, message,
       backend_pid::text,
       (extract(epoch FROM started_at) * 1000)::bigint::text AS started_ms,
       (extract(epoch FROM copy_started_at) * 1000)::bigint::text AS copy_started_ms,
       (extract(epoch FROM copy_updated_at) * 1000)::bigint::text AS copy_updated_ms,
       (extract(epoch FROM updated_at) * 1000)::bigint::text AS updated_ms,
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS read_ms
FROM pgswarm.operations o ORDER BY started_at DESC, id DESC)";

constexpr const char* kEndKilled = R"(
UPDATE pgswarm.operations o SET state = 'failed', updated_at = clock_timestamp(),
  message = 'its command ended without saying (killed?)'
WHERE state = 'running' AND {})";

constexpr const char* kPruneEnded = R"(
DELETE FROM pgswarm.operations WHERE state <> 'running' AND id NOT IN (
  SELECT id FROM pgswarm.operations WHERE state <> 'running'
  ORDER BY updated_at DESC, id DESC LIMIT {}))";

constexpr const char* kInsert = R"(
INSERT INTO pgswarm.operations (table_schema, table_name, verb, partition_name, source_node,
  target_node, phase, backend_pid)
VALUES ($1, $2, $3, $4, $5, $6, 'plan', pg_backend_pid()) RETURNING id::text)";

std::int64_t toInt64(const std::string& text) {
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

Result<std::vector<OperationRow>> loadOperations(cluster::PgConnection& coordinator) {
  auto exists =
      coordinator.query("SELECT to_regclass('pgswarm.operations') IS NOT NULL AS present");
  if (!exists) return exists.error();
  std::vector<OperationRow> rows;
  if (exists->text(0, "present") != "t") return rows;
  if (coordinator.inTransaction()) {
    return Error{
        "shard operations must be read outside a transaction block: its snapshot would "
        "predate the sessions they are checked against"};
  }
  auto sessions = coordinator.query(kSessionsQuery);
  if (!sessions) return sessions.error();
  auto read = coordinator.query(
      fmt::format(kOperationsQuery, fmt::format(kSessionGoneFrom, kListedSessions)),
      {sessions->text(0, "sessions")});
  if (!read) return read.error();
  for (std::size_t i = 0; i < read->size(); ++i) {
    rows.push_back(
        OperationRow{.id = toInt64(read->text(i, "id")),
                     .table = read->text(i, "table"),
                     .verb = read->text(i, "verb"),
                     .partition = read->text(i, "partition_name"),
                     .sourceNode = read->text(i, "source_node"),
                     .targetNode = read->text(i, "target_node"),
                     .phase = read->text(i, "phase"),
                     .rowsDone = toInt64(read->text(i, "rows_done")),
                     .bytesDone = toInt64(read->text(i, "bytes_done")),
                     .rowsTotal = toInt64(read->text(i, "rows_total")),
                     .bytesTotal = toInt64(read->text(i, "bytes_total")),
                     .state = read->text(i, "state"),
                     .message = read->text(i, "message"),
                     .backendPid = static_cast<int>(toInt64(read->text(i, "backend_pid"))),
                     .startedAt = toInt64(read->text(i, "started_ms")),
                     .copyStartedAt = toInt64(read->text(i, "copy_started_ms")),
                     .copyUpdatedAt = toInt64(read->text(i, "copy_updated_ms")),
                     .updatedAt = toInt64(read->text(i, "updated_ms")),
                     .readAt = toInt64(read->text(i, "read_ms"))});
  }
  return rows;
}

OperationRecorder OperationRecorder::start(const cluster::ConnectTarget& coordinator,
                                           const std::string& schema, const std::string& table,
                                           std::string_view verb, const OperationTarget& target) {
  OperationRecorder recorder;
  auto session = coordinator;
  session.applicationName = fmt::format("pgswarm shard {} progress", verb);
  auto conn = cluster::PgConnection::connect(session);
  auto fail = [&](const Error& error) {
    spdlog::warn("shard {}: its progress will not show on pools' dashboards: {}", verb,
                 error.message);
    return OperationRecorder{};
  };
  if (!conn) return fail(conn.error());
  // Catalogs made before pgswarm.operations existed get it now.
  auto ok = ensureCatalog(*conn);
  if (ok) ok = conn->setStatementTimeout(kStatementTimeoutMs);
  if (ok) ok = conn->execute(fmt::format(kEndKilled, fmt::format(kSessionGoneFrom, kLiveSessions)));
  if (ok) ok = conn->execute(fmt::format(kPruneEnded, kKeptEndedOperations - 1));
  if (!ok) return fail(ok.error());
  auto inserted = conn->query(kInsert, {schema, table, std::string(verb), target.partition,
                                        target.sourceNode, target.targetNode});
  if (!inserted) return fail(inserted.error());
  recorder.id_ = toInt64(inserted->text(0, "id"));
  recorder.conn_.emplace(std::move(*conn));
  return recorder;
}

void CopyTally::start(std::int64_t rowsTotal) {
  rowsTotal_ = rowsTotal;
  ended_ = current_ = {};
}

void CopyTally::copied(const cluster::CopyProgress& progress) {
  current_ = progress;
}

void CopyTally::ended(const cluster::CopyProgress& progress) {
  ended_.rows += progress.rows;
  ended_.bytes += progress.bytes;
  current_ = {};
}

std::int64_t CopyTally::bytesTotal() const {
  if (rowsDone() == 0) return 0;
  return static_cast<std::int64_t>(static_cast<double>(bytesDone()) /
                                   static_cast<double>(rowsDone()) *
                                   static_cast<double>(rowsTotal()));
}

OperationRecorder::OperationRecorder(OperationRecorder&& other) noexcept
    : conn_(std::exchange(other.conn_, std::nullopt)),
      id_(other.id_),
      tally_(other.tally_),
      written_(other.written_),
      warned_(other.warned_) {}

OperationRecorder& OperationRecorder::operator=(OperationRecorder&& other) noexcept {
  if (this == &other) return *this;
  if (conn_) finish(false, "replaced before it ended");
  conn_ = std::exchange(other.conn_, std::nullopt);
  id_ = other.id_;
  tally_ = other.tally_;
  written_ = other.written_;
  warned_ = other.warned_;
  return *this;
}

OperationRecorder::~OperationRecorder() {
  if (conn_) finish(false, "ended without a result");
}

void OperationRecorder::phase(std::string_view name, std::int64_t rowsTotal) {
  if (rowsTotal > 0) tally_.start(rowsTotal);
  if (!conn_) return;
  auto ok = rowsTotal > 0
                ? conn_->execute(
                      "UPDATE pgswarm.operations SET phase = $2, rows_total = $3::bigint, "
                      "rows_done = 0, bytes_done = 0, bytes_total = 0, "
                      "copy_started_at = clock_timestamp(), copy_updated_at = clock_timestamp(), "
                      "updated_at = clock_timestamp() WHERE id = $1::bigint",
                      {std::to_string(id_), std::string(name), std::to_string(rowsTotal)})
                : conn_->execute(
                      "UPDATE pgswarm.operations SET phase = $2, updated_at = clock_timestamp() "
                      "WHERE id = $1::bigint",
                      {std::to_string(id_), std::string(name)});
  if (!ok) warnOnce("phase", ok.error());
  written_ = std::chrono::steady_clock::now();
}

void OperationRecorder::target(const OperationTarget& target) {
  if (!conn_) return;
  auto ok = conn_->execute(
      "UPDATE pgswarm.operations SET partition_name = $2, source_node = $3, target_node = $4, "
      "updated_at = clock_timestamp() WHERE id = $1::bigint",
      {std::to_string(id_), target.partition, target.sourceNode, target.targetNode});
  if (!ok) warnOnce("target", ok.error());
}

void OperationRecorder::copied(const cluster::CopyProgress& progress) {
  tally_.copied(progress);
  write(false);
}

void OperationRecorder::copyEnded(const cluster::CopyProgress& progress) {
  tally_.ended(progress);
  write(true);
}

void OperationRecorder::finish(bool succeeded, const std::string& message) {
  if (!conn_) return;
  auto ok = conn_->execute(
      "UPDATE pgswarm.operations SET state = $2, message = $3, updated_at = clock_timestamp() "
      "WHERE id = $1::bigint",
      {std::to_string(id_), succeeded ? "done" : "failed", message});
  if (!ok) warnOnce("end", ok.error());
  conn_.reset();
}

void OperationRecorder::write(bool force) {
  if (!conn_) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now - written_ < kWriteInterval) return;
  written_ = now;
  auto ok = conn_->execute(
      "UPDATE pgswarm.operations SET rows_done = $2::bigint, bytes_done = $3::bigint, "
      "rows_total = $4::bigint, bytes_total = $5::bigint, copy_updated_at = clock_timestamp(), "
      "updated_at = clock_timestamp() WHERE id = $1::bigint",
      {std::to_string(id_), std::to_string(tally_.rowsDone()), std::to_string(tally_.bytesDone()),
       std::to_string(tally_.rowsTotal()), std::to_string(tally_.bytesTotal())});
  if (!ok) warnOnce("progress", ok.error());
}

void OperationRecorder::warnOnce(const std::string& what, const Error& error) {
  if (warned_) return;
  warned_ = true;
  spdlog::warn("cannot record this command's {} in pgswarm.operations: {}", what, error.message);
}

}  // namespace pgswarm::shard
