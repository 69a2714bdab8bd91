// PostgreSQL-compatible hash placement: see pg_hash.hpp. Written from the
// algorithms in PostgreSQL 15's hashfn.c, hashfunc.c, varlena.c, uuid.c,
// timestamp.c and partbounds.c; the reference numbers in the tests come from
// a real server.
#include "shard/pg_hash.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <limits>
#include <string>

namespace pgswarm::shard {
namespace {

// Bob Jenkins' lookup3 state. PostgreSQL keeps the 64-bit result as b:c.
struct Lookup3 {
  std::uint32_t a;
  std::uint32_t b;
  std::uint32_t c;
};

// clang-format off
void mix(Lookup3& s) {
  s.a -= s.c;  s.a ^= std::rotl(s.c, 4);   s.c += s.b;
  s.b -= s.a;  s.b ^= std::rotl(s.a, 6);   s.a += s.c;
  s.c -= s.b;  s.c ^= std::rotl(s.b, 8);   s.b += s.a;
  s.a -= s.c;  s.a ^= std::rotl(s.c, 16);  s.c += s.b;
  s.b -= s.a;  s.b ^= std::rotl(s.a, 19);  s.a += s.c;
  s.c -= s.b;  s.c ^= std::rotl(s.b, 4);   s.b += s.a;
}

void finalMix(Lookup3& s) {
  s.c ^= s.b;  s.c -= std::rotl(s.b, 14);
  s.a ^= s.c;  s.a -= std::rotl(s.c, 11);
  s.b ^= s.a;  s.b -= std::rotl(s.a, 25);
  s.c ^= s.b;  s.c -= std::rotl(s.b, 16);
  s.a ^= s.c;  s.a -= std::rotl(s.c, 4);
  s.b ^= s.a;  s.b -= std::rotl(s.a, 14);
  s.c ^= s.b;  s.c -= std::rotl(s.b, 24);
}
// clang-format on

// The seed is hashed as if it were a leading 12-byte block (high half, low
// half, zero); a zero seed leaves the state alone, as in PostgreSQL.
Lookup3 seededState(std::uint32_t length, std::uint64_t seed) {
  const std::uint32_t start = 0x9e3779b9U + length + 3923095U;
  Lookup3 state{start, start, start};
  if (seed != 0) {
    state.a += static_cast<std::uint32_t>(seed >> 32);
    state.b += static_cast<std::uint32_t>(seed);
    mix(state);
  }
  return state;
}

std::uint64_t finish(Lookup3 state) {
  finalMix(state);
  return (static_cast<std::uint64_t>(state.b) << 32) | state.c;
}

// PostgreSQL reads the key in native 4-byte words. Its servers run on
// little-endian hosts (amd64, arm64, armv7 Linux), so words are assembled
// here as little-endian explicitly, which gives the server's numbers
// whatever this process runs on. A big-endian server would hash differently.
std::uint32_t littleEndianWord(std::span<const std::uint8_t> bytes) {
  std::uint32_t word = 0;
  for (std::size_t i = 0; i < bytes.size() && i < 4; ++i) {
    word |= static_cast<std::uint32_t>(bytes[i]) << (8 * i);
  }
  return word;
}

std::span<const std::uint8_t> asBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// At most 64 bytes of a rejected value, so an error never carries a whole
// megabyte parameter.
std::string_view shown(std::string_view text) {
  return text.substr(0, 64);
}

bool isPgSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trimSpaces(std::string_view text) {
  while (!text.empty() && isPgSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isPgSpace(text.back())) text.remove_suffix(1);
  return text;
}

// PostgreSQL 15's pg_strtoint16/32/64: optional surrounding whitespace and
// sign, decimal digits only (no underscores or hex before PostgreSQL 16).
template <typename Int>
Result<Int> parseInteger(std::string_view text, std::string_view typeName) {
  std::string_view digits = trimSpaces(text);
  bool plus = !digits.empty() && digits.front() == '+';
  if (plus) digits.remove_prefix(1);
  Int value{};
  const char* end = digits.data() + digits.size();
  auto [stop, failure] = std::from_chars(digits.data(), end, value);
  bool digitsOnly = !digits.empty() && (!plus || digits.front() != '-');
  if (failure == std::errc::result_out_of_range && stop == end && digitsOnly) {
    return makeError("value \"{}\" is out of range for type {}", shown(text), typeName);
  }
  if (failure != std::errc{} || stop != end || !digitsOnly) {
    return makeError("invalid input syntax for type {}: \"{}\"", typeName, shown(text));
  }
  return value;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// uuid_in's rule: 32 hex digits, optionally in braces, with a hyphen
// allowed after any group of four digits except the last.
Result<Uuid> parseUuid(std::string_view text) {
  auto invalid = [&] {
    return makeError("invalid input syntax for type uuid: \"{}\"", shown(text));
  };
  std::string_view rest = text;
  bool braces = !rest.empty() && rest.front() == '{';
  if (braces) rest.remove_prefix(1);
  Uuid uuid{};
  for (std::size_t i = 0; i < uuid.size(); ++i) {
    if (rest.size() < 2) return invalid();
    int high = hexDigit(rest[0]);
    int low = hexDigit(rest[1]);
    if (high < 0 || low < 0) return invalid();
    uuid[i] = static_cast<std::uint8_t>(high * 16 + low);
    rest.remove_prefix(2);
    if (!rest.empty() && rest.front() == '-' && i % 2 == 1 && i + 1 < uuid.size()) {
      rest.remove_prefix(1);
    }
  }
  if (braces) {
    if (rest.empty() || rest.front() != '}') return invalid();
    rest.remove_prefix(1);
  }
  if (!rest.empty()) return invalid();
  return uuid;
}

// ---- dates and timestamps (ISO 8601 text only, see pg_hash.hpp) ----

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kSecondsPerDay = 86'400;

// Days from 1970-01-01 to a proleptic Gregorian date (year >= 1).
std::int64_t daysFromCivil(int year, int month, int day) {
  // Counting years from March puts the leap day at the end of the year.
  const std::int64_t y = month <= 2 ? year - 1 : year;
  const std::int64_t era = y / 400;
  const std::int64_t yearOfEra = y - era * 400;
  const std::int64_t monthFromMarch = month > 2 ? month - 3 : month + 9;
  const std::int64_t dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1;
  const std::int64_t dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
  return era * 146'097 + dayOfEra - 719'468;
}

// PostgreSQL counts dates and timestamps from 2000-01-01.
const std::int64_t kPostgresEpochDays = daysFromCivil(2000, 1, 1);

int daysInMonth(int year, int month) {
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

// Exactly `count` decimal digits from the front of `rest`, consumed.
std::optional<int> takeDigits(std::string_view& rest, std::size_t count) {
  if (rest.size() < count) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return std::nullopt;
    value = value * 10 + (rest[i] - '0');
  }
  rest.remove_prefix(count);
  return value;
}

bool takeChar(std::string_view& rest, char expected) {
  if (rest.empty() || rest.front() != expected) return false;
  rest.remove_prefix(1);
  return true;
}

bool equalsIgnoringCase(std::string_view text, std::string_view lower) {
  return text.size() == lower.size() &&
         std::equal(text.begin(), text.end(), lower.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

// "YYYY-MM-DD" at the front of `rest`: days since 2000-01-01.
std::optional<std::int64_t> takeIsoDate(std::string_view& rest) {
  auto year = takeDigits(rest, 4);
  if (!year || !takeChar(rest, '-')) return std::nullopt;
  auto month = takeDigits(rest, 2);
  if (!month || !takeChar(rest, '-')) return std::nullopt;
  auto day = takeDigits(rest, 2);
  if (!day || *year < 1 || *month < 1 || *month > 12) return std::nullopt;
  if (*day < 1 || *day > daysInMonth(*year, *month)) return std::nullopt;
  return daysFromCivil(*year, *month, *day) - kPostgresEpochDays;
}

// "HH:MM[:SS[.ffffff]]": microseconds since midnight. More than six
// fractional digits are refused: PostgreSQL would round them.
std::optional<std::int64_t> takeIsoTime(std::string_view& rest) {
  auto hour = takeDigits(rest, 2);
  if (!hour || !takeChar(rest, ':')) return std::nullopt;
  auto minute = takeDigits(rest, 2);
  if (!minute || *hour > 23 || *minute > 59) return std::nullopt;
  int second = 0;
  std::int64_t fraction = 0;
  if (takeChar(rest, ':')) {
    auto seconds = takeDigits(rest, 2);
    if (!seconds || *seconds > 59) return std::nullopt;
    second = *seconds;
    if (takeChar(rest, '.')) {
      std::int64_t scale = kMicrosPerSecond;
      std::size_t digits = 0;
      while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
        if (++digits > 6) return std::nullopt;
        scale /= 10;
        fraction += (rest.front() - '0') * scale;
        rest.remove_prefix(1);
      }
      if (digits == 0) return std::nullopt;
    }
  }
  return (*hour * 3600 + *minute * 60 + second) * kMicrosPerSecond + fraction;
}

// "Z", "+HH", "+HHMM" or "+HH:MM" (ISO sign: east of Greenwich is +), after
// optional spaces: seconds to subtract to get UTC.
std::optional<std::int64_t> takeUtcOffset(std::string_view& rest) {
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (takeChar(rest, 'Z') || takeChar(rest, 'z')) return 0;
  int sign = takeChar(rest, '+') ? 1 : takeChar(rest, '-') ? -1 : 0;
  auto hours = takeDigits(rest, 2);
  if (sign == 0 || !hours || *hours > 15) return std::nullopt;
  int minutes = 0;
  if (!rest.empty()) {
    takeChar(rest, ':');
    auto taken = takeDigits(rest, 2);
    if (!taken || *taken > 59) return std::nullopt;
    minutes = *taken;
  }
  return sign * (*hours * 3600 + minutes * 60);
}

Result<std::int32_t> parseDate(std::string_view text) {
  std::string_view rest = trimSpaces(text);
  if (equalsIgnoringCase(rest, "infinity")) return std::numeric_limits<std::int32_t>::max();
  if (equalsIgnoringCase(rest, "-infinity")) return std::numeric_limits<std::int32_t>::min();
  auto days = takeIsoDate(rest);
  if (!days || !rest.empty()) {
    return makeError("date \"{}\" is not an ISO 8601 date (YYYY-MM-DD) the pool can hash",
                     shown(text));
  }
  return static_cast<std::int32_t>(*days);
}

// timestamp and timestamptz: microseconds since 2000-01-01 00:00 (UTC for
// timestamptz). A plain timestamp refuses an offset, which PostgreSQL would
// silently ignore; a timestamptz requires one.
Result<std::int64_t> parseTimestamp(std::string_view text, bool withTimeZone) {
  std::string_view rest = trimSpaces(text);
  if (equalsIgnoringCase(rest, "infinity")) return std::numeric_limits<std::int64_t>::max();
  if (equalsIgnoringCase(rest, "-infinity")) return std::numeric_limits<std::int64_t>::min();
  std::string_view typeName = withTimeZone ? "timestamptz" : "timestamp";
  auto days = takeIsoDate(rest);
  bool separated = takeChar(rest, ' ') || takeChar(rest, 'T');
  auto time = separated ? takeIsoTime(rest) : std::nullopt;
  if (!days || (!time && (separated || withTimeZone))) {
    return makeError(
        "{} \"{}\" is not an ISO 8601 value (YYYY-MM-DD HH:MM[:SS[.ffffff]]) the pool "
        "can hash",
        typeName, shown(text));
  }
  std::int64_t offsetSeconds = 0;
  if (withTimeZone) {
    auto offset = takeUtcOffset(rest);
    if (!offset) {
      return makeError(
          "timestamptz \"{}\" needs an explicit UTC offset (+HH[:MM] or Z): without "
          "one its value depends on the session's TimeZone",
          shown(text));
    }
    offsetSeconds = *offset;
  }
  if (!rest.empty()) {
    return makeError("{} \"{}\" has trailing text the pool cannot hash", typeName, shown(text));
  }
  return (*days * kSecondsPerDay - offsetSeconds) * kMicrosPerSecond + time.value_or(0);
}

// ---- binary send formats ----

template <typename Int>
Result<Int> networkInteger(std::span<const std::uint8_t> bytes, std::string_view typeName) {
  if (bytes.size() != sizeof(Int)) {
    return makeError("binary {} value has {} bytes, expected {}", typeName, bytes.size(),
                     sizeof(Int));
  }
  std::uint64_t bits = 0;
  for (std::uint8_t byte : bytes) bits = (bits << 8) | byte;
  return static_cast<Int>(bits);
}

std::string_view asText(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// ---- type names ----

std::string normalisedTypeName(std::string_view name) {
  std::string out;
  for (char c : trimSpaces(name)) {
    if (isPgSpace(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  constexpr std::string_view kSchema = "pg_catalog.";
  if (out.starts_with(kSchema)) out.erase(0, kSchema.size());
  return out;
}

// Splits "timestamp(3) with time zone" into "timestamp with time zone" and
// the modifier 3; -1 without one, -2 for a malformed one.
std::pair<std::string, int> splitTypeModifier(const std::string& name) {
  auto open = name.find('(');
  if (open == std::string::npos) return {name, -1};
  auto close = name.find(')', open);
  if (close == std::string::npos) return {name, -2};
  int modifier = -2;
  std::string_view digits = trimSpaces(std::string_view(name).substr(open + 1, close - open - 1));
  auto [stop, failure] = std::from_chars(digits.data(), digits.data() + digits.size(), modifier);
  if (failure != std::errc{} || stop != digits.data() + digits.size()) modifier = -2;
  std::string base = name.substr(0, open) + name.substr(close + 1);
  while (base.ends_with(' ')) base.pop_back();
  auto doubled = base.find("  ");
  if (doubled != std::string::npos) base.erase(doubled, 1);
  return {base, modifier};
}

std::optional<HashKeyType> baseTypeByName(std::string_view name) {
  struct Alias {
    std::string_view name;
    HashKeyType type;
  };
  static constexpr std::array<Alias, 17> kAliases{{
      {"int2", HashKeyType::kInt2},
      {"smallint", HashKeyType::kInt2},
      {"int4", HashKeyType::kInt4},
      {"int", HashKeyType::kInt4},
      {"integer", HashKeyType::kInt4},
      {"int8", HashKeyType::kInt8},
      {"bigint", HashKeyType::kInt8},
      {"text", HashKeyType::kText},
      {"varchar", HashKeyType::kText},
      {"character varying", HashKeyType::kText},
      {"bpchar", HashKeyType::kBpchar},
      {"character", HashKeyType::kBpchar},
      {"char", HashKeyType::kBpchar},
      {"uuid", HashKeyType::kUuid},
      {"date", HashKeyType::kDate},
      {"timestamp", HashKeyType::kTimestamp},
      {"timestamp without time zone", HashKeyType::kTimestamp},
  }};
  if (name == "timestamptz" || name == "timestamp with time zone") return HashKeyType::kTimestampTz;
  for (const auto& alias : kAliases) {
    if (alias.name == name) return alias.type;
  }
  return std::nullopt;
}

constexpr std::string_view kSupportedTypes =
    "supported: smallint, integer, bigint, text, varchar, character, uuid, date, timestamp, "
    "timestamptz";

bool isVarchar(std::string_view name) {
  return name == "varchar" || name == "character varying";
}

// The typmod rules shared by the OID and the name lookups.
Status checkTypeModifier(HashKeyType type, bool varchar, int modifier, std::string_view shownName) {
  if (varchar && modifier >= 0) {
    return makeError(
        "hash key of type {} is not supported: a length limit cuts trailing spaces "
        "of longer values on INSERT, which changes the hash; use text or varchar "
        "without a limit",
        shownName);
  }
  bool timestamp = type == HashKeyType::kTimestamp || type == HashKeyType::kTimestampTz;
  if (timestamp && modifier >= 0 && modifier != 6) {
    return makeError(
        "hash key of type {} is not supported: a precision below 6 rounds values on "
        "INSERT, which changes the hash",
        shownName);
  }
  return Ok{};
}

}  // namespace

std::string_view hashKeyTypeName(HashKeyType type) {
  switch (type) {
    case HashKeyType::kInt2:
      return "smallint";
    case HashKeyType::kInt4:
      return "integer";
    case HashKeyType::kInt8:
      return "bigint";
    case HashKeyType::kText:
      return "text";
    case HashKeyType::kBpchar:
      return "character";
    case HashKeyType::kUuid:
      return "uuid";
    case HashKeyType::kDate:
      return "date";
    case HashKeyType::kTimestamp:
      return "timestamp without time zone";
    case HashKeyType::kTimestampTz:
      return "timestamp with time zone";
  }
  return "unknown";
}

Result<HashKeyType> hashKeyTypeFromOid(std::uint32_t typeOid, std::int32_t typmod) {
  struct ByOid {
    std::uint32_t oid;
    HashKeyType type;
  };
  // OIDs are fixed in PostgreSQL's pg_type.dat for these built-in types.
  static constexpr std::array<ByOid, 10> kTypes{{{21, HashKeyType::kInt2},
                                                 {23, HashKeyType::kInt4},
                                                 {20, HashKeyType::kInt8},
                                                 {25, HashKeyType::kText},
                                                 {1043, HashKeyType::kText},
                                                 {1042, HashKeyType::kBpchar},
                                                 {2950, HashKeyType::kUuid},
                                                 {1082, HashKeyType::kDate},
                                                 {1114, HashKeyType::kTimestamp},
                                                 {1184, HashKeyType::kTimestampTz}}};
  auto found = std::find_if(kTypes.begin(), kTypes.end(),
                            [&](const ByOid& entry) { return entry.oid == typeOid; });
  if (found == kTypes.end()) {
    return makeError("hash key of type OID {} is not supported ({})", typeOid, kSupportedTypes);
  }
  const HashKeyType type = found->type;
  // varchar's typmod is the length limit plus the 4-byte varlena header.
  bool varchar = typeOid == 1043;
  int modifier = varchar && typmod >= 4 ? typmod - 4 : typmod;
  auto checked = checkTypeModifier(type, varchar, modifier,
                                   fmt::format("OID {} with typmod {}", typeOid, typmod));
  if (!checked) return checked.error();
  return type;
}

Result<HashKeyType> hashKeyTypeFromName(std::string_view name) {
  auto [base, modifier] = splitTypeModifier(normalisedTypeName(name));
  auto type = baseTypeByName(base);
  if (!type || modifier == -2) {
    return makeError("hash key of type \"{}\" is not supported ({})", shown(name), kSupportedTypes);
  }
  auto checked = checkTypeModifier(*type, isVarchar(base), modifier, name);
  if (!checked) return checked.error();
  return *type;
}

std::uint64_t hashBytesExtended(std::span<const std::uint8_t> bytes, std::uint64_t seed) {
  Lookup3 state = seededState(static_cast<std::uint32_t>(bytes.size()), seed);
  auto rest = bytes;
  while (rest.size() >= 12) {
    state.a += littleEndianWord(rest.subspan(0, 4));
    state.b += littleEndianWord(rest.subspan(4, 4));
    state.c += littleEndianWord(rest.subspan(8, 4));
    mix(state);
    rest = rest.subspan(12);
  }
  // The last 0..11 bytes. c's lowest byte stays empty: lookup3 kept it for
  // the length, which PostgreSQL mixes in at the start instead.
  state.a += littleEndianWord(rest.first(std::min<std::size_t>(rest.size(), 4)));
  if (rest.size() > 4)
    state.b += littleEndianWord(rest.subspan(4, std::min<std::size_t>(rest.size() - 4, 4)));
  if (rest.size() > 8) state.c += littleEndianWord(rest.subspan(8)) << 8;
  return finish(state);
}

std::uint64_t hashUint32Extended(std::uint32_t value, std::uint64_t seed) {
  Lookup3 state = seededState(sizeof(std::uint32_t), seed);
  state.a += value;
  return finish(state);
}

std::uint64_t hashInt2Extended(std::int16_t value, std::uint64_t seed) {
  return hashUint32Extended(static_cast<std::uint32_t>(static_cast<std::int32_t>(value)), seed);
}

std::uint64_t hashInt4Extended(std::int32_t value, std::uint64_t seed) {
  return hashUint32Extended(static_cast<std::uint32_t>(value), seed);
}

// An int8 that fits in int4 hashes like that int4, so cross-type hash
// joins work; hence the fold rather than hashing eight bytes.
std::uint64_t hashInt8Extended(std::int64_t value, std::uint64_t seed) {
  const auto bits = static_cast<std::uint64_t>(value);
  const auto high = static_cast<std::uint32_t>(bits >> 32);
  const auto low = static_cast<std::uint32_t>(bits) ^ (value >= 0 ? high : ~high);
  return hashUint32Extended(low, seed);
}

std::uint64_t hashTextExtended(std::string_view bytes, std::uint64_t seed) {
  return hashBytesExtended(asBytes(bytes), seed);
}

// character(n) compares without trailing spaces, so it hashes without them.
std::uint64_t hashBpcharExtended(std::string_view bytes, std::uint64_t seed) {
  while (!bytes.empty() && bytes.back() == ' ') bytes.remove_suffix(1);
  return hashBytesExtended(asBytes(bytes), seed);
}

std::uint64_t hashUuidExtended(const Uuid& uuid, std::uint64_t seed) {
  return hashBytesExtended(uuid, seed);
}

Result<KeyHash> hashKeyText(HashKeyType type, std::string_view text) {
  const std::uint64_t seed = kHashPartitionSeed;
  auto hashed = [](std::uint64_t value) { return Result<KeyHash>(KeyHash{value}); };
  switch (type) {
    case HashKeyType::kInt2: {
      auto value = parseInteger<std::int16_t>(text, "smallint");
      return value ? hashed(hashInt2Extended(*value, seed)) : value.error();
    }
    case HashKeyType::kInt4: {
      auto value = parseInteger<std::int32_t>(text, "integer");
      return value ? hashed(hashInt4Extended(*value, seed)) : value.error();
    }
    case HashKeyType::kInt8: {
      auto value = parseInteger<std::int64_t>(text, "bigint");
      return value ? hashed(hashInt8Extended(*value, seed)) : value.error();
    }
    case HashKeyType::kText:
      return hashed(hashTextExtended(text, seed));
    case HashKeyType::kBpchar:
      return hashed(hashBpcharExtended(text, seed));
    case HashKeyType::kUuid: {
      auto value = parseUuid(text);
      return value ? hashed(hashUuidExtended(*value, seed)) : value.error();
    }
    case HashKeyType::kDate: {
      auto value = parseDate(text);
      return value ? hashed(hashInt4Extended(*value, seed)) : value.error();
    }
    case HashKeyType::kTimestamp:
    case HashKeyType::kTimestampTz: {
      auto value = parseTimestamp(text, type == HashKeyType::kTimestampTz);
      return value ? hashed(hashInt8Extended(*value, seed)) : value.error();
    }
  }
  return makeError("unknown hash key type");
}

Result<KeyHash> hashKeyBinary(HashKeyType type, std::span<const std::uint8_t> bytes) {
  const std::uint64_t seed = kHashPartitionSeed;
  auto hashed = [](std::uint64_t value) { return Result<KeyHash>(KeyHash{value}); };
  auto name = hashKeyTypeName(type);
  switch (type) {
    case HashKeyType::kInt2: {
      auto value = networkInteger<std::int16_t>(bytes, name);
      return value ? hashed(hashInt2Extended(*value, seed)) : value.error();
    }
    case HashKeyType::kInt4:
    case HashKeyType::kDate: {
      auto value = networkInteger<std::int32_t>(bytes, name);
      return value ? hashed(hashInt4Extended(*value, seed)) : value.error();
    }
    case HashKeyType::kInt8:
    case HashKeyType::kTimestamp:
    case HashKeyType::kTimestampTz: {
      auto value = networkInteger<std::int64_t>(bytes, name);
      return value ? hashed(hashInt8Extended(*value, seed)) : value.error();
    }
    case HashKeyType::kText:
      return hashed(hashTextExtended(asText(bytes), seed));
    case HashKeyType::kBpchar:
      return hashed(hashBpcharExtended(asText(bytes), seed));
    case HashKeyType::kUuid: {
      if (bytes.size() != sizeof(Uuid)) {
        return makeError("binary uuid value has {} bytes, expected 16", bytes.size());
      }
      Uuid uuid{};
      std::copy(bytes.begin(), bytes.end(), uuid.begin());
      return hashed(hashUuidExtended(uuid, seed));
    }
  }
  return makeError("unknown hash key type");
}

std::uint64_t partitionRowHash(const std::vector<std::optional<KeyHash>>& columns) {
  std::uint64_t rowHash = 0;
  for (const auto& column : columns) {
    if (!column) continue;
    // hash_combine64 from PostgreSQL's hashfn.h.
    rowHash ^= column->value + 0x49a0f4dd15e5a8e3ULL + (rowHash << 54) + (rowHash >> 7);
  }
  return rowHash;
}

int hashPartitionRemainder(std::uint64_t rowHash, int modulus) {
  if (modulus <= 0) return -1;
  return static_cast<int>(rowHash % static_cast<std::uint64_t>(modulus));
}

}  // namespace pgswarm::shard
