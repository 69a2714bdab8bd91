// The shard map's planning and the SQL it writes (pure).
#include "shard/shard_map.hpp"

#include <gtest/gtest.h>

namespace pgswarm::shard {
namespace {

PlanRequest seedRequest() {
  return PlanRequest{.table = "pgbench_accounts",
                     .strategy = Strategy::kRange,
                     .partitions = 4,
                     .minKey = 1,
                     .maxKey = 1000000,
                     .keepLocal = 1,
                     .nodes = {"shard1", "shard2", "shard3"}};
}

TEST(ShardMap, EvenSplitOfPgbenchAccountsIsTheSeedsQuarters) {
  EXPECT_EQ(evenSplitPoints(1, 1000000, 4), (std::vector<std::int64_t>{250001, 500001, 750001}));
}

TEST(ShardMap, EvenSplitSurvivesTheWholeInt64Range) {
  auto points = evenSplitPoints(INT64_MIN, INT64_MAX, 2);
  ASSERT_EQ(points.size(), 1U);
  EXPECT_NEAR(static_cast<double>(points[0]), 0.0, 1e6);
}

TEST(ShardMap, EvenSplitOfFewKeysDropsEmptyRanges) {
  EXPECT_EQ(evenSplitPoints(1, 2, 4), (std::vector<std::int64_t>{2}));
}

TEST(ShardMap, SeedPlanKeepsOneLocalAndOnePerNode) {
  auto planned = planPartitions(seedRequest());
  ASSERT_TRUE(planned) << planned.error().message;
  ASSERT_EQ(planned->size(), 4U);
  const auto& p = *planned;
  EXPECT_EQ(p[0].name, "pgbench_accounts_p0");
  EXPECT_TRUE(p[0].local());
  EXPECT_FALSE(p[0].from.has_value());
  EXPECT_EQ(p[0].to, "250001");
  EXPECT_EQ(p[1].name, "pgbench_accounts_shard1");
  EXPECT_EQ(p[1].node, "shard1");
  EXPECT_EQ(p[1].from, "250001");
  EXPECT_EQ(p[3].node, "shard3");
  EXPECT_EQ(p[3].from, "750001");
  EXPECT_FALSE(p[3].to.has_value());
}

TEST(ShardMap, GivenRangesAreUsedAsTheyAre) {
  auto request = seedRequest();
  request.splitPoints = {"10", "20", "30"};
  auto planned = planPartitions(request);
  ASSERT_TRUE(planned);
  EXPECT_EQ((*planned)[1].from, "10");
  EXPECT_EQ((*planned)[1].to, "20");
}

TEST(ShardMap, RefusesWhatCannotBePlaced) {
  auto request = seedRequest();
  request.keepLocal = 0;  // four remote partitions, three nodes
  auto planned = planPartitions(request);
  ASSERT_FALSE(planned);
  EXPECT_NE(planned.error().message.find("there are 3 shard nodes"), std::string::npos);

  request = seedRequest();
  request.splitPoints = {"10", "20"};
  EXPECT_FALSE(planPartitions(request));  // three points needed

  request = seedRequest();
  request.minKey.reset();  // a text key without --ranges
  EXPECT_FALSE(planPartitions(request));

  request = seedRequest();
  request.nodes = {"shard1", "shard1", "shard2"};
  EXPECT_FALSE(planPartitions(request));

  request = seedRequest();
  request.partitions = 0;
  EXPECT_FALSE(planPartitions(request));

  request = seedRequest();
  request.table = std::string(60, 't');
  EXPECT_FALSE(planPartitions(request)) << "partition names beyond 63 bytes";
}

TEST(ShardMap, HashPlanNumbersRemainders) {
  PlanRequest request{
      .table = "t", .strategy = Strategy::kHash, .partitions = 3, .nodes = {"a", "b", "c"}};
  auto planned = planPartitions(request);
  ASSERT_TRUE(planned);
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*planned)[i].remainder, i);
  ShardedTable table{.table = "t",
                     .keyColumn = "id",
                     .strategy = Strategy::kHash,
                     .modulus = 3,
                     .partitions = *planned};
  EXPECT_EQ(boundClause(table, table.partitions[1]), "FOR VALUES WITH (MODULUS 3, REMAINDER 1)");
  EXPECT_EQ(rowFilter(table, table.partitions[2], "public.t_new"),
            "satisfies_hash_partition(E'public.t_new'::regclass, 3, 2, \"id\")");
}

