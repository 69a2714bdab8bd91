// shard/pg_hash against a real PostgreSQL 15: hash-partitioned tables of
// every supported key type are filled with thousands of generated values
// (extremes, negatives, multibyte text of many lengths, random uuids, NULLs),
// and for every row the partition PostgreSQL chose (tableoid) must be the one
// whose remainder pgswarm computes, from the value read back both as text
// and in binary format. One wrong hash fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cluster/pg_client.hpp"
#include "harness.hpp"
#include "shard/pg_hash.hpp"

namespace pgswarm::test {
namespace {

using shard::HashKeyType;
using Row = std::vector<std::optional<std::string>>;  // SQL literals' values; nullopt = NULL

struct KeyColumn {
  std::string sqlType;
  HashKeyType type;
};

struct TableSpec {
  std::string name;
  std::vector<KeyColumn> columns;
  int modulus;
  std::vector<Row> rows;
};

// Fixed so a failure reproduces; change it to explore other values.
constexpr std::uint64_t kGeneratorSeed = 20261126;

class ShardHashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<PostgresServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    conn_ = server_->connect();
    ASSERT_EQ(PQstatus(conn_.get()), CONNECTION_OK) << PQerrorMessage(conn_.get());
    // Output formats the checks read back: ISO dates, a fixed-offset zone
    // (named zones print odd historical offsets such as +05:53:28).
    exec("SET DateStyle = ISO; SET TIME ZONE INTERVAL '+05:30' HOUR TO MINUTE");
  }

  void exec(const std::string& sql) {
    PGresult* result = PQexec(conn_.get(), sql.c_str());
    auto status = PQresultStatus(result);
    EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        << sql.substr(0, 200) << ": " << PQresultErrorMessage(result);
    PQclear(result);
  }

  std::string literal(const std::optional<std::string>& value) {
    return value ? cluster::quoteLiteral(*value) : "NULL";
  }

