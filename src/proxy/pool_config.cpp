// Settings of `pgswarm pool` and their validation: see pool_config.hpp.
#include "proxy/pool_config.hpp"

#include <sys/un.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>
#include <thread>

#include "runtime/tls.hpp"

namespace pgswarm::proxy {
namespace {

std::vector<SettingDef> buildDefs() {
  return {
      {.key = "pool.listen_addr",
       .flag = "listen",
       .defaultValue = "127.0.0.1",
       .help = "address the pool listens on (0.0.0.0 for all)"},
      {.key = "pool.listen_port", .flag = "port", .defaultValue = "6432", .help = "pool port"},
      // Pools are shared across workers (one slot counter per user and
      // database), so more workers never mean more server connections.
      {.key = "pool.workers",
       .flag = "workers",
       .defaultValue = std::to_string(defaultWorkers()),
       .help = "event-loop threads (default: the number of cores)"},
      {.key = "pool.pool_mode",
       .flag = "pool-mode",
       .defaultValue = "session",
       .help = "session or transaction"},
      {.key = "pool.hosts",
       .flag = "hosts",
       .env = {"HOSTS"},
       .help = "nodes as host:port:host:port; roles are learned by health checks (until then the "
               "first is the primary)"},
      {.key = "pool.weights",
       .flag = "weights",
       .help = "read weight of each host as a replica, comma separated in hosts order "
               "(default 1 each; 0: no reads)"},
      {.key = "pool.primary_weight",
       .flag = "primary-weight",
       .defaultValue = "0",
       .help = "the primary's read weight while a replica can take reads (0: reads go to "
               "replicas)"},
      {.key = "pool.load_balance",
       .flag = "load-balance",
       .defaultValue = "on",
       .help = "send read-only transactions to replicas (transaction mode)"},
      {.key = "pool.read_your_writes",
       .flag = "read-your-writes",
       .defaultValue = "on",
       .help = "after a client's write, its reads wait for replicas that replayed it"},
      {.key = "pool.max_replica_lag_bytes",
       .flag = "max-replica-lag-bytes",
       .defaultValue = "16777216",
       .help = "replicas further behind the primary's WAL take no reads (0: no bound)"},
      {.key = "pool.max_replica_lag_ms",
       .flag = "max-replica-lag-ms",
       .defaultValue = "10000",
       .help = "replicas whose replay is this far behind in time take no reads (0: no bound)"},
      {.key = "pool.failover",
       .flag = "failover",
       .defaultValue = "on",
       .help = "promote the most caught-up replica when the primary is lost (needs health "
               "checks and two hosts or more)"},
      {.key = "pool.failover_timeout_ms",
       .flag = "failover-timeout-ms",
       .defaultValue = "3000",
       .help = "the primary is lost after this long without a good health check (the last one "
               "failed)"},
      {.key = "pool.maximum_lag_on_failover",
       .flag = "maximum-lag-on-failover",
       .defaultValue = "1048576",
       .help = "bytes of WAL a replica may miss and still be promoted (0: no bound)"},
      {.key = "pool.failover_priorities",
       .flag = "failover-priorities",
       .help = "failover priority of each host, comma separated in hosts order (default 1 "
               "each; higher wins WAL ties; 0: never promoted)"},
      {.key = "pool.primary_restart_grace_ms",
       .flag = "primary-restart-grace-ms",
       .defaultValue = "30000",
       .help = "while the lost primary's agent says it is restarting postgres, the failover waits "
               "this long (from the last good check) for it to come back"},
      {.key = "pool.switchover_timeout_ms",
       .flag = "switchover-timeout-ms",
       .defaultValue = "10000",
       .help = "SWITCHOVER waits this long for running transactions to end, then as long again "
               "for the new primary to replay the old one's WAL"},
      {.key = "pool.agents",
       .flag = "agents",
       .help = "REST API of each host's pgswarm node agent as host:port, in hosts order: "
               "promotion and rejoin of an old primary go through them"},
      {.key = "pool.agent_token",
       .flag = "agent-token",
       .help = "bearer token of the agents' POST endpoints (their api_token)",
       .secret = true},
      {.key = "pool.synchronous_mode",
       .flag = "synchronous-mode",
       .defaultValue = "off",
       .help = "off, on (the pool keeps synchronous_standby_names at ANY 1 of the streaming "
               "replicas and promotes only one of them; async when none streams) or strict "
               "(commits wait when none streams)"},
      {.key = "pool.shard_hosts",
       .flag = "shard-hosts",
       .env = {"SHARD_HOSTS"},
       .help = "shard groups for direct routing as name=host:port,host:port;name=...; names as "
               "pgswarm shard create gave them (transaction mode)"},
      {.key = "pool.shard_agents",
       .flag = "shard-agents",
       .help = "REST API of each shard node's agent, as name=host:port,...;name=... in "
               "shard_hosts order within a group: the group's failover promotes and rejoins "
               "through them (needs agent_token)"},
      {.key = "pool.server_socket_dirs",
       .flag = "server-socket-dirs",
       .help = "nodes on the pool's own host reached through their unix socket, as "
               "host:port=/socket/dir,...: host:port as in hosts or shard_hosts, the directory "
               "of its .s.PGSQL.<port>; TCP when the socket fails. Names stay host:port"},
      {.key = "pool.shard_databases",
       .flag = "shard-databases",
       .defaultValue = "postgres",
       .help = "databases whose pgswarm shard catalog the pool reads, comma separated"},
      {.key = "pool.shard_map_refresh_ms",
       .flag = "shard-map-refresh-ms",
       .defaultValue = "1000",
       .help = "how often the shard catalogs are read (100 at least; 0: no direct routing)"},
      {.key = "pool.health_check_period_ms",
       .flag = "health-check-period-ms",
       .defaultValue = "1000",
       .help = "how often each node is asked its role and WAL positions (100 at least; 0: off)"},
      {.key = "pool.health_check_timeout_ms",
       .flag = "health-check-timeout-ms",
       .defaultValue = "2000",
       .help = "connect and query timeout of a health check"},
      {.key = "pool.health_check_user",
       .flag = "health-check-user",
       .defaultValue = "postgres",
       .help = "user of the health checks' control connections"},
      {.key = "pool.health_check_password",
       .flag = "health-check-password",
       .help = "password of health_check_user (default: its plain password in the auth file)",
       .secret = true},
      {.key = "pool.health_check_dbname",
       .defaultValue = "postgres",
       .help = "database the health checks connect to"},
      {.key = "pool.auth_type",
       .flag = "auth-type",
       .defaultValue = "scram-sha-256",
       .help = "client authentication: scram-sha-256, md5 or trust"},
      {.key = "pool.auth_file",
       .flag = "auth-file",
       .help = "user list in PgBouncer's userlist.txt format"},
      {.key = "pool.user",
       .flag = "user",
       .env = {"USER"},
       .help = "one user (with pool.password) besides the auth file"},
      {.key = "pool.password",
       .flag = "password",
       .env = {"PASSWORD"},
       .help = "password of pool.user",
       .secret = true},
      {.key = "pool.hba_file",
       .flag = "hba-file",
       .help = "client access rules in pg_hba.conf format (host lines); re-read on RELOAD"},
      {.key = "pool.auth_user",
       .flag = "auth-user",
       .help = "user (in the auth file) that runs auth_query for users not in the auth file"},
      {.key = "pool.auth_query",
       .flag = "auth-query",
       .defaultValue = kDefaultAuthQuery,
       .help = "query returning (user name, secret) for $1, run on the primary as auth_user"},
      {.key = "pool.auth_dbname",
       .flag = "auth-dbname",
       .defaultValue = "postgres",
       .help = "database auth_query runs in"},
      {.key = "pool.auth_query_cache_ttl",
       .flag = "auth-query-cache-ttl",
       .defaultValue = "5",
       .help = "seconds a secret found (or not found) by auth_query is reused; 0: never"},
      {.key = "pool.admin_users",
       .flag = "admin-users",
       .defaultValue = "postgres",
       .help = "users allowed on the admin console (comma separated)"},
      {.key = "pool.default_pool_size",
       .flag = "default-pool-size",
       .defaultValue = "20",
       .help = "server connections per (user, database), for the whole process"},
      {.key = "pool.min_pool_size",
       .flag = "min-pool-size",
       .defaultValue = "0",
       .help = "server connections kept open per (user, database) once a client logged in"},
      {.key = "pool.reserve_pool_size",
       .flag = "reserve-pool-size",
       .defaultValue = "0",
       .help = "extra server connections for clients that waited reserve_pool_timeout"},
      {.key = "pool.databases",
       .flag = "databases",
       .help = "per-database pool settings, [pool.databases.<name>] tables in the file or an "
               "inline TOML table: { app = { pool_size = 5, min_pool_size = 1, "
               "reserve_pool_size = 1, max_db_connections = 10 } }; applied on RELOAD",
       .table = true},
      {.key = "pool.users",
       .flag = "users",
       .help = "per-user pool settings, [pool.users.<name>] tables in the file or an inline "
               "TOML table: { alice = { pool_size = 2, max_user_connections = 4 } }; applied on "
               "RELOAD",
       .table = true},
      {.key = "pool.reserve_pool_timeout",
       .flag = "reserve-pool-timeout",
       .defaultValue = "5",
       .help = "seconds a client waits before a reserve connection may be opened for it"},
      {.key = "pool.max_client_conn",
       .flag = "max-client-conn",
       .defaultValue = "1000",
       .help = "client connections accepted at most"},
      {.key = "pool.server_reset_query",
       .defaultValue = "DISCARD ALL",
       .help = "run on a session-mode server connection before another client gets it"},
      {.key = "pool.server_reset",
       .flag = "server-reset",
       .defaultValue = "discard",
       .help = "discard (run server_reset_query) or reconnect (a new backend per session)"},
      {.key = "pool.client_login_timeout",
       .defaultValue = "60",
       .help = "seconds a client has to log in"},
      {.key = "pool.server_connect_timeout",
       .defaultValue = "5",
       .help = "seconds to connect and log in to a server"},
      {.key = "pool.query_wait_timeout",
       .flag = "query-wait-timeout",
       .defaultValue = "120",
       .help = "seconds a client waits for a server connection"},
      {.key = "pool.server_idle_timeout",
       .defaultValue = "600",
       .help = "seconds an idle server connection is kept"},
      {.key = "pool.client_idle_timeout",
       .flag = "client-idle-timeout",
       .defaultValue = "0",
       .help = "seconds a logged-in client may sit idle outside a transaction (0: no limit)"},
      {.key = "pool.idle_transaction_timeout",
       .flag = "idle-transaction-timeout",
       .defaultValue = "0",
       .help = "seconds a client may sit idle inside a transaction (0: no limit)"},
      {.key = "pool.server_lifetime",
       .defaultValue = "3600",
       .help = "seconds after which a server connection is closed once idle"},
      {.key = "pool.max_packet_size",
       .defaultValue = "268435456",
       .help = "largest client message accepted, in bytes"},
      {.key = "pool.http_listen",
       .flag = "http-listen",
       .defaultValue = "127.0.0.1",
       .help = "address of the HTTP endpoint (/metrics, /health, the dashboard); not loopback: "
               "the dashboard asks for an admin user's password"},
      {.key = "pool.http_port",
       .flag = "http-port",
       .defaultValue = "8080",
       .help = "port of the HTTP endpoint; 0 disables it"},
      {.key = "pool.tls_cert_file",
       .flag = "tls-cert-file",
       .env = {"PGSWARM_CLIENT_TLS_CERT_FILE"},
       .help = "PEM certificate (chain) offered to clients that ask for TLS"},
      {.key = "pool.tls_key_file",
       .flag = "tls-key-file",
       .env = {"PGSWARM_CLIENT_TLS_KEY_FILE"},
       .help = "PEM private key of tls_cert_file; mode 0600 (or 0640 owned by root)"},
      {.key = "pool.tls_ca_file",
       .flag = "tls-ca-file",
       .env = {"PGSWARM_CLIENT_TLS_CA_FILE"},
       .help = "PEM CA bundle: client certificates are asked for and checked against it"},
      {.key = "pool.tls_crl_file",
       .flag = "tls-crl-file",
       .env = {"PGSWARM_CLIENT_TLS_CRL_FILE"},
       .help = "PEM certificate revocation lists of tls_ca_file's CAs: revoked client "
               "certificates fail the handshake"},
      {.key = "pool.tls_mode",
       .flag = "tls-mode",
       .env = {"PGSWARM_CLIENT_TLS_SSLMODE"},
       .help = "disable, allow, prefer or require (default: prefer with a certificate, else "
               "disable)"},
      {.key = "pool.tls_protocols",
       .flag = "tls-protocols",
       .defaultValue = "secure",
       .help = "secure (TLS 1.2 and 1.3), tlsv1.2, tlsv1.3 or a comma list of them"},
      {.key = "pool.tls_ciphers",
       .flag = "tls-ciphers",
       .defaultValue = "default",
       .help = "OpenSSL cipher list for TLS 1.2; default: forward-secret strong suites"},
      {.key = "pool.server_tls_sslmode",
       .flag = "server-tls-sslmode",
       .defaultValue = "prefer",
       .help = "TLS to the servers, as libpq's sslmode: disable, allow, prefer, require, "
               "verify-ca, verify-full (unix sockets are never encrypted)"},
      {.key = "pool.server_tls_ca_file",
       .flag = "server-tls-ca-file",
       .help = "PEM root certificates the servers' certificates must chain to (verify-ca, "
               "verify-full)"},
      {.key = "pool.server_tls_crl_file",
       .flag = "server-tls-crl-file",
       .help = "PEM certificate revocation lists of server_tls_ca_file's CAs: a revoked "
               "server certificate fails verify-ca and verify-full (libpq's sslcrl)"},
      {.key = "pool.server_tls_cert_file",
       .flag = "server-tls-cert-file",
       .help = "PEM certificate (chain) the pool presents to servers that ask for one"},
      {.key = "pool.server_tls_key_file",
       .flag = "server-tls-key-file",
       .help = "PEM private key of server_tls_cert_file; mode 0600 (or 0640 owned by root)"},
      {.key = "pool.server_tls_protocols",
       .flag = "server-tls-protocols",
       .defaultValue = "secure",
       .help = "TLS versions towards servers, as tls_protocols"},
      {.key = "pool.server_tls_ciphers",
       .flag = "server-tls-ciphers",
       .defaultValue = "default",
       .help = "OpenSSL cipher list for TLS 1.2 towards servers, as tls_ciphers"},
      {.key = "pool.log_level",
       .flag = "log-level",
       .defaultValue = "info",
       .help = "trace, debug, info, warn, error"},
  };
}

Result<std::chrono::milliseconds> seconds(const Settings& settings, const std::string& key) {
  auto value = settings.integer(key, 0, 86400L * 365);
  if (!value) return value.error();
  return std::chrono::milliseconds(*value * 1000);
}

template <typename Enum>
Result<Enum> choice(const Settings& settings, const std::string& key,
                    std::initializer_list<std::pair<const char*, Enum>> options) {
  auto raw = settings.text(key);
  std::string names;
  for (const auto& [name, value] : options) {
    if (raw == name) return value;
    names += names.empty() ? name : std::string(", ") + name;
  }
  return makeError("{}: '{}' is not one of {}", settings.origin(key), raw, names);
}

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// The files themselves are read when the pool starts (and on RELOAD), so a
// config check does not need them; here only what fits together.
Status readTlsSettings(const Settings& settings, PoolConfig& config) {
  config.tlsCertFile = settings.text("pool.tls_cert_file");
  config.tlsKeyFile = settings.text("pool.tls_key_file");
  config.tlsCaFile = settings.text("pool.tls_ca_file");
  config.tlsCrlFile = settings.text("pool.tls_crl_file");
  config.tlsProtocols = settings.text("pool.tls_protocols");
  config.tlsCiphers = settings.text("pool.tls_ciphers");
  bool haveCert = !config.tlsCertFile.empty() || !config.tlsKeyFile.empty();
  if (haveCert && (config.tlsCertFile.empty() || config.tlsKeyFile.empty())) {
    return makeError("pool.tls_cert_file and pool.tls_key_file must be set together");
  }
  if (!config.tlsCrlFile.empty() && config.tlsCaFile.empty()) {
    return makeError("pool.tls_crl_file needs pool.tls_ca_file (the CAs the lists come from)");
  }
  if (settings.text("pool.tls_mode").empty()) {
    config.tlsMode = haveCert ? ClientTlsMode::kPrefer : ClientTlsMode::kDisable;
  } else {
    auto mode = choice<ClientTlsMode>(settings, "pool.tls_mode",
                                      {{"disable", ClientTlsMode::kDisable},
                                       {"allow", ClientTlsMode::kAllow},
                                       {"prefer", ClientTlsMode::kPrefer},
                                       {"require", ClientTlsMode::kRequire}});
    if (!mode) return mode.error();
    config.tlsMode = *mode;
  }
  if (config.tlsMode != ClientTlsMode::kDisable && !haveCert) {
    return makeError("{} is {}: set pool.tls_cert_file and pool.tls_key_file",
                     settings.origin("pool.tls_mode"), toString(config.tlsMode));
  }
  if (auto versions = runtime::parseTlsProtocols(config.tlsProtocols); !versions) {
    return makeError("{}: {}", settings.origin("pool.tls_protocols"), versions.error().message);
  }
  return Ok{};
}

// server_tls_*: as for the client side, the files are read when the pool
// starts; here only what fits together.
Status readServerTlsSettings(const Settings& settings, PoolConfig& config) {
  using pool::SslMode;
  auto mode = choice<SslMode>(settings, "pool.server_tls_sslmode",
                              {{toString(SslMode::kDisable), SslMode::kDisable},
                               {toString(SslMode::kAllow), SslMode::kAllow},
                               {toString(SslMode::kPrefer), SslMode::kPrefer},
                               {toString(SslMode::kRequire), SslMode::kRequire},
                               {toString(SslMode::kVerifyCa), SslMode::kVerifyCa},
                               {toString(SslMode::kVerifyFull), SslMode::kVerifyFull}});
  if (!mode) return mode.error();
  config.serverTlsMode = *mode;
  config.serverTlsCaFile = settings.text("pool.server_tls_ca_file");
  config.serverTlsCrlFile = settings.text("pool.server_tls_crl_file");
  config.serverTlsCertFile = settings.text("pool.server_tls_cert_file");
  config.serverTlsKeyFile = settings.text("pool.server_tls_key_file");
  config.serverTlsProtocols = settings.text("pool.server_tls_protocols");
  config.serverTlsCiphers = settings.text("pool.server_tls_ciphers");
  if (config.serverTlsCertFile.empty() != config.serverTlsKeyFile.empty()) {
    return makeError("pool.server_tls_cert_file and pool.server_tls_key_file must be set together");
  }
  bool verifies = *mode == SslMode::kVerifyCa || *mode == SslMode::kVerifyFull;
  if (verifies && config.serverTlsCaFile.empty()) {
    return makeError(
        "{} is {}: set pool.server_tls_ca_file to the root certificates to check "
        "the servers' with",
        settings.origin("pool.server_tls_sslmode"), pool::toString(*mode));
  }
  if (auto versions = runtime::parseTlsProtocols(config.serverTlsProtocols); !versions) {
    return makeError("{}: {}", settings.origin("pool.server_tls_protocols"),
                     versions.error().message);
  }
  return Ok{};
}

// One number from 0 to 1000 per host (weights, failover priorities); 1
// each when unset.
Result<std::vector<int>> parsePerHost(const Settings& settings, const std::string& key,
                                      std::string_view what, std::size_t servers) {
  auto text = settings.text(key);
  if (text.empty()) return std::vector<int>(servers, 1);
  std::vector<int> values;
  for (const auto& item : splitList(text)) {
    int value = -1;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec != std::errc() || end != item.data() + item.size() || value < 0 || value > 1000) {
      return makeError("{}: '{}' is not a {} from 0 to 1000", settings.origin(key), item, what);
    }
    values.push_back(value);
  }
  if (values.size() != servers) {
    return makeError("{}: {} {}s for {} hosts", settings.origin(key), values.size(), what, servers);
  }
  return values;
}

Result<std::chrono::milliseconds> milliseconds(const Settings& settings, const std::string& key,
                                               long min) {
  auto value = settings.integer(key, 0, 86400L * 1000);
  if (!value) return value.error();
  if (*value != 0 && *value < min) {
    return makeError("{}: {} ms is below the minimum of {} ms (0 turns it off)",
                     settings.origin(key), *value, min);
  }
  return std::chrono::milliseconds(*value);
}

// Needs config.servers.
Status readRoutingSettings(const Settings& settings, PoolConfig& config) {
  auto weights = parsePerHost(settings, "pool.weights", "weight", config.servers.size());
  auto primaryWeight = settings.integer("pool.primary_weight", 0, 1000);
  auto loadBalance = settings.boolean("pool.load_balance");
  auto readYourWrites = settings.boolean("pool.read_your_writes");
  auto lagBytes = settings.integer("pool.max_replica_lag_bytes", 0, 1L << 50);
  auto lag = milliseconds(settings, "pool.max_replica_lag_ms", 1);
  auto period = milliseconds(settings, "pool.health_check_period_ms", 100);
  auto timeout = milliseconds(settings, "pool.health_check_timeout_ms", 100);
  if (!weights) return weights.error();
  for (const auto* value : {&primaryWeight, &lagBytes}) {
    if (!*value) return value->error();
  }
  for (const auto* value : {&loadBalance, &readYourWrites}) {
    if (!*value) return value->error();
  }
  for (const auto* value : {&lag, &period, &timeout}) {
    if (!*value) return value->error();
  }
  if (timeout->count() == 0) {
    return makeError("{}: must be more than 0", settings.origin("pool.health_check_timeout_ms"));
  }
  config.weights = std::move(*weights);
  config.primaryWeight = static_cast<int>(*primaryWeight);
  config.loadBalance = *loadBalance;
  config.readYourWrites = *readYourWrites;
  config.maxReplicaLagBytes = static_cast<std::uint64_t>(*lagBytes);
  config.maxReplicaLag = *lag;
  config.healthCheckPeriod = *period;
  config.healthCheckTimeout = *timeout;
  config.healthCheckUser = settings.text("pool.health_check_user");
  config.healthCheckPassword = settings.text("pool.health_check_password");
  config.healthCheckDbname = settings.text("pool.health_check_dbname");
  return Ok{};
}

// Needs config.servers.
Status readFailoverSettings(const Settings& settings, PoolConfig& config) {
  auto enabled = settings.boolean("pool.failover");
  auto timeout = milliseconds(settings, "pool.failover_timeout_ms", 500);
  auto lag = settings.integer("pool.maximum_lag_on_failover", 0, 1L << 50);
  auto switchover = milliseconds(settings, "pool.switchover_timeout_ms", 100);
  if (!switchover) return switchover.error();
  auto grace = milliseconds(settings, "pool.primary_restart_grace_ms", 0);
  if (!grace) return grace.error();
  config.primaryRestartGrace = *grace;
  auto priorities =
      parsePerHost(settings, "pool.failover_priorities", "priority", config.servers.size());
  if (!enabled) return enabled.error();
  if (!timeout) return timeout.error();
  if (!lag) return lag.error();
  if (!priorities) return priorities.error();
  if (timeout->count() == 0) {
    return makeError("{}: must be more than 0 (failover = off turns failover off)",
                     settings.origin("pool.failover_timeout_ms"));
  }
  auto mode = settings.text("pool.synchronous_mode");
  if (mode == "off") {
    config.synchronousMode = cluster::SyncMode::kOff;
  } else if (mode == "on") {
    config.synchronousMode = cluster::SyncMode::kOn;
  } else if (mode == "strict") {
    config.synchronousMode = cluster::SyncMode::kStrict;
  } else {
    return makeError("{}: '{}' is not off, on or strict", settings.origin("pool.synchronous_mode"),
                     mode);
  }
  if (auto agents = settings.text("pool.agents"); !agents.empty()) {
    auto parsed = parseHosts(agents);
    if (!parsed) return makeError("{}: {}", settings.origin("pool.agents"), parsed.error().message);
    if (parsed->size() != config.servers.size()) {
      return makeError("{}: {} agents for {} hosts", settings.origin("pool.agents"), parsed->size(),
                       config.servers.size());
    }
    config.agents = std::move(*parsed);
  }
  config.agentToken = settings.text("pool.agent_token");
  if (!config.agents.empty() && config.agentToken.empty()) {
    return makeError("{} is set but pool.agent_token (or agent_token_file) is not",
                     settings.origin("pool.agents"));
  }
  config.switchoverTimeout = *switchover;
  config.failover = *enabled;
  config.failoverTimeout = *timeout;
  config.maximumLagOnFailover = static_cast<std::uint64_t>(*lag);
  config.failoverPriorities = std::move(*priorities);
  return Ok{};
}

// shard_agents has shard_hosts' syntax: each group named there, one agent
// per host. Read after agent_token, which it needs.
Status readShardAgents(const Settings& settings, PoolConfig& config) {
  auto text = settings.text("pool.shard_agents");
  if (text.empty()) return Ok{};
  auto origin = settings.origin("pool.shard_agents");
  auto parsed = parseShardHosts(text);
  if (!parsed) return makeError("{}: {}", origin, parsed.error().message);
  for (auto& agents : *parsed) {
    auto group = std::find_if(config.shardGroups.begin(), config.shardGroups.end(),
                              [&](const ShardGroupConfig& g) { return g.name == agents.name; });
    if (group == config.shardGroups.end()) {
      return makeError("{}: '{}' is not a group of pool.shard_hosts", origin, agents.name);
    }
    if (agents.servers.size() != group->servers.size()) {
      return makeError("{}: {} agents for the {} hosts of shard group '{}'", origin,
                       agents.servers.size(), group->servers.size(), agents.name);
    }
    group->agents = std::move(agents.servers);
  }
  if (config.agentToken.empty()) {
    return makeError("{} is set but pool.agent_token (or agent_token_file) is not", origin);
  }
  return Ok{};
}

// pool.databases / pool.users: the text of an inline TOML table (a table
// in the file arrives as that text too, see SettingDef::table).
Result<toml::table> inlineTable(const Settings& settings, const std::string& key) {
  auto text = settings.text(key);
  if (text.empty()) return toml::table{};
  // toml++ throws on a syntax error; not the data plane, so caught here.
  try {
    auto document = toml::parse("value = " + text);
    if (auto* table = document["value"].as_table()) return std::move(*table);
  } catch (const toml::parse_error& err) {
    return makeError("{}: '{}' is not an inline TOML table ({})", settings.origin(key), text,
                     err.description());
  }
  return makeError("{}: '{}' is not a table like {{ name = {{ pool_size = 2 }} }}",
                   settings.origin(key), text);
}

struct SizeKey {
  std::string_view name;
  long min;
  long max;
};

// One entry's numbers by key name, each checked against its range; a key
// not in `keys` is a typo and an error.
Result<std::map<std::string, int, std::less<>>> sizeEntry(const std::string& where,
                                                          const toml::node& node,
                                                          std::initializer_list<SizeKey> keys) {
  const auto* table = node.as_table();
  if (table == nullptr) return makeError("{}: expected a table like {{ pool_size = 2 }}", where);
  std::map<std::string, int, std::less<>> values;
  for (const auto& [name, value] : *table) {
    // Not the binding itself: clang 14 cannot capture a structured binding.
    const std::string_view keyName = name.str();
    const auto* key = std::find_if(keys.begin(), keys.end(),
                                   [keyName](const SizeKey& k) { return k.name == keyName; });
    if (key == keys.end()) {
      std::string known;
      for (const auto& k : keys) known += (known.empty() ? "" : ", ") + std::string(k.name);
      return makeError("{}: unknown key '{}' (known: {})", where, name.str(), known);
    }
    auto number = value.value_exact<std::int64_t>();
    if (!number) {
      std::ostringstream text;
      value.visit([&](const auto& shown) { text << shown; });
      return makeError("{}.{}: {} is not a whole number", where, name.str(), text.str());
    }
    if (*number < key->min || *number > key->max) {
      return makeError("{}.{}: {} is out of range ({}..{})", where, name.str(), *number, key->min,
                       key->max);
    }
    values[std::string(name.str())] = static_cast<int>(*number);
  }
  return values;
}

std::optional<int> valueOf(const std::map<std::string, int, std::less<>>& values,
                           std::string_view key) {
  auto it = values.find(key);
  return it == values.end() ? std::nullopt : std::optional<int>(it->second);
}

constexpr long kMaxPoolSize = 100000;
constexpr long kMaxCap = 1000000;

Status readDatabaseSizes(const Settings& settings, pool::PoolSizes& sizes) {
  auto table = inlineTable(settings, "pool.databases");
  if (!table) return table.error();
  for (const auto& [name, node] : *table) {
    auto where = fmt::format("{}: database '{}'", settings.origin("pool.databases"), name.str());
    // PgBouncer's names; reserve_pool is its older spelling.
    auto entry = sizeEntry(where, node,
                           {{"pool_size", 1, kMaxPoolSize},
                            {"min_pool_size", 0, kMaxPoolSize},
                            {"reserve_pool_size", 0, kMaxPoolSize},
                            {"reserve_pool", 0, kMaxPoolSize},
                            {"max_db_connections", 0, kMaxCap}});
    if (!entry) return entry.error();
    if (entry->count("reserve_pool") != 0 && entry->count("reserve_pool_size") != 0) {
      return makeError("{}: reserve_pool and reserve_pool_size are the same setting; give one",
                       where);
    }
    pool::DatabaseSizes database{
        .poolSize = valueOf(*entry, "pool_size"),
        .minPoolSize = valueOf(*entry, "min_pool_size"),
        .reservePoolSize = valueOf(*entry, "reserve_pool_size"),
        .maxConnections = valueOf(*entry, "max_db_connections").value_or(0)};
    if (!database.reservePoolSize) database.reservePoolSize = valueOf(*entry, "reserve_pool");
    int poolSize = database.poolSize.value_or(sizes.defaultPoolSize);
    int minPoolSize = database.minPoolSize.value_or(sizes.minPoolSize);
    if (minPoolSize > poolSize) {
      return makeError("{}: min_pool_size ({}) is more than its pool_size ({})", where, minPoolSize,
                       poolSize);
    }
    sizes.databases.emplace(std::string(name.str()), database);
  }
  return Ok{};
}

Status readUserSizes(const Settings& settings, pool::PoolSizes& sizes) {
  auto table = inlineTable(settings, "pool.users");
  if (!table) return table.error();
  for (const auto& [name, node] : *table) {
    auto where = fmt::format("{}: user '{}'", settings.origin("pool.users"), name.str());
    auto entry = sizeEntry(where, node,
                           {{"pool_size", 1, kMaxPoolSize}, {"max_user_connections", 0, kMaxCap}});
    if (!entry) return entry.error();
    sizes.users.emplace(
        std::string(name.str()),
        pool::UserSizes{.poolSize = valueOf(*entry, "pool_size"),
                        .maxConnections = valueOf(*entry, "max_user_connections").value_or(0)});
  }
  return Ok{};
}

Status readPoolSizes(const Settings& settings, pool::PoolSizes& sizes) {
  auto poolSize = settings.integer("pool.default_pool_size", 1, kMaxPoolSize);
  auto minPool = settings.integer("pool.min_pool_size", 0, kMaxPoolSize);
  auto reservePool = settings.integer("pool.reserve_pool_size", 0, kMaxPoolSize);
  for (const auto* value : {&poolSize, &minPool, &reservePool}) {
    if (!*value) return value->error();
  }
  sizes.defaultPoolSize = static_cast<int>(*poolSize);
  sizes.minPoolSize = static_cast<int>(*minPool);
  sizes.reservePoolSize = static_cast<int>(*reservePool);
  if (sizes.minPoolSize > sizes.defaultPoolSize) {
    return makeError("{} ({}) is more than pool.default_pool_size ({})",
                     settings.origin("pool.min_pool_size"), sizes.minPoolSize,
                     sizes.defaultPoolSize);
  }
  if (auto databases = readDatabaseSizes(settings, sizes); !databases) return databases;
  return readUserSizes(settings, sizes);
}

Status readShardSettings(const Settings& settings, PoolConfig& config) {
  auto groups = parseShardHosts(settings.text("pool.shard_hosts"));
  if (!groups)
    return makeError("{}: {}", settings.origin("pool.shard_hosts"), groups.error().message);
  auto refresh = milliseconds(settings, "pool.shard_map_refresh_ms", 100);
  if (!refresh) return refresh.error();
  config.shardGroups = std::move(*groups);
  if (auto agents = readShardAgents(settings, config); !agents) return agents;
  config.shardMapRefresh = *refresh;
  config.shardDatabases = splitList(settings.text("pool.shard_databases"));
  if (!config.shardGroups.empty() && config.shardDatabases.empty()) {
    return makeError("{}: no database given", settings.origin("pool.shard_databases"));
  }
  return Ok{};
}

// Gives each node listed in server_socket_dirs its socket route; a
// listed node that is no node of hosts or shard_hosts is a typo.
Status readServerSocketDirs(const Settings& settings, PoolConfig& config) {
  auto origin = settings.origin("pool.server_socket_dirs");
  auto routes = parseServerSocketDirs(settings.text("pool.server_socket_dirs"));
  if (!routes) return makeError("{}: {}", origin, routes.error().message);
  std::vector<pool::ServerAddress*> nodes;
  for (auto& server : config.servers) nodes.push_back(&server);
  for (auto& group : config.shardGroups) {
    for (auto& server : group.servers) nodes.push_back(&server);
  }
  for (const auto& route : *routes) {
    bool found = false;
    for (auto* node : nodes) {
      if (*node != route) continue;
      if (node->unixSocket()) {
        return makeError("{}: node {} is a socket directory already", origin, node->host);
      }
      node->socketDir = route.socketDir;
      found = true;
    }
    if (!found) {
      return makeError("{}: {}:{} is no node of pool.hosts or pool.shard_hosts", origin, route.host,
                       route.port);
    }
  }
  return Ok{};
}

}  // namespace

