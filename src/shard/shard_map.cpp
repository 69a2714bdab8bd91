// The shard map: see shard_map.hpp.
#include "shard/shard_map.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>

#include "cluster/pg_client.hpp"

namespace pgswarm::shard {
namespace {

constexpr std::size_t kMaxIdentifierLength = 63;
constexpr int kMaxPartitions = 1024;

// A whole decimal integer, nothing around it: "12", "-7"; not "1e3", " 5".
std::optional<std::int64_t> parseInteger(const std::string& text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [stop, failure] = std::from_chars(text.data(), end, value);
  if (text.empty() || failure != std::errc() || stop != end) return std::nullopt;
  return value;
}

// The values a key of an integer type can hold; nullopt for other types.
std::optional<std::pair<std::int64_t, std::int64_t>> integerLimits(const std::string& type) {
  if (type == "smallint") return std::pair<std::int64_t, std::int64_t>{INT16_MIN, INT16_MAX};
  if (type == "integer") return std::pair<std::int64_t, std::int64_t>{INT32_MIN, INT32_MAX};
  if (type == "bigint") return std::pair<std::int64_t, std::int64_t>{INT64_MIN, INT64_MAX};
  return std::nullopt;
}

Status checkRequest(const PlanRequest& request) {
  if (request.partitions < 1 || request.partitions > kMaxPartitions) {
    return makeError("--shards must be between 1 and {}, not {}", kMaxPartitions,
                     request.partitions);
  }
  if (request.keepLocal < 0 || request.keepLocal > request.partitions) {
    return makeError("--keep-local must be between 0 and --shards ({}), not {}", request.partitions,
                     request.keepLocal);
  }
  int remote = request.partitions - request.keepLocal;
  if (static_cast<int>(request.nodes.size()) < remote) {
    return makeError(
        "{} partitions are to live on shard nodes but there are {} shard nodes (a node holds at "
        "most one partition of a table); add nodes (pgswarm up --shards {}) or keep more on the "
        "coordinator with --keep-local",
        remote, request.nodes.size(), remote);
  }
  std::set<std::string> distinct(request.nodes.begin(), request.nodes.end());
  if (distinct.size() != request.nodes.size()) return makeError("a shard node is listed twice");
  return Ok{};
}

Result<std::vector<std::optional<std::string>>> rangeBounds(const PlanRequest& request) {
  std::vector<std::string> points = request.splitPoints;
  if (points.empty() && request.partitions > 1) {
    if (!request.minKey || !request.maxKey) {
      return makeError(
          "an even range split needs an integer key with rows in the table; give the split "
          "points with --ranges");
    }
    for (auto point : evenSplitPoints(*request.minKey, *request.maxKey, request.partitions)) {
      points.push_back(std::to_string(point));
    }
    if (static_cast<int>(points.size()) != request.partitions - 1) {
      return makeError("the key's values [{}, {}] are too few for {} range partitions",
                       *request.minKey, *request.maxKey, request.partitions);
    }
  }
  if (std::any_of(points.begin(), points.end(), [](const auto& p) { return p.empty(); })) {
    return makeError("--ranges has an empty split point");
  }
  if (static_cast<int>(points.size()) != request.partitions - 1) {
    return makeError("--ranges needs {} split points for {} partitions, not {}",
                     request.partitions - 1, request.partitions, points.size());
  }
  // MINVALUE, the split points, MAXVALUE: partition i is [bounds[i], bounds[i+1]).
  std::vector<std::optional<std::string>> bounds{std::nullopt};
  bounds.insert(bounds.end(), points.begin(), points.end());
  bounds.emplace_back(std::nullopt);
  return bounds;
}

}  // namespace

Result<std::string> partitionName(const std::string& table, const std::string& suffix) {
  std::string name = table + "_" + suffix;
  if (name.size() > kMaxIdentifierLength) {
    return makeError("partition name '{}' is longer than PostgreSQL's {} bytes", name,
                     kMaxIdentifierLength);
  }
  return name;
}

const char* toString(Strategy strategy) {
  return strategy == Strategy::kHash ? "hash" : "range";
}

Result<Strategy> parseStrategy(const std::string& text) {
  if (text == "range") return Strategy::kRange;
  if (text == "hash") return Strategy::kHash;
  return makeError("unknown strategy '{}' (range or hash)", text);
}

std::vector<std::int64_t> evenSplitPoints(std::int64_t minKey, std::int64_t maxKey, int parts) {
  std::vector<std::int64_t> points;
  // In long double: max - min may not fit an int64.
  auto span = static_cast<long double>(maxKey) - static_cast<long double>(minKey) + 1;
  std::int64_t last = minKey;
  for (int i = 1; i < parts; ++i) {
    // Rounded down, so it stays within [minKey, maxKey] and casts back safely.
    auto point =
        static_cast<std::int64_t>(std::floor(static_cast<long double>(minKey) + span * i / parts));
    if (point > last) points.push_back(point);
    last = point;
  }
  return points;
}

Result<std::vector<Partition>> planPartitions(const PlanRequest& request) {
  if (auto ok = checkRequest(request); !ok) return ok.error();
  std::vector<std::optional<std::string>> bounds;
  if (request.strategy == Strategy::kRange) {
    auto computed = rangeBounds(request);
    if (!computed) return computed.error();
    bounds = std::move(*computed);
  }
  std::vector<Partition> partitions;
  for (int i = 0; i < request.partitions; ++i) {
    bool local = i < request.keepLocal;
    std::string node = local ? "" : request.nodes[i - request.keepLocal];
    auto name = partitionName(request.table, local ? "p" + std::to_string(i) : node);
    if (!name) return name.error();
    Partition partition{.name = *name, .node = node};
    if (request.strategy == Strategy::kRange) {
      partition.from = bounds[i];
      partition.to = bounds[i + 1];
    } else {
      partition.remainder = i;
    }
    partitions.push_back(std::move(partition));
  }
  return partitions;
}

std::string boundClause(const ShardedTable& table, const Partition& partition) {
  if (table.strategy == Strategy::kHash) {
    return fmt::format("FOR VALUES WITH (MODULUS {}, REMAINDER {})", table.modulus,
                       partition.remainder);
  }
  auto bound = [](const std::optional<std::string>& value, const char* unbounded) {
    return value ? cluster::quoteLiteral(*value) : std::string(unbounded);
  };
  return fmt::format("FOR VALUES FROM ({}) TO ({})", bound(partition.from, "MINVALUE"),
                     bound(partition.to, "MAXVALUE"));
}

std::string rowFilter(const ShardedTable& table, const Partition& partition,
                      const std::string& parent) {
  std::string key = cluster::quoteIdentifier(table.keyColumn);
  if (table.strategy == Strategy::kHash) {
    return fmt::format("satisfies_hash_partition({}::regclass, {}, {}, {})",
                       cluster::quoteLiteral(parent), table.modulus, partition.remainder, key);
  }
  std::string filter = key + " IS NOT NULL";
  if (partition.from)
    filter += fmt::format(" AND {} >= {}", key, cluster::quoteLiteral(*partition.from));
  if (partition.to)
    filter += fmt::format(" AND {} < {}", key, cluster::quoteLiteral(*partition.to));
  return filter;
}

Result<SplitHalves> splitPartition(const ShardedTable& table, std::size_t position,
                                   const std::string& at) {
  if (position >= table.partitions.size()) return makeError("no partition {}", position);
  const Partition& partition = table.partitions[position];
  if (table.strategy != Strategy::kRange) {
    return makeError("{} is a hash partition: only range partitions can be split", partition.name);
  }
  auto limits = integerLimits(table.keyType);
  if (!limits) {
    return makeError(
        "{}.{} is keyed by {} of type {}: split needs a smallint, integer or bigint key",
        table.schema, table.table, table.keyColumn, table.keyType);
  }
  auto value = parseInteger(at);
  if (!value || *value < limits->first || *value > limits->second) {
    return makeError("--at {} is not a value of {}'s type {}", at, table.keyColumn, table.keyType);
  }
  // MINVALUE: the lower half must still hold a key, so `at` > the type's least.
  std::optional<std::int64_t> from = partition.from ? parseInteger(*partition.from) : limits->first;
  std::optional<std::int64_t> to = partition.to ? parseInteger(*partition.to) : std::nullopt;
  if (!from || (partition.to && !to)) {
    return makeError("{}'s bounds are not integers in the shard catalog", partition.name);
  }
  bool inside = *value > *from && (!to || *value < *to);
  if (!inside) {
    return makeError(
        "--at {} is not strictly inside {}'s range [{}, {}): both halves must hold keys", at,
        partition.name, partition.from.value_or("MINVALUE"), partition.to.value_or("MAXVALUE"));
  }
  SplitHalves halves{.lower = partition,
                     .upper = Partition{.from = std::to_string(*value), .to = partition.to}};
  halves.lower.to = std::to_string(*value);
  return halves;
}

std::optional<std::size_t> rangePartitionFor(const ShardedTable& table, std::int64_t key) {
  auto asInt = [](const std::string& text) -> std::optional<std::int64_t> {
    try {
      std::size_t used = 0;
      auto value = std::stoll(text, &used);
      if (used != text.size()) return std::nullopt;
      return value;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  for (std::size_t i = 0; i < table.partitions.size(); ++i) {
    const auto& partition = table.partitions[i];
    if (partition.from) {
      auto from = asInt(*partition.from);
      if (!from) return std::nullopt;
      if (key < *from) continue;
    }
    if (partition.to) {
      auto to = asInt(*partition.to);
      if (!to) return std::nullopt;
      if (key >= *to) continue;
    }
    return i;
  }
  return std::nullopt;
}

}  // namespace pgswarm::shard
