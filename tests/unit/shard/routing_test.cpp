// The pool's shard routes (shard/routing): compiling the catalog and placing
// keys. Hash placements are checked against pg_hash (whose numbers are
// PostgreSQL's own, pg_hash_test) and against remainders a real server
// printed; range placements against the bounds' edges.
#include "shard/routing.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pgswarm::shard {
namespace {

const std::vector<std::string> kGroups{"shard1", "shard2", "shard3"};

StoredTable stored(ShardedTable map, JobState state = JobState::kDone) {
  return StoredTable{.map = std::move(map), .state = state};
}

Partition hashPartition(const std::string& node, int remainder) {
  return Partition{.name = "t_" + (node.empty() ? "p" + std::to_string(remainder) : node),
                   .node = node,
                   .remainder = remainder};
}

Partition rangePartition(const std::string& name, const std::string& node,
                         std::optional<std::string> from, std::optional<std::string> to) {
  return Partition{.name = name, .node = node, .from = std::move(from), .to = std::move(to)};
}

ShardedTable hashTable(const std::string& keyType, int modulus, std::vector<Partition> partitions) {
  return ShardedTable{.table = "t",
                      .keyColumn = "k",
                      .keyType = keyType,
                      .strategy = Strategy::kHash,
                      .modulus = modulus,
                      .partitions = std::move(partitions)};
}

ShardedTable rangeTable(const std::string& keyType, std::vector<Partition> partitions) {
  return ShardedTable{.table = "t",
                      .keyColumn = "k",
                      .keyType = keyType,
                      .strategy = Strategy::kRange,
                      .partitions = std::move(partitions)};
}

TableRoute routeOf(const ShardedTable& map) {
  auto routes = compileRoutes({stored(map)}, kGroups, {});
  EXPECT_EQ(routes.tables.size(), 1U);
  return routes.tables.empty() ? TableRoute{} : routes.tables.front();
}

int textGroup(const TableRoute& route, std::string_view text) {
  return groupFor(route, KeyValue{.binary = false, .bytes = text});
}

std::string bigEndian(std::uint64_t value, int width) {
  std::string bytes(static_cast<std::size_t>(width), '\0');
  for (int i = width - 1; i >= 0; --i, value >>= 8) {
    bytes[static_cast<std::size_t>(i)] = static_cast<char>(value & 0xFF);
  }
  return bytes;
}

int binaryGroup(const TableRoute& route, std::int64_t value, int width) {
  std::string bytes = bigEndian(static_cast<std::uint64_t>(value), width);
  return groupFor(route, KeyValue{.binary = true, .bytes = bytes});
}

// Partitions listed out of remainder order, so placement must go by
// remainder, not by position; remainder 3 stays on the coordinator.
ShardedTable fourWayInt4() {
  return hashTable("integer", 4,
                   {hashPartition("shard2", 2), hashPartition("shard1", 0), hashPartition("", 3),
                    hashPartition("shard3", 1)});
}

TEST(ShardRouting, CompileSkipsTablesStillCopying) {
  auto copying = hashTable("integer", 2, {hashPartition("shard1", 0), hashPartition("shard2", 1)});
  copying.table = "copying";
  auto done = copying;
  done.table = "done";
  auto routes = compileRoutes({stored(copying, JobState::kCopying), stored(done)}, kGroups, {});
  ASSERT_EQ(routes.relations.size(), 1U);
  ASSERT_EQ(routes.tables.size(), 1U);
  EXPECT_EQ(routes.relations[0].table, "done");
  EXPECT_EQ(routes.tables[0].map.table, "done");
}

TEST(ShardRouting, CompileNamesRelationsWithTheirSequenceDefaults) {
  auto accounts = hashTable("bigint", 2, {hashPartition("shard1", 0), hashPartition("shard2", 1)});
  accounts.schema = "bank";
  accounts.table = "accounts";
  accounts.keyColumn = "aid";
  auto plain = accounts;
  plain.table = "plain";
  auto routes = compileRoutes({stored(accounts), stored(plain)}, kGroups,
                              {{"bank.accounts", {"id", "serial_no"}}, {"public.plain", {"x"}}});
  ASSERT_EQ(routes.relations.size(), 2U);
  EXPECT_EQ(routes.relations[0].schema, "bank");
  EXPECT_EQ(routes.relations[0].table, "accounts");
  EXPECT_EQ(routes.relations[0].keyColumn, "aid");
  EXPECT_EQ(routes.relations[0].coordinatorDefaults, (std::vector<std::string>{"id", "serial_no"}));
  // "public.plain" is another table than bank.plain.
  EXPECT_TRUE(routes.relations[1].coordinatorDefaults.empty());
}

TEST(ShardRouting, CompileSendsLocalAndUnknownNodesToTheCoordinator) {
  auto map = hashTable("integer", 4,
                       {hashPartition("", 0), hashPartition("shard3", 1),
                        hashPartition("shard1", 2), hashPartition("elsewhere", 3)});
  EXPECT_EQ(routeOf(map).groups, (std::vector<int>{kCoordinatorGroup, 2, 0, kCoordinatorGroup}));
}

TEST(ShardRouting, CompileKnowsWhichKeyTypesItPlaces) {
  auto hashRoute = [](const std::string& type) {
    return routeOf(hashTable(type, 2, {hashPartition("shard1", 0), hashPartition("shard2", 1)}));
  };
  EXPECT_EQ(hashRoute("integer").hashType, HashKeyType::kInt4);
  EXPECT_EQ(hashRoute("text").hashType, HashKeyType::kText);
  EXPECT_EQ(hashRoute("uuid").hashType, HashKeyType::kUuid);
  EXPECT_FALSE(hashRoute("numeric").hashType.has_value());
  EXPECT_FALSE(hashRoute("character varying(10)").hashType.has_value());
  EXPECT_FALSE(hashRoute("integer").integerRange);

  auto rangeRoute = [](const std::string& type, const std::string& split) {
    return routeOf(rangeTable(type, {rangePartition("a", "shard1", std::nullopt, split),
                                     rangePartition("b", "shard2", split, std::nullopt)}));
  };
  EXPECT_TRUE(rangeRoute("integer", "100").integerRange);
  EXPECT_TRUE(rangeRoute("bigint", "-9223372036854775808").integerRange);
  EXPECT_TRUE(rangeRoute("smallint", "32767").integerRange);
  EXPECT_FALSE(rangeRoute("integer", "100").hashType.has_value());
  // Orders the pool does not reproduce, or bounds it would read otherwise.
  EXPECT_FALSE(rangeRoute("text", "m").integerRange);
  EXPECT_FALSE(rangeRoute("numeric", "100").integerRange);
  EXPECT_FALSE(rangeRoute("date", "2024-01-01").integerRange);
  EXPECT_FALSE(rangeRoute("integer", "1.5").integerRange);
  EXPECT_FALSE(rangeRoute("integer", " 100").integerRange);
  EXPECT_FALSE(rangeRoute("smallint", "40000").integerRange);
}

TEST(ShardRouting, HashTextPlacementAgreesWithPgHash) {
  auto route = routeOf(fourWayInt4());
  // remainder -> group, from fourWayInt4's layout.
  const int groupOfRemainder[] = {0, 2, 1, kCoordinatorGroup};
  int seen[4] = {};
  for (int value = -500; value <= 500; ++value) {
    std::string text = std::to_string(value);
    auto hash = hashKeyText(HashKeyType::kInt4, text);
    ASSERT_TRUE(hash.ok());
    int remainder = hashPartitionRemainder(partitionRowHash({*hash}), 4);
    ASSERT_GE(remainder, 0);
    ++seen[remainder];
    EXPECT_EQ(textGroup(route, text), groupOfRemainder[remainder]) << value;
    EXPECT_EQ(binaryGroup(route, value, 4), groupOfRemainder[remainder]) << value;
  }
  for (int count : seen) EXPECT_GT(count, 100);  // every partition was exercised
}

// Remainders printed by PostgreSQL 15 (pg_hash_test's RowHash case: a NULL
// column leaves the hash of the other alone, so these are the one-column
// placements), in tables of modulus 1000003 with one partition each.
TEST(ShardRouting, HashPlacementMatchesPostgresRemainders) {
  auto int8Route = routeOf(hashTable("bigint", 1000003, {hashPartition("shard2", 273264)}));
  EXPECT_EQ(textGroup(int8Route, "42"), 1);
  EXPECT_EQ(binaryGroup(int8Route, 42, 8), 1);
  EXPECT_EQ(textGroup(int8Route, "43"), kCoordinatorGroup);  // no partition holds it here

  auto textRoute = routeOf(hashTable("text", 1000003, {hashPartition("shard3", 409299)}));
  EXPECT_EQ(textGroup(textRoute, "only text"), 2);
  EXPECT_EQ(groupFor(textRoute, KeyValue{.binary = true, .bytes = "only text"}), 2);
  EXPECT_EQ(textGroup(textRoute, "only text "), kCoordinatorGroup);
}

TEST(ShardRouting, HashKeysThePoolCannotReadGoToTheCoordinator) {
  auto route = routeOf(fourWayInt4());
  EXPECT_EQ(textGroup(route, "abc"), kCoordinatorGroup);
  EXPECT_EQ(textGroup(route, "2147483648"), kCoordinatorGroup);  // an error on the server
  EXPECT_EQ(textGroup(route, ""), kCoordinatorGroup);
  EXPECT_EQ(binaryGroup(route, 42, 8), kCoordinatorGroup);  // int8 bytes for an int4 key
  EXPECT_EQ(binaryGroup(route, 42, 2), kCoordinatorGroup);

  auto numeric =
      routeOf(hashTable("numeric", 2, {hashPartition("shard1", 0), hashPartition("shard2", 1)}));
  EXPECT_EQ(textGroup(numeric, "1"), kCoordinatorGroup);
  EXPECT_EQ(textGroup(numeric, "2"), kCoordinatorGroup);
}

// MINVALUE..-100 on shard1, -100..100 local, 100..200 on shard2,
// 200..MAXVALUE on shard3.
ShardedTable fourRanges(const std::string& keyType) {
  return rangeTable(keyType, {rangePartition("t_shard1", "shard1", std::nullopt, "-100"),
                              rangePartition("t_p1", "", "-100", "100"),
                              rangePartition("t_shard2", "shard2", "100", "200"),
                              rangePartition("t_shard3", "shard3", "200", std::nullopt)});
}

TEST(ShardRouting, RangePlacementAtTheBounds) {
  auto route = routeOf(fourRanges("integer"));
  ASSERT_TRUE(route.integerRange);
  EXPECT_EQ(textGroup(route, "-2147483648"), 0);  // MINVALUE partition
  EXPECT_EQ(textGroup(route, "-101"), 0);
  EXPECT_EQ(textGroup(route, "-100"), kCoordinatorGroup);  // FROM is inclusive: local
  EXPECT_EQ(textGroup(route, "99"), kCoordinatorGroup);
  EXPECT_EQ(textGroup(route, "100"), 1);  // TO is exclusive
  EXPECT_EQ(textGroup(route, "199"), 1);
  EXPECT_EQ(textGroup(route, "0150"), 1);  // int4in reads leading zeros
  EXPECT_EQ(textGroup(route, "200"), 2);
  EXPECT_EQ(textGroup(route, "2147483647"), 2);  // MAXVALUE partition
  EXPECT_EQ(binaryGroup(route, -2147483648LL, 4), 0);
  EXPECT_EQ(binaryGroup(route, -256, 4), 0);
  EXPECT_EQ(binaryGroup(route, 150, 4), 1);
  EXPECT_EQ(binaryGroup(route, 2147483647, 4), 2);
}

// The bounds compiled into the route place every key where the catalog's
// text bounds place it.
TEST(ShardRouting, CompiledBoundsAgreeWithTheCatalogsText) {
  const ShardedTable map = fourRanges("bigint");
  auto route = routeOf(map);
  ASSERT_EQ(route.integerBounds.size(), map.partitions.size());
  for (std::int64_t key : {INT64_MIN, INT64_MIN + 1, std::int64_t{-101}, std::int64_t{-100},
                           std::int64_t{0}, std::int64_t{99}, std::int64_t{100}, std::int64_t{199},
                           std::int64_t{200}, INT64_MAX - 1, INT64_MAX}) {
    auto partition = rangePartitionFor(map, key);
    ASSERT_TRUE(partition) << key;
    EXPECT_EQ(textGroup(route, std::to_string(key)), route.groups[*partition]) << key;
  }
  EXPECT_TRUE(routeOf(hashTable("integer", 2, {hashPartition("shard1", 0)})).integerBounds.empty());
}

TEST(ShardRouting, RangeRefusesWhatItIsNotSureOf) {
  auto route = routeOf(fourRanges("integer"));
  for (const char* text : {"2147483648", "-2147483649", "99999999999999999999", " 150", "150 ",
                           "+150", "1e2", "150.0", "0x96", "", "-", "--150", "1_000"}) {
    EXPECT_EQ(textGroup(route, text), kCoordinatorGroup) << '"' << text << '"';
  }
  EXPECT_EQ(binaryGroup(route, 150, 8), kCoordinatorGroup);
  EXPECT_EQ(binaryGroup(route, 150, 2), kCoordinatorGroup);
  EXPECT_EQ(groupFor(route, KeyValue{.binary = true, .bytes = ""}), kCoordinatorGroup);
}

TEST(ShardRouting, RangeKeysOfEachIntegerWidth) {
  auto small = routeOf(fourRanges("smallint"));
  EXPECT_EQ(textGroup(small, "32767"), 2);
  EXPECT_EQ(textGroup(small, "-32768"), 0);
  EXPECT_EQ(textGroup(small, "32768"), kCoordinatorGroup);  // smallint out of range
  EXPECT_EQ(textGroup(small, "-32769"), kCoordinatorGroup);
  EXPECT_EQ(binaryGroup(small, 150, 2), 1);
  EXPECT_EQ(binaryGroup(small, -32768, 2), 0);
  EXPECT_EQ(binaryGroup(small, 150, 4), kCoordinatorGroup);

  auto big = routeOf(fourRanges("bigint"));
  EXPECT_EQ(textGroup(big, "9223372036854775807"), 2);
  EXPECT_EQ(textGroup(big, "-9223372036854775808"), 0);
  EXPECT_EQ(textGroup(big, "9223372036854775808"), kCoordinatorGroup);
  EXPECT_EQ(textGroup(big, "2147483648"), 2);
  EXPECT_EQ(binaryGroup(big, INT64_MIN, 8), 0);
  EXPECT_EQ(binaryGroup(big, 150, 8), 1);
  EXPECT_EQ(binaryGroup(big, 150, 4), kCoordinatorGroup);
}

TEST(ShardRouting, RangeGapsAndNonIntegerRangesGoToTheCoordinator) {
  auto gaps = routeOf(rangeTable("integer", {rangePartition("a", "shard1", "0", "10"),
                                             rangePartition("b", "shard2", "20", "30")}));
  EXPECT_EQ(textGroup(gaps, "5"), 0);
  EXPECT_EQ(textGroup(gaps, "15"), kCoordinatorGroup);
  EXPECT_EQ(textGroup(gaps, "25"), 1);
  EXPECT_EQ(textGroup(gaps, "-1"), kCoordinatorGroup);
  EXPECT_EQ(textGroup(gaps, "30"), kCoordinatorGroup);

  auto text = routeOf(rangeTable("text", {rangePartition("a", "shard1", std::nullopt, "m"),
                                          rangePartition("b", "shard2", "m", std::nullopt)}));
  EXPECT_EQ(textGroup(text, "a"), kCoordinatorGroup);
  EXPECT_EQ(textGroup(text, "5"), kCoordinatorGroup);
}

TEST(ShardRouting, MapFindsOnlyDatabasesWithShardedTables) {
  ShardMap map;
  map.databases["empty"] = ShardRoutes{};
  map.databases["bank"] = compileRoutes({stored(fourWayInt4())}, kGroups, {});
  EXPECT_EQ(map.find("nowhere"), nullptr);
  EXPECT_EQ(map.find("empty"), nullptr);
  ASSERT_NE(map.find("bank"), nullptr);
  EXPECT_EQ(map.find("bank")->tables.size(), 1U);
}

// The watcher publishes a new map exactly when routes compare unequal.
TEST(ShardRouting, RoutesDifferWhenAnythingARouteDependsOnChanges) {
  auto map = fourWayInt4();
  auto base = compileRoutes({stored(map)}, kGroups, {{"public.t", {"id"}}});
  EXPECT_EQ(base, compileRoutes({stored(map)}, kGroups, {{"public.t", {"id"}}}));
  EXPECT_NE(base, compileRoutes({stored(map)}, kGroups, {}));
  auto moved = map;
  moved.partitions[2].node = "shard2";
  EXPECT_NE(base, compileRoutes({stored(moved)}, kGroups, {{"public.t", {"id"}}}));
  auto renamed = map;
  renamed.keyColumn = "other";
  EXPECT_NE(base, compileRoutes({stored(renamed)}, kGroups, {{"public.t", {"id"}}}));
  EXPECT_NE(base, compileRoutes({stored(map)}, std::vector<std::string>{"shard2", "shard1"},
                                {{"public.t", {"id"}}}));
}

TEST(ShardRouting, AHeldTableGoesThroughTheCoordinatorUntilReleased) {
  StoredTable held = stored(fourRanges("integer"));
  held.hold = "shard split";
  auto routes = compileRoutes({held}, kGroups, {});
  ASSERT_EQ(routes.tables.size(), 1U);
  const auto& route = routes.tables.front();
  EXPECT_EQ(textGroup(route, "150"), kCoordinatorGroup);
  EXPECT_EQ(binaryGroup(route, 150, 4), kCoordinatorGroup);
  EXPECT_EQ(whyNotDirect(route, 2), "held: shard split");
  EXPECT_EQ(whyNotDirect(route, 1), "local");  // the hold does not hide other reasons
  // A hold is a change of routes, so the watcher publishes (and records) it.
  EXPECT_NE(routes, compileRoutes({stored(fourRanges("integer"))}, kGroups, {}));
  auto released = routeOf(fourRanges("integer"));
  EXPECT_EQ(textGroup(released, "150"), 1);
}

// A key in a coordinator partition is placed there (partitionFor) and named
// by localNameFor only where the watcher allowed that partition a name.
TEST(ShardRouting, LocalPartitionsAreNamedOnlyWhereAllowed) {
  auto route = routeOf(fourRanges("integer"));
  auto local = KeyValue{.binary = false, .bytes = "0"};
  EXPECT_EQ(groupFor(route, local), kCoordinatorGroup);
  EXPECT_EQ(partitionFor(route, local), std::optional<std::size_t>(1));
  EXPECT_EQ(localNameFor(route, local), nullptr);  // no names compiled: none allowed
  EXPECT_EQ(whyNotDirect(route, 1), "local");
  route.localNames = {"", "public.t_p1", "", ""};
  EXPECT_EQ(whyNotDirect(route, 1), "local, by name");
  ASSERT_NE(localNameFor(route, local), nullptr);
  EXPECT_EQ(*localNameFor(route, local), "public.t_p1");
  EXPECT_EQ(localNameFor(route, KeyValue{.binary = false, .bytes = "150"}), nullptr);  // shard1
  EXPECT_EQ(localNameFor(route, KeyValue{.binary = false, .bytes = "x"}), nullptr);    // unplaced
  route.hold = "shard move";
  EXPECT_EQ(partitionFor(route, local), std::nullopt);
  EXPECT_EQ(localNameFor(route, local), nullptr);
  auto hashed = routeOf(fourWayInt4());
  hashed.localNames = {"", "", "public.t_p3", ""};
  int localKeys = 0;
  for (int key = 0; key < 64; ++key) {
    auto text = std::to_string(key);
    auto value = KeyValue{.binary = false, .bytes = text};
    const auto* name = localNameFor(hashed, value);
    EXPECT_EQ(name != nullptr, groupFor(hashed, value) == kCoordinatorGroup) << key;
    localKeys += name != nullptr ? 1 : 0;
  }
  EXPECT_GT(localKeys, 0);
}

}  // namespace
}  // namespace pgswarm::shard