  void createAndFill(const TableSpec& table) {
    std::string columns;
    std::string keys;
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      columns += fmt::format("{}k{} {}", i == 0 ? "" : ", ", i, table.columns[i].sqlType);
      keys += fmt::format("{}k{}", i == 0 ? "" : ", ", i);
    }
    exec(fmt::format("CREATE TABLE {} ({}) PARTITION BY HASH ({})", table.name, columns, keys));
    // Partitions named apart from their remainder, so the check reads the
    // remainder from the catalog, not from a naming convention.
    for (int r = 0; r < table.modulus; ++r) {
      exec(fmt::format(
          "CREATE TABLE {}_part_{} PARTITION OF {} FOR VALUES WITH (MODULUS {}, "
          "REMAINDER {})",
          table.name, char('a' + (r * 7 + 3) % table.modulus), table.name, table.modulus, r));
    }
    for (std::size_t start = 0; start < table.rows.size(); start += 500) {
      std::string sql = "INSERT INTO " + table.name + " VALUES ";
      for (std::size_t i = start; i < std::min(table.rows.size(), start + 500); ++i) {
        sql += i == start ? "(" : ", (";
        for (std::size_t c = 0; c < table.rows[i].size(); ++c) {
          sql += (c == 0 ? "" : ", ") + literal(table.rows[i][c]);
        }
        sql += ")";
      }
      exec(sql);
    }
  }

  // Partition name -> remainder, from pg_get_expr(relpartbound).
  std::map<std::string, int> remainders(const std::string& table) {
    std::map<std::string, int> found;
    PGresult* result = PQexec(
        conn_.get(), ("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                      "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '" +
                      table + "'::regclass")
                         .c_str());
    for (int row = 0; row < PQntuples(result); ++row) {
      std::string bound = PQgetvalue(result, row, 1);  // FOR VALUES WITH (modulus 4, remainder 2)
      auto at = bound.find("remainder ");
      if (at != std::string::npos)
        found[PQgetvalue(result, row, 0)] = std::stoi(bound.substr(at + 10));
    }
    PQclear(result);
    return found;
  }

  // Reads every row back in `format` (0 text, 1 binary) and compares the
  // partition it is in with the computed one. Returns the number of rows.
  int checkPlacement(const TableSpec& table, int format) {
    auto partitionRemainder = remainders(table.name);
    EXPECT_EQ(static_cast<int>(partitionRemainder.size()), table.modulus);
    std::string select = "SELECT ";
    for (std::size_t i = 0; i < table.columns.size(); ++i) select += fmt::format("k{}, ", i);
    select += "tableoid::regclass::text FROM " + table.name;
    PGresult* result =
        PQexecParams(conn_.get(), select.c_str(), 0, nullptr, nullptr, nullptr, nullptr, format);
    EXPECT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQresultErrorMessage(result);
    const int keyCount = static_cast<int>(table.columns.size());
    std::map<int, int> rowsPerRemainder;
    int wrong = 0;
    for (int row = 0; row < PQntuples(result); ++row) {
      std::vector<std::optional<shard::KeyHash>> keys;
      std::string shown;
      for (int c = 0; c < keyCount; ++c) {
        if (PQgetisnull(result, row, c)) {
          keys.emplace_back();
          shown += "NULL ";
          continue;
        }
        std::string_view value(PQgetvalue(result, row, c),
                               static_cast<std::size_t>(PQgetlength(result, row, c)));
        auto type = table.columns[static_cast<std::size_t>(c)].type;
        auto hash =
            format == 0
                ? shard::hashKeyText(type, value)
                : shard::hashKeyBinary(
                      type, {reinterpret_cast<const std::uint8_t*>(value.data()), value.size()});
        if (!hash) {
          ADD_FAILURE() << table.name << ": cannot hash '" << value
                        << "': " << hash.error().message;
          return 0;
        }
        keys.emplace_back(*hash);
        shown += (format == 0 ? std::string(value) : "<binary>") + " ";
      }
      std::string partition = PQgetvalue(result, row, keyCount);
      int actual = partitionRemainder.at(partition);
      int computed = shard::hashPartitionRemainder(shard::partitionRowHash(keys), table.modulus);
      ++rowsPerRemainder[actual];
      if (computed != actual && ++wrong <= 5) {
        ADD_FAILURE() << table.name << ": row (" << shown << ") is in " << partition
                      << " (remainder " << actual << "), computed remainder " << computed;
      }
    }
    int rows = PQntuples(result);
    PQclear(result);
    EXPECT_EQ(wrong, 0) << table.name << ": rows placed differently (format " << format << ")";
    // Not vacuous: every partition holds rows.
    EXPECT_EQ(static_cast<int>(rowsPerRemainder.size()), table.modulus) << table.name;
    return rows;
  }

  void verify(const TableSpec& table) {
    createAndFill(table);
    int textRows = checkPlacement(table, 0);
    int binaryRows = checkPlacement(table, 1);
    EXPECT_EQ(textRows, static_cast<int>(table.rows.size())) << table.name;
    EXPECT_EQ(binaryRows, textRows) << table.name;
  }

  static std::unique_ptr<PostgresServer> server_;
  RawConn conn_;
  std::mt19937_64 random_{kGeneratorSeed};
};

std::unique_ptr<PostgresServer> ShardHashTest::server_;

