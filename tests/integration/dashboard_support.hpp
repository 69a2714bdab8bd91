// Shared by the dashboard's tests: a transaction-mode pool over every node of
// a LocalCluster with its HTTP port (dashboard, /api/status, /metrics) on a
// free loopback port, stopped by PID; GET helpers; and stopping one node's
// agent by the PID it wrote, after checking it is this test's.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "runtime/ports.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {

class DashboardPool {
 public:
  DashboardPool(const LocalCluster& cluster, int healthCheckPeriodMs) {
    // A port is free until someone binds it: two picks can return the same one.
    auto port = runtime::pickFreePort();
    auto httpPort = runtime::pickFreePort();
    for (int tries = 0; port && httpPort && *httpPort == *port && tries < 20; ++tries) {
      httpPort = runtime::pickFreePort();
    }
    if (!port || !httpPort || *httpPort == *port) throw std::runtime_error("no free ports");
    port_ = *port;
    httpPort_ = *httpPort;
    std::string hosts;
    std::string agents;
    for (int i = 0; i < cluster.nodeCount(); ++i) {
      hosts +=
          (i == 0 ? "" : ",") + std::string("127.0.0.1:") + std::to_string(cluster.nodePort(i));
      agents +=
          (i == 0 ? "" : ",") + std::string("127.0.0.1:") + std::to_string(cluster.apiPort(i));
    }
    runtime::SpawnOptions options{.argv = {pgswarmBinary(),
                                           "pool",
                                           "--listen",
                                           "127.0.0.1",
                                           "--port",
                                           std::to_string(port_),
                                           "--hosts",
                                           hosts,
                                           "--auth-file",
                                           cluster.dir() + "/userlist.txt",
                                           "--health-check-password-file",
                                           cluster.passwordPath(),
                                           "--agents",
                                           agents,
                                           "--agent-token-file",
                                           cluster.dir() + "/api-token",
                                           "--pool-mode",
                                           "transaction",
                                           "--workers",
                                           "2",
                                           "--default-pool-size",
                                           "10",
                                           "--admin-users",
                                           "postgres",
                                           "--health-check-period-ms",
                                           std::to_string(healthCheckPeriodMs),
                                           "--http-port",
                                           std::to_string(httpPort_),
                                           "--log-level",
                                           "debug"},
                                  .unsetEnv = {"USER", "PASSWORD", "PASSWORD_FILE", "HOSTS"},
                                  .outputPath = temp_.path() + "/pool.log"};
    auto pid = runtime::spawnProcess(options);
    if (!pid) throw std::runtime_error(pid.error().message);
    pid_ = *pid;
    bool ready = waitUntil([&] { return running() && httpGet(httpPort_, "/health").status == 200; },
                           std::chrono::seconds(30));
    if (!ready) {
      auto why = "pool did not start:\n" + log();
      runtime::stopProcess(pid_, std::chrono::seconds(10));
      throw std::runtime_error(why);
    }
  }
  ~DashboardPool() { runtime::stopProcess(pid_, std::chrono::seconds(10)); }
  DashboardPool(const DashboardPool&) = delete;
  DashboardPool& operator=(const DashboardPool&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] int httpPort() const { return httpPort_; }
  [[nodiscard]] bool running() const {
    (void)runtime::reapChild(pid_);
    return runtime::processAlive(pid_);
  }
  [[nodiscard]] std::string log() const {
    std::ifstream in(temp_.path() + "/pool.log");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // GET /api/status parsed; null when it did not answer 200 with JSON.
  [[nodiscard]] nlohmann::json status(const std::string& query = "") const {
    auto reply = httpGet(httpPort_, "/api/status" + query);
    if (reply.status != 200) return nullptr;
    return nlohmann::json::parse(reply.body, nullptr, false);
  }
  [[nodiscard]] std::string metrics() const { return httpGet(httpPort_, "/metrics").body; }

 private:
  TempDir temp_;
  pid_t pid_ = -1;
  int port_ = 0;
  int httpPort_ = 0;
};

// The agent of node `index`, by the PID it wrote and only if its command
// line names this cluster's folder; it stops its postgres before it exits.
inline ::testing::AssertionResult stopNodeAgent(const LocalCluster& cluster, int index) {
  std::ifstream pidFile(cluster.dir() + "/node" + std::to_string(index) + "/agent.pid");
  pid_t agent = 0;
  if (!(pidFile >> agent)) return ::testing::AssertionFailure() << "no agent.pid";
  auto command = runtime::processCommandLine(agent);
  if (command.find(cluster.dir()) == std::string::npos) {
    return ::testing::AssertionFailure() << "pid " << agent << " is not ours: " << command;
  }
  if (!runtime::stopProcess(agent, std::chrono::seconds(30))) {
    return ::testing::AssertionFailure() << "agent " << agent << " did not stop";
  }
  return ::testing::AssertionSuccess();
}

// The value of one series ("name{labels}") in a Prometheus text; NaN when absent.
inline double metricValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nan("");
}

}  // namespace pgswarm::test
