// The postgres supervisor: one Asio loop on the main thread that starts the
// postmaster as its direct child, probes it every second, restarts it with
// backoff when it dies (up to a limit), and shuts it down fast on SIGTERM or
// SIGINT. Never starts a postmaster while another one runs on the folder.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>

#include <asio.hpp>

#include "agent/agent_state.hpp"
#include "agent/bootstrap.hpp"
#include "agent/health_prober.hpp"
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

 private:
  void waitForSignal();
  void onSignal(int signal);
  void startPostgres();
  void reapChildren();
  void onPostmasterExit(const runtime::ExitStatus& status);
  void scheduleRestart();
  void scheduleTick();
  void onTick();
  void onProbe(ProbeResult result);
  void beginShutdown();
  void escalateShutdown();
  void fail(const std::string& message);
  void finish(int exitCode);

  const NodeContext& node_;
  AgentState& state_;
  asio::io_context loop_;
  asio::signal_set signals_;
  asio::steady_timer tickTimer_;
  asio::steady_timer restartTimer_;
  asio::steady_timer shutdownTimer_;
  HealthProber prober_;  // after loop_: its worker joins before the loop goes
  pid_t postmaster_ = -1;
  bool probing_ = false;
  bool roleEnsured_ = false;
  bool stopping_ = false;
  int escalations_ = 0;
  int exitCode_ = 0;
  std::deque<std::chrono::steady_clock::time_point> recentExits_;
};

}  // namespace pgswarm::agent