Result<std::vector<pool::ServerAddress>> parseServerSocketDirs(const std::string& text) {
  std::vector<pool::ServerAddress> routes;
  for (const auto& entry : splitList(text)) {
    auto equals = entry.find('=');
    if (equals == std::string::npos) return makeError("'{}' is not host:port=/dir", entry);
    auto node = parseHosts(entry.substr(0, equals));
    if (!node || node->size() != 1) return makeError("'{}' is not host:port=/dir", entry);
    auto route = node->front();
    route.socketDir = entry.substr(equals + 1);
    if (route.socketDir.empty() || route.socketDir.front() != '/') {
      return makeError("'{}': the socket directory must be an absolute path", entry);
    }
    while (route.socketDir.size() > 1 && route.socketDir.back() == '/') route.socketDir.pop_back();
    auto path = route.socketDir + "/.s.PGSQL." + std::to_string(route.port);
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      return makeError("'{}': the socket path {} is longer than {} bytes", entry, path,
                       sizeof(sockaddr_un::sun_path) - 1);
    }
    if (std::find(routes.begin(), routes.end(), route) != routes.end()) {
      return makeError("{}:{} is given twice", route.host, route.port);
    }
    routes.push_back(std::move(route));
  }
  return routes;
}

Result<std::vector<ShardGroupConfig>> parseShardHosts(const std::string& text) {
  std::vector<ShardGroupConfig> groups;
  std::stringstream in(text);
  std::string entry;
  while (std::getline(in, entry, ';')) {
    // Names and addresses hold no blanks: any around the separators go.
    std::erase_if(entry, [](char c) { return c == ' ' || c == '\t'; });
    if (entry.empty()) continue;
    auto equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) {
      return makeError("'{}' is not name=host:port,...", entry);
    }
    ShardGroupConfig group{.name = entry.substr(0, equals)};
    for (const auto& other : groups) {
      if (other.name == group.name) return makeError("shard group '{}' is given twice", group.name);
    }
    auto servers = parseHosts(entry.substr(equals + 1));
    if (!servers) return makeError("shard group '{}': {}", group.name, servers.error().message);
    group.servers = std::move(*servers);
    groups.push_back(std::move(group));
  }
  return groups;
}

