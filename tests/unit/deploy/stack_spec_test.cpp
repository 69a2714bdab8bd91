// planStack and splitHosts: which services a spec yields, and every input
// `pgswarm stack` must refuse with a message naming the bad value.
#include "deploy/stack_spec.hpp"

#include <gtest/gtest.h>

namespace pgswarm::deploy {
namespace {

StackSpec specFor(std::vector<std::string> hosts) {
  StackSpec spec;
  spec.hosts = std::move(hosts);
  return spec;
}

std::string errorOf(const StackSpec& spec) {
  auto plan = planStack(spec);
  EXPECT_FALSE(plan.ok());
  return plan.ok() ? "" : plan.error().message;
}

TEST(PlanStack, FirstHostHoldsThePrimaryAndTheOthersReplicas) {
  auto plan =
      planStack(specFor({"cluster1raspberry0", "cluster1raspberry1", "cluster1raspberry2"}));
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->databases.size(), 3U);
  EXPECT_EQ(plan->primary().name, "db-cluster1raspberry0");
  EXPECT_EQ(plan->primary().host, "cluster1raspberry0");
  EXPECT_EQ(plan->primary().role, DatabaseRole::kPrimary);
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(plan->databases[i].role, DatabaseRole::kReplica);
    EXPECT_EQ(plan->databases[i].host, "cluster1raspberry" + std::to_string(i));
  }
  EXPECT_EQ(plan->databases[1].volume(), "db-cluster1raspberry1-data");
}

TEST(PlanStack, SeveralDatabasesPerHostGetNumberedNames) {
  auto spec = specFor({"a", "b"});
  spec.databasesPerHost = 2;
  auto plan = planStack(spec);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::vector<std::string> names;
  for (const auto& db : plan->databases) names.push_back(db.name + "@" + db.host);
  EXPECT_EQ(names, (std::vector<std::string>{"db-a@a", "db-a-2@a", "db-b@b", "db-b-2@b"}));
  EXPECT_EQ(plan->databases[1].role, DatabaseRole::kReplica);
}

TEST(PlanStack, ShardsGoRoundRobinOverTheHostsAfterTheReplicatedNodes) {
  auto spec = specFor({"a", "b"});
  spec.shards = 3;
  auto plan = planStack(spec);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->databases.size(), 5U);
  EXPECT_EQ(plan->replicated().size(), 2U);
  std::vector<std::string> shards;
  for (std::size_t i = 2; i < 5; ++i) {
    EXPECT_EQ(plan->databases[i].role, DatabaseRole::kShard);
    shards.push_back(plan->databases[i].name + "@" + plan->databases[i].host);
  }
  EXPECT_EQ(shards, (std::vector<std::string>{"shard1@a", "shard2@b", "shard3@a"}));
  ASSERT_EQ(plan->shards().size(), 3U);
  EXPECT_EQ(plan->shards().front().name, "shard1");
}

// The seed's sharded layout: the coordinator alone on the first board, one
// shard on each other board.
TEST(PlanStack, ShardHostsPinTheShardsToTheirOwnList) {
  auto spec = specFor({"pi0"});
  spec.shards = 4;
  spec.shardHosts = {"pi1", "pi2", "pi3"};
  auto plan = planStack(spec);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  std::vector<std::string> shards;
  for (const auto& shard : plan->shards()) shards.push_back(shard.name + "@" + shard.host);
  EXPECT_EQ(shards,
            (std::vector<std::string>{"shard1@pi1", "shard2@pi2", "shard3@pi3", "shard4@pi1"}));
  EXPECT_EQ(plan->replicated().size(), 1U);
}

TEST(PlanStack, RefusesShardHostsWithoutShardsOrWithBadNames) {
  auto spec = specFor({"pi0"});
  spec.shardHosts = {"pi1"};
  EXPECT_NE(errorOf(spec).find("--shard-hosts needs --shards"), std::string::npos);
  spec.shards = 2;
  spec.shardHosts = {"pi1", "PI1"};
  EXPECT_NE(errorOf(spec).find("--shard-hosts: host 'PI1' is given twice"), std::string::npos);
  spec.shardHosts = {"pi_1"};
  EXPECT_NE(errorOf(spec).find("--shard-hosts: 'pi_1' is not a valid host name"),
            std::string::npos);
  spec.shardHosts = {"pi0"};  // a board may hold a database and a shard
  EXPECT_TRUE(planStack(spec).ok());
}

