// renderStack: the compose text is parsed back with yaml-cpp and checked for
// what `docker stack deploy` and the pgswarm processes inside rely on.
#include "deploy/stack_file.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <set>

namespace pgswarm::deploy {
namespace {

StackSpec fourPis() {
  StackSpec spec;
  spec.hosts = {"cluster1raspberry0", "cluster1raspberry1", "cluster1raspberry2",
                "cluster1raspberry3"};
  return spec;
}

YAML::Node rendered(const StackSpec& spec) {
  auto text = renderStack(spec);
  EXPECT_TRUE(text.ok()) << (text.ok() ? "" : text.error().message);
  return text.ok() ? YAML::Load(*text) : YAML::Node();
}

std::string env(const YAML::Node& service, const std::string& name) {
  auto value = service["environment"][name];
  return value ? value.as<std::string>() : std::string("<unset>");
}

std::set<std::string> keys(const YAML::Node& map) {
  std::set<std::string> out;
  for (const auto& entry : map) out.insert(entry.first.as<std::string>());
  return out;
}

TEST(RenderStack, OneServicePerHostPlusThePool) {
  auto stack = rendered(fourPis());
  EXPECT_EQ(stack["version"].as<std::string>(), "3.8");
  EXPECT_EQ(keys(stack["services"]),
            (std::set<std::string>{"db-cluster1raspberry0", "db-cluster1raspberry1",
                                   "db-cluster1raspberry2", "db-cluster1raspberry3", "pool"}));
}

TEST(RenderStack, DatabasesArePinnedToTheirHostWithALocalVolume) {
  auto stack = rendered(fourPis());
  for (int i = 0; i < 4; ++i) {
    std::string host = "cluster1raspberry" + std::to_string(i);
    auto db = stack["services"]["db-" + host];
    ASSERT_TRUE(db) << host;
    auto constraints = db["deploy"]["placement"]["constraints"];
    ASSERT_EQ(constraints.size(), 1U);
    EXPECT_EQ(constraints[0].as<std::string>(), "node.hostname == " + host);
    EXPECT_EQ(db["deploy"]["replicas"].as<int>(), 1);
    EXPECT_EQ(db["deploy"]["update_config"]["order"].as<std::string>(), "stop-first");
    EXPECT_EQ(db["deploy"]["restart_policy"]["condition"].as<std::string>(), "any");
    ASSERT_EQ(db["volumes"].size(), 1U);
    EXPECT_EQ(db["volumes"][0]["source"].as<std::string>(), "db-" + host + "-data");
    EXPECT_EQ(db["volumes"][0]["target"].as<std::string>(), "/var/lib/postgresql");
    EXPECT_EQ(stack["volumes"]["db-" + host + "-data"]["driver"].as<std::string>(), "local");
    EXPECT_EQ(db["command"][0].as<std::string>(), "node");
    EXPECT_EQ(db["healthcheck"]["test"][3].as<std::string>(), "http://127.0.0.1:8008/health");
    EXPECT_EQ(env(db, "PGSWARM_NODE_NAME"), "db-" + host);
  }
}

TEST(RenderStack, ReplicasFollowThePrimaryThroughTheSeedsVariables) {
  auto services = rendered(fourPis())["services"];
  auto primary = services["db-cluster1raspberry0"];
  EXPECT_EQ(env(primary, "REPLICATION_MODE"), "master");
  EXPECT_EQ(env(primary, "REPLICATION_HOST"), "<unset>");
  for (int i = 1; i < 4; ++i) {
    auto replica = services["db-cluster1raspberry" + std::to_string(i)];
    EXPECT_EQ(env(replica, "REPLICATION_MODE"), "slave");
    EXPECT_EQ(env(replica, "REPLICATION_HOST"), "db-cluster1raspberry0");
    EXPECT_EQ(env(replica, "REPLICATION_PORT"), "5432");
    EXPECT_EQ(env(replica, "REPLICATION_USER"), "replicator");
  }
  EXPECT_EQ(env(services["db-cluster1raspberry2"], "PGSWARM_NODE_PEERS"), "pool:5432");
}

// Adding a host must leave the existing database services' definitions
// alone, or `docker stack deploy` would restart all of them at once.
TEST(RenderStack, AddingAHostChangesOnlyThePoolAndTheNewService) {
  auto before = rendered(fourPis());
  auto spec = fourPis();
  spec.hosts.push_back("cluster1raspberry4");
  auto after = rendered(spec);
  for (const auto& entry : before["services"]) {
    auto name = entry.first.as<std::string>();
    if (name == "pool") continue;
    EXPECT_EQ(YAML::Dump(entry.second), YAML::Dump(after["services"][name])) << name;
  }
  EXPECT_NE(YAML::Dump(before["services"]["pool"]), YAML::Dump(after["services"]["pool"]));
  EXPECT_TRUE(after["services"]["db-cluster1raspberry4"]);
}

TEST(RenderStack, ThePoolIsPublishedAndKnowsEveryNodeAndAgent) {
  auto spec = fourPis();
  spec.poolPort = 15432;
  auto pool = rendered(spec)["services"]["pool"];
  EXPECT_EQ(pool["command"][0].as<std::string>(), "pool");
  EXPECT_EQ(pool["ports"][0]["target"].as<int>(), 5432);
  EXPECT_EQ(pool["ports"][0]["published"].as<int>(), 15432);
  EXPECT_FALSE(pool["deploy"]["placement"]);  // restarted on any node
  EXPECT_EQ(pool["deploy"]["replicas"].as<int>(), 1);
  EXPECT_EQ(env(pool, "HOSTS"),
            "db-cluster1raspberry0:5432:db-cluster1raspberry1:5432:db-cluster1raspberry2:5432:"
            "db-cluster1raspberry3:5432");
  EXPECT_EQ(env(pool, "PGSWARM_POOL_AGENTS"),
            "db-cluster1raspberry0:8008,db-cluster1raspberry1:8008,db-cluster1raspberry2:8008,"
            "db-cluster1raspberry3:8008");
  EXPECT_EQ(env(pool, "PGSWARM_POOL_LISTEN_ADDR"), "0.0.0.0");
  EXPECT_EQ(env(pool, "PGSWARM_POOL_SYNCHRONOUS_MODE"), "off");
  EXPECT_EQ(pool["healthcheck"]["test"][3].as<std::string>(), "http://127.0.0.1:8080/health");
}

TEST(RenderStack, SyncTurnsOnTheSynchronousMode) {
  auto spec = fourPis();
  spec.sync = true;
  EXPECT_EQ(env(rendered(spec)["services"]["pool"], "PGSWARM_POOL_SYNCHRONOUS_MODE"), "on");
}

// Every *_FILE variable must name a secret the service mounts and the stack
// declares; no password ever appears as a plain variable.
TEST(RenderStack, SecretsReachEveryServiceOnlyAsFiles) {
  auto spec = fourPis();
  spec.shards = 2;
  auto stack = rendered(spec);
  auto declared = keys(stack["secrets"]);
  EXPECT_EQ(declared.size(), 3U);
  for (const auto& secret : declared) EXPECT_TRUE(stack["secrets"][secret]["external"].as<bool>());
  for (const auto& entry : stack["services"]) {
    std::set<std::string> mounted;
    for (const auto& secret : entry.second["secrets"]) mounted.insert(secret.as<std::string>());
    int files = 0;
    for (const auto& variable : entry.second["environment"]) {
      auto name = variable.first.as<std::string>();
      bool isFile = name.size() > 5 && name.substr(name.size() - 5) == "_FILE";
      bool isSecret =
          name.find("PASS") != std::string::npos || name.find("TOKEN") != std::string::npos;
      EXPECT_TRUE(isFile || !isSecret) << name << " is a plain secret";
      if (!isFile) continue;
      ++files;
      auto path = variable.second.as<std::string>();
      ASSERT_EQ(path.rfind("/run/secrets/", 0), 0U) << path;
      auto secret = path.substr(13);
      EXPECT_TRUE(mounted.count(secret)) << entry.first.as<std::string>() << " " << secret;
      EXPECT_TRUE(declared.count(secret)) << secret;
    }
    // The set-up step needs only the postgres password.
    auto name = entry.first.as<std::string>();
    EXPECT_GE(files, name == kShardSetupService ? 1 : 3) << name;
  }
}

TEST(RenderStack, EveryServiceIsOnTheAttachableOverlayNetwork) {
  auto spec = fourPis();
  spec.network = "yes";  // YAML 1.1 would read a plain yes as a boolean
  auto stack = rendered(spec);
  EXPECT_EQ(stack["networks"]["yes"]["driver"].as<std::string>(), "overlay");
  EXPECT_TRUE(stack["networks"]["yes"]["attachable"].as<bool>());
  for (const auto& entry : stack["services"]) {
    EXPECT_EQ(entry.second["networks"][0].as<std::string>(), "yes");
  }
}

TEST(RenderStack, ShardNodesArePinnedPrimariesOutsideThePoolsHosts) {
  auto spec = fourPis();
  spec.shards = 5;
  auto text = renderStack(spec);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("# shardN services are standalone primaries"), std::string::npos);
  EXPECT_NE(text->find("pgswarm shard create TABLE --key COLUMN --shards 5"), std::string::npos);
  auto stack = YAML::Load(*text);
  for (int n = 1; n <= 5; ++n) {
    auto shard = stack["services"]["shard" + std::to_string(n)];
    ASSERT_TRUE(shard) << n;
    EXPECT_EQ(env(shard, "REPLICATION_MODE"), "master");
    EXPECT_EQ(env(shard, "PGSWARM_NODE_PEERS"), "<unset>");
    EXPECT_EQ(env(shard, "PGSWARM_NODE_NAME"), "shard" + std::to_string(n));
    EXPECT_EQ(shard["deploy"]["placement"]["constraints"][0].as<std::string>(),
              "node.hostname == cluster1raspberry" + std::to_string((n - 1) % 4));
    EXPECT_TRUE(stack["volumes"]["shard" + std::to_string(n) + "-data"]);
  }
  EXPECT_EQ(env(stack["services"]["pool"], "HOSTS").find("shard"), std::string::npos);
}

// The set-up step: one task that runs `pgswarm shard setup` once, with the
// coordinator's nodes, the shard nodes and the password from the stack.
TEST(RenderStack, ShardsComeWithAOneShotSetUpStep) {
  auto spec = fourPis();
  spec.shards = 2;
  auto setup = rendered(spec)["services"][kShardSetupService];
  ASSERT_TRUE(setup);
  EXPECT_EQ(setup["image"].as<std::string>(), kDefaultImage);
  ASSERT_EQ(setup["command"].size(), 2U);
  EXPECT_EQ(setup["command"][0].as<std::string>(), "shard");
  EXPECT_EQ(setup["command"][1].as<std::string>(), "setup");
  EXPECT_EQ(env(setup, "PGSWARM_SHARD_COORDINATOR"),
            "db-cluster1raspberry0:5432,db-cluster1raspberry1:5432,db-cluster1raspberry2:5432,"
            "db-cluster1raspberry3:5432");
  EXPECT_EQ(env(setup, "PGSWARM_SHARD_NODES"), "shard1=shard1:5432,shard2=shard2:5432");
  EXPECT_EQ(env(setup, "PGSWARM_SHARD_PASSWORD_FILE"), "/run/secrets/pgswarm_postgres_password");
  ASSERT_EQ(setup["secrets"].size(), 1U);
  EXPECT_EQ(setup["secrets"][0].as<std::string>(), kPostgresPasswordSecret);
  // It ends: restarted only when it failed, with no health check (the
  // image's asks an agent or a pool) and no volume or placement.
  EXPECT_EQ(setup["deploy"]["restart_policy"]["condition"].as<std::string>(), "on-failure");
  EXPECT_EQ(setup["deploy"]["replicas"].as<int>(), 1);
  EXPECT_TRUE(setup["healthcheck"]["disable"].as<bool>());
  EXPECT_FALSE(setup["volumes"]);
  EXPECT_FALSE(setup["deploy"]["placement"]);
  EXPECT_FALSE(setup["ports"]);
  EXPECT_EQ(setup["networks"][0].as<std::string>(), kDefaultNetwork);
}

TEST(RenderStack, NoShardsNoSetUpStepAndNoShardSettings) {
  auto stack = rendered(fourPis());
  EXPECT_FALSE(stack["services"][kShardSetupService]);
  EXPECT_EQ(env(stack["services"]["pool"], "PGSWARM_POOL_SHARD_HOSTS"), "<unset>");
  EXPECT_EQ(env(stack["services"]["pool"], "PGSWARM_SHARD_NODES"), "<unset>");
}

// The pool routes to the shard groups, and `pgswarm shard create` run in
// its container finds the same nodes as the set-up step.
TEST(RenderStack, ThePoolKnowsTheShardGroupsAndTheShardCommandsPlacement) {
  auto spec = fourPis();
  spec.shards = 2;
  spec.poolMode = "transaction";
  auto services = rendered(spec)["services"];
  auto pool = services["pool"];
  EXPECT_EQ(env(pool, "PGSWARM_POOL_SHARD_HOSTS"), "shard1=shard1:5432;shard2=shard2:5432");
  EXPECT_EQ(env(pool, "PGSWARM_POOL_POOL_MODE"), "transaction");
  for (const char* name :
       {"PGSWARM_SHARD_COORDINATOR", "PGSWARM_SHARD_NODES", "PGSWARM_SHARD_PASSWORD_FILE"}) {
    EXPECT_EQ(env(pool, name), env(services[kShardSetupService], name)) << name;
  }
  EXPECT_EQ(env(rendered(fourPis())["services"]["pool"], "PGSWARM_POOL_POOL_MODE"), "session");
}

// Adding a host to a sharded stack re-runs the set-up step (its coordinator
// list grows) but leaves the database services alone, as long as no shard
// changes its round-robin host (here four shards on four hosts, then five).
TEST(RenderStack, AddingAHostToAShardedStackKeepsTheDatabaseServices) {
  auto spec = fourPis();
  spec.shards = 4;
  auto before = rendered(spec);
  spec.hosts.push_back("cluster1raspberry4");
  auto after = rendered(spec);
  for (const auto& entry : before["services"]) {
    auto name = entry.first.as<std::string>();
    if (name == "pool" || name == kShardSetupService) continue;
    EXPECT_EQ(YAML::Dump(entry.second), YAML::Dump(after["services"][name])) << name;
  }
}

// With shard hosts of their own, any number of shards stay where they are
// when a host is added.
TEST(RenderStack, AddingAHostLeavesShardsOnTheirShardHosts) {
  auto spec = fourPis();
  spec.shards = 5;
  spec.shardHosts = {"cluster1raspberry2", "cluster1raspberry3"};
  auto before = rendered(spec);
  spec.hosts.push_back("cluster1raspberry4");
  auto after = rendered(spec);
  for (int n = 1; n <= 5; ++n) {
    auto name = "shard" + std::to_string(n);
    EXPECT_EQ(YAML::Dump(before["services"][name]), YAML::Dump(after["services"][name])) << name;
    EXPECT_EQ(after["services"][name]["deploy"]["placement"]["constraints"][0].as<std::string>(),
              "node.hostname == cluster1raspberry" + std::to_string(2 + (n - 1) % 2));
  }
}

TEST(RenderStack, TheImageIsKeptVerbatim) {
  auto spec = fourPis();
  spec.image = "registry.local:5000/pgswarm@sha256:0123abcd";
  for (const auto& entry : rendered(spec)["services"]) {
    EXPECT_EQ(entry.second["image"].as<std::string>(), spec.image);
  }
  EXPECT_EQ(rendered(fourPis())["services"]["pool"]["image"].as<std::string>(), kDefaultImage);
}

TEST(RenderStack, BadSpecsGiveTheValidationError) {
  StackSpec spec;
  auto text = renderStack(spec);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("no hosts"), std::string::npos);
}

}  // namespace
}  // namespace pgswarm::deploy
