// The access and auth_query settings of `pgswarm pool`: defaults, the
// PGSWARM_POOL_* environment names, and the checks that need no files.
#include "proxy/pool_config.hpp"

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

}  // namespace
}  // namespace pgswarm::proxy
