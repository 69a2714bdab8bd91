// Text of the files the agent writes for postgres: pgswarm.conf (included
// from postgresql.conf), pg_hba.conf, the libpq passfile and the replica's
// primary_conninfo. Pure string functions: no I/O, so every quoting rule is
// unit-tested.
#pragma once

#include <string>

#include "agent/node_config.hpp"

namespace pgswarm::agent {

// The line appended once to postgresql.conf at initialisation.
inline constexpr const char* kIncludeLine = "include_if_exists = 'pgswarm.conf'";
inline constexpr const char* kPgswarmConfName = "pgswarm.conf";

// A value as a postgresql.conf string literal: 'it''s'.
[[nodiscard]] std::string confLiteral(const std::string& value);
// A value as a libpq conninfo value: 'it\'s'.
[[nodiscard]] std::string conninfoValue(const std::string& value);
// A pg_hba.conf token: quoted when it holds anything but [A-Za-z0-9_].
[[nodiscard]] std::string hbaToken(const std::string& value);

// The unix socket folder postgres should use: `folder` when
// "<folder>/.s.PGSQL.<port>" fits in sun_path (107 bytes), else "" (no
// unix socket; the agent then connects over TCP).
[[nodiscard]] std::string socketDirectoryFor(const std::string& folder, int port);

// Where the agent connects to its own postgres: the socket folder, else a
// loopback address postgres listens on, else its first listen address.
[[nodiscard]] std::string localConnectHost(const std::string& listenAddresses,
                                           const std::string& socketDir);

// host=... port=... user=... passfile=... application_name=<name> sslmode=...
[[nodiscard]] std::string primaryConninfo(const NodeConfig& config);

// pgswarm.conf; `standby` adds primary_conninfo and primary_slot_name.
[[nodiscard]] std::string pgswarmConf(const NodeConfig& config, const std::string& socketDir,
                                      bool standby);

// postgresql.auto.conf without primary_conninfo and primary_slot_name: it is
// read after pgswarm.conf, so a copy of the source's (pg_rewind copies it)
// would otherwise override where this replica streams from.
[[nodiscard]] std::string withoutPrimarySettings(const std::string& autoConf);

// pg_hba.conf: SCRAM for every local and TCP connection, replication only for
// the replication user, no trust anywhere.
[[nodiscard]] std::string pgHbaConf(const std::string& replicationUser);

// The passfile line *:*:*:user:password (every host and port), with ':'
// and '\' escaped.
[[nodiscard]] std::string anyHostPassfileLine(const std::string& user, const std::string& password);

}  // namespace pgswarm::agent
