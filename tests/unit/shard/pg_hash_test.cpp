// PostgreSQL-compatible hash placement (shard/pg_hash). Every expected number
// is a reference value printed by a real PostgreSQL 15.x server (UTF8
// database, amd64); the SQL that produced each group is quoted above it,
// with S = HASH_PARTITION_SEED = 8816678312871386365 (0x7A5B22367996DCFD).
// The SQL functions return int8; the module's uint64 is the same bits.
#include "shard/pg_hash.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace pgswarm::shard {
namespace {

constexpr std::uint64_t pg(std::int64_t value) {
  return static_cast<std::uint64_t>(value);
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::uint64_t textKey(HashKeyType type, std::string_view text) {
  auto hash = hashKeyText(type, text);
  EXPECT_TRUE(hash.ok()) << text << ": " << (hash.ok() ? "" : hash.error().message);
  return hash.ok() ? hash->value : 0;
}

std::string textError(HashKeyType type, std::string_view text) {
  auto hash = hashKeyText(type, text);
  return hash.ok() ? "accepted" : hash.error().message;
}

struct IntCase {
  std::int64_t value;
  std::int64_t expected;
};

// select v, hashint4extended(v, S) from unnest(array[0,1,-1,42,2147483647,-2147483648]) v;
TEST(PgHash, Int4MatchesHashint4extended) {
  const IntCase cases[] = {
      {0, -4403592609991167795},          {1, 5968994663651403477},
      {-1, -5017072347659237694},         {42, 7363975540656877951},
      {2147483647, -6050265599104649060}, {-2147483648LL, 4938542303000433043}};
  for (const auto& c : cases) {
    EXPECT_EQ(hashInt4Extended(static_cast<std::int32_t>(c.value), kHashPartitionSeed),
              pg(c.expected))
        << c.value;
    EXPECT_EQ(textKey(HashKeyType::kInt4, std::to_string(c.value)), pg(c.expected)) << c.value;
  }
}

// select v, hashint4extended(v, 0) from ...: a zero seed skips the seed block.
TEST(PgHash, ZeroSeedLeavesStateUnmixed) {
  EXPECT_EQ(hashInt4Extended(0, 0), pg(4154612158245552303));
  EXPECT_EQ(hashInt4Extended(42, 0), pg(8010225493015854792));
  EXPECT_EQ(hashInt4Extended(-2147483648, 0), pg(1977219185673256887));
  // select hashtextextended('abc', 0), hashtextextended('The quick brown fox jumps over', 0);
  EXPECT_EQ(hashTextExtended("abc", 0), pg(-6747756470228489321));
  EXPECT_EQ(hashTextExtended("The quick brown fox jumps over", 0), pg(-2952746244513659538));
}

// select v, hashint2extended(v, S) from unnest(array[-32768,-1,0,7,32767]::int2[]) v;
TEST(PgHash, Int2IsSignExtended) {
  const IntCase cases[] = {{-32768, 5885242512097991578},
                           {-1, -5017072347659237694},
                           {0, -4403592609991167795},
                           {7, 1708571371176205364},
                           {32767, -6436696229286267413}};
  for (const auto& c : cases) {
    EXPECT_EQ(hashInt2Extended(static_cast<std::int16_t>(c.value), kHashPartitionSeed),
              pg(c.expected))
        << c.value;
    EXPECT_EQ(textKey(HashKeyType::kInt2, std::to_string(c.value)), pg(c.expected)) << c.value;
  }
}

// select v, hashint8extended(v, S) from unnest(array[0,-1,42,4294967296,-4294967297,
//   1234567890123,-1234567890123,9223372036854775807,-9223372036854775808]::int8[]) v;
TEST(PgHash, Int8FoldsHighHalf) {
  const IntCase cases[] = {{0, -4403592609991167795},
                           {-1, -5017072347659237694},
                           {42, 7363975540656877951},
                           {4294967296, 5968994663651403477},
                           {-4294967297, 2147707635919668551},
                           {1234567890123, 4234184308168508908},
                           {-1234567890123, 5643214861867138814},
                           {std::numeric_limits<std::int64_t>::max(), 4938542303000433043},
                           {std::numeric_limits<std::int64_t>::min(), -6050265599104649060}};
  for (const auto& c : cases) {
    EXPECT_EQ(hashInt8Extended(c.value, kHashPartitionSeed), pg(c.expected)) << c.value;
    EXPECT_EQ(textKey(HashKeyType::kInt8, std::to_string(c.value)), pg(c.expected)) << c.value;
  }
}

// select n, hashtextextended(left('The quick brown fox jumps over', n), S)
//   from generate_series(0,30) n;
// Lengths 0..30 cover the 12-byte block loop zero, one and two times and
// every tail length 0..11.
TEST(PgHash, TextEveryTailLength) {
  const std::int64_t expected[] = {
      -5700645584453517373, -5744778375200340036, -3898278563181308333, 3515404771647576006,
      -2252019373604324759, -5703651373769001236, -949884056120241652,  2490044116434112174,
      8197177666979083362,  1128990387745890170,  -7249906615326372176, -5235799857860941163,
      -5372500833392535518, 3994320958599819571,  -5863929275387938153, 3195964990734746365,
      -6590194492130876340, 7392068388824108558,  -1431726267575042354, -799676844905196895,
      -2006078361498342426, -5520832946600929388, 1104219756816140633,  -126307401200583330,
      -6607058234038157299, 5652438115739902581,  1201374509327364659,  1093108374719870778,
      2679886066821309172,  -1453668621564831766, -23054996183676132};
  const std::string sentence = "The quick brown fox jumps over";
  for (std::size_t length = 0; length <= 30; ++length) {
    EXPECT_EQ(textKey(HashKeyType::kText, sentence.substr(0, length)), pg(expected[length]))
        << "length " << length;
  }
}

// The same bytes at every alignment: PostgreSQL has separate word-wise and
// byte-wise paths, which must agree on a little-endian server.
TEST(PgHash, TextHashDoesNotDependOnAlignment) {
  const std::string sentence = "The quick brown fox jumps over";
  for (std::size_t shift = 0; shift < 4; ++shift) {
    const std::string buffer = std::string(shift, '.') + sentence;
    EXPECT_EQ(hashTextExtended(std::string_view(buffer).substr(shift), kHashPartitionSeed),
              pg(-23054996183676132))
        << shift;
  }
}

// select v, hashtextextended(v, S), octet_length(v)
//   from unnest(array['héllo wörld','日本語テキスト','🐘 postgres']) v;
TEST(PgHash, MultibyteUtf8TextHashesItsBytes) {
  EXPECT_EQ(textKey(HashKeyType::kText, "h\xC3\xA9llo w\xC3\xB6rld"), pg(-145319379157667650));
  EXPECT_EQ(textKey(HashKeyType::kText,
                    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9"
                    "\xE3\x83\x88"),
            pg(3781793241886115942));
  EXPECT_EQ(textKey(HashKeyType::kText, "\xF0\x9F\x90\x98 postgres"), pg(9095653878879271637));
}

// select hashbpcharextended('ab   '::bpchar, S), hashtextextended('ab', S);
TEST(PgHash, BpcharIgnoresTrailingSpaces) {
  EXPECT_EQ(textKey(HashKeyType::kBpchar, "ab   "), pg(596009030900183869));
  EXPECT_EQ(textKey(HashKeyType::kBpchar, "ab"), pg(596009030900183869));
  EXPECT_NE(textKey(HashKeyType::kText, "ab   "), pg(596009030900183869));
  EXPECT_NE(textKey(HashKeyType::kBpchar, " ab"), pg(596009030900183869));
}

// select v, uuid_hash_extended(v, S) from unnest(array[...]::uuid[]) v;
TEST(PgHash, UuidHashesSixteenBytes) {
  const std::int64_t expected = 424513190990560493;
  EXPECT_EQ(textKey(HashKeyType::kUuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), pg(expected));
  // uuid_in's other spellings of the same value.
  EXPECT_EQ(textKey(HashKeyType::kUuid, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), pg(expected));
  EXPECT_EQ(textKey(HashKeyType::kUuid, "{a0eebc999c0b4ef8bb6d6bb9bd380a11}"), pg(expected));
  EXPECT_EQ(textKey(HashKeyType::kUuid, "a0ee-bc99-9c0b4ef8bb6d6bb9bd380a11"), pg(expected));
  EXPECT_EQ(textKey(HashKeyType::kUuid, "00000000-0000-0000-0000-000000000000"),
            pg(-5281082146396728638));
  EXPECT_EQ(textKey(HashKeyType::kUuid, "ffffffff-ffff-ffff-ffff-ffffffffffff"),
            pg(-148986464341306210));
}

// select hashint4extended('2024-02-29'::date - '2000-01-01'::date, S) (8825 days), and
// for 1970-01-01 (-10957 days): date_ops hashes the day number with hashint4extended.
TEST(PgHash, DateHashesDaysSince2000) {
  EXPECT_EQ(textKey(HashKeyType::kDate, "2024-02-29"), pg(-7425094147693931516));
  EXPECT_EQ(textKey(HashKeyType::kDate, "1970-01-01"), pg(-7791128061482025433));
  EXPECT_EQ(textKey(HashKeyType::kDate, "infinity"),
            hashInt4Extended(2147483647, kHashPartitionSeed));
}

// select timestamp_hash_extended('2024-02-29 13:45:06.25'::timestamp, S),
//        timestamp_hash_extended('2024-02-29 13:45:06.25+02'::timestamptz at time zone 'UTC', S);
//        timestamp_hash_extended('1999-12-31 23:59:59.999999'::timestamp, S)  (=
//        hashint8extended(-1, S))
TEST(PgHash, TimestampsHashMicrosecondsSince2000) {
  EXPECT_EQ(textKey(HashKeyType::kTimestamp, "2024-02-29 13:45:06.25"), pg(-4003889430265538065));
  EXPECT_EQ(textKey(HashKeyType::kTimestamp, "2024-02-29T13:45:06.250000"),
            pg(-4003889430265538065));
  EXPECT_EQ(textKey(HashKeyType::kTimestamp, "1999-12-31 23:59:59.999999"),
            pg(-5017072347659237694));
  const auto utc1145 = pg(-1296432531903700766);
  EXPECT_EQ(textKey(HashKeyType::kTimestampTz, "2024-02-29 13:45:06.25+02"), utc1145);
  EXPECT_EQ(textKey(HashKeyType::kTimestampTz, "2024-02-29 13:45:06.25 +02:00"), utc1145);
  EXPECT_EQ(textKey(HashKeyType::kTimestampTz, "2024-02-29 08:15:06.25-0330"), utc1145);
  EXPECT_EQ(textKey(HashKeyType::kTimestampTz, "2024-02-29T11:45:06.25Z"), utc1145);
}

// A table partitioned by hash (a int8, b text) with one partition, and
//   select r from generate_series(0,1000002) r
//    where satisfies_hash_partition('t2'::regclass, 1000003, r, a, b)
// for each (a, b): the remainder of the combined row hash modulo 1000003.
TEST(PgHash, RowHashCombinesColumnsAndSkipsNulls) {
  auto column = [](HashKeyType type, std::string_view text) {
    return std::optional<KeyHash>(KeyHash{textKey(type, text)});
  };
  const std::optional<KeyHash> null;
  struct Row {
    std::vector<std::optional<KeyHash>> columns;
    int remainder;
  };
  const Row rows[] = {
      {{column(HashKeyType::kInt8, "5"), column(HashKeyType::kText, "x")}, 43879},
      {{column(HashKeyType::kInt8, "-9223372036854775808"), column(HashKeyType::kText, "")},
       857323},
      {{null, column(HashKeyType::kText, "only text")}, 409299},
      {{column(HashKeyType::kInt8, "42"), null}, 273264},
      {{null, null}, 0},
      {{column(HashKeyType::kInt8, "123456789012"),
        column(HashKeyType::kText, "h\xC3\xA9llo w\xC3\xB6rld")},
       439972},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(hashPartitionRemainder(partitionRowHash(row.columns), 1000003), row.remainder);
  }
  EXPECT_EQ(partitionRowHash({}), 0U);
}

TEST(PgHash, RemainderIsUnsigned) {
  EXPECT_EQ(hashPartitionRemainder(std::numeric_limits<std::uint64_t>::max(), 4), 3);
  EXPECT_EQ(hashPartitionRemainder(std::numeric_limits<std::uint64_t>::max(), 3), 0);
  EXPECT_EQ(hashPartitionRemainder(7, 1), 0);
  EXPECT_EQ(hashPartitionRemainder(7, 0), -1);
  EXPECT_EQ(hashPartitionRemainder(7, -4), -1);
}

TEST(PgHash, IntegerTextFollowsPgStrtoint) {
  EXPECT_EQ(textKey(HashKeyType::kInt4, " +42\n"), pg(7363975540656877951));
  EXPECT_EQ(textKey(HashKeyType::kInt2, "-0"), pg(-4403592609991167795));
  for (std::string_view bad : {"", " ", "+", "-", "+-5", "4 2", "42abc", "0x10", "1_000", "4.0"}) {
    EXPECT_TRUE(contains(textError(HashKeyType::kInt4, bad), "invalid input syntax")) << bad;
  }
  EXPECT_TRUE(contains(textError(HashKeyType::kInt2, "32768"), "out of range for type smallint"));
  EXPECT_TRUE(contains(textError(HashKeyType::kInt2, "-32769"), "out of range"));
  EXPECT_TRUE(
      contains(textError(HashKeyType::kInt4, "2147483648"), "out of range for type integer"));
  EXPECT_TRUE(contains(textError(HashKeyType::kInt8, "9223372036854775808"),
                       "out of range for type bigint"));
  EXPECT_TRUE(contains(textError(HashKeyType::kInt8, "-9223372036854775809"), "out of range"));
}

TEST(PgHash, MalformedUuidsAreRejected) {
  for (std::string_view bad :
       {"", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1-1", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11"}) {
    EXPECT_TRUE(contains(textError(HashKeyType::kUuid, bad), "invalid input syntax for type uuid"))
        << bad;
  }
}

TEST(PgHash, DatesAndTimesOutsideIsoAreRejected) {
  for (std::string_view bad : {"2024-02-30", "2023-02-29", "0000-01-01", "2024-13-01", "24-01-01",
                               "01/02/2024", "2024-01-01 BC", "today", "2024-1-01"}) {
    EXPECT_FALSE(hashKeyText(HashKeyType::kDate, bad).ok()) << bad;
  }
  for (std::string_view bad :
       {"2024-01-01 24:00:00", "2024-01-01 12:60", "2024-01-01 12:00:60", "2024-01-01 12",
        "2024-01-01 12:00:00.1234567", "2024-01-01 12:00:00.", "2024-01-01 12:00:00+02"}) {
    EXPECT_FALSE(hashKeyText(HashKeyType::kTimestamp, bad).ok()) << bad;
  }
  EXPECT_TRUE(contains(textError(HashKeyType::kTimestampTz, "2024-01-01 12:00:00"),
                       "needs an explicit UTC offset"));
  EXPECT_FALSE(hashKeyText(HashKeyType::kTimestampTz, "2024-01-01 12:00:00+16").ok());
  EXPECT_FALSE(hashKeyText(HashKeyType::kTimestampTz, "2024-01-01 12:00:00+02:60").ok());
  EXPECT_EQ(textKey(HashKeyType::kTimestamp, "2024-02-29"),
            textKey(HashKeyType::kTimestamp, "2024-02-29 00:00:00"));
}

std::vector<std::uint8_t> bigEndian(std::uint64_t value, std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i)
    bytes[size - 1 - i] = static_cast<std::uint8_t>(value >> (8 * i));
  return bytes;
}

std::uint64_t binaryKey(HashKeyType type, const std::vector<std::uint8_t>& bytes) {
  auto hash = hashKeyBinary(type, bytes);
  EXPECT_TRUE(hash.ok()) << (hash.ok() ? "" : hash.error().message);
  return hash.ok() ? hash->value : 0;
}

TEST(PgHash, BinaryParametersAreNetworkOrder) {
  EXPECT_EQ(binaryKey(HashKeyType::kInt2, bigEndian(static_cast<std::uint16_t>(-32768), 2)),
            pg(5885242512097991578));
  EXPECT_EQ(binaryKey(HashKeyType::kInt4, bigEndian(42, 4)), pg(7363975540656877951));
  EXPECT_EQ(binaryKey(HashKeyType::kInt8, bigEndian(pg(-4294967297), 8)), pg(2147707635919668551));
  EXPECT_EQ(binaryKey(HashKeyType::kDate, bigEndian(8825, 4)), pg(-7425094147693931516));
  EXPECT_EQ(binaryKey(HashKeyType::kTimestamp, bigEndian(pg(-1), 8)), pg(-5017072347659237694));
  const std::vector<std::uint8_t> uuid{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                                       0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};
  EXPECT_EQ(binaryKey(HashKeyType::kUuid, uuid), pg(424513190990560493));
  const std::vector<std::uint8_t> text{'a', 'b', ' ', ' '};
  EXPECT_EQ(binaryKey(HashKeyType::kBpchar, text), pg(596009030900183869));
  EXPECT_FALSE(hashKeyBinary(HashKeyType::kInt4, bigEndian(42, 8)).ok());
  EXPECT_FALSE(hashKeyBinary(HashKeyType::kInt8, bigEndian(42, 4)).ok());
  EXPECT_FALSE(hashKeyBinary(HashKeyType::kUuid, text).ok());
}

TEST(PgHash, TypesByOidAndName) {
  const std::pair<std::uint32_t, HashKeyType> byOid[] = {
      {21, HashKeyType::kInt2},         {23, HashKeyType::kInt4},   {20, HashKeyType::kInt8},
      {25, HashKeyType::kText},         {1043, HashKeyType::kText}, {1042, HashKeyType::kBpchar},
      {2950, HashKeyType::kUuid},       {1082, HashKeyType::kDate}, {1114, HashKeyType::kTimestamp},
      {1184, HashKeyType::kTimestampTz}};
  for (auto [oid, type] : byOid) {
    auto found = hashKeyTypeFromOid(oid);
    ASSERT_TRUE(found.ok()) << oid;
    EXPECT_EQ(*found, type) << oid;
  }
  EXPECT_TRUE(contains(hashKeyTypeFromOid(1700).error().message, "OID 1700 is not supported"));
  EXPECT_FALSE(hashKeyTypeFromOid(1043, 14).ok());  // varchar(10)
  EXPECT_TRUE(hashKeyTypeFromOid(1042, 14).ok());   // character(10)
  EXPECT_FALSE(hashKeyTypeFromOid(1114, 3).ok());   // timestamp(3)
  EXPECT_TRUE(hashKeyTypeFromOid(1184, 6).ok());    // timestamptz(6)

  const std::pair<std::string_view, HashKeyType> byName[] = {
      {"smallint", HashKeyType::kInt2},
      {"INTEGER", HashKeyType::kInt4},
      {"pg_catalog.int8", HashKeyType::kInt8},
      {"character  varying", HashKeyType::kText},
      {"character(8)", HashKeyType::kBpchar},
      {"uuid", HashKeyType::kUuid},
      {"timestamp(6) with time zone", HashKeyType::kTimestampTz},
      {"timestamp without time zone", HashKeyType::kTimestamp}};
  for (auto [name, type] : byName) {
    auto found = hashKeyTypeFromName(name);
    ASSERT_TRUE(found.ok()) << name << ": " << found.error().message;
    EXPECT_EQ(*found, type) << name;
  }
  EXPECT_TRUE(contains(hashKeyTypeFromName("varchar(20)").error().message, "length limit"));
  EXPECT_TRUE(contains(hashKeyTypeFromName("timestamp(0)").error().message, "precision"));
  EXPECT_TRUE(contains(hashKeyTypeFromName("numeric").error().message, "not supported"));
  EXPECT_FALSE(hashKeyTypeFromName("\"char\"").ok());
  EXPECT_FALSE(hashKeyTypeFromName("int4(").ok());
}

}  // namespace
}  // namespace pgswarm::shard