const char* toString(PoolMode mode) {
  return mode == PoolMode::kSession ? "session" : "transaction";
}

const char* toString(ClientTlsMode mode) {
  switch (mode) {
    case ClientTlsMode::kDisable:
      return "disable";
    case ClientTlsMode::kAllow:
      return "allow";
    case ClientTlsMode::kPrefer:
      return "prefer";
    case ClientTlsMode::kRequire:
      return "require";
  }
  return "?";
}

const char* toString(ClientAuthMethod method) {
  switch (method) {
    case ClientAuthMethod::kScramSha256:
      return "scram-sha-256";
    case ClientAuthMethod::kMd5:
      return "md5";
    case ClientAuthMethod::kTrust:
      return "trust";
    case ClientAuthMethod::kCert:
      return "cert";
  }
  return "?";
}

int defaultWorkers() {
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1U, 256U));
}

const std::vector<SettingDef>& poolSettingDefs() {
  static const std::vector<SettingDef> defs = buildDefs();
  return defs;
}

Result<std::vector<pool::ServerAddress>> parseHosts(const std::string& text) {
  std::vector<std::string> parts;
  std::string normalised = text;
  std::replace(normalised.begin(), normalised.end(), ',', ':');
  std::stringstream in(normalised);
  std::string part;
  while (std::getline(in, part, ':')) parts.push_back(part);
  if (parts.empty() || parts.size() % 2 != 0) {
    return makeError("hosts '{}' must be host:port pairs (host:port:host:port...)", text);
  }
  std::vector<pool::ServerAddress> servers;
  for (std::size_t i = 0; i < parts.size(); i += 2) {
    int port = 0;
    auto [end, ec] =
        std::from_chars(parts[i + 1].data(), parts[i + 1].data() + parts[i + 1].size(), port);
    if (parts[i].empty() || ec != std::errc() || end != parts[i + 1].data() + parts[i + 1].size() ||
        port < 1 || port > 65535) {
      return makeError("hosts '{}': '{}:{}' is not host:port", text, parts[i], parts[i + 1]);
    }
    servers.push_back({parts[i], port});
  }
  return servers;
}

