// The settings of `pgswarm node`, declared once as SettingDefs, and their
// validation into a NodeConfig the rest of the agent trusts. Pure apart from
// the secret files Settings reads; finding binaries and OS users is separate
// (locatePgBin) so config resolution stays unit-testable.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/settings.hpp"

namespace pgswarm::agent {

enum class NodeMode { kPrimary, kReplica };
[[nodiscard]] const char* toString(NodeMode mode);

// Another node's postgres (or the pool): something whose reachability
// proves this node is not cut off from the cluster (node.peers).
struct Peer {
  std::string host;
  int port = 0;
  friend bool operator==(const Peer&, const Peer&) = default;
};

// "db2:5432, db3:5432, [::1]:6432" -> peers; empty text -> none. Every entry
// needs a port; an IPv6 address needs its brackets.
[[nodiscard]] Result<std::vector<Peer>> parsePeers(const std::string& text);

// The folder of an agent's postgres unix socket, under its state folder:
// outside the data folder, since pg_rewind copies every file of its
// source's data folder and fails on a socket there.
[[nodiscard]] inline std::string socketFolderIn(const std::string& stateDir) {
  return stateDir + "/pgswarm-socket";
}

struct NodeConfig {
  std::string name;
  std::string dataDir;   // absolute, no trailing slash
  std::string stateDir;  // parent of dataDir: the agent's lock and passfile live here
  std::string listenAddresses;
  int port = 5432;
  NodeMode mode = NodeMode::kPrimary;
  std::string primaryHost;
  int primaryPort = 5432;
  std::string replicationUser;
  std::string replicationPassword;
  std::string replicationSslmode;
  std::string password;  // of the superuser `postgres`
  std::string slot;
  std::string apiToken;  // bearer token of the POST endpoints; empty: they are disabled
  std::string apiListen;
  int apiPort = 8008;
  std::string pgBin;  // empty until locatePgBin fills the default
  std::string runAs;
  std::chrono::seconds primaryWait{60};
  int maxRestarts = 5;
  std::chrono::seconds restartWindow{60};
  std::string logLevel;
  std::vector<Peer> peers;  // empty: fencing is off
  // Unreachable peers for this long fence a primary; 0 turns fencing off.
  std::chrono::milliseconds fenceTimeout{2000};
  // Reachable peers for this long lift a fence without the pool's word
  // (POST /unfence); 0: at once (a node no pool fails over).
  std::chrono::milliseconds unfenceAfter{30000};

  [[nodiscard]] bool fencingEnabled() const { return !peers.empty() && fenceTimeout.count() > 0; }

  [[nodiscard]] std::string lockPath() const { return stateDir + "/pgswarm-agent.lock"; }
  [[nodiscard]] std::string socketFolder() const { return socketFolderIn(stateDir); }
  [[nodiscard]] std::string passfilePath() const {
    return stateDir + "/pgswarm-" + name + ".pgpass";
  }
  // Set while the agent keeps postgres fenced (see fence.hpp).
  [[nodiscard]] std::string fenceStatePath() const {
    return stateDir + "/pgswarm-" + name + ".fence.json";
  }
  [[nodiscard]] std::string binary(const std::string& program) const {
    return pgBin + "/" + program;
  }
};

// Every setting of `pgswarm node` (section [node]); the name default is this
// machine's hostname.
[[nodiscard]] const std::vector<SettingDef>& nodeSettingDefs();

// Validates resolved settings; every message names where the bad value came from.
[[nodiscard]] Result<NodeConfig> nodeConfigFromSettings(const Settings& settings);

// "db-1.Example" -> "db_1_example": a valid replication slot name.
[[nodiscard]] std::string slotNameFor(const std::string& nodeName);

// A node whose name was not given (the hostname default) keeps the name it
// first ran under, recorded in <stateDir>/pgswarm-node-name: a Swarm task's
// hostname is its container ID, new whenever the task is replaced, while the
// replica's slot and the agent's records are keyed by the name. A given name
// is used as it is. Writes the record only when the state folder exists.
[[nodiscard]] Status keepDefaultName(NodeConfig& config, bool nameGiven);

// Fills config.pgBin when unset (/usr/lib/postgresql/15/bin, then
// `pg_config --bindir`) and checks that postgres and initdb are there.
[[nodiscard]] Status locatePgBin(NodeConfig& config);

}  // namespace pgswarm::agent