TEST(ShardMap, RangeClausesAndFiltersQuote) {
  ShardedTable table{.table = "t", .keyColumn = "Key", .strategy = Strategy::kRange};
  Partition first{.name = "t_p0", .to = "it's"};
  Partition last{.name = "t_p1", .from = "it's"};
  EXPECT_EQ(boundClause(table, first), "FOR VALUES FROM (MINVALUE) TO (E'it''s')");
  EXPECT_EQ(boundClause(table, last), "FOR VALUES FROM (E'it''s') TO (MAXVALUE)");
  EXPECT_EQ(rowFilter(table, first, "x"), "\"Key\" IS NOT NULL AND \"Key\" < E'it''s'");
  EXPECT_EQ(rowFilter(table, last, "x"), "\"Key\" IS NOT NULL AND \"Key\" >= E'it''s'");
}

TEST(ShardMap, IntegerRangeLookup) {
  auto planned = planPartitions(seedRequest());
  ASSERT_TRUE(planned);
  ShardedTable table{.strategy = Strategy::kRange, .partitions = *planned};
  EXPECT_EQ(rangePartitionFor(table, INT64_MIN), 0U);
  EXPECT_EQ(rangePartitionFor(table, 250000), 0U);
  EXPECT_EQ(rangePartitionFor(table, 250001), 1U);
  EXPECT_EQ(rangePartitionFor(table, 999999999), 3U);
}

TEST(ShardMap, StrategyNames) {
  EXPECT_EQ(parseStrategy("hash").value(), Strategy::kHash);
  EXPECT_EQ(parseStrategy("range").value(), Strategy::kRange);
  EXPECT_FALSE(parseStrategy("list"));
  EXPECT_STREQ(toString(Strategy::kHash), "hash");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

ShardedTable seedTable() {
  auto planned = planPartitions(seedRequest());
  return ShardedTable{.table = "pgbench_accounts",
                      .keyColumn = "aid",
                      .keyType = "integer",
                      .partitions = planned ? *planned : std::vector<Partition>{}};
}

TEST(ShardMap, SplitCutsAPartitionAtAKeyInside) {
  auto halves = splitPartition(seedTable(), 1, "300000");  // [250001, 500001) on shard1
  ASSERT_TRUE(halves) << halves.error().message;
  EXPECT_EQ(halves->lower.name, "pgbench_accounts_shard1");
  EXPECT_EQ(halves->lower.node, "shard1");
  EXPECT_EQ(halves->lower.from, "250001");
  EXPECT_EQ(halves->lower.to, "300000");
  EXPECT_TRUE(halves->upper.name.empty());
  EXPECT_EQ(halves->upper.from, "300000");
  EXPECT_EQ(halves->upper.to, "500001");
  // Unbounded ends stay unbounded on their side.
  auto first = splitPartition(seedTable(), 0, "-5");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_FALSE(first->lower.from.has_value());
  EXPECT_EQ(first->lower.to, "-5");
  auto last = splitPartition(seedTable(), 3, "2147483647");
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_FALSE(last->upper.to.has_value());
}

TEST(ShardMap, SplitRefusesValuesOutsideOrNotOfTheKeyType) {
  auto table = seedTable();
  for (const auto* at :
       {"250001", "500001", "600000", "1", "abc", "3e5", " 300000", "300000 ", "", "2147483648"}) {
    auto refused = splitPartition(table, 1, at);
    EXPECT_FALSE(refused) << at;
  }
  EXPECT_FALSE(splitPartition(table, 0, "-2147483648")) << "the lower half would be empty";
  EXPECT_TRUE(contains(splitPartition(table, 1, "600000").error().message, "not strictly inside"));
  table.keyType = "text";
  EXPECT_TRUE(contains(splitPartition(table, 1, "300000").error().message, "smallint, integer"));
  table.keyType = "bigint";
  EXPECT_TRUE(splitPartition(table, 3, "9000000000"));
  table.strategy = Strategy::kHash;
  EXPECT_TRUE(contains(splitPartition(table, 1, "300000").error().message, "hash partition"));
}

}  // namespace
}  // namespace pgswarm::shard
