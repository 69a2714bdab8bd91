// First start of a node: initdb for a primary, pg_basebackup from the primary
// for a replica; and what every start needs: pgswarm.conf, the passfile, the
// replication role on a primary. Runs the real PostgreSQL tools as the run-as
// user; never initialises over a folder that already holds data.
#pragma once

#include <optional>
#include <string>

#include "agent/node_config.hpp"
#include "agent/tool_output.hpp"
#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "runtime/process.hpp"

namespace pgswarm::agent {

// The node's files and the identity its postgres runs as.
struct NodeContext {
  NodeConfig config;
  std::optional<runtime::RunAs> runAs;  // set when the agent is root
  std::string socketDir;                // "" when the socket path would be too long
  ProgressReport onProgress;            // base backups and rewinds report here (/status)
};

// initdb into the (empty, existing) data folder, then pg_hba.conf and the
// include of pgswarm.conf. The password reaches initdb through a 0600 file
// that is deleted before this returns.
[[nodiscard]] Status initPrimary(const NodeContext& node);

// Deletes initdb password files left in `stateDir` by an agent that was
// killed while initdb ran.
void removeStaleInitdbPasswordFiles(const std::string& stateDir);

// Waits for the primary, drops a stale inactive slot of our name there, and
// clones it with pg_basebackup (creating our slot); then standby.signal,
// pg_hba.conf and the include of pgswarm.conf.
[[nodiscard]] Status cloneReplica(const NodeContext& node);

// The source's socket lock files come along in a copied data folder
// (pg_basebackup, pg_rewind); a stale one naming a PID that is alive here
// would stop our postmaster from starting.
void removeCopiedSocketLocks(const std::string& dataDir);

// Every start: pgswarm.conf from the settings, the include line, and the
// passfile when a primary is configured.
[[nodiscard]] Status writeStartFiles(const NodeContext& node, bool standby);

// The superuser `postgres` with the node's password at host:port: how the
// agent reaches its own postgres and its peers'.
[[nodiscard]] cluster::ConnectTarget superuserTarget(const NodeConfig& config, std::string host,
                                                     int port, std::string applicationName,
                                                     int connectTimeoutSeconds);

// How the agent reaches its own postgres (unix socket when possible).
[[nodiscard]] cluster::ConnectTarget localTarget(const NodeContext& node);

// CREATE or ALTER the replication role (LOGIN REPLICATION, the configured
// password as a SCRAM verifier); idempotent, run at every primary start.
[[nodiscard]] Status ensureReplicationRole(cluster::PgConnection& conn, const NodeConfig& config);

}  // namespace pgswarm::agent
