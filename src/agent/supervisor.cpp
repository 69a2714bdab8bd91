// The supervision loop: see supervisor.hpp.
#include "agent/supervisor.hpp"

#include <signal.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "agent/data_dir.hpp"

namespace pgswarm::agent {
namespace {

using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr auto kTickInterval = seconds(1);
constexpr auto kFenceInterval = std::chrono::milliseconds(500);
constexpr auto kMaxBackoff = seconds(30);
constexpr auto kFastShutdownGrace = seconds(60);       // SIGINT, then SIGQUIT
constexpr auto kImmediateShutdownGrace = seconds(10);  // SIGQUIT, then SIGKILL

// 1 s, 2 s, 4 s ... capped at 30 s, by how many exits the window holds.
seconds backoffFor(std::size_t recentExits) {
  auto shift = std::min<std::size_t>(recentExits, 5);
  return std::min<seconds>(seconds(1L << shift), kMaxBackoff);
}

}  // namespace

Supervisor::Supervisor(const NodeContext& node, AgentState& state)
    : node_(node),
      state_(state),
      signals_(loop_, SIGTERM, SIGINT, SIGCHLD),
      tickTimer_(loop_),
      restartTimer_(loop_),
      shutdownTimer_(loop_),
      fenceTimer_(loop_),
      prober_(node_),
      fencer_(node_, state_) {}

int Supervisor::run() {
  // Asio reports some failures as exceptions; none may leave postgres orphaned.
  try {
    waitForSignal();
    startPostgres();
    scheduleTick();
    if (node_.config.fencingEnabled()) scheduleFenceCheck();
    loop_.run();
  } catch (const std::exception& error) {
    spdlog::error("supervisor failed: {}", error.what());
    if (postmaster_ > 0) runtime::stopProcess(postmaster_, kFastShutdownGrace, SIGINT);
    return 1;
  }
  return exitCode_;
}

void Supervisor::waitForSignal() {
  signals_.async_wait([this](const std::error_code& error, int signal) {
    if (error) return;
    onSignal(signal);
    waitForSignal();
  });
}

void Supervisor::onSignal(int signal) {
  if (signal == SIGCHLD) return reapChildren();
  if (stopping_) {
    spdlog::warn("{} again: stopping postgres immediately", ::strsignal(signal));
    return escalateShutdown();
  }
  spdlog::info("{}: stopping postgres (fast shutdown)", ::strsignal(signal));
  beginShutdown();
}

void Supervisor::startPostgres() {
  if (spawnPending_) return;
  const auto& config = node_.config;
  if (auto other = foreignPostmaster(config.dataDir, -1)) {
    return fail(
        fmt::format("a postmaster (pid {}) that this agent did not start already runs on "
                    "'{}'; refusing to start a second one",
                    *other, config.dataDir));
  }
  auto dataDir = inspectDataDir(config.dataDir);
  if (!dataDir) return fail(dataDir.error().message);
  if (auto written = writeStartFiles(node_, dataDir->standby); !written) {
    return fail(written.error().message);
  }
  // A primary's folder at the agent's start: peers may know a newer primary,
  // and asking them blocks, so it runs on the worker and the spawn follows on
  // the loop. Not before a crash restart: asking a pool whose primary is down
  // can take seconds, and the restart must beat the pool's failover timeout.
  bool checkPeers = !dataDir->standby && !startedOnce_;
  startedOnce_ = true;
  if (!checkPeers) return spawnPostgres(dataDir->standby);
  spawnPending_ = true;
  workerSpawns_ = true;  // pg_controldata's exit is the worker's to collect
  asio::post(operations_, [this] {
    fencer_.fenceBeforeStart();
    asio::post(loop_, [this] {
      spawnPending_ = false;
      workerSpawns_ = false;
      if (stopping_ || rejoin_ || postmaster_ >= 0) return;
      spawnPostgres(false);
    });
  });
}

void Supervisor::spawnPostgres(bool standby) {
  const auto& config = node_.config;
  auto pid = runtime::spawnProcess({.argv = {config.binary("postgres"), "-D", config.dataDir},
                                    .unsetEnv = {"PGDATA", "PGPASSWORD"},
                                    .runAs = node_.runAs,
                                    .newSession = true,  // terminal signals reach only the agent
                                    .closeInheritedFds = true});
  if (!pid) {
    spdlog::error("cannot start postgres: {}", pid.error().message);
    state_.update([&](AgentSnapshot& s) { s.lastError = pid.error().message; });
    return onPostmasterExit(runtime::ExitStatus{});
  }
  postmaster_ = *pid;
  roleEnsured_ = false;
  spdlog::info("started postgres (pid {}) as {} on port {}", postmaster_,
               standby ? "replica" : "primary", config.port);
  state_.update([&](AgentSnapshot& s) {
    s.phase = AgentPhase::kStarting;
    s.postmasterPid = postmaster_;
  });
}

// One SIGCHLD may stand for several exits; orphans reparented to us (as a
// container's PID 1) are collected too.
void Supervisor::reapChildren() {
  // The worker's waitpid() collects its own tools; a waitpid(-1) here would
  // steal their exit status. The postmaster is stopped meanwhile anyway.
  if (workerSpawns_) return;
  while (auto child = runtime::reapAnyChild()) {
    if (child->pid == postmaster_) onPostmasterExit(child->status);
  }
}

void Supervisor::onPostmasterExit(const runtime::ExitStatus& status) {
  postmaster_ = -1;
  state_.update([](AgentSnapshot& s) {
    s.postmasterPid.reset();
    s.healthy = false;
    s.status.reset();
  });
  if (stopping_) {
    spdlog::info("postgres stopped ({})", status.describe());
    return finish(exitCode_);
  }
  if (rejoin_) {
    spdlog::info("postgres stopped for the rejoin ({})", status.describe());
    shutdownTimer_.cancel();  // its escalation must not hit the next postmaster
    escalations_ = 0;
    return runRejoin();
  }
  spdlog::error("postgres exited unexpectedly ({})", status.describe());
  state_.update([&](AgentSnapshot& s) { s.lastError = "postgres exited: " + status.describe(); });
  scheduleRestart();
}

void Supervisor::scheduleRestart() {
  const auto& config = node_.config;
  auto now = steady_clock::now();
  while (!recentExits_.empty() && now - recentExits_.front() > config.restartWindow) {
    recentExits_.pop_front();
  }
  if (static_cast<int>(recentExits_.size()) >= config.maxRestarts) {
    return fail(fmt::format("postgres exited {} times within {} s; giving up",
                            recentExits_.size() + 1, config.restartWindow.count()));
  }
  auto delay = backoffFor(recentExits_.size());
  recentExits_.push_back(now);
  state_.update([](AgentSnapshot& s) {
    s.phase = AgentPhase::kRestarting;
    ++s.restarts;
  });
  spdlog::info("restarting postgres in {} s", delay.count());
  restartTimer_.expires_after(delay);
  restartTimer_.async_wait([this](const std::error_code& error) {
    if (!error && !stopping_) startPostgres();
  });
}

void Supervisor::scheduleTick() {
  tickTimer_.expires_after(kTickInterval);
  tickTimer_.async_wait([this](const std::error_code& error) {
    if (error || stopping_) return;
    onTick();
    scheduleTick();
  });
}

void Supervisor::onTick() {
  reapChildren();  // in case a SIGCHLD was coalesced or lost
  if (postmaster_ < 0 || probing_) return;
  probing_ = true;
  bool ensureRole = !roleEnsured_ && !node_.config.replicationPassword.empty();
  prober_.probe(loop_, ensureRole, [this](ProbeResult result) { onProbe(std::move(result)); });
}

void Supervisor::scheduleFenceCheck() {
  fenceTimer_.expires_after(kFenceInterval);
  fenceTimer_.async_wait([this](const std::error_code& error) {
    if (error || stopping_) return;
    onFenceTick();
    scheduleFenceCheck();
  });
}

// Only while postgres answers: the check needs its role and timeline, and
// never while a rejoin owns the folder.
void Supervisor::onFenceTick() {
  if (postmaster_ < 0 || rejoin_ || fenceChecking_) return;
  auto snapshot = state_.snapshot();
  if (!snapshot.healthy || !snapshot.status) return;
  fenceChecking_ = true;
  asio::post(operations_,
             [this, role = snapshot.status->role, timeline = snapshot.status->timeline] {
               fencer_.check(role, timeline);
               asio::post(loop_, [this] { fenceChecking_ = false; });
             });
}

void Supervisor::onProbe(ProbeResult result) {
  probing_ = false;
  if (stopping_ || postmaster_ < 0) return;
  auto before = state_.snapshot();
  if (!result.status) {
    // Not answering while it starts up is expected; say so quietly.
    auto level = before.phase == AgentPhase::kStarting ? spdlog::level::info : spdlog::level::warn;
    if (before.healthy || before.lastError != result.status.error().message) {
      spdlog::log(level, "postgres does not answer: {}", result.status.error().message);
    }
    state_.update([&](AgentSnapshot& s) {
      s.healthy = false;
      s.status.reset();
      s.lastError = result.status.error().message;
    });
    return;
  }
  if (!before.healthy) {
    spdlog::info("postgres accepts connections as {}", cluster::toString(result.status->role));
  }
  if (result.roleEnsured) {
    roleEnsured_ = true;
    spdlog::info("replication role '{}' is in place", node_.config.replicationUser);
  }
  if (!result.roleError.empty()) spdlog::error("{}", result.roleError);
  state_.update([&](AgentSnapshot& s) {
    s.healthy = true;
    s.phase = AgentPhase::kRunning;
    s.status = *result.status;
    s.lastError = result.roleError;
  });
}

void Supervisor::beginShutdown() {
  stopping_ = true;
  restartTimer_.cancel();
  tickTimer_.cancel();
  fenceTimer_.cancel();
  if (postmaster_ < 0) return finish(exitCode_);
  stopPostmaster();
}

// Fast shutdown, escalated when postgres does not stop in time.
void Supervisor::stopPostmaster() {
  ::kill(postmaster_, SIGINT);
  shutdownTimer_.expires_after(kFastShutdownGrace);
  shutdownTimer_.async_wait([this](const std::error_code& error) {
    if (error) return;
    spdlog::warn("postgres did not stop within {} s", kFastShutdownGrace.count());
    escalateShutdown();
  });
}

// SIGQUIT (immediate shutdown), and SIGKILL if even that is ignored.
void Supervisor::escalateShutdown() {
  if (postmaster_ < 0) return;
  int signal = escalations_++ == 0 ? SIGQUIT : SIGKILL;
  spdlog::warn("sending {} to postgres (pid {})", ::strsignal(signal), postmaster_);
  ::kill(postmaster_, signal);
  shutdownTimer_.expires_after(kImmediateShutdownGrace);
  shutdownTimer_.async_wait([this](const std::error_code& error) {
    if (!error) escalateShutdown();
  });
}

void Supervisor::requestRejoin(const RejoinTarget& target) {
  asio::post(loop_, [this, target] { beginRejoin(target); });
}

// Checks the new primary while postgres still runs: a wrong target must
// not cost this node its data or its uptime.
void Supervisor::beginRejoin(const RejoinTarget& target) {
  if (stopping_) return state_.endOperation("the agent is shutting down");
  spdlog::info("rejoin: becoming a replica of {}:{}", target.host, target.port);
  state_.update([](AgentSnapshot& s) { s.operation = "rejoining: checking the new primary"; });
  asio::post(operations_, [this, next = withPrimary(node_, target)]() mutable {
    auto checked = prepareRejoin(next);
    asio::post(loop_, [this, next = std::move(next), checked = std::move(checked)]() mutable {
      onRejoinChecked(std::move(next), checked);
    });
  });
}

void Supervisor::onRejoinChecked(NodeContext next, const Status& checked) {
  if (!checked) {
    spdlog::error("rejoin refused, postgres left as it was: {}", checked.error().message);
    return state_.endOperation(checked.error().message);
  }
  if (stopping_) return state_.endOperation("the agent is shutting down");
  rejoin_ = std::move(next);
  restartTimer_.cancel();  // a pending restart would race the rewind
  if (postmaster_ < 0) return runRejoin();
  spdlog::info("rejoin: stopping postgres (fast shutdown)");
  state_.update([](AgentSnapshot& s) { s.operation = "rejoining: stopping postgres"; });
  stopPostmaster();
}

void Supervisor::runRejoin() {
  workerSpawns_ = true;
  asio::post(operations_, [this, node = *rejoin_] {
    auto done = rewindOrClone(node, [this](const std::string& stage) {
      spdlog::info("{}", stage);
      state_.update([&](AgentSnapshot& s) { s.operation = stage; });
    });
    if (done) fencer_.forget();  // the rejoin removed the fence's files
    asio::post(loop_, [this, done = std::move(done)] { onRejoinDone(done); });
  });
}

void Supervisor::onRejoinDone(const Result<RejoinMethod>& done) {
  workerSpawns_ = false;
  reapChildren();  // orphans that exited while we held back
  if (!done) return endRejoin(done.error().message);
  // Only these two fields: the prober's worker may be reading node_ now.
  node_.config.primaryHost = rejoin_->config.primaryHost;
  node_.config.primaryPort = rejoin_->config.primaryPort;
  spdlog::info("rejoin: data folder ready by {}; starting postgres as a replica of {}:{}",
               toString(*done), node_.config.primaryHost, node_.config.primaryPort);
  state_.update([&](AgentSnapshot& s) {
    s.rejoinedTo = fmt::format("{}:{}", node_.config.primaryHost, node_.config.primaryPort);
    s.rejoinedAt = std::chrono::steady_clock::now();
  });
  endRejoin("");
  if (!stopping_) startPostgres();
}

// A failed rejoin leaves postgres stopped: the folder may be half rewound,
// so only another rejoin (or an operator) may bring it back.
void Supervisor::endRejoin(const std::string& error) {
  rejoin_.reset();
  if (!error.empty()) {
    spdlog::error("rejoin failed; postgres stays stopped: {}", error);
    state_.update([&](AgentSnapshot& s) {
      s.phase = AgentPhase::kFailed;
      s.lastError = "rejoin failed: " + error;
    });
  }
  state_.endOperation(error);
}

void Supervisor::fail(const std::string& message) {
  spdlog::error("{}", message);
  state_.update([&](AgentSnapshot& s) {
    s.phase = AgentPhase::kFailed;
    s.lastError = message;
  });
  exitCode_ = 1;
  if (postmaster_ >= 0) return beginShutdown();
  finish(1);
}

void Supervisor::finish(int exitCode) {
  exitCode_ = exitCode;
  state_.update([&](AgentSnapshot& s) {
    if (s.phase != AgentPhase::kFailed) s.phase = AgentPhase::kStopped;
    s.healthy = false;
    s.postmasterPid.reset();
  });
  loop_.stop();
}

}  // namespace pgswarm::agent
