// The agent's start-up sequence: see node_agent.hpp.
#include "agent/node_agent.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "agent/agent_state.hpp"
#include "agent/bootstrap.hpp"
#include "agent/data_dir.hpp"
#include "agent/pg_files.hpp"
#include "agent/promote.hpp"
#include "agent/rejoin.hpp"
#include "agent/rest_api.hpp"
#include "agent/supervisor.hpp"

namespace pgswarm::agent {
namespace {

// Clears a folder an earlier, interrupted initialisation of ours left behind,
// and the initdb password file an agent killed during initdb could not delete
// (we hold the state folder's lock, so no one else is using one).
Result<DataDirState> recoverInterruptedInit(const NodeContext& node, const InitMarker& marker,
                                            DataDirState state) {
  removeStaleInitdbPasswordFiles(node.config.stateDir);
  if (!marker.present()) return state;
  if (state.kind == DataDirKind::kCluster || state.kind == DataDirKind::kUnknown) {
    spdlog::warn("an earlier initialisation of '{}' was interrupted; removing what it left",
                 node.config.dataDir);
    removeHalfMadeDataDir(node.config.dataDir, false);
    return inspectDataDir(node.config.dataDir);
  }
  return state;
}

Status reuseCluster(const NodeContext& node, const DataDirState& state) {
  const auto& config = node.config;
  if (auto owner = checkDataDirOwner(config.dataDir, node.runAs); !owner) return owner;
  auto role = state.standby ? NodeMode::kReplica : NodeMode::kPrimary;
  spdlog::info("reusing the existing {} in '{}'", toString(role), config.dataDir);
  if (role != config.mode) {
    spdlog::warn("mode is {} but the data folder holds a {}; the data folder decides",
                 toString(config.mode), toString(role));
  }
  return Ok{};
}

Status initialise(const NodeContext& node, const InitMarker& marker) {
  const auto& config = node.config;
  auto created = createDataDir(config.dataDir, node.runAs);
  if (!created) return created.error();
  if (auto ok = marker.set(config.dataDir); !ok) return ok;
  auto done = config.mode == NodeMode::kPrimary ? initPrimary(node) : cloneReplica(node);
  if (!done) {
    spdlog::info("initialisation failed; removing the half-made data folder '{}'", config.dataDir);
    removeHalfMadeDataDir(config.dataDir, *created);
  }
  marker.clear();
  return done;
}

// Reuse what is there, or initialise an empty folder; never both.
Status prepareDataDir(const NodeContext& node) {
  const auto& config = node.config;
  InitMarker marker(config.stateDir + "/pgswarm-init.incomplete");
  auto state = inspectDataDir(config.dataDir);
  if (!state) return state.error();
  state = recoverInterruptedInit(node, marker, *state);
  if (!state) return state.error();
  switch (state->kind) {
    case DataDirKind::kCluster:
      return reuseCluster(node, *state);
    case DataDirKind::kUnknown:
      return makeError(
          "data folder '{}' holds files but no PostgreSQL cluster (no PG_VERSION); "
          "refusing to initialise over them",
          config.dataDir);
    case DataDirKind::kMissing:
    case DataDirKind::kEmpty:
      return initialise(node, marker);
  }
  return Ok{};
}

AgentSnapshot initialSnapshot(const NodeConfig& config) {
  AgentSnapshot snapshot;
  snapshot.name = config.name;
  snapshot.dataDir = config.dataDir;
  snapshot.port = config.port;
  snapshot.agentPid = ::getpid();
  snapshot.agentStarted = std::chrono::steady_clock::now();
  return snapshot;
}

// The state folder, and in it the socket folder that postgres (as the
// run-as user) must be able to write.
Status prepareFolders(const NodeContext& node) {
  const auto& config = node.config;
  if (auto ok = createStateDir(config.stateDir); !ok) return ok;
  if (node.socketDir.empty()) {
    spdlog::warn("the socket path under '{}' exceeds 107 bytes: no unix socket, TCP only",
                 config.socketFolder());
    return Ok{};
  }
  if (auto made = createDataDir(node.socketDir, node.runAs); !made) {
    return makeError("cannot prepare the socket folder: {}", made.error().message);
  }
  return Ok{};
}

// POST /promote once its checks passed: pg_promote, then release the slot.
ApiAnswer promoteAnswer(const NodeContext& node, AgentState& state) {
  auto timeline = promoteLocal(node);
  if (!timeline) {
    spdlog::error("promotion failed: {}", timeline.error().message);
    state.endOperation(timeline.error().message);
    return errorAnswer(500, timeline.error().message);
  }
  // The next probe would say so within a second; a request in that second
  // must already see a primary (409), not promote again.
  state.update([&](AgentSnapshot& s) {
    if (!s.status) return;
    s.status->role = cluster::NodeRole::kPrimary;
    s.status->timeline = *timeline;
    s.status->streaming = false;
  });
  state.endOperation("");
  return {200, {{"promoted", true}, {"timeline", *timeline}}};
}

}  // namespace

int runNodeAgent(const NodeConfig& given) {
  NodeConfig config = given;
  applyPrimaryOverride(config);
  auto runAs = runtime::runAsWhenRoot(config.runAs);
  if (!runAs) {
    spdlog::error("{}", runAs.error().message);
    return kExitBadConfig;
  }
  NodeContext node{config, *runAs, socketDirectoryFor(config.socketFolder(), config.port)};
  spdlog::info("pgswarm node '{}': {} on port {}, data '{}', postgres as {}", config.name,
               toString(config.mode), config.port, config.dataDir,
               node.runAs ? node.runAs->name : "this user");
  if (config.mode == NodeMode::kPrimary && config.replicationPassword.empty()) {
    spdlog::warn(
        "no replication password given: the replication role '{}' is not created, so "
        "no replica can connect",
        config.replicationUser);
  }
  if (auto ok = prepareFolders(node); !ok) {
    spdlog::error("{}", ok.error().message);
    return kExitFailure;
  }
  auto lock = AgentLock::acquire(config.lockPath(), config.dataDir);
  if (!lock) {
    spdlog::error("{}", lock.error().message);
    return kExitFailure;
  }
  AgentState state(initialSnapshot(config));
  node.onProgress = [&state](const ToolProgress& progress) {
    state.update([&](AgentSnapshot& snapshot) { snapshot.progress = progress; });
  };
  auto api = RestApi::start(config.apiListen, config.apiPort, state, config.apiToken);
  if (!api) {
    spdlog::error("{}", api.error().message);
    return kExitFailure;
  }
  if (auto prepared = prepareDataDir(node); !prepared) {
    spdlog::error("{}", prepared.error().message);
    return kExitFailure;
  }
  Supervisor supervisor(node, state);
  (*api)->setActions(
      {.promote = [&node, &state] { return promoteAnswer(node, state); },
       .rejoin = [&supervisor](const RejoinTarget& target) { supervisor.requestRejoin(target); }});
  int exitCode = supervisor.run();
  (*api)->setActions({});  // before the supervisor they call into goes
  return exitCode;
}

}  // namespace pgswarm::agent
