// The settings of `pgswarm pool` (section [pool]), declared once as
// SettingDefs and validated into a PoolConfig the proxy trusts. The seed
// image's HOSTS=host:port:host:port, USER and PASSWORD are accepted too.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cluster/failover.hpp"
#include "common/result.hpp"
#include "common/settings.hpp"
#include "pool/pool_sizes.hpp"
#include "pool/server_connection.hpp"

namespace pgswarm::proxy {

enum class PoolMode { kSession, kTransaction };
// kCert comes from hba_file only (a client certificate whose CN is the user).
enum class ClientAuthMethod { kScramSha256, kMd5, kTrust, kCert };
enum class ServerReset { kDiscard, kReconnect };
// What the pool answers an SSLRequest, and whether it insists on one.
enum class ClientTlsMode {
  kDisable,  // answer 'N': clients stay plain (also when no certificate is set)
  kAllow,    // TLS when the client asks; plain clients are welcome too
  kPrefer,   // the same as allow on the server side (PgBouncer keeps both names)
  kRequire,  // TLS when asked; a plain StartupMessage gets 28000 like a hostssl-only pg_hba
};
[[nodiscard]] const char* toString(ClientTlsMode mode);
// PgBouncer's default, schema-qualified so a user's search_path cannot redirect it.
inline constexpr const char* kDefaultAuthQuery =
    "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1";
[[nodiscard]] const char* toString(PoolMode mode);
[[nodiscard]] const char* toString(ClientAuthMethod method);

struct ShardGroupConfig {
  std::string name;  // the node name in pgswarm.shards ("shard1")
  std::vector<pool::ServerAddress> servers;
  std::vector<pool::ServerAddress> agents;  // empty, or one per server (pool.shard_agents)
};

struct PoolConfig {
  std::string listenAddress = "127.0.0.1";
  int listenPort = 6432;
  int workers = 1;  // the setting's default is the core count (defaultWorkers())
  PoolMode mode = PoolMode::kSession;
  // The nodes, in configuration order. Roles come from the health monitor;
  // until it has spoken (or when it is off) the first is the primary.
  std::vector<pool::ServerAddress> servers;
  // Read routing (transaction mode): a node's read weight as a replica
  // (0: no reads), the primary's share of reads while a replica can take
  // them, and the consistency rules. See docs/operations.md.
  std::vector<int> weights;  // one per server
  int primaryWeight = 0;
  bool loadBalance = true;
  bool readYourWrites = true;
  std::uint64_t maxReplicaLagBytes = std::uint64_t{16} * 1024 * 1024;  // 0: no bound
  std::chrono::milliseconds maxReplicaLag{10000};                      // replay delay; 0: no bound
  // The health monitor's control connections (libpq); period 0 turns it off.
  std::chrono::milliseconds healthCheckPeriod{1000};
  std::chrono::milliseconds healthCheckTimeout{2000};
  std::string healthCheckUser = "postgres";
  std::string healthCheckPassword;  // empty: the user's plain password in the auth file, or libpq's
  std::string healthCheckDbname = "postgres";
  // Failover (cluster/failover.hpp): needs health checks and 2+ servers.
  bool failover = true;
  std::chrono::milliseconds failoverTimeout{3000};
  std::uint64_t maximumLagOnFailover = 1U << 20U;  // 0: no bound
  std::vector<int> failoverPriorities;             // one per server; 0: never promoted
  cluster::SyncMode synchronousMode = cluster::SyncMode::kOff;
  std::chrono::milliseconds switchoverTimeout{10000};
  std::chrono::milliseconds primaryRestartGrace{30000};
  std::vector<pool::ServerAddress> agents;  // empty, or one per server
  // Direct shard routing (transaction mode): the shard groups of the
  // coordinator's pgswarm catalog by the names `shard create` gave them,
  // each its nodes (primary and replicas, roles from health checks); the
  // databases whose catalogs are read, and how often. No groups, or a
  // refresh of 0: every statement goes through the coordinator.
  std::vector<ShardGroupConfig> shardGroups;
  std::vector<std::string> shardDatabases;
  std::chrono::milliseconds shardMapRefresh{1000};
  std::string agentToken;
  ClientAuthMethod authType = ClientAuthMethod::kScramSha256;
  std::string authFile;  // PgBouncer userlist.txt format
  std::string seedUser;  // USER / PASSWORD of the seed image: one more userlist entry
  std::string seedPassword;
  std::string hbaFile;  // pg_hba.conf-style access rules; empty: auth_type for everyone
  // auth_query: users missing from the auth file are looked up on the primary
  // as auth_user (who must be in the auth file) when auth_user is set.
  std::string authUser;
  std::string authQuery = kDefaultAuthQuery;
  std::string authDbname = "postgres";
  std::chrono::milliseconds authQueryCacheTtl{5000};
  std::vector<std::string> adminUsers;
  // default_pool_size, min_pool_size, reserve_pool_size and their
  // [pool.databases.<name>] / [pool.users.<name>] overrides and caps; the
  // one part of the config RELOAD applies (to ProxyShared::slots).
  pool::PoolSizes sizes;
  std::chrono::milliseconds reservePoolTimeout{5000};
  int maxClientConnections = 1000;
  std::string serverResetQuery = "DISCARD ALL";
  ServerReset serverReset = ServerReset::kDiscard;
  std::chrono::milliseconds clientLoginTimeout{60000};
  std::chrono::milliseconds serverConnectTimeout{5000};
  std::chrono::milliseconds queryWaitTimeout{120000};
  std::chrono::milliseconds serverIdleTimeout{600000};
  std::chrono::milliseconds clientIdleTimeout{0};       // 0: no limit
  std::chrono::milliseconds idleTransactionTimeout{0};  // 0: no limit
  std::chrono::milliseconds serverLifetime{3600000};
  std::size_t maxPacketSize = std::size_t{256} * 1024 * 1024;
  // Client-side TLS: cert and key (PEM) turn it on; prefer is then the default mode.
  std::string tlsCertFile;
  std::string tlsKeyFile;
  std::string tlsCaFile;   // client certificates are asked for and must chain to it (hba cert)
  std::string tlsCrlFile;  // revoked client certificates (PEM CRLs of tls_ca_file's CAs)
  ClientTlsMode tlsMode = ClientTlsMode::kDisable;
  std::string tlsProtocols = "secure";  // TLS 1.2 and 1.3
  std::string tlsCiphers = "default";   // runtime::kDefaultTlsCiphers
  // Server-side TLS (pool to PostgreSQL), libpq's sslmode and files; the
  // health checks use the same (libpq sslmode, sslrootcert, sslcert, sslkey).
  pool::SslMode serverTlsMode = pool::SslMode::kPrefer;
  std::string serverTlsCaFile;    // roots for verify-ca / verify-full
  std::string serverTlsCrlFile;   // revoked server certificates (libpq's sslcrl)
  std::string serverTlsCertFile;  // the pool's own certificate, for servers that ask
  std::string serverTlsKeyFile;
  std::string serverTlsProtocols = "secure";
  std::string serverTlsCiphers = "default";
  std::string logLevel = "info";
  std::string httpListen = "127.0.0.1";  // GET /metrics and /health
  int httpPort = 8080;                   // 0: no HTTP endpoint
};

[[nodiscard]] const std::vector<SettingDef>& poolSettingDefs();
// std::thread::hardware_concurrency(), at least 1 and at most 256.
[[nodiscard]] int defaultWorkers();
[[nodiscard]] Result<PoolConfig> poolConfigFromSettings(const Settings& settings);
// "shard1=h1:5432,h2:5433;shard2=h3:5432": each group's name and nodes.
[[nodiscard]] Result<std::vector<ShardGroupConfig>> parseShardHosts(const std::string& text);
// "127.0.0.1:5433=/dir,127.0.0.1:5434=/other": each node's socket route
// (pool.server_socket_dirs), as addresses whose socketDir is set.
[[nodiscard]] Result<std::vector<pool::ServerAddress>> parseServerSocketDirs(
    const std::string& text);
// "h1:5432:h2:5433" (the seed's HOSTS) or "h1:5432,h2:5433".
[[nodiscard]] Result<std::vector<pool::ServerAddress>> parseHosts(const std::string& text);
// pool.databases / pool.users as one inline TOML table each, the form the
// environment and flags take: "{ app = { pool_size = 2 } }" ("" when empty).
[[nodiscard]] std::string describeDatabaseSizes(const pool::PoolSizes& sizes);
[[nodiscard]] std::string describeUserSizes(const pool::PoolSizes& sizes);
// Every setting's key (without "pool.") and its effective value, secrets
// masked, in poolSettingDefs() order: SHOW CONFIG.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> describeConfig(
    const PoolConfig& config);

}  // namespace pgswarm::proxy