// Extremes, the numbers around zero and around 2^32 (where int8's folding
// matters), then random values over the whole range.
template <typename Int>
std::vector<Row> integerRows(std::mt19937_64& random, int count) {
  using Limits = std::numeric_limits<Int>;
  std::vector<Int> values{Limits::min(), static_cast<Int>(Limits::min() + 1), Limits::max(),
                          static_cast<Int>(Limits::max() - 1)};
  for (int v = -50; v <= 50; ++v) values.push_back(static_cast<Int>(v));
  if constexpr (sizeof(Int) == 8) {
    for (std::int64_t edge :
         {std::int64_t{1} << 32, std::int64_t{1} << 31, std::int64_t{1} << 48}) {
      for (std::int64_t delta = -2; delta <= 2; ++delta) {
        values.push_back(edge + delta);
        values.push_back(-edge + delta);
      }
    }
  }
  std::uniform_int_distribution<Int> any(Limits::min(), Limits::max());
  std::uniform_int_distribution<Int> small(-100000 > Limits::min() ? -100000 : Limits::min(),
                                           100000 < Limits::max() ? 100000 : Limits::max());
  while (static_cast<int>(values.size()) < count) {
    values.push_back(values.size() % 2 == 0 ? any(random) : small(random));
  }
  std::vector<Row> rows;
  rows.reserve(values.size());
  for (Int v : values) rows.push_back({std::to_string(v)});
  return rows;
}

// Text of every length 0..80 and random strings mixing ASCII (quotes and
// backslashes included) with 2-, 3- and 4-byte UTF-8 characters.
std::vector<Row> textRows(std::mt19937_64& random, int count, std::size_t maxChars,
                          bool trailingSpaces) {
  static const std::vector<std::string> kAlphabet{"a",
                                                  "b",
                                                  "z",
                                                  "A",
                                                  "Q",
                                                  "0",
                                                  "9",
                                                  " ",
                                                  "'",
                                                  "\\",
                                                  "-",
                                                  "_",
                                                  "\xC3\xA9",
                                                  "\xC3\xB6",
                                                  "\xD0\x96",
                                                  "\xE6\x97\xA5",
                                                  "\xE3\x83\x86",
                                                  "\xE2\x82\xAC",
                                                  "\xF0\x9F\x90\x98"};
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> length(0, maxChars);
  auto randomText = [&](std::size_t chars) {
    std::string text;
    for (std::size_t i = 0; i < chars; ++i) text += kAlphabet[pick(random)];
    return text;
  };
  std::vector<Row> rows;
  for (std::size_t n = 0; n <= maxChars; ++n) rows.push_back({std::string(n, 'x')});
  for (std::size_t n = 0; n <= maxChars; ++n) rows.push_back({randomText(n)});
  while (static_cast<int>(rows.size()) < count) {
    std::string text = randomText(length(random));
    if (trailingSpaces && rows.size() % 3 == 0 && text.size() < maxChars) text += ' ';
    rows.push_back({text});
  }
  return rows;
}

std::vector<Row> uuidRows(std::mt19937_64& random, int count) {
  std::vector<Row> rows{{"00000000-0000-0000-0000-000000000000"},
                        {"ffffffff-ffff-ffff-ffff-ffffffffffff"},
                        {"{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"}};
  while (static_cast<int>(rows.size()) < count) {
    std::uint64_t high = random();
    std::uint64_t low = random();
    rows.push_back(
        {fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff,
                     high & 0xffff, low >> 48, low & 0xffffffffffffULL)});
  }
  return rows;
}

// Dates and timestamps from year 2 to 9999 (an offset must not push one
// into 1 BC or year 10000, which print in forms the parser refuses), as ISO
// literals.
std::vector<Row> dateTimeRows(std::mt19937_64& random, int count, HashKeyType type) {
  std::vector<Row> rows{{"infinity"},   {"-infinity"},  {"2000-01-01"}, {"1999-12-31"},
                        {"2024-02-29"}, {"0001-01-01"}, {"9999-12-31"}};
  std::uniform_int_distribution<int> year(2, 9999);
  std::uniform_int_distribution<int> month(1, 12);
  std::uniform_int_distribution<int> day(1, 28);
  std::uniform_int_distribution<int> hour(0, 23);
  std::uniform_int_distribution<int> sixty(0, 59);
  std::uniform_int_distribution<int> micros(0, 999999);
  std::uniform_int_distribution<int> offsetQuarterHours(-48, 56);
  while (static_cast<int>(rows.size()) < count) {
    std::string value = fmt::format("{:04}-{:02}-{:02}", year(random), month(random), day(random));
    if (type != HashKeyType::kDate) {
      value += fmt::format(" {:02}:{:02}:{:02}", hour(random), sixty(random), sixty(random));
      if (rows.size() % 2 == 0) value += fmt::format(".{:06}", micros(random));
    }
    if (type == HashKeyType::kTimestampTz) {
      int quarters = offsetQuarterHours(random);
      value += fmt::format("{}{:02}:{:02}", quarters < 0 ? '-' : '+', std::abs(quarters) / 4,
                           std::abs(quarters) % 4 * 15);
    }
    rows.push_back({value});
  }
  return rows;
}