Result<PoolConfig> poolConfigFromSettings(const Settings& settings) {
  PoolConfig config;
  config.listenAddress = settings.text("pool.listen_addr");
  auto port = settings.integer("pool.listen_port", 1, 65535);
  auto workers = settings.integer("pool.workers", 1, 256);
  auto maxClients = settings.integer("pool.max_client_conn", 1, 1000000);
  auto maxPacket = settings.integer("pool.max_packet_size", 1024, 1L << 30);
  for (const auto* value : {&port, &workers, &maxClients, &maxPacket}) {
    if (!*value) return value->error();
  }
  config.listenPort = static_cast<int>(*port);
  config.workers = static_cast<int>(*workers);
  config.maxClientConnections = static_cast<int>(*maxClients);
  config.maxPacketSize = static_cast<std::size_t>(*maxPacket);
  if (auto sizes = readPoolSizes(settings, config.sizes); !sizes) return sizes.error();

  auto mode =
      choice<PoolMode>(settings, "pool.pool_mode",
                       {{"session", PoolMode::kSession}, {"transaction", PoolMode::kTransaction}});
  auto authType = choice<ClientAuthMethod>(settings, "pool.auth_type",
                                           {{"scram-sha-256", ClientAuthMethod::kScramSha256},
                                            {"md5", ClientAuthMethod::kMd5},
                                            {"trust", ClientAuthMethod::kTrust}});
  auto reset = choice<ServerReset>(
      settings, "pool.server_reset",
      {{"discard", ServerReset::kDiscard}, {"reconnect", ServerReset::kReconnect}});
  if (!mode) return mode.error();
  if (!authType) return authType.error();
  if (!reset) return reset.error();
  config.mode = *mode;
  config.authType = *authType;
  config.serverReset = *reset;

  if (settings.text("pool.hosts").empty()) {
    return makeError("no servers: set pool.hosts (--hosts, HOSTS=host:port:host:port)");
  }
  auto servers = parseHosts(settings.text("pool.hosts"));
  if (!servers) return makeError("{}: {}", settings.origin("pool.hosts"), servers.error().message);
  config.servers = std::move(*servers);

  if (auto routing = readRoutingSettings(settings, config); !routing) return routing.error();
  if (auto failover = readFailoverSettings(settings, config); !failover) return failover.error();
  if (auto shards = readShardSettings(settings, config); !shards) return shards.error();
  if (auto routes = readServerSocketDirs(settings, config); !routes) return routes.error();

  config.authFile = settings.text("pool.auth_file");
  config.seedUser = settings.text("pool.user");
  config.seedPassword = settings.text("pool.password");
  if (config.authFile.empty() && (config.seedUser.empty() || config.seedPassword.empty())) {
    return makeError(
        "no users: set pool.auth_file (--auth-file) or pool.user and pool.password "
        "(USER / PASSWORD or PASSWORD_FILE)");
  }
  config.hbaFile = settings.text("pool.hba_file");
  config.authUser = settings.text("pool.auth_user");
  config.authQuery = settings.text("pool.auth_query");
  config.authDbname = settings.text("pool.auth_dbname");
  if (!config.authUser.empty() && (config.authQuery.empty() || config.authDbname.empty())) {
    return makeError(
        "pool.auth_user is set: pool.auth_query and pool.auth_dbname must not be empty");
  }
  config.adminUsers = splitList(settings.text("pool.admin_users"));
  config.serverResetQuery = settings.text("pool.server_reset_query");

  struct Timeout {
    const char* key;
    std::chrono::milliseconds* target;
  };
  for (const auto& [key, target] :
       {Timeout{"pool.client_login_timeout", &config.clientLoginTimeout},
        Timeout{"pool.server_connect_timeout", &config.serverConnectTimeout},
        Timeout{"pool.query_wait_timeout", &config.queryWaitTimeout},
        Timeout{"pool.reserve_pool_timeout", &config.reservePoolTimeout},
        Timeout{"pool.server_idle_timeout", &config.serverIdleTimeout},
        Timeout{"pool.server_lifetime", &config.serverLifetime},
        Timeout{"pool.client_idle_timeout", &config.clientIdleTimeout},
        Timeout{"pool.idle_transaction_timeout", &config.idleTransactionTimeout},
        Timeout{"pool.auth_query_cache_ttl", &config.authQueryCacheTtl}}) {
    auto value = seconds(settings, key);
    if (!value) return value.error();
    *target = *value;
  }
  if (auto tls = readTlsSettings(settings, config); !tls) return tls.error();
  if (auto tls = readServerTlsSettings(settings, config); !tls) return tls.error();
  config.logLevel = settings.text("pool.log_level");
  config.httpListen = settings.text("pool.http_listen");
  auto httpPort = settings.integer("pool.http_port", 0, 65535);
  if (!httpPort) return httpPort.error();
  config.httpPort = static_cast<int>(*httpPort);
  return config;
}

