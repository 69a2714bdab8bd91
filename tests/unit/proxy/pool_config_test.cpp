// Pool settings: workers default to the core count, the pool-size settings
// and their validation (min_pool_size within default_pool_size), and the
// access and auth_query settings with their PGSWARM_POOL_* names.
#include "proxy/pool_config.hpp"

#include <thread>
#include <tuple>

#include <gtest/gtest.h>

namespace pgswarm::proxy {
namespace {

Result<PoolConfig> configFrom(const EnvironmentMap& env) {
  EnvironmentMap all{{"HOSTS", "db1:5432"}, {"USER", "postgres"}, {"PASSWORD", "pw"}};
  for (const auto& [name, value] : env) all[name] = value;
  auto settings = Settings::resolve(poolSettingDefs(), nullptr, all, {});
  if (!settings) return settings.error();
  return poolConfigFromSettings(*settings);
}

Result<PoolConfig> configWith(std::map<std::string, std::string> flags) {
  flags.emplace("pool.hosts", "127.0.0.1:5432");
  flags.emplace("pool.user", "app");
  flags.emplace("pool.password", "secret");
  auto settings = Settings::resolve(poolSettingDefs(), nullptr, {}, flags);
  if (!settings) return settings.error();
  return poolConfigFromSettings(*settings);
}

TEST(PoolConfig, AccessAndAuthQueryDefaults) {
  auto config = configFrom({});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->hbaFile, "");
  EXPECT_EQ(config->authUser, "");
  EXPECT_EQ(config->authQuery,
            "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1");
  EXPECT_EQ(config->authDbname, "postgres");
  EXPECT_EQ(config->authQueryCacheTtl, std::chrono::seconds(5));
}

TEST(PoolConfig, AccessAndAuthQueryFromTheEnvironment) {
  auto config = configFrom({{"PGSWARM_POOL_HBA_FILE", "/etc/pgswarm/hba.conf"},
                            {"PGSWARM_POOL_AUTH_USER", "pgswarm_auth"},
                            {"PGSWARM_POOL_AUTH_DBNAME", "app"},
                            {"PGSWARM_POOL_AUTH_QUERY_CACHE_TTL", "0"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->hbaFile, "/etc/pgswarm/hba.conf");
  EXPECT_EQ(config->authUser, "pgswarm_auth");
  EXPECT_EQ(config->authDbname, "app");
  EXPECT_EQ(config->authQueryCacheTtl, std::chrono::seconds(0));
}

TEST(PoolConfig, AuthUserNeedsAQuery) {
  auto config =
      configFrom({{"PGSWARM_POOL_AUTH_USER", "pgswarm_auth"}, {"PGSWARM_POOL_AUTH_QUERY", ""}});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            "pool.auth_user is set: pool.auth_query and pool.auth_dbname must not be empty");
}

TEST(PoolConfig, DescribeConfigKnowsEverySetting) {
  auto config = configFrom({});
  ASSERT_TRUE(config.ok());
  for (const auto& [key, value] : describeConfig(*config)) EXPECT_NE(value, "(unknown)") << key;
}

TEST(PoolConfig, WorkersDefaultToTheCoreCount) {
  auto config = configWith({});
  ASSERT_TRUE(config.ok()) << config.error().message;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(config->workers, std::max(1, std::min(cores, 256)));
  EXPECT_EQ(config->workers, defaultWorkers());
}

TEST(PoolConfig, PoolSizesAndReserve) {
  auto config = configWith({{"pool.default_pool_size", "3"},
                            {"pool.min_pool_size", "2"},
                            {"pool.reserve_pool_size", "1"},
                            {"pool.reserve_pool_timeout", "7"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->sizes.defaultPoolSize, 3);
  EXPECT_EQ(config->sizes.minPoolSize, 2);
  EXPECT_EQ(config->sizes.reservePoolSize, 1);
  EXPECT_EQ(config->reservePoolTimeout, std::chrono::seconds(7));
  auto described = describeConfig(*config);
  std::map<std::string, std::string> values(described.begin(), described.end());
  EXPECT_EQ(values["min_pool_size"], "2");
  EXPECT_EQ(values["reserve_pool_size"], "1");
  EXPECT_EQ(values["reserve_pool_timeout"], "7");
}

TEST(PoolConfig, AHostThatIsADirectoryIsAUnixSocket) {
  auto config = configWith({{"pool.hosts", "/var/run/postgresql:5432,10.0.0.2:5433"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->servers.size(), 2u);
  EXPECT_EQ(config->servers[0].host, "/var/run/postgresql");
  EXPECT_EQ(config->servers[0].port, 5432);
  EXPECT_TRUE(config->servers[0].unixSocket());
  EXPECT_FALSE(config->servers[1].unixSocket());
}

TEST(PoolConfig, FailoverSettings) {
  auto defaults = configWith({{"pool.hosts", "a:1,b:2,c:3"}});
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  EXPECT_TRUE(defaults->failover);
  EXPECT_EQ(defaults->failoverTimeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(defaults->maximumLagOnFailover, 1048576U);
  EXPECT_EQ(defaults->failoverPriorities, (std::vector<int>{1, 1, 1}));
  auto set = configWith({{"pool.hosts", "a:1,b:2,c:3"},
                         {"pool.failover", "off"},
                         {"pool.failover_timeout_ms", "1500"},
                         {"pool.maximum_lag_on_failover", "0"},
                         {"pool.failover_priorities", "0,2,1"}});
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_FALSE(set->failover);
  EXPECT_EQ(set->failoverTimeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(set->maximumLagOnFailover, 0U);
  EXPECT_EQ(set->failoverPriorities, (std::vector<int>{0, 2, 1}));
  auto described = describeConfig(*set);
  std::map<std::string, std::string> values(described.begin(), described.end());
  EXPECT_EQ(values["failover"], "off");
  EXPECT_EQ(values["failover_priorities"], "0,2,1");
}

TEST(PoolConfig, FailoverSettingsThatDoNotFit) {
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"pool.failover_timeout_ms", "100"},
                                                        {"pool.failover_timeout_ms", "0"},
                                                        {"pool.failover_priorities", "1,1"},
                                                        {"pool.failover_priorities", "1,x,1"},
                                                        {"pool.failover_priorities", "1,-1,1"},
                                                        {"pool.maximum_lag_on_failover", "-5"}}) {
    auto config = configWith({{"pool.hosts", "a:1,b:2,c:3"}, {key, value}});
    EXPECT_FALSE(config.ok()) << key << " = " << value;
  }
}

TEST(PoolConfig, DefaultsKeepTheOldBehaviour) {
  auto config = configWith({});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->sizes.minPoolSize, 0);
  EXPECT_EQ(config->sizes.reservePoolSize, 0);
  EXPECT_EQ(config->reservePoolTimeout, std::chrono::seconds(5));
}

TEST(PoolConfig, MinPoolSizeAboveDefaultPoolSizeIsRefused) {
  auto config = configWith({{"pool.default_pool_size", "3"}, {"pool.min_pool_size", "4"}});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("default_pool_size"), std::string::npos)
      << config.error().message;
  EXPECT_FALSE(configWith({{"pool.reserve_pool_size", "-1"}}).ok());
}

}  // namespace
}  // namespace pgswarm::proxy

namespace pgswarm::proxy {
namespace {

TEST(PoolConfig, TlsIsOffWithoutACertificate) {
  auto config = configWith({});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->tlsMode, ClientTlsMode::kDisable);
  EXPECT_EQ(config->tlsProtocols, "secure");
}

TEST(PoolConfig, TlsPrefersOnceACertificateIsSet) {
  auto config =
      configWith({{"pool.tls_cert_file", "/c/server.crt"}, {"pool.tls_key_file", "/c/server.key"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->tlsMode, ClientTlsMode::kPrefer);
  EXPECT_EQ(config->tlsCertFile, "/c/server.crt");
  auto disabled = configWith({{"pool.tls_cert_file", "/c/server.crt"},
                              {"pool.tls_key_file", "/c/server.key"},
                              {"pool.tls_mode", "disable"}});
  ASSERT_TRUE(disabled.ok());
  EXPECT_EQ(disabled->tlsMode, ClientTlsMode::kDisable);
}

TEST(PoolConfig, TlsModeFromPgBouncersName) {
  auto config = configFrom({{"PGSWARM_CLIENT_TLS_SSLMODE", "require"},
                            {"PGSWARM_CLIENT_TLS_CERT_FILE", "/c/server.crt"},
                            {"PGSWARM_CLIENT_TLS_KEY_FILE", "/c/server.key"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->tlsMode, ClientTlsMode::kRequire);
}

TEST(PoolConfig, TlsSettingsThatDoNotFit) {
  auto noCert = configWith({{"pool.tls_mode", "require"}});
  ASSERT_FALSE(noCert.ok());
  EXPECT_NE(noCert.error().message.find("set pool.tls_cert_file and pool.tls_key_file"),
            std::string::npos);
  EXPECT_FALSE(configWith({{"pool.tls_cert_file", "/c/server.crt"}}).ok());
  EXPECT_FALSE(configWith({{"pool.tls_cert_file", "/c/server.crt"},
                           {"pool.tls_key_file", "/c/server.key"},
                           {"pool.tls_mode", "verify-full"}})
                   .ok());
  EXPECT_FALSE(configWith({{"pool.tls_cert_file", "/c/server.crt"},
                           {"pool.tls_key_file", "/c/server.key"},
                           {"pool.tls_protocols", "tlsv1"}})
                   .ok());
}

TEST(PoolConfig, ShowConfigKnowsTheTlsSettings) {
  auto config = configWith({});
  ASSERT_TRUE(config.ok());
  for (const auto& [key, value] : describeConfig(*config)) {
    EXPECT_NE(value, "(unknown)") << key;
  }
}

TEST(PoolConfig, ServerTlsPrefersByDefault) {
  auto config = configWith({});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->serverTlsMode, pool::SslMode::kPrefer);
  EXPECT_EQ(config->serverTlsProtocols, "secure");
  EXPECT_EQ(config->serverTlsCiphers, "default");
  std::map<std::string, std::string> shown;
  for (const auto& [key, value] : describeConfig(*config)) shown[key] = value;
  EXPECT_EQ(shown["server_tls_sslmode"], "prefer");
}

TEST(PoolConfig, ServerTlsFromFlagsAndEnvironment) {
  auto config = configWith({{"pool.server_tls_sslmode", "verify-full"},
                            {"pool.server_tls_ca_file", "/c/root.crt"},
                            {"pool.server_tls_cert_file", "/c/pool.crt"},
                            {"pool.server_tls_key_file", "/c/pool.key"},
                            {"pool.server_tls_protocols", "tlsv1.3"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->serverTlsMode, pool::SslMode::kVerifyFull);
  EXPECT_EQ(config->serverTlsCaFile, "/c/root.crt");
  EXPECT_EQ(config->serverTlsCertFile, "/c/pool.crt");
  EXPECT_EQ(config->serverTlsKeyFile, "/c/pool.key");
  EXPECT_EQ(config->serverTlsProtocols, "tlsv1.3");
  auto fromEnvironment = configFrom({{"PGSWARM_POOL_SERVER_TLS_SSLMODE", "require"}});
  ASSERT_TRUE(fromEnvironment.ok()) << fromEnvironment.error().message;
  EXPECT_EQ(fromEnvironment->serverTlsMode, pool::SslMode::kRequire);
  for (const char* mode : {"disable", "allow", "prefer", "require", "verify-ca"}) {
    auto parsed =
        configWith({{"pool.server_tls_sslmode", mode}, {"pool.server_tls_ca_file", "/c/root.crt"}});
    ASSERT_TRUE(parsed.ok()) << mode << ": " << parsed.error().message;
    EXPECT_STREQ(pool::toString(parsed->serverTlsMode), mode);
  }
}

TEST(PoolConfig, RevocationListsOnBothSides) {
  auto config = configWith({{"pool.tls_cert_file", "/c/pool.crt"},
                            {"pool.tls_key_file", "/c/pool.key"},
                            {"pool.tls_ca_file", "/c/clients-ca.crt"},
                            {"pool.tls_crl_file", "/c/clients.crl"},
                            {"pool.server_tls_sslmode", "verify-ca"},
                            {"pool.server_tls_ca_file", "/c/root.crt"},
                            {"pool.server_tls_crl_file", "/c/servers.crl"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->tlsCrlFile, "/c/clients.crl");
  EXPECT_EQ(config->serverTlsCrlFile, "/c/servers.crl");
  std::map<std::string, std::string> shown;
  for (const auto& [key, value] : describeConfig(*config)) shown[key] = value;
  EXPECT_EQ(shown["tls_crl_file"], "/c/clients.crl");
  EXPECT_EQ(shown["server_tls_crl_file"], "/c/servers.crl");
  auto listWithoutCa = configWith({{"pool.tls_cert_file", "/c/pool.crt"},
                                   {"pool.tls_key_file", "/c/pool.key"},
                                   {"pool.tls_crl_file", "/c/clients.crl"}});
  ASSERT_FALSE(listWithoutCa.ok());
  EXPECT_NE(listWithoutCa.error().message.find("pool.tls_crl_file needs pool.tls_ca_file"),
            std::string::npos)
      << listWithoutCa.error().message;
}

TEST(PoolConfig, ServerTlsSettingsThatDoNotFit) {
  auto unknown = configWith({{"pool.server_tls_sslmode", "on"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("'on' is not one of disable, allow, prefer"),
            std::string::npos)
      << unknown.error().message;
  for (const char* mode : {"verify-ca", "verify-full"}) {
    auto noRoots = configWith({{"pool.server_tls_sslmode", mode}});
    ASSERT_FALSE(noRoots.ok()) << mode;
    EXPECT_NE(noRoots.error().message.find("set pool.server_tls_ca_file"), std::string::npos)
        << noRoots.error().message;
  }
  auto certAlone = configWith({{"pool.server_tls_cert_file", "/c/pool.crt"}});
  ASSERT_FALSE(certAlone.ok());
  EXPECT_NE(certAlone.error().message.find("must be set together"), std::string::npos);
  EXPECT_FALSE(configWith({{"pool.server_tls_key_file", "/c/pool.key"}}).ok());
  EXPECT_FALSE(configWith({{"pool.server_tls_protocols", "tlsv1.1"}}).ok());
}

TEST(PoolConfig, ShardGroupsFromShardHosts) {
  auto config =
      configWith({{"pool.shard_hosts", "shard1=10.0.0.1:5432, 10.0.0.2:5433; shard2=h3:6000;"},
                  {"pool.shard_databases", "app, postgres"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->shardGroups.size(), 2U);
  EXPECT_EQ(config->shardGroups[0].name, "shard1");
  ASSERT_EQ(config->shardGroups[0].servers.size(), 2U);
  EXPECT_EQ(config->shardGroups[0].servers[1].host, "10.0.0.2");
  EXPECT_EQ(config->shardGroups[0].servers[1].port, 5433);
  EXPECT_EQ(config->shardGroups[1].name, "shard2");
  EXPECT_EQ(config->shardDatabases, (std::vector<std::string>{"app", "postgres"}));
  EXPECT_EQ(config->shardMapRefresh, std::chrono::milliseconds(1000));
  std::map<std::string, std::string> shown;
  for (const auto& [key, value] : describeConfig(*config)) shown[key] = value;
  EXPECT_EQ(shown["shard_hosts"], "shard1=10.0.0.1:5432,10.0.0.2:5433;shard2=h3:6000");
  EXPECT_EQ(shown["shard_databases"], "app,postgres");
}

TEST(PoolConfig, NoShardGroupsByDefault) {
  auto config = configFrom({});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_TRUE(config->shardGroups.empty());
}

TEST(PoolConfig, ShardHostsThatDoNotFit) {
  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"10.0.0.1:5432", "'10.0.0.1:5432' is not name=host:port,..."},
           {"=h:1", "'=h:1' is not name=host:port,..."},
           {"shard1=h:1;shard1=h:2", "shard group 'shard1' is given twice"},
       }) {
    auto config = configWith({{"pool.shard_hosts", text}});
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_NE(config.error().message.find(message), std::string::npos)
        << text << ": " << config.error().message;
  }
  auto badHost = configWith({{"pool.shard_hosts", "shard1=h"}});
  ASSERT_FALSE(badHost.ok());
  EXPECT_NE(badHost.error().message.find("shard group 'shard1'"), std::string::npos);
  auto fast = configWith({{"pool.shard_map_refresh_ms", "10"}});
  ASSERT_FALSE(fast.ok());
}

TEST(PoolConfig, ShardAgentsPerGroup) {
  auto config = configWith({{"pool.shard_hosts", "shard1=h1:5432,h2:5432;shard2=h3:5432"},
                            {"pool.shard_agents", "shard1=h1:6432,h2:6432"},
                            {"pool.agent_token", "token"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->shardGroups[0].agents.size(), 2U);
  EXPECT_EQ(config->shardGroups[0].agents[1].host, "h2");
  EXPECT_EQ(config->shardGroups[0].agents[1].port, 6432);
  EXPECT_TRUE(config->shardGroups[1].agents.empty());
  std::map<std::string, std::string> shown;
  for (const auto& [key, value] : describeConfig(*config)) shown[key] = value;
  EXPECT_EQ(shown["shard_agents"], "shard1=h1:6432,h2:6432");
}

TEST(PoolConfig, ShardAgentsThatDoNotFit) {
  const std::string hosts = "shard1=h1:5432,h2:5432";
  for (const auto& [agents, token, message] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"shard9=h1:6432,h2:6432", "t", "'shard9' is not a group of pool.shard_hosts"},
           {"shard1=h1:6432", "t", "1 agents for the 2 hosts of shard group 'shard1'"},
           {"shard1=h1:6432,h2:6432", "", "pool.agent_token"},
           {"h1:6432", "t", "is not name=host:port"},
       }) {
    auto config = configWith(
        {{"pool.shard_hosts", hosts}, {"pool.shard_agents", agents}, {"pool.agent_token", token}});
    ASSERT_FALSE(config.ok()) << agents;
    EXPECT_NE(config.error().message.find(message), std::string::npos)
        << agents << ": " << config.error().message;
  }
}

TEST(PoolConfig, ServerSocketDirsRouteNodesOfHostsAndShardHosts) {
  auto config =
      configWith({{"pool.hosts", "127.0.0.1:5432,127.0.0.1:5433"},
                  {"pool.shard_hosts", "shard1=127.0.0.1:5440"},
                  {"pool.server_socket_dirs", "127.0.0.1:5433=/run/n1/, 127.0.0.1:5440=/run/s1"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->servers[0].socketDir, "");
  EXPECT_EQ(config->servers[1].socketDir, "/run/n1");  // the trailing slash goes
  EXPECT_EQ(config->shardGroups[0].servers[0].socketDir, "/run/s1");
  // The route is not the node's name: an address without it is the same node.
  EXPECT_EQ(config->servers[1], (pool::ServerAddress{"127.0.0.1", 5433}));
  EXPECT_EQ(config->servers[1].host, "127.0.0.1");
  std::map<std::string, std::string> shown;
  for (const auto& [key, value] : describeConfig(*config)) shown[key] = value;
  EXPECT_EQ(shown["server_socket_dirs"], "127.0.0.1:5433=/run/n1,127.0.0.1:5440=/run/s1");
  EXPECT_EQ(shown["hosts"], "127.0.0.1:5432,127.0.0.1:5433");
  EXPECT_EQ(shown["shard_hosts"], "shard1=127.0.0.1:5440");
}

TEST(PoolConfig, ServerSocketDirsFromTheEnvironment) {
  auto config = configFrom({{"HOSTS", "db1:5432:db2:5432"},
                            {"PGSWARM_POOL_SERVER_SOCKET_DIRS", "db2:5432=/var/run/postgresql"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->servers[0].socketDir, "");
  EXPECT_EQ(config->servers[1].socketDir, "/var/run/postgresql");
}

TEST(PoolConfig, ServerSocketDirsThatDoNotFit) {
  const std::string longDir = "/" + std::string(100, 'd');
  for (const auto& [routes, message] : std::vector<std::pair<std::string, std::string>>{
           {"127.0.0.1:5432", "'127.0.0.1:5432' is not host:port=/dir"},
           {"127.0.0.1=/run", "'127.0.0.1=/run' is not host:port=/dir"},
           {"127.0.0.1:5432=run", "the socket directory must be an absolute path"},
           {"127.0.0.1:5432=", "the socket directory must be an absolute path"},
           {"127.0.0.1:5432=" + longDir, "is longer than 107 bytes"},
           {"127.0.0.1:5432=/a,127.0.0.1:5432=/b", "127.0.0.1:5432 is given twice"},
           {"127.0.0.1:5499=/run", "127.0.0.1:5499 is no node of pool.hosts or pool.shard_hosts"},
       }) {
    auto config = configWith({{"pool.server_socket_dirs", routes}});
    ASSERT_FALSE(config.ok()) << routes;
    EXPECT_NE(config.error().message.find(message), std::string::npos)
        << routes << ": " << config.error().message;
    EXPECT_NE(config.error().message.find("--server-socket-dirs"), std::string::npos)
        << config.error().message;
  }
  auto socketHost = configWith({{"pool.hosts", "/run/postgresql:5432"},
                                {"pool.server_socket_dirs", "/run/postgresql:5432=/run/other"}});
  ASSERT_FALSE(socketHost.ok());
  EXPECT_NE(socketHost.error().message.find("is a socket directory already"), std::string::npos)
      << socketHost.error().message;
}

}  // namespace
}  // namespace pgswarm::proxy

// Per-database and per-user pool sizes ([pool.databases.<name>],
// [pool.users.<name>]): the TOML tables, the inline form the environment and
// flags take, PgBouncer's precedence, and the errors an operator sees.
namespace pgswarm::proxy {
namespace {

Result<PoolConfig> configFromToml(const std::string& text, const EnvironmentMap& env = {}) {
  auto file = toml::parse(text);
  EnvironmentMap all{{"HOSTS", "db1:5432"}, {"USER", "postgres"}, {"PASSWORD", "pw"}};
  for (const auto& [name, value] : env) all[name] = value;
  auto settings = Settings::resolve(poolSettingDefs(), &file, all, {});
  if (!settings) return settings.error();
  return poolConfigFromSettings(*settings);
}

std::string errorOf(const Result<PoolConfig>& config) {
  return config.ok() ? std::string("(accepted)") : config.error().message;
}

TEST(PoolSizeOverrides, TablesInTheFile) {
  auto config = configFromToml(R"(
[pool]
default_pool_size = 10
min_pool_size = 1
reserve_pool_size = 2

[pool.databases.app]
pool_size = 4
min_pool_size = 3
reserve_pool = 1
max_db_connections = 6

[pool.databases.reports]
max_db_connections = 3

[pool.users.alice]
pool_size = 2
max_user_connections = 5
)");
  ASSERT_TRUE(config.ok()) << config.error().message;
  const auto& sizes = config->sizes;
  ASSERT_EQ(sizes.databases.size(), 2U);
  const auto& app = sizes.databases.at("app");
  EXPECT_EQ(app.poolSize, 4);
  EXPECT_EQ(app.minPoolSize, 3);
  EXPECT_EQ(app.reservePoolSize, 1);  // reserve_pool is PgBouncer's older name
  EXPECT_EQ(app.maxConnections, 6);
  EXPECT_FALSE(sizes.databases.at("reports").poolSize.has_value());
  EXPECT_EQ(sizes.users.at("alice").poolSize, 2);
  EXPECT_EQ(sizes.users.at("alice").maxConnections, 5);
  EXPECT_EQ(sizes.maxDbConnections("app"), 6);
  EXPECT_EQ(sizes.maxDbConnections("other"), 0);
  EXPECT_EQ(sizes.maxUserConnections("alice"), 5);
  EXPECT_EQ(sizes.maxUserConnections("bob"), 0);
}

TEST(PoolSizeOverrides, UserOverDatabaseOverDefault) {
  auto config = configFromToml(R"(
[pool]
default_pool_size = 10
min_pool_size = 1
reserve_pool_size = 2
[pool.databases.app]
pool_size = 4
min_pool_size = 3
reserve_pool_size = 1
[pool.users.alice]
pool_size = 2
)");
  ASSERT_TRUE(config.ok()) << config.error().message;
  using Effective = pool::PoolSizes::Effective;
  const auto& sizes = config->sizes;
  EXPECT_EQ(sizes.of("bob", "other"), (Effective{.limit = 10, .reserve = 2, .min = 1}));
  EXPECT_EQ(sizes.of("bob", "app"), (Effective{.limit = 4, .reserve = 1, .min = 3}));
  EXPECT_EQ(sizes.of("alice", "other"), (Effective{.limit = 2, .reserve = 2, .min = 1}));
  // The user's pool_size wins; the database's min_pool_size is held below it.
  EXPECT_EQ(sizes.of("alice", "app"), (Effective{.limit = 2, .reserve = 1, .min = 2}));
}

TEST(PoolSizeOverrides, InlineTableFromTheEnvironment) {
  auto config = configFrom(
      {{"PGSWARM_POOL_DATABASES", "{ app = { pool_size = 2 }, \"my db\" = { pool_size = 7 } }"},
       {"PGSWARM_POOL_USERS", "{ alice = { max_user_connections = 3 } }"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->sizes.of("x", "app").limit, 2);
  EXPECT_EQ(config->sizes.of("x", "my db").limit, 7);
  EXPECT_EQ(config->sizes.maxUserConnections("alice"), 3);
  // SHOW CONFIG prints the same form back, and it reads in again unchanged.
  auto described = describeConfig(*config);
  std::map<std::string, std::string> values(described.begin(), described.end());
  EXPECT_EQ(values["databases"], R"({ app = { pool_size = 2 }, "my db" = { pool_size = 7 } })");
  EXPECT_EQ(values["users"], "{ alice = { max_user_connections = 3 } }");
  auto again = configFrom(
      {{"PGSWARM_POOL_DATABASES", values["databases"]}, {"PGSWARM_POOL_USERS", values["users"]}});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->sizes, config->sizes);
}

TEST(PoolSizeOverrides, TheEnvironmentOverridesTheFile) {
  auto config = configFromToml("[pool.databases.app]\npool_size = 4\n",
                               {{"PGSWARM_POOL_DATABASES", "{ app = { pool_size = 9 } }"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->sizes.of("u", "app").limit, 9);
}

TEST(PoolSizeOverrides, BadValuesAreNamedPrecisely) {
  struct Case {
    const char* toml;
    const char* expected;
  };
  for (const auto& [toml, expected] : std::vector<Case>{
           {"[pool.databases.app]\npool_size = -1\n",
            "config key pool.databases: database 'app'.pool_size: -1 is out of range (1..100000)"},
           {"[pool.databases.app]\npool_size = 0\n", "pool_size: 0 is out of range (1..100000)"},
           {"[pool.databases.app]\nmax_db_connections = -2\n",
            "max_db_connections: -2 is out of range (0..1000000)"},
           {"[pool.databases.app]\npool_size = 2.5\n",
            "database 'app'.pool_size: 2.5 is not a whole number"},
           {"[pool.databases.app]\npool_size = \"2\"\n",
            "database 'app'.pool_size: '2' is not a whole number"},
           {"[pool.databases.app]\npool_sise = 2\n",
            "database 'app': unknown key 'pool_sise' (known: pool_size, min_pool_size, "
            "reserve_pool_size, reserve_pool, max_db_connections)"},
           {"[pool.users.alice]\nmax_db_connections = 2\n",
            "user 'alice': unknown key 'max_db_connections' (known: pool_size, "
            "max_user_connections)"},
           {"[pool.databases.app]\npool_size = 2\nmin_pool_size = 3\n",
            "database 'app': min_pool_size (3) is more than its pool_size (2)"},
           {"[pool]\ndefault_pool_size = 2\n[pool.databases.app]\nmin_pool_size = 3\n",
            "database 'app': min_pool_size (3) is more than its pool_size (2)"},
           {"[pool.databases.app]\nreserve_pool = 1\nreserve_pool_size = 2\n",
            "reserve_pool and reserve_pool_size are the same setting"},
           {"[pool.databases]\napp = 5\n",
            "database 'app': expected a table like { pool_size = 2 }"},
       }) {
    auto message = errorOf(configFromToml(toml));
    EXPECT_NE(message.find(expected), std::string::npos) << toml << "\n -> " << message;
  }
}

TEST(PoolSizeOverrides, BadInlineTextIsRefused) {
  auto broken = configFrom({{"PGSWARM_POOL_DATABASES", "{ app = { pool_size = 2 }"}});
  EXPECT_NE(errorOf(broken).find("PGSWARM_POOL_DATABASES: '{ app = { pool_size = 2 }' is not an "
                                 "inline TOML table"),
            std::string::npos)
      << errorOf(broken);
  auto notTable = configFrom({{"PGSWARM_POOL_USERS", "5"}});
  EXPECT_NE(errorOf(notTable).find("PGSWARM_POOL_USERS: '5' is not a table"), std::string::npos)
      << errorOf(notTable);
}

TEST(PoolSizeOverrides, NoneByDefault) {
  auto config = configWith({});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_TRUE(config->sizes.databases.empty());
  EXPECT_TRUE(config->sizes.users.empty());
  EXPECT_EQ(config->sizes.of("any", "any").limit, 20);
}

TEST(PoolConfig, ServerTlsFromTheFile) {
  auto config = configFromToml(
      "[pool]\nserver_tls_sslmode = \"verify-ca\"\nserver_tls_ca_file = \"/c/root.crt\"\n");
  ASSERT_TRUE(config.ok()) << errorOf(config);
  EXPECT_EQ(config->serverTlsMode, pool::SslMode::kVerifyCa);
  EXPECT_EQ(config->serverTlsCaFile, "/c/root.crt");
}

}  // namespace
}  // namespace pgswarm::proxy