TEST_F(ShardHashTest, Int2PlacementMatchesPostgres) {
  verify({"h_int2", {{"int2", HashKeyType::kInt2}}, 4, integerRows<std::int16_t>(random_, 3000)});
}

TEST_F(ShardHashTest, Int4PlacementMatchesPostgres) {
  verify({"h_int4", {{"int4", HashKeyType::kInt4}}, 4, integerRows<std::int32_t>(random_, 3000)});
}

TEST_F(ShardHashTest, Int8PlacementMatchesPostgres) {
  verify({"h_int8", {{"int8", HashKeyType::kInt8}}, 4, integerRows<std::int64_t>(random_, 3000)});
}

TEST_F(ShardHashTest, Int8PlacementWithModulusThree) {
  verify(
      {"h_int8_m3", {{"bigint", HashKeyType::kInt8}}, 3, integerRows<std::int64_t>(random_, 3000)});
}

TEST_F(ShardHashTest, TextPlacementMatchesPostgres) {
  verify({"h_text", {{"text", HashKeyType::kText}}, 4, textRows(random_, 3000, 80, false)});
}

TEST_F(ShardHashTest, VarcharPlacementWithModulusThree) {
  verify({"h_varchar", {{"varchar", HashKeyType::kText}}, 3, textRows(random_, 2000, 40, false)});
}

TEST_F(ShardHashTest, BpcharPlacementIgnoresPadding) {
  verify({"h_bpchar", {{"char(12)", HashKeyType::kBpchar}}, 4, textRows(random_, 2000, 12, true)});
}

TEST_F(ShardHashTest, UuidPlacementMatchesPostgres) {
  verify({"h_uuid", {{"uuid", HashKeyType::kUuid}}, 4, uuidRows(random_, 3000)});
}

TEST_F(ShardHashTest, DatePlacementMatchesPostgres) {
  verify({"h_date",
          {{"date", HashKeyType::kDate}},
          4,
          dateTimeRows(random_, 2000, HashKeyType::kDate)});
}

TEST_F(ShardHashTest, TimestampPlacementMatchesPostgres) {
  verify({"h_ts",
          {{"timestamp", HashKeyType::kTimestamp}},
          4,
          dateTimeRows(random_, 2000, HashKeyType::kTimestamp)});
  verify({"h_tstz",
          {{"timestamptz", HashKeyType::kTimestampTz}},
          4,
          dateTimeRows(random_, 2000, HashKeyType::kTimestampTz)});
}

// Two key columns, with NULL in either or both (a NULL adds nothing to the
// row hash; all NULL goes to remainder 0).
TEST_F(ShardHashTest, TwoColumnKeyWithNulls) {
  auto numbers = integerRows<std::int64_t>(random_, 3000);
  auto texts = textRows(random_, 3000, 30, false);
  std::vector<Row> rows;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    Row row{numbers[i][0], texts[i][0]};
    if (i % 7 == 1) row[0].reset();
    if (i % 11 == 2) row[1].reset();
    if (i % 97 == 3) row = {std::nullopt, std::nullopt};
    rows.push_back(row);
  }
  verify({"h_multi", {{"int8", HashKeyType::kInt8}, {"text", HashKeyType::kText}}, 4, rows});
}

}  // namespace
}  // namespace pgswarm::test