namespace {

std::string joinAddresses(const std::vector<pool::ServerAddress>& addresses) {
  std::string joined;
  for (const auto& address : addresses) {
    joined += (joined.empty() ? "" : ",") + address.host + ":" + std::to_string(address.port);
  }
  return joined;
}

std::string joinShardGroups(const std::vector<ShardGroupConfig>& groups) {
  std::string joined;
  for (const auto& group : groups) {
    joined += (joined.empty() ? "" : ";") + group.name + "=" + joinAddresses(group.servers);
  }
  return joined;
}

std::string joinSocketDirs(const PoolConfig& config) {
  std::string joined;
  auto add = [&](const pool::ServerAddress& node) {
    if (node.socketDir.empty()) return;
    joined +=
        fmt::format("{}{}:{}={}", joined.empty() ? "" : ",", node.host, node.port, node.socketDir);
  };
  for (const auto& server : config.servers) add(server);
  for (const auto& group : config.shardGroups) {
    for (const auto& server : group.servers) add(server);
  }
  return joined;
}

std::string joinShardAgents(const std::vector<ShardGroupConfig>& groups) {
  std::string joined;
  for (const auto& group : groups) {
    if (group.agents.empty()) continue;
    joined += (joined.empty() ? "" : ";") + group.name + "=" + joinAddresses(group.agents);
  }
  return joined;
}

std::string joinList(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : ",") + item;
  return joined;
}

