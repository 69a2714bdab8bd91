// Every kind of stack `pgswarm stack` writes is accepted by Docker's own
// compose loader: `docker stack config -c FILE` (the docker CLI validates a
// stack against the compose schema without any engine). The docker CLI must
// be installed: Debian 12's docker.io (20.10) has no `stack config`, so
// scripts/install-deps.sh cannot provide it and this test fails loudly
// instead of skipping.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <fstream>

#include "harness.hpp"

namespace pgswarm::test {
namespace {

std::string dockerBinary() {
  for (const char* candidate : {"/usr/local/bin/docker", "/usr/bin/docker"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return {};
}

class SwarmStack : public ::testing::Test {
 protected:
  void SetUp() override {
    docker_ = dockerBinary();
    ASSERT_FALSE(docker_.empty())
        << "no docker CLI in /usr/local/bin or /usr/bin: this test needs one whose `docker "
           "stack config` exists (newer than 20.10: Debian 12's docker.io 20.10 lacks it)";
    auto help = runProgram({docker_, "stack", "config", "--help"});
    ASSERT_EQ(help.exitCode, 0) << docker_ << " has no `stack config`:\n" << help.output;
  }

  std::string write(const std::string& name, const std::string& text) const {
    auto path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  CommandOutput dockerConfig(const std::string& path) const {
    // No engine and no network: the CLI only loads, validates and prints.
    return runProgram({docker_, "stack", "config", "-c", path},
                      {{"DOCKER_HOST", "unix:///nonexistent"}});
  }

  // `pgswarm stack ARGS`, checked, and Docker's normalised view of it.
  std::string validStack(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"stack"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto stack = runPgswarm(argv);
    EXPECT_EQ(stack.exitCode, 0) << stack.output;
    EXPECT_EQ(stack.output.rfind("# Written by `pgswarm stack`", 0), 0U) << stack.output;
    auto path = write("stack-" + std::to_string(++files_) + ".yml", stack.output);
    auto checked = dockerConfig(path);
    EXPECT_EQ(checked.exitCode, 0) << "docker stack config refused:\n"
                                   << checked.output << "\nthe file:\n"
                                   << stack.output;
    return checked.output;
  }

  TempDir dir_;
  std::string docker_;
  int files_ = 0;
};

TEST_F(SwarmStack, TheSeedsFourRaspberryPisValidate) {
  auto config = validStack(
      {"--hosts", "cluster1raspberry0,cluster1raspberry1,cluster1raspberry2,cluster1raspberry3"});
  for (int i = 0; i < 4; ++i) {
    auto host = "cluster1raspberry" + std::to_string(i);
    EXPECT_TRUE(contains(config, "node.hostname == " + host)) << config;
    EXPECT_TRUE(contains(config, "db-" + host + "-data:")) << config;
  }
  EXPECT_TRUE(contains(config, "published: 5432")) << config;
  EXPECT_TRUE(contains(config, "pgswarm_agent_token:")) << config;
}

TEST_F(SwarmStack, EveryOptionValidates) {
  validStack({"--hosts", "pi1", "--replicas-per-host", "3"});
  validStack({"--hosts", "a,b,c", "--shards", "4", "--sync"});
  auto config =
      validStack({"--hosts", "Pi-1.lan,pi-2.lan", "--image", "registry.local:5000/team/pgswarm:1.0",
                  "--network", "db-net", "--pool-port", "15432"});
  EXPECT_TRUE(contains(config, "registry.local:5000/team/pgswarm:1.0")) << config;
  EXPECT_TRUE(contains(config, "published: 15432")) << config;
  EXPECT_TRUE(contains(config, "node.hostname == Pi-1.lan")) << config;
  validStack({"--hosts", "a,b", "--replicas-per-host", "8", "--shards", "64"});
}

// The sharded stack, with its one-shot set-up step, as docs/swarm.md gives it.
TEST_F(SwarmStack, TheShardedStackWithItsSetUpStepValidates) {
  auto config = validStack({"--hosts", "cluster1raspberry0", "--shard-hosts",
                            "cluster1raspberry1,cluster1raspberry2,cluster1raspberry3", "--shards",
                            "3", "--pool-mode", "transaction"});
  EXPECT_TRUE(contains(config, "node.hostname == cluster1raspberry3")) << config;
  EXPECT_TRUE(contains(config, "shard-setup:")) << config;
  EXPECT_TRUE(contains(config, "condition: on-failure")) << config;
  EXPECT_TRUE(contains(config, "disable: true")) << config;
  EXPECT_TRUE(contains(config, "shard1=shard1:5432,shard2=shard2:5432,shard3=shard3:5432"))
      << config;
  EXPECT_TRUE(contains(config, "PGSWARM_POOL_POOL_MODE: transaction")) << config;
}

// The check has teeth: the same validator refuses a broken stack file.
TEST_F(SwarmStack, DockerRefusesABrokenStack) {
  auto stack = runPgswarm({"stack", "--hosts", "a,b"});
  ASSERT_EQ(stack.exitCode, 0) << stack.output;
  ASSERT_EQ(dockerConfig(write("good.yml", stack.output)).exitCode, 0);

  auto badType = stack.output;
  auto at = badType.find("replicas: 1");
  ASSERT_NE(at, std::string::npos);
  badType.replace(at, 11, "replicas: many");
  auto refused = dockerConfig(write("bad-type.yml", badType));
  EXPECT_NE(refused.exitCode, 0) << refused.output;
  EXPECT_TRUE(contains(refused.output, "replicas")) << refused.output;

  auto unknownKey = stack.output;
  at = unknownKey.find("    stop_grace_period:");
  ASSERT_NE(at, std::string::npos);
  unknownKey.insert(at, "    no_such_key: 1\n");
  refused = dockerConfig(write("bad-key.yml", unknownKey));
  EXPECT_NE(refused.exitCode, 0) << refused.output;
  EXPECT_TRUE(contains(refused.output, "no_such_key")) << refused.output;
}

TEST_F(SwarmStack, BadInputIsRefusedWithoutWritingAStack) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& [args, message] : std::vector<Case>{
           {{"stack", "--hosts", ""}, "empty entry"},
           {{"stack", "--hosts", "pi1,pi2,pi1"}, "'pi1' is given twice"},
           {{"stack", "--hosts", "pi_1"}, "'pi_1' is not a valid host name"},
           {{"stack", "--hosts", "pi1", "--shards", "-2"}, "--shards -2 is out of range"},
           {{"stack", "--hosts", "pi1", "--shard-hosts", "pi2,,pi3", "--shards", "2"},
            "--shard-hosts 'pi2,,pi3' has an empty entry"},
           {{"stack", "--hosts", "pi1", "--shard-hosts", "pi2"}, "--shard-hosts needs --shards"},
           {{"stack", "--hosts", "pi1", "--pool-mode", "statement"},
            "--pool-mode 'statement' is neither session nor transaction"},
           {{"stack", "--hosts", "pi1", "--replicas-per-host", "two"}, "--replicas-per-host"},
           {{"stack"}, "--hosts is required"},
       }) {
    auto result = runPgswarm(args);
    EXPECT_NE(result.exitCode, 0) << args.back();
    EXPECT_TRUE(contains(result.output, message)) << args.back() << ": " << result.output;
    EXPECT_FALSE(contains(result.output, "services:")) << result.output;
  }
}

// The stack's set-up step retries while the nodes start, but a typo in its
// placement never fixes itself: refused at once, not retried for --wait.
TEST(ShardSetup, RefusesABadPlacementWithoutWaiting) {
  auto started = std::chrono::steady_clock::now();
  auto result = runPgswarm({"shard", "setup", "--coordinator", "db-a:5432", "--nodes",
                            "shard1=shard1", "--password-file", "/dev/null"});
  EXPECT_EQ(result.exitCode, 2) << result.output;
  EXPECT_TRUE(contains(result.output, "--nodes: 'shard1' is not host:port")) << result.output;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

}  // namespace
}  // namespace pgswarm::test
