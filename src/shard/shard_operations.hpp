// Running `shard create/move/split` commands as the coordinator's catalog
// table pgswarm.operations records them, so pools can show their progress
// (the dashboard's long operations, /api/status, /metrics): one row per
// command, written by the command's OperationRecorder on a coordinator
// session of its own, whose backend pid it records. A command killed
// without ending its row leaves it "running" with a pid no longer live:
// loadOperations reports it as stale, and the next command marks it
// failed. The last kKeptEndedOperations ended rows are kept, older ones
// are deleted when a command starts. Recording never fails a command: a
// coordinator that refuses it costs the dashboard its row, nothing else.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"

namespace pgswarm::shard {

inline constexpr int kKeptEndedOperations = 10;

// One row of pgswarm.operations as a pool reads it; times are milliseconds
// since the Unix epoch on the coordinator's clock.
struct OperationRow {
  std::string database;  // filled by the reader (MapWatcher)
  std::int64_t id = 0;
  std::string table;  // "schema.table"
  std::string verb;   // create, move, split
  std::string partition;
  std::string sourceNode;  // "coordinator" or a shard node
  std::string targetNode;
  std::string phase;  // plan, build, copy, verify, recopy, finish
  // The last copy phase's (copy, recopy) figures, kept through the phases
  // after it: rows counted before it, bytes extrapolated from the bytes
  // per row so far.
  std::int64_t rowsDone = 0;
  std::int64_t bytesDone = 0;
  std::int64_t rowsTotal = 0;
  std::int64_t bytesTotal = 0;
  std::string state;    // running, done, failed, stale (running, its session gone)
  std::string message;  // why it failed
  int backendPid = 0;
  std::int64_t startedAt = 0;
  std::int64_t copyStartedAt = 0;  // the last copy phase's start
  std::int64_t copyUpdatedAt = 0;  // and its last figures
  std::int64_t updatedAt = 0;
  std::int64_t readAt = 0;  // the coordinator's time of this read
  bool operator==(const OperationRow&) const = default;
};

// Every row, newest first; none when the catalog has no operations table
// (made before it existed, or never). Outside a transaction block only:
// each statement must take a fresh snapshot (see the .cpp).
[[nodiscard]] Result<std::vector<OperationRow>> loadOperations(cluster::PgConnection& coordinator);

// What a command is working on; partition and nodes may change (each
// partition of a `shard create`).
struct OperationTarget {
  std::string partition;
  std::string sourceNode;
  std::string targetNode;
};

// The figures of a command's copy phase over its copies (a `shard create`
// copies one partition after the other): rows and bytes done, rows
// counted before it (grown to what is done when writes added rows since),
// and bytes in all extrapolated from the bytes per row so far.
class CopyTally {
 public:
  void start(std::int64_t rowsTotal);
  // The copy under way, as far as it got.
  void copied(const cluster::CopyProgress& progress);
  // The copy under way ended: its rows stay counted.
  void ended(const cluster::CopyProgress& progress);

  [[nodiscard]] std::int64_t rowsDone() const { return ended_.rows + current_.rows; }
  [[nodiscard]] std::int64_t bytesDone() const { return ended_.bytes + current_.bytes; }
  [[nodiscard]] std::int64_t rowsTotal() const { return std::max(rowsTotal_, rowsDone()); }
  [[nodiscard]] std::int64_t bytesTotal() const;

 private:
  std::int64_t rowsTotal_ = 0;
  cluster::CopyProgress ended_;    // of the phase's ended copies
  cluster::CopyProgress current_;  // of the copy under way
};

class OperationRecorder {
 public:
  // Opens the recording session and inserts the command's row (after
  // marking rows of killed commands failed and pruning old ended ones).
  // When that fails the recorder records nothing, after one warning.
  [[nodiscard]] static OperationRecorder start(const cluster::ConnectTarget& coordinator,
                                               const std::string& schema, const std::string& table,
                                               std::string_view verb,
                                               const OperationTarget& target);
  OperationRecorder() = default;  // records nothing
  OperationRecorder(OperationRecorder&& other) noexcept;
  // An unended row of this one is marked failed first.
  OperationRecorder& operator=(OperationRecorder&& other) noexcept;
  OperationRecorder(const OperationRecorder&) = delete;
  OperationRecorder& operator=(const OperationRecorder&) = delete;
  ~OperationRecorder();  // an unended row is marked failed

  // A new phase. With `rowsTotal` a copy phase, whose rows count from 0
  // towards it; other phases keep the last copy's figures.
  void phase(std::string_view name, std::int64_t rowsTotal = 0);
  // The next copies are of this partition, between these nodes.
  void target(const OperationTarget& target);
  // The copy's running totals (CopyProgress of the copy under way),
  // written at most every 250 ms: the hook of copyRows' progress.
  void copied(const cluster::CopyProgress& progress);
  // The copy under way ended: its rows stay counted in the phase.
  void copyEnded(const cluster::CopyProgress& progress);
  // The command's end; `message` says why it failed.
  void finish(bool succeeded, const std::string& message = "");

 private:
  void write(bool force);
  void warnOnce(const std::string& what, const Error& error);

  std::optional<cluster::PgConnection> conn_;
  std::int64_t id_ = 0;
  CopyTally tally_;
  std::chrono::steady_clock::time_point written_{};
  bool warned_ = false;
};

// One step of a command and the phase it is (nullptr: the step names its
// own, as a copy does with its row count, or starts the row, as a plan).
template <typename Command>
struct PhaseStep {
  const char* phase;
  Status (Command::*run)();
};

// `result`, once `operation`'s row says how the command ended.
template <typename Report>
[[nodiscard]] Result<Report> recordEnd(OperationRecorder& operation, Result<Report> result) {
  operation.finish(result.ok(), result ? "" : result.error().message);
  return result;
}

// Runs `steps` in order on `command`, each after naming its phase on
// `operation`, until one fails.
template <typename Command, std::size_t N>
[[nodiscard]] Status runPhases(Command& command, OperationRecorder& operation,
                               const std::array<PhaseStep<Command>, N>& steps) {
  for (const auto& step : steps) {
    if (step.phase != nullptr) operation.phase(step.phase);
    if (auto done = (command.*step.run)(); !done) return done;
  }
  return Ok{};
}

}  // namespace pgswarm::shard