std::string joinNumbers(const std::vector<int>& numbers) {
  std::string joined;
  for (int number : numbers) joined += (joined.empty() ? "" : ",") + std::to_string(number);
  return joined;
}

// Printed by toml++ as Settings prints a table from the file, so the two
// read the same and a name that is not a bare key is quoted and escaped.
template <typename Entries, typename Describe>
std::string inlineTableOf(const Entries& entries, Describe describe) {
  if (entries.empty()) return "";
  toml::table all;
  for (const auto& [name, entry] : entries) {
    toml::table fields;
    describe(entry, [&](std::string_view key, std::optional<int> value) {
      if (value) fields.insert(key, *value);
    });
    fields.is_inline(true);
    all.insert(name, std::move(fields));
  }
  all.is_inline(true);
  std::ostringstream out;
  out << toml::toml_formatter(all, toml::format_flags::none);
  return out.str();
}

}  // namespace

std::string describeDatabaseSizes(const pool::PoolSizes& sizes) {
  return inlineTableOf(sizes.databases, [](const pool::DatabaseSizes& db, auto field) {
    field("pool_size", db.poolSize);
    field("min_pool_size", db.minPoolSize);
    field("reserve_pool_size", db.reservePoolSize);
    if (db.maxConnections > 0) field("max_db_connections", db.maxConnections);
  });
}

