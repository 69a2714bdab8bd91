// What the agent knows about its postgres, shared between the supervisor
// (the writer of what the probes see) and the REST API threads (readers of
// copies, which write only the operation slot and a promotion's new role),
// plus the pure answers of the GET endpoints, unit-tested without HTTP.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/tool_output.hpp"
#include "cluster/node_status.hpp"

namespace pgswarm::agent {

enum class AgentPhase {
  kStarting,    // postgres spawned (or being initialised), not yet answering
  kRunning,     // postgres answered at least once since its last start
  kRestarting,  // postgres exited unexpectedly; waiting out the backoff
  kStopped,     // shut down on request
  kFailed,      // gave up (restart limit, or a start that cannot succeed)
};
[[nodiscard]] const char* toString(AgentPhase phase);

struct AgentSnapshot {
  std::string name;
  std::string dataDir;
  int port = 0;
  pid_t agentPid = 0;
  std::chrono::steady_clock::time_point agentStarted{};
  AgentPhase phase = AgentPhase::kStarting;
  bool healthy = false;  // the last probe succeeded
  std::optional<pid_t> postmasterPid;
  std::optional<cluster::NodeStatus> status;  // the last successful probe, while healthy
  int restarts = 0;
  bool fenced = false;  // the agent fenced postgres (fencer.hpp)
  // The last POST /unfence: the pool's coordinator vouching for this primary.
  std::chrono::steady_clock::time_point unfenceRequestedAt{};
  std::string lastError;
  // A failover operation (promote, rejoin) in progress, as "<verb>: <stage>";
  // empty when none runs. At most one runs at a time.
  std::string operation;
  std::string lastOperationError;        // why the last operation failed; cleared by a success
  std::optional<ToolProgress> progress;  // the last base backup or rewind, running or ended
  // The last rejoin that succeeded: "host:port" of its primary, and when
  // postgres was started to follow it.
  std::string rejoinedTo;
  std::chrono::steady_clock::time_point rejoinedAt{};
};

// Mutex-guarded; readers get a copy so no lock is held while answering HTTP.
class AgentState {
 public:
  explicit AgentState(AgentSnapshot initial) : snapshot_(std::move(initial)) {}
  [[nodiscard]] AgentSnapshot snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
  }
  template <typename Fn>
  void update(Fn&& change) {
    std::lock_guard lock(mutex_);
    change(snapshot_);
  }
  // Claims the single operation slot; false when another operation holds it.
  // Test and set under one lock, so two requests can never both win.
  [[nodiscard]] bool beginOperation(const std::string& stage) {
    std::lock_guard lock(mutex_);
    if (!snapshot_.operation.empty()) return false;
    snapshot_.operation = stage;
    return true;
  }
  // Releases the slot; a non-empty error becomes lastOperationError.
  void endOperation(const std::string& error) {
    std::lock_guard lock(mutex_);
    snapshot_.operation.clear();
    snapshot_.lastOperationError = error;
  }

 private:
  mutable std::mutex mutex_;
  AgentSnapshot snapshot_;
};

// HTTP status of each endpoint: 200 or 503.
[[nodiscard]] int healthCode(const AgentSnapshot& snapshot);
[[nodiscard]] int primaryCode(const AgentSnapshot& snapshot);
// 200 only for a replica whose WAL receiver is streaming.
[[nodiscard]] int replicaCode(const AgentSnapshot& snapshot);

// "16/B374D848" -> bytes; nullopt when malformed or empty.
[[nodiscard]] std::optional<uint64_t> parseLsn(const std::string& lsn);

// The /status document.
// A tool run for /status: figures, rate and (while it runs) an ETA.
[[nodiscard]] nlohmann::json progressJson(const ToolProgress& progress);
// One line of text for a progressJson document, as terminals show it:
// "pg_basebackup [#########...........]  45% 12288 of 27000 kB, 5120 kB/s, ETA 3 s".
[[nodiscard]] std::string progressText(const nlohmann::json& progress);

[[nodiscard]] nlohmann::json statusJson(const AgentSnapshot& snapshot,
                                        std::chrono::steady_clock::time_point now);

}  // namespace pgswarm::agent
