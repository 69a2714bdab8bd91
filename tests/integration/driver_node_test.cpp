// End to end with a driver that does not use libpq: node-postgres runs
// tests/drivers/node/pool_driver.js through a transaction-mode pool with
// fewer server connections than clients. The script checks every answer;
// this test starts the cluster and the pool and reads the script's verdict.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace pgswarm::test {
namespace {

TEST(DriverNode, NodePostgresThroughTransactionPool) {
  const std::string driverDir = std::string(PGSWARM_SOURCE_DIR) + "/tests/drivers/node";
  const auto node = findOnPath("node");
  ASSERT_FALSE(node.empty()) << "node not found; scripts/install-deps.sh installs it";
  ASSERT_TRUE(std::filesystem::exists(driverDir + "/node_modules/pg/package.json"))
      << "node-postgres missing in " << driverDir << "; scripts/install-deps.sh installs it";

  LocalCluster cluster(0);
  auto up = cluster.up();
  ASSERT_EQ(up.exitCode, 0) << up.output;
  const int poolSize = 3;
  PoolProcess pool(cluster, {"--pool-mode", "transaction", "--default-pool-size",
                             std::to_string(poolSize), "--workers", "1"});

  auto run = runProgram({node, driverDir + "/pool_driver.js"},
                        {{"PGHOST", "127.0.0.1"},
                         {"PGPORT", std::to_string(pool.port())},
                         {"PGUSER", "postgres"},
                         {"PGPASSWORD", cluster.password()},
                         {"DRIVER_CLIENTS", "12"},
                         {"DRIVER_MAX_BACKENDS", std::to_string(poolSize)}});
  EXPECT_EQ(run.exitCode, 0) << run.output;
  EXPECT_NE(run.output.find("node-postgres through the pool: ok (12 clients"), std::string::npos)
      << run.output;
  EXPECT_TRUE(pool.running()) << pool.log();
}

}  // namespace
}  // namespace pgswarm::test
