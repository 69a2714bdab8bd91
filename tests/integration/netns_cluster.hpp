// The chaos tier's cluster: one `pgswarm node` agent per network namespace,
// each namespace joined by a veth pair to a bridge in the root namespace (no
// default route, so a link set down really cuts the host off), and a
// `pgswarm pool` in the root namespace over the nodes' addresses. Needs root.
// Creates, cuts and removes only the namespaces, links and processes it named
// or started itself; never signals anything by name.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "harness.hpp"

namespace pgswarm::test {

class NetnsCluster {
 public:
  static constexpr int kPgPort = 5432;   // in every namespace: they do not collide
  static constexpr int kApiPort = 8008;  // the agents' REST API, likewise

  // Why the chaos tier cannot run here, or "" when it can: it needs root and
  // a working `ip netns add`.
  [[nodiscard]] static std::string unavailableReason();

  // `nodes` agents (node 0 the primary, the others its replicas) and a
  // transaction-mode pool with failover on; `poolArgs` are added to the
  // pool's argv. Throws std::runtime_error (with the logs) when the cluster
  // does not come up; what it had made is removed first.
  NetnsCluster(int nodes, const std::vector<std::string>& poolArgs);
  ~NetnsCluster();
  NetnsCluster(const NetnsCluster&) = delete;
  NetnsCluster& operator=(const NetnsCluster&) = delete;

  [[nodiscard]] int nodeCount() const { return nodes_; }
  // 10.x.y.(10+i), node i's address on the bridge.
  [[nodiscard]] std::string address(int node) const;
  // "10.x.y.(10+i):5432", the node as the pool's console names it.
  [[nodiscard]] std::string hostPort(int node) const;
  // The node whose hostPort is `name`, or -1.
  [[nodiscard]] int nodeNamed(const std::string& name) const;
  [[nodiscard]] const std::string& namespaceName(int node) const { return namespaces_.at(node); }
  [[nodiscard]] const std::string& bridge() const { return bridge_; }
  [[nodiscard]] int poolPort() const { return poolPort_; }
  [[nodiscard]] const std::string& password() const { return password_; }

  // Sets the bridge side of node i's veth pair down (cut) or up (restore).
  // The processes in the namespace keep running.
  bool cut(int node);
  bool restore(int node);

  // Through the pool on 127.0.0.1; `dbname` pgswarm is the admin console.
  [[nodiscard]] RawConn connectPool(const std::string& dbname = "postgres") const;
  // Straight to node i's postgres over the bridge (fails while it is cut).
  [[nodiscard]] RawConn connectNode(int node) const;
  // Straight to node i's postgres over its unix socket: works while its
  // link is cut (sockets in the file system are in no network namespace).
  [[nodiscard]] RawConn connectNodeSocket(int node) const;
  // Runs argv inside node i's namespace (`ip netns exec`), with `env` added.
  CommandOutput runInNamespace(int node, const std::vector<std::string>& argv,
                               const std::map<std::string, std::string>& env = {}) const;

  // kill -9 of node i's agent, then of its postgres (the postmaster in
  // the node's postmaster.pid, checked to be of this cluster). The node
  // stays down. Returns "" or why it could not.
  std::string killNode(int node);
  // SIGKILL to the pool: unblocks every client a hung pool holds (the
  // tests' watchdog).
  void killPool();
  [[nodiscard]] bool poolRunning() const;
  [[nodiscard]] bool agentRunning(int node) const;
  [[nodiscard]] std::string poolLog() const;
  // The last `lines` lines of node i's agent log.
  [[nodiscard]] std::string agentLog(int node, int lines = 60) const;

 private:
  void createNetwork();
  void startAgent(int node);
  void startPool(const std::vector<std::string>& poolArgs);
  void teardown();
  [[nodiscard]] std::string nodeDir(int node) const;
  [[nodiscard]] std::string hostVeth(int node) const {
    return bridge_ + "h" + std::to_string(node);
  }
  [[nodiscard]] std::string nsVeth(int node) const { return bridge_ + "n" + std::to_string(node); }

  TempDir temp_;
  int nodes_;
  std::string bridge_;  // also the prefix of every veth and namespace name
  std::string subnet_;  // "10.x.y"
  std::vector<std::string> namespaces_;
  bool bridgeMade_ = false;
  std::vector<pid_t> agents_;
  pid_t pool_ = -1;
  int poolPort_ = 0;
  std::string password_;
};

}  // namespace pgswarm::test
