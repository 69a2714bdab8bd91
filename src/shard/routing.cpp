// Shard routes and key placement: see routing.hpp. Every refusal here is
// safe (the coordinator places any key right), every placement must be the
// one PostgreSQL's partition routing makes.
#include "shard/routing.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace pgswarm::shard {
namespace {

// The byte width of an integer range key, by format_type()'s spelling;
// 0 for any other type.
int integerKeyWidth(std::string_view keyType) {
  if (keyType == "smallint") return 2;
  if (keyType == "integer") return 4;
  if (keyType == "bigint") return 8;
  return 0;
}

bool fitsWidth(std::int64_t value, int width) {
  switch (width) {
    case 2:
      return value >= std::numeric_limits<std::int16_t>::min() &&
             value <= std::numeric_limits<std::int16_t>::max();
    case 4:
      return value >= std::numeric_limits<std::int32_t>::min() &&
             value <= std::numeric_limits<std::int32_t>::max();
    case 8:
      return true;
    default:
      return false;
  }
}

// A plain decimal integer ("-12", "007") that int2in/int4in/int8in read as
// the same value and accept for a key of `width` bytes. Stricter than those
// functions on purpose: no surrounding whitespace, no '+'.
std::optional<std::int64_t> strictInteger(std::string_view text, int width) {
  std::string_view digits = text.starts_with('-') ? text.substr(1) : text;
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  auto [stop, failure] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (failure != std::errc{} || stop != text.data() + text.size()) return std::nullopt;
  if (!fitsWidth(value, width)) return std::nullopt;
  return value;
}

// int2send/int4send/int8send: exactly `width` bytes, big-endian, two's
// complement.
std::optional<std::int64_t> binaryInteger(std::string_view bytes, int width) {
  if (width == 0 || bytes.size() != static_cast<std::size_t>(width)) return std::nullopt;
  std::uint64_t raw = 0;
  for (char byte : bytes) raw = (raw << 8) | static_cast<std::uint8_t>(byte);
  switch (width) {
    case 2:
      return static_cast<std::int16_t>(static_cast<std::uint16_t>(raw));
    case 4:
      return static_cast<std::int32_t>(static_cast<std::uint32_t>(raw));
    default:
      return static_cast<std::int64_t>(raw);
  }
}

// Range partitions are placed by the pool only when their order is plain
// integer order: an integer key type and integer bounds of that type.
// nullopt when it is not.
std::optional<std::vector<IntegerBounds>> integerRangeBounds(const ShardedTable& map) {
  int width = integerKeyWidth(map.keyType);
  if (map.strategy != Strategy::kRange || width == 0) return std::nullopt;
  std::vector<IntegerBounds> bounds;
  bounds.reserve(map.partitions.size());
  for (const auto& partition : map.partitions) {
    IntegerBounds read;
    for (auto [text, value] : {std::pair{&partition.from, &read.from}, {&partition.to, &read.to}}) {
      if (!*text) continue;
      *value = strictInteger(**text, width);
      if (!*value) return std::nullopt;
    }
    bounds.push_back(read);
  }
  return bounds;
}

std::optional<HashKeyType> hashTypeOf(const ShardedTable& map) {
  if (map.strategy != Strategy::kHash) return std::nullopt;
  auto type = hashKeyTypeFromName(map.keyType);
  if (!type) return std::nullopt;
  return *type;
}

std::vector<int> partitionGroups(const ShardedTable& map, std::span<const std::string> groups) {
  std::vector<int> placed;
  placed.reserve(map.partitions.size());
  for (const auto& partition : map.partitions) {
    auto group = std::find(groups.begin(), groups.end(), partition.node);
    bool direct = !partition.local() && group != groups.end();
    placed.push_back(direct ? static_cast<int>(group - groups.begin()) : kCoordinatorGroup);
  }
  return placed;
}

int groupOfPartition(const TableRoute& table, std::size_t partition) {
  return partition < table.groups.size() ? table.groups[partition] : kCoordinatorGroup;
}

std::optional<std::size_t> hashPartitionFor(const TableRoute& table, const KeyValue& key) {
  auto hashed =
      key.binary ? hashKeyBinary(*table.hashType,
                                 std::span(reinterpret_cast<const std::uint8_t*>(key.bytes.data()),
                                           key.bytes.size()))
                 : hashKeyText(*table.hashType, key.bytes);
  if (!hashed) return std::nullopt;
  int remainder = hashPartitionRemainder(partitionRowHash({*hashed}), table.map.modulus);
  if (remainder < 0) return std::nullopt;
  const auto& partitions = table.map.partitions;
  auto owner = std::find_if(partitions.begin(), partitions.end(),
                            [&](const Partition& p) { return p.remainder == remainder; });
  if (owner == partitions.end()) return std::nullopt;
  return static_cast<std::size_t>(owner - partitions.begin());
}

std::optional<std::size_t> rangePartitionFor(const TableRoute& table, const KeyValue& key) {
  int width = integerKeyWidth(table.map.keyType);
  auto value = key.binary ? binaryInteger(key.bytes, width) : strictInteger(key.bytes, width);
  if (!value) return std::nullopt;
  // The first partition whose bounds hold the key, as rangePartitionFor()
  // finds it in the catalog's text.
  const auto& bounds = table.integerBounds;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (bounds[i].from && *value < *bounds[i].from) continue;
    if (bounds[i].to && *value >= *bounds[i].to) continue;
    return i;
  }
  return std::nullopt;
}

