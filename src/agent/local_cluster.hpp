// The embedded default: a whole cluster on this machine (`pgswarm up`,
// `status`, `down`). Each node is a `pgswarm node` agent process started
// detached from this command; the cluster folder holds a manifest, the
// generated secrets, and per node its data folder, log and agent PID.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace pgswarm::agent {

struct LocalNode {
  std::string name;  // node0 is created as the primary
  // The replication group: "" for the coordinator's (node0 and its
  // replicas, behind the pool), "shard1".. for a shard node and its replicas.
  std::string group;
  bool createdAsPrimary = false;
  int port = 0;
  int apiPort = 0;
  std::string nodeDir;  // DIR/<name>: agent log, PID, lock, passfile
  [[nodiscard]] std::string dataDir() const { return nodeDir + "/data"; }
  [[nodiscard]] std::string logPath() const { return nodeDir + "/agent.log"; }
  [[nodiscard]] std::string agentPidPath() const { return nodeDir + "/agent.pid"; }
  // Where its postgres puts its unix socket (the agent's state folder is
  // nodeDir, the parent of its data folder), or "" when the socket path
  // would be too long and postgres has none.
  [[nodiscard]] std::string socketDir() const;
};

struct LocalClusterSpec {
  std::string dir;
  int replicas = 2;
  int portBase = 54320;
  int poolPort = 6432;
  int httpPort = 8080;
  std::string password;  // empty: generated and stored in DIR/password
  std::string pgBin;     // empty: the agent's default
  bool failover = true;  // the pool promotes a replica when the primary is lost
  bool sync = false;     // the pool runs synchronous_mode = on
  // The pool's pool_mode: "session" (a client keeps its server connection
  // until it leaves, so default_pool_size clients at most are served at
  // once) or "transaction".
  std::string poolMode = "session";
  int shards = 0;         // shard nodes (each a primary with its own agent)
  int shardReplicas = 0;  // streaming replicas of each shard node
};

// The manifest written by the first `up`: the desired layout of the cluster.
struct LocalCluster {
  std::string dir;
  int poolPort = 0;
  int httpPort = 0;
  bool failover = true;
  bool sync = false;
  std::string poolMode = "session";
  std::vector<LocalNode> nodes;  // each group's primary before its replicas

  // The nodes of one replication group ("" is the coordinator's).
  [[nodiscard]] std::vector<const LocalNode*> groupNodes(const std::string& group) const;
  // The group names in manifest order, "" first.
  [[nodiscard]] std::vector<std::string> groups() const;
  // The node created as the primary of each shard group, in order.
  [[nodiscard]] std::vector<const LocalNode*> shardPrimaries() const;

  [[nodiscard]] std::string manifestPath() const { return dir + "/pgswarm-cluster.json"; }
  [[nodiscard]] std::string passwordPath() const { return dir + "/password"; }
  [[nodiscard]] std::string replicationPasswordPath() const {
    return dir + "/replication-password";
  }
  [[nodiscard]] std::string passfilePath() const { return dir + "/pgpass"; }
  // Bearer token of every agent's POST endpoints (promote, rejoin).
  [[nodiscard]] std::string apiTokenPath() const { return dir + "/api-token"; }
  [[nodiscard]] std::string userlistPath() const { return dir + "/userlist.txt"; }
  [[nodiscard]] std::string poolLogPath() const { return dir + "/pool.log"; }
  [[nodiscard]] std::string poolPidPath() const { return dir + "/pool.pid"; }
};

// `pgswarm up`: creates (first time) or restarts what is stopped, returns
// when the primary is healthy and every replica streams. On failure it stops
// what it started and, for a cluster it was creating, removes the folder.
[[nodiscard]] Result<LocalCluster> upLocalCluster(const LocalClusterSpec& spec);

// `pgswarm down`: stops every agent (and so postgres); --purge removes DIR.
[[nodiscard]] Status downLocalCluster(const std::string& dir, bool purge);

// `pgswarm status`: one JSON object per node plus the pool's ports; nodes
// are probed over libpq, lag comes from the primary's pg_stat_replication.
[[nodiscard]] Result<nlohmann::json> localClusterStatus(const std::string& dir);

[[nodiscard]] Result<LocalCluster> loadLocalCluster(const std::string& dir);

// How to connect, printed by `up`.
[[nodiscard]] std::string connectionHelp(const LocalCluster& cluster);

}  // namespace pgswarm::agent