std::string describeUserSizes(const pool::PoolSizes& sizes) {
  return inlineTableOf(sizes.users, [](const pool::UserSizes& user, auto field) {
    field("pool_size", user.poolSize);
    if (user.maxConnections > 0) field("max_user_connections", user.maxConnections);
  });
}

std::vector<std::pair<std::string, std::string>> describeConfig(const PoolConfig& config) {
  auto seconds = [](std::chrono::milliseconds value) {
    return std::to_string(value.count() / 1000);
  };
  std::string admins = joinList(config.adminUsers);
  std::map<std::string, std::string> values{
      {"listen_addr", config.listenAddress},
      {"listen_port", std::to_string(config.listenPort)},
      {"workers", std::to_string(config.workers)},
      {"pool_mode", toString(config.mode)},
      {"hosts", joinAddresses(config.servers)},
      {"weights", joinNumbers(config.weights)},
      {"primary_weight", std::to_string(config.primaryWeight)},
      {"load_balance", config.loadBalance ? "on" : "off"},
      {"read_your_writes", config.readYourWrites ? "on" : "off"},
      {"max_replica_lag_bytes", std::to_string(config.maxReplicaLagBytes)},
      {"max_replica_lag_ms", std::to_string(config.maxReplicaLag.count())},
      {"failover", config.failover ? "on" : "off"},
      {"failover_timeout_ms", std::to_string(config.failoverTimeout.count())},
      {"maximum_lag_on_failover", std::to_string(config.maximumLagOnFailover)},
      {"failover_priorities", joinNumbers(config.failoverPriorities)},
      {"synchronous_mode", cluster::toString(config.synchronousMode)},
      {"switchover_timeout_ms", std::to_string(config.switchoverTimeout.count())},
      {"primary_restart_grace_ms", std::to_string(config.primaryRestartGrace.count())},
      {"agents", joinAddresses(config.agents)},
      {"agent_token", config.agentToken.empty() ? "" : "********"},
      {"shard_hosts", joinShardGroups(config.shardGroups)},
      {"shard_agents", joinShardAgents(config.shardGroups)},
      {"server_socket_dirs", joinSocketDirs(config)},
      {"shard_databases", joinList(config.shardDatabases)},
      {"shard_map_refresh_ms", std::to_string(config.shardMapRefresh.count())},
      {"health_check_period_ms", std::to_string(config.healthCheckPeriod.count())},
      {"health_check_timeout_ms", std::to_string(config.healthCheckTimeout.count())},
      {"health_check_user", config.healthCheckUser},
      {"health_check_password", config.healthCheckPassword.empty() ? "" : "********"},
      {"health_check_dbname", config.healthCheckDbname},
      {"auth_type", toString(config.authType)},
      {"auth_file", config.authFile},
      {"user", config.seedUser},
      {"password", config.seedPassword.empty() ? "" : "********"},
      {"hba_file", config.hbaFile},
      {"auth_user", config.authUser},
      {"auth_query", config.authQuery},
      {"auth_dbname", config.authDbname},
      {"auth_query_cache_ttl", seconds(config.authQueryCacheTtl)},
      {"admin_users", admins},
      {"default_pool_size", std::to_string(config.sizes.defaultPoolSize)},
      {"min_pool_size", std::to_string(config.sizes.minPoolSize)},
      {"reserve_pool_size", std::to_string(config.sizes.reservePoolSize)},
      {"databases", describeDatabaseSizes(config.sizes)},
      {"users", describeUserSizes(config.sizes)},
      {"reserve_pool_timeout", seconds(config.reservePoolTimeout)},
      {"max_client_conn", std::to_string(config.maxClientConnections)},
      {"server_reset_query", config.serverResetQuery},
      {"server_reset", config.serverReset == ServerReset::kDiscard ? "discard" : "reconnect"},
      {"client_login_timeout", seconds(config.clientLoginTimeout)},
      {"server_connect_timeout", seconds(config.serverConnectTimeout)},
      {"query_wait_timeout", seconds(config.queryWaitTimeout)},
      {"server_idle_timeout", seconds(config.serverIdleTimeout)},
      {"server_lifetime", seconds(config.serverLifetime)},
      {"client_idle_timeout", seconds(config.clientIdleTimeout)},
      {"idle_transaction_timeout", seconds(config.idleTransactionTimeout)},
      {"max_packet_size", std::to_string(config.maxPacketSize)},
      {"http_listen", config.httpListen},
      {"http_port", std::to_string(config.httpPort)},
      {"tls_cert_file", config.tlsCertFile},
      {"tls_key_file", config.tlsKeyFile},
      {"tls_ca_file", config.tlsCaFile},
      {"tls_crl_file", config.tlsCrlFile},
      {"tls_mode", toString(config.tlsMode)},
      {"tls_protocols", config.tlsProtocols},
      {"tls_ciphers", config.tlsCiphers},
      {"server_tls_sslmode", pool::toString(config.serverTlsMode)},
      {"server_tls_ca_file", config.serverTlsCaFile},
      {"server_tls_crl_file", config.serverTlsCrlFile},
      {"server_tls_cert_file", config.serverTlsCertFile},
      {"server_tls_key_file", config.serverTlsKeyFile},
      {"server_tls_protocols", config.serverTlsProtocols},
      {"server_tls_ciphers", config.serverTlsCiphers},
      {"log_level", config.logLevel},
  };
  std::vector<std::pair<std::string, std::string>> described;
  for (const auto& def : poolSettingDefs()) {
    auto name = def.key.substr(def.key.find('.') + 1);
    auto it = values.find(name);
    // A setting added to the defs but not here shows up as unknown, not hidden.
    described.emplace_back(name, it != values.end() ? it->second : "(unknown)");
  }
  return described;
}

}  // namespace pgswarm::proxy