// Every field of sql::ShardedRelation: a route change in any of them must
// publish a new map. The size check fails the build when a field is added.
static_assert(sizeof(sql::ShardedRelation) ==
                  3 * sizeof(std::string) + sizeof(std::vector<std::string>),
              "compare the new field of sql::ShardedRelation in sameRelation");
bool sameRelation(const sql::ShardedRelation& a, const sql::ShardedRelation& b) {
  return a.schema == b.schema && a.table == b.table && a.keyColumn == b.keyColumn &&
         a.coordinatorDefaults == b.coordinatorDefaults;
}

}  // namespace

bool ShardRoutes::operator==(const ShardRoutes& other) const {
  return tables == other.tables &&
         std::equal(relations.begin(), relations.end(), other.relations.begin(),
                    other.relations.end(), sameRelation);
}

const ShardRoutes* ShardMap::find(std::string_view database) const {
  auto found = databases.find(database);
  if (found == databases.end() || found->second.tables.empty()) return nullptr;
  return &found->second;
}

ShardRoutes compileRoutes(const std::vector<StoredTable>& tables,
                          std::span<const std::string> groups,
                          const std::map<std::string, std::vector<std::string>>& sequenceDefaults) {
  ShardRoutes routes;
  for (const auto& stored : tables) {
    if (stored.state != JobState::kDone) continue;
    const ShardedTable& map = stored.map;
    auto defaults = sequenceDefaults.find(map.schema + "." + map.table);
    routes.relations.push_back(sql::ShardedRelation{
        .schema = map.schema,
        .table = map.table,
        .keyColumn = map.keyColumn,
        .coordinatorDefaults =
            defaults == sequenceDefaults.end() ? std::vector<std::string>{} : defaults->second});
    auto bounds = integerRangeBounds(map);
    routes.tables.push_back(
        TableRoute{.map = map,
                   .hashType = hashTypeOf(map),
                   .integerRange = bounds.has_value(),
                   .integerBounds = bounds.value_or(std::vector<IntegerBounds>{}),
                   .groups = partitionGroups(map, groups),
                   .hold = stored.hold});
  }
  return routes;
}

std::optional<std::size_t> partitionFor(const TableRoute& table, const KeyValue& key) {
  if (!table.hold.empty()) return std::nullopt;
  switch (table.map.strategy) {
    case Strategy::kHash:
      return table.hashType ? hashPartitionFor(table, key) : std::nullopt;
    case Strategy::kRange:
      return table.integerRange ? rangePartitionFor(table, key) : std::nullopt;
  }
  return std::nullopt;
}

int groupFor(const TableRoute& table, const KeyValue& key) {
  auto partition = partitionFor(table, key);
  return partition ? groupOfPartition(table, *partition) : kCoordinatorGroup;
}

const std::string* localNameFor(const TableRoute& table, const KeyValue& key) {
  auto partition = partitionFor(table, key);
  if (!partition || *partition >= table.localNames.size()) return nullptr;
  const auto& name = table.localNames[*partition];
  return name.empty() ? nullptr : &name;
}

std::string whyNotDirect(const TableRoute& table, std::size_t partition) {
  const auto& map = table.map;
  bool placeable =
      map.strategy == Strategy::kHash ? table.hashType.has_value() : table.integerRange;
  int group = partition < table.groups.size() ? table.groups[partition] : kCoordinatorGroup;
  if (map.partitions[partition].local()) {
    bool named = partition < table.localNames.size() && !table.localNames[partition].empty();
    return named ? "local, by name" : "local";
  }
  if (!placeable) return "key type";
  if (group == kCoordinatorGroup) return "node not in shard_hosts";
  if (!table.hold.empty()) return "held: " + table.hold;
  return "";
}

}  // namespace pgswarm::shard
