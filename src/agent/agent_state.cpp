// Endpoint answers over an AgentSnapshot: see agent_state.hpp.
#include "agent/agent_state.hpp"

#include <charconv>

#include <fmt/format.h>

#include "common/progress_estimate.hpp"

namespace pgswarm::agent {
namespace {

constexpr int kOk = 200;
constexpr int kUnavailable = 503;

bool isRole(const AgentSnapshot& snapshot, cluster::NodeRole role) {
  return snapshot.healthy && snapshot.status && snapshot.status->role == role;
}

std::optional<uint64_t> hexNumber(std::string_view text) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

nlohmann::json orNull(const std::string& text) {
  return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
}

}  // namespace

const char* toString(AgentPhase phase) {
  switch (phase) {
    case AgentPhase::kStarting:
      return "starting";
    case AgentPhase::kRunning:
      return "running";
    case AgentPhase::kRestarting:
      return "restarting";
    case AgentPhase::kStopped:
      return "stopped";
    case AgentPhase::kFailed:
      return "failed";
  }
  return "unknown";
}

int healthCode(const AgentSnapshot& snapshot) {
  return snapshot.healthy ? kOk : kUnavailable;
}

int primaryCode(const AgentSnapshot& snapshot) {
  return isRole(snapshot, cluster::NodeRole::kPrimary) ? kOk : kUnavailable;
}

int replicaCode(const AgentSnapshot& snapshot) {
  return isRole(snapshot, cluster::NodeRole::kReplica) && snapshot.status->streaming ? kOk
                                                                                     : kUnavailable;
}

std::optional<uint64_t> parseLsn(const std::string& lsn) {
  auto slash = lsn.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto high = hexNumber(std::string_view(lsn).substr(0, slash));
  auto low = hexNumber(std::string_view(lsn).substr(slash + 1));
  if (!high || !low || *high > 0xFFFFFFFFULL || *low > 0xFFFFFFFFULL) return std::nullopt;
  return (*high << 32) | *low;
}

nlohmann::json progressJson(const ToolProgress& progress) {
  using Seconds = std::chrono::duration<double>;
  double elapsed = Seconds(progress.updated - progress.started).count();
  // The tool's own total is an estimate (pg_basebackup's grows as WAL is
  // written): the shared rule gives no ETA once it is passed.
  auto estimate = estimateProgress(progress.doneKb, progress.totalKb, elapsed, progress.finished);
  auto orNull = [](const auto& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  };
  return {{"tool", progress.tool},
          {"done_kb", progress.doneKb},
          {"total_kb", progress.totalKb},
          {"percent", orNull(estimate.percent)},
          {"started_at", std::chrono::duration_cast<std::chrono::milliseconds>(
                             progress.started.time_since_epoch())
                             .count()},
          {"elapsed_seconds", elapsed},
          {"rate_kb_per_second", estimate.ratePerSecond},
          {"eta_seconds", orNull(estimate.etaSeconds)},
          {"finished", progress.finished},
          {"succeeded",
           progress.finished ? nlohmann::json(progress.succeeded) : nlohmann::json(nullptr)}};
}

std::string progressText(const nlohmann::json& progress) {
  auto number = [&](const char* key) -> std::optional<double> {
    auto it = progress.find(key);
    if (it == progress.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
  };
  auto percent = number("percent");
  auto eta = number("eta_seconds");
  std::string state;
  if (progress.value("finished", false)) {
    state = progress.value("succeeded", nlohmann::json(false)) == true ? ", done" : ", failed";
  }
  return fmt::format("{} {} {:>3}% {:.0f} of {:.0f} kB, {:.0f} kB/s{}{}",
                     progress.value("tool", std::string("?")), progressBarText(percent),
                     percent ? fmt::format("{:.0f}", *percent) : std::string("?"),
                     number("done_kb").value_or(0), number("total_kb").value_or(0),
                     number("rate_kb_per_second").value_or(0),
                     eta ? fmt::format(", ETA {:.0f} s", *eta) : std::string(), state);
}

nlohmann::json statusJson(const AgentSnapshot& snapshot,
                          std::chrono::steady_clock::time_point now) {
  nlohmann::json out{
      {"name", snapshot.name},
      {"role", "unknown"},
      {"state", toString(snapshot.phase)},
      {"healthy", snapshot.healthy},
      {"pid", snapshot.postmasterPid ? nlohmann::json(*snapshot.postmasterPid) : nullptr},
      {"agent_pid", snapshot.agentPid},
      {"agent_uptime_seconds", std::chrono::duration<double>(now - snapshot.agentStarted).count()},
      {"data_dir", snapshot.dataDir},
      {"port", snapshot.port},
      {"timeline", nullptr},
      {"restarts", snapshot.restarts},
      {"fenced", snapshot.fenced},
      {"last_error", orNull(snapshot.lastError)},
  };
  out["operation"] = orNull(snapshot.operation);
  out["last_operation_error"] = orNull(snapshot.lastOperationError);
  out["progress"] = snapshot.progress ? progressJson(*snapshot.progress) : nlohmann::json(nullptr);
  if (!snapshot.status) return out;
  out.update(cluster::toJson(*snapshot.status));
  if (snapshot.status->role == cluster::NodeRole::kReplica) {
    // Received but not yet replayed: the replica's own lag in bytes.
    auto received = parseLsn(snapshot.status->receiveLsn);
    auto replayed = parseLsn(snapshot.status->replayLsn);
    out["replay_lag_bytes"] = received && replayed && *received >= *replayed
                                  ? nlohmann::json(*received - *replayed)
                                  : nlohmann::json(nullptr);
  }
  return out;
}

}  // namespace pgswarm::agent
