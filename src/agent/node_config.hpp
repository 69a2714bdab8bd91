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

  [[nodiscard]] std::string lockPath() const { return stateDir + "/pgswarm-agent.lock"; }
  // Outside the data folder: pg_rewind copies every file of its source's
  // data folder and fails on a socket there.
  [[nodiscard]] std::string socketFolder() const { return stateDir + "/pgswarm-socket"; }
  [[nodiscard]] std::string passfilePath() const {
    return stateDir + "/pgswarm-" + name + ".pgpass";
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

// Fills config.pgBin when unset (/usr/lib/postgresql/15/bin, then
// `pg_config --bindir`) and checks that postgres and initdb are there.
[[nodiscard]] Status locatePgBin(NodeConfig& config);

}  // namespace pgswarm::agent
