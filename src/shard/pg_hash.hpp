// PostgreSQL 15's hash placement for PARTITION BY HASH, computed in the pool
// so it can send a single-shard statement straight to the owning shard: the
// seeded 64-bit lookup3 hash (hashfn.c), each key type's extended hash
// function, and the combination across key columns (partbounds.c). It must
// agree bit for bit with the server; integration_shard_hash_test checks it
// against a real PostgreSQL. Pure: no I/O, no logging.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace pgswarm::shard {

// HASH_PARTITION_SEED in PostgreSQL's partition.h: every key column's hash
// function is called with this seed when a row is placed.
inline constexpr std::uint64_t kHashPartitionSeed = 0x7A5B22367996DCFDULL;

// Key column types whose hash the pool can compute. Each maps to the hash
// function of the type's default hash operator class.
enum class HashKeyType {
  kInt2,         // hashint2extended: sign-extended to 32 bits
  kInt4,         // hashint4extended
  kInt8,         // hashint8extended: high half folded into the low half
  kText,         // hashtextextended over the bytes (text, varchar; deterministic collations)
  kBpchar,       // hashbpcharextended: the bytes without trailing spaces
  kUuid,         // uuid_hash_extended over the 16 bytes
  kDate,         // hashint4extended of days since 2000-01-01
  kTimestamp,    // timestamp_hash_extended = hashint8extended of microseconds since 2000-01-01
  kTimestampTz,  // the same, in UTC
};

[[nodiscard]] std::string_view hashKeyTypeName(HashKeyType type);

// The key type for a column, from pg_attribute's atttypid and atttypmod
// (-1 = none). Rejected: types without a hash function here, varchar(n)
// (an INSERT silently cuts trailing spaces beyond n, which changes the hash)
// and timestamp(p) with p < 6 (an INSERT rounds the value).
[[nodiscard]] Result<HashKeyType> hashKeyTypeFromOid(std::uint32_t typeOid,
                                                     std::int32_t typmod = -1);
// The same from a type name as written in DDL or shown by format_type()
// ("integer", "int4", "character varying", "timestamp with time zone", ...).
[[nodiscard]] Result<HashKeyType> hashKeyTypeFromName(std::string_view name);

// The lookup3 primitives of PostgreSQL's src/common/hashfn.c.
[[nodiscard]] std::uint64_t hashBytesExtended(std::span<const std::uint8_t> bytes,
                                              std::uint64_t seed);
[[nodiscard]] std::uint64_t hashUint32Extended(std::uint32_t value, std::uint64_t seed);

// The per-type functions, named after PostgreSQL's SQL-callable ones, so
// `SELECT hashint8extended(v, seed)` on a server gives the same number.
using Uuid = std::array<std::uint8_t, 16>;
[[nodiscard]] std::uint64_t hashInt2Extended(std::int16_t value, std::uint64_t seed);
[[nodiscard]] std::uint64_t hashInt4Extended(std::int32_t value, std::uint64_t seed);
[[nodiscard]] std::uint64_t hashInt8Extended(std::int64_t value, std::uint64_t seed);
[[nodiscard]] std::uint64_t hashTextExtended(std::string_view bytes, std::uint64_t seed);
[[nodiscard]] std::uint64_t hashBpcharExtended(std::string_view bytes, std::uint64_t seed);
[[nodiscard]] std::uint64_t hashUuidExtended(const Uuid& uuid, std::uint64_t seed);

// One key column's hash under kHashPartitionSeed.
struct KeyHash {
  std::uint64_t value = 0;
  bool operator==(const KeyHash&) const = default;
};

// A key value in PostgreSQL's text form (a literal, a text-format Bind
// parameter). Accepted exactly as the type's input function would, or an
// error for anything this module cannot be sure of; a caller then routes
// through the coordinator. Narrower than PostgreSQL on purpose for date and
// time: ISO 8601 only ("2024-05-01", "2024-05-01 13:45:00.25"), and a
// timestamptz needs an explicit offset ("+02", "-05:30", "Z"), since without
// one its value depends on the session's TimeZone. Text is hashed as the
// bytes given: the caller must hold them in the server's encoding.
[[nodiscard]] Result<KeyHash> hashKeyText(HashKeyType type, std::string_view text);
// A key value in PostgreSQL's binary send format (a binary Bind parameter):
// integers, dates and timestamps in network byte order, uuid as 16 bytes,
// text as its bytes.
[[nodiscard]] Result<KeyHash> hashKeyBinary(HashKeyType type, std::span<const std::uint8_t> bytes);

// The row's hash over all key columns in key order; nullopt is a NULL
// column, which PostgreSQL leaves out of the combination.
[[nodiscard]] std::uint64_t partitionRowHash(const std::vector<std::optional<KeyHash>>& columns);
// The remainder of the partition (FOR VALUES WITH (MODULUS m, REMAINDER r))
// that holds a row with this hash; -1 when modulus is not positive (a
// modulus PostgreSQL itself refuses).
[[nodiscard]] int hashPartitionRemainder(std::uint64_t rowHash, int modulus);

}  // namespace pgswarm::shard
