// A base fixture for the integration suites that share one LocalCluster and
// one pool between their cases, in order. CRTP (`class Failover : public
// ClusterSuite<Failover>`) so that each suite has its own statics. The
// suite's SetUpTestSuite starts the cluster (startCluster), then the pool
// (pool_), and sets ready_ once both are usable; the cases of a suite that
// did not get there are skipped. Both are stopped after the last case, the
// pool first. Connections to the pool, its admin console and a node
// directly either come back as they are (the caller checks PQstatus) or
// throw when they fail, as the suite chooses.
#pragma once

#include <sys/types.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {

// What client(), admin() and direct() do when the connection fails.
enum class ConnectFailure {
  kReturned,  // return it; the caller checks PQstatus
  kThrown,    // throw std::runtime_error with libpq's message
};

template <typename Suite, typename Pool = PoolProcess,
          ConnectFailure kOnConnectFailure = ConnectFailure::kReturned>
class ClusterSuite : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    pool_.reset();
    cluster_.reset();
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "cluster or pool did not come up";
  }

  // A primary and `replicas` replicas (`pgswarm up` with `upArgs`); a fatal
  // failure when `up` fails, so call it in ASSERT_NO_FATAL_FAILURE.
  static void startCluster(int replicas, const std::vector<std::string>& upArgs = {}) {
    cluster_ = std::make_unique<LocalCluster>(replicas);
    auto up = cluster_->up(upArgs);
    ASSERT_EQ(up.exitCode, 0) << up.output;
  }

  static RawConn client() {
    return checked(rawConnect(pool_->port(), "postgres", cluster_->password()), "pool connect: ");
  }
  static RawConn admin() {
    return checked(rawConnect(pool_->port(), "postgres", cluster_->password(), "dbname=pgswarm"),
                   "admin console: ");
  }
  static RawConn direct(int node) {
    return checked(rawConnect(cluster_->nodePort(node), "postgres", cluster_->password()),
                   "node connect: ");
  }

  static std::string nodeName(int node) {
    return "127.0.0.1:" + std::to_string(cluster_->nodePort(node));
  }
  static std::string nodeDir(int node) { return cluster_->dir() + "/node" + std::to_string(node); }

  // A PID from a file of ours, checked to be a process of this cluster; 0
  // when there is none or it is not ours.
  static pid_t ourPid(const std::string& file) {
    std::ifstream in(file);
    pid_t pid = 0;
    if (!(in >> pid)) return 0;
    return runtime::processCommandLine(pid).find(cluster_->dir()) != std::string::npos ? pid : 0;
  }

  // The pool's log and every node's agent log, to stderr (after a failed case).
  static void printLogs() {
    if (pool_ == nullptr) return;
    std::cerr << "pool log:\n" << pool_->log();
    for (int node = 0; node < cluster_->nodeCount(); ++node) {
      std::ifstream agentLog(nodeDir(node) + "/agent.log");
      std::cerr << "node " << node << " agent log:\n" << agentLog.rdbuf();
    }
  }

  static inline std::unique_ptr<LocalCluster> cluster_;
  static inline std::unique_ptr<Pool> pool_;
  static inline bool ready_ = false;

 private:
  static RawConn checked(RawConn conn, const char* what) {
    if constexpr (kOnConnectFailure == ConnectFailure::kThrown) {
      if (PQstatus(conn.get()) != CONNECTION_OK) {
        throw std::runtime_error(what + std::string(PQerrorMessage(conn.get())));
      }
    }
    return conn;
  }
};

}  // namespace pgswarm::test
