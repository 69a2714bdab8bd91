// The postgres supervisor: one Asio loop on the main thread that starts the
// postmaster as its direct child, probes it every second, restarts it with
// backoff when it dies (up to a limit), and shuts it down fast on SIGTERM or
// SIGINT. Never starts a postmaster while another one runs on the folder.
// A rejoin (POST /rejoin) stops postgres deliberately, rewinds or re-clones
// it on a worker thread, and starts it again as a replica; no restart
// backoff or exit handling interferes meanwhile. With node.peers, a check
// every 500 ms on the worker fences a primary that cannot reach any peer
// (fencer.hpp), and a primary's folder is checked against the peers before
// the agent first starts it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <optional>

#include <asio.hpp>

#include "agent/agent_state.hpp"
#include "agent/bootstrap.hpp"
#include "agent/fencer.hpp"
#include "agent/health_prober.hpp"
#include "agent/rejoin.hpp"
#include "runtime/process.hpp"

namespace pgswarm::agent {

class Supervisor {
 public:
  // Installs the signal handlers at once, so a SIGTERM that arrives before
  // run() is queued instead of killing the agent.
  Supervisor(const NodeContext& node, AgentState& state);

  // Runs until shutdown; returns the agent's exit code (0 after a requested
  // stop, 1 when postgres cannot be kept running).
  [[nodiscard]] int run();

  // Thread-safe: starts a rejoin towards `target` on the loop. The caller
  // holds the operation slot (AgentState::beginOperation); the supervisor
  // releases it when the rejoin ends, whatever the outcome.
  void requestRejoin(const RejoinTarget& target);

 private:
  void waitForSignal();
  void onSignal(int signal);
  void startPostgres();
  void spawnPostgres(bool standby);
  void scheduleFenceCheck();
  void onFenceTick();
  void reapChildren();
  void onPostmasterExit(const runtime::ExitStatus& status);
  void scheduleRestart();
  void scheduleTick();
  void onTick();
  void onProbe(ProbeResult result);
  void beginShutdown();
  void escalateShutdown();
  void stopPostmaster();
  void beginRejoin(const RejoinTarget& target);
  void onRejoinChecked(NodeContext next, const Status& checked);
  void runRejoin();
  void onRejoinDone(const Result<RejoinMethod>& done);
  void endRejoin(const std::string& error);
  void fail(const std::string& message);
  void finish(int exitCode);

  NodeContext node_;  // the primary it follows changes with a rejoin
  AgentState& state_;
  asio::io_context loop_;
  asio::signal_set signals_;
  asio::steady_timer tickTimer_;
  asio::steady_timer restartTimer_;
  asio::steady_timer shutdownTimer_;
  asio::steady_timer fenceTimer_;
  HealthProber prober_;                // after loop_: its worker joins before the loop goes
  Fencer fencer_;                      // used only on operations_, which joins before it goes
  asio::thread_pool operations_{1};    // rejoin steps and fence checks; after loop_ and fencer_
  std::optional<NodeContext> rejoin_;  // set from the deliberate stop until the rejoin ends
  bool workerSpawns_ = false;          // pg_rewind/pg_basebackup run: their exits are not ours
  pid_t postmaster_ = -1;
  bool probing_ = false;
  bool fenceChecking_ = false;
  bool spawnPending_ = false;  // the pre-start fence check runs; the spawn follows it
  bool startedOnce_ = false;   // the pre-start fence check runs only before the first start
  bool roleEnsured_ = false;
  bool stopping_ = false;
  int escalations_ = 0;
  int exitCode_ = 0;
  std::deque<std::chrono::steady_clock::time_point> recentExits_;
};

}  // namespace pgswarm::agent