TEST(PlanStack, DottedAndUpperCaseHostsMakeLowerCaseServiceNames) {
  auto plan = planStack(specFor({"Pi-1.lan"}));
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->primary().name, "db-pi-1-lan");
  EXPECT_EQ(plan->primary().host, "Pi-1.lan");  // the constraint keeps the node's own spelling
}

TEST(PlanStack, RefusesNoHosts) {
  EXPECT_NE(errorOf(specFor({})).find("no hosts"), std::string::npos);
}

TEST(PlanStack, RefusesDuplicateHostsIgnoringCase) {
  EXPECT_NE(errorOf(specFor({"pi1", "pi2", "PI1"})).find("'PI1' is given twice"),
            std::string::npos);
}

TEST(PlanStack, RefusesInvalidHostNames) {
  for (const std::string& bad :
       std::vector<std::string>{"-pi", "pi-", "pi_1", "pi 1", "pi..lan", "pi.", ".pi", "pi:5432",
                                "pi\n1", std::string(64, 'a'), "a\"b", "é"}) {
    auto message = errorOf(specFor({bad}));
    EXPECT_NE(message.find("is not a valid host name"), std::string::npos)
        << bad << ": " << message;
  }
  EXPECT_TRUE(planStack(specFor({std::string(40, 'a')})).ok());
}

TEST(PlanStack, RefusesServiceNamesThatCollideOrGrowTooLong) {
  auto spec = specFor({"pi", "pi-2"});
  spec.databasesPerHost = 2;
  EXPECT_NE(errorOf(spec).find("'db-pi-2'"), std::string::npos);
  EXPECT_NE(errorOf(specFor({"a.b", "a-b"})).find("'db-a-b'"), std::string::npos);
  EXPECT_NE(errorOf(specFor({std::string(50, 'a')})).find("longer than"), std::string::npos);
}

TEST(PlanStack, RefusesCountsOutOfRange) {
  auto spec = specFor({"a"});
  spec.databasesPerHost = 0;
  EXPECT_NE(errorOf(spec).find("--replicas-per-host 0"), std::string::npos);
  spec.databasesPerHost = kMaxDatabasesPerHost + 1;
  EXPECT_NE(errorOf(spec).find("out of range"), std::string::npos);
  spec = specFor({"a"});
  spec.shards = -1;
  EXPECT_NE(errorOf(spec).find("--shards -1"), std::string::npos);
  spec = specFor({"a"});
  spec.poolPort = 70000;
  EXPECT_NE(errorOf(spec).find("--pool-port 70000"), std::string::npos);
}

TEST(PlanStack, RefusesAPoolModeThePoolDoesNotHave) {
  auto spec = specFor({"a"});
  spec.poolMode = "statement";
  EXPECT_NE(errorOf(spec).find("--pool-mode 'statement' is neither session nor transaction"),
            std::string::npos);
  spec.poolMode = "transaction";
  EXPECT_TRUE(planStack(spec).ok());
}

TEST(PlanStack, RefusesBadImageAndNetworkNames) {
  auto spec = specFor({"a"});
  spec.image = "pgswarm/pgswarm:latest --privileged";
  EXPECT_NE(errorOf(spec).find("is not an image reference"), std::string::npos);
  spec.image = "";
  EXPECT_NE(errorOf(spec).find("is not an image reference"), std::string::npos);
  spec = specFor({"a"});
  spec.network = "spark net";
  EXPECT_NE(errorOf(spec).find("is not a network name"), std::string::npos);
  spec.image = "registry.local:5000/team/pgswarm@sha256:0123abcd";
  spec.network = "spark";
  EXPECT_TRUE(planStack(spec).ok());
}

TEST(SplitHosts, SplitsAndTrims) {
  auto hosts = splitHosts("a, b ,c");
  ASSERT_TRUE(hosts.ok());
  EXPECT_EQ(*hosts, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(SplitHosts, RefusesEmptyEntries) {
  for (const char* bad : {"", "a,,b", "a,", ",a", " , "}) {
    auto hosts = splitHosts(bad);
    ASSERT_FALSE(hosts.ok()) << bad;
    EXPECT_NE(hosts.error().message.find("empty entry"), std::string::npos);
  }
}

}  // namespace
}  // namespace pgswarm::deploy
