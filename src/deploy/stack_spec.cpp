// Validation of a StackSpec and the services it plans: see stack_spec.hpp.
#include "deploy/stack_spec.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace pgswarm::deploy {
namespace {

// A Swarm service name becomes "<stack>_<service>", a DNS label of at most
// 63 characters; this leaves room for a stack name of up to 14.
constexpr std::size_t kMaxServiceName = 48;
constexpr std::size_t kMaxHostName = 253;
constexpr std::size_t kMaxLabel = 63;

bool isAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

std::string lowered(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trimmed(const std::string& text) {
  auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
bool isHostLabel(const std::string& label) {
  if (label.empty() || label.size() > kMaxLabel) return false;
  if (!isAlnum(label.front()) || !isAlnum(label.back())) return false;
  return std::all_of(label.begin(), label.end(), [](char c) { return isAlnum(c) || c == '-'; });
}

Status checkHost(const std::string& host) {
  bool valid = !host.empty() && host.size() <= kMaxHostName;
  for (std::size_t start = 0; valid && start <= host.size();) {
    auto dot = host.find('.', start);
    auto end = dot == std::string::npos ? host.size() : dot;
    valid = isHostLabel(host.substr(start, end - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (valid) return Ok{};
  return makeError(
      "'{}' is not a valid host name (letters, digits and inner hyphens, dot-separated "
      "labels of at most 63 characters)",
      host);
}

Status checkHosts(const std::vector<std::string>& hosts) {
  if (hosts.empty()) return makeError("no hosts: give at least one Swarm node hostname");
  std::set<std::string> seen;
  for (const auto& host : hosts) {
    if (auto ok = checkHost(host); !ok) return ok;
    // Host names compare without case, as Swarm's node.hostname does in DNS.
    if (!seen.insert(lowered(host)).second) {
      return makeError("host '{}' is given twice; give each Swarm node once", host);
    }
  }
  return Ok{};
}

// Image references as docker accepts them: [registry/]name[:tag][@digest].
Status checkImage(const std::string& image) {
  bool valid = !image.empty() && isAlnum(image.front()) &&
               std::all_of(image.begin(), image.end(), [](char c) {
                 return isAlnum(c) || std::string_view("._-/:@").find(c) != std::string::npos;
               });
  if (valid) return Ok{};
  return makeError("'{}' is not an image reference (e.g. pgswarm/pgswarm:latest)", image);
}

Status checkNetwork(const std::string& network) {
  bool valid = !network.empty() && network.size() <= kMaxLabel && isAlnum(network.front()) &&
               std::all_of(network.begin(), network.end(),
                           [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
  if (valid) return Ok{};
  return makeError("'{}' is not a network name (letters, digits, '-', '_', '.')", network);
}

Status checkNumbers(const StackSpec& spec) {
  if (spec.databasesPerHost < 1 || spec.databasesPerHost > kMaxDatabasesPerHost) {
    return makeError("--replicas-per-host {} is out of range (1..{})", spec.databasesPerHost,
                     kMaxDatabasesPerHost);
  }
  if (spec.shards < 0 || spec.shards > kMaxShards) {
    return makeError("--shards {} is out of range (0..{})", spec.shards, kMaxShards);
  }
  if (spec.poolPort < 1 || spec.poolPort > 65535) {
    return makeError("--pool-port {} is out of range (1..65535)", spec.poolPort);
  }
  if (spec.poolMode != "session" && spec.poolMode != "transaction") {
    return makeError("--pool-mode '{}' is neither session nor transaction", spec.poolMode);
  }
  return Ok{};
}

// "Pi-1.lan" -> "db-pi-1-lan"; the second service on that host "db-pi-1-lan-2".
std::string databaseName(const std::string& host, int index) {
  std::string name = "db-" + lowered(host);
  std::replace(name.begin(), name.end(), '.', '-');
  if (index > 1) name += "-" + std::to_string(index);
  return name;
}

Status checkServiceNames(const StackPlan& plan) {
  std::set<std::string> names{plan.poolService, kShardSetupService};
  for (const auto& db : plan.databases) {
    if (db.name.size() > kMaxServiceName) {
      return makeError(
          "host '{}' makes the service name '{}' longer than {} characters; use the "
          "Swarm node's short hostname",
          db.host, db.name, kMaxServiceName);
    }
    if (!names.insert(db.name).second) {
      return makeError("two services would both be named '{}' (host '{}'); rename a host", db.name,
                       db.host);
    }
  }
  return Ok{};
}

Status checkShardHosts(const StackSpec& spec) {
  if (spec.shardHosts.empty()) return Ok{};
  if (spec.shards == 0) return makeError("--shard-hosts needs --shards N (how many shard nodes)");
  if (auto ok = checkHosts(spec.shardHosts); !ok) {
    return makeError("--shard-hosts: {}", ok.error().message);
  }
  return Ok{};
}

}  // namespace

const char* toString(DatabaseRole role) {
  switch (role) {
    case DatabaseRole::kPrimary:
      return "primary";
    case DatabaseRole::kReplica:
      return "replica";
    case DatabaseRole::kShard:
      return "shard";
  }
  return "?";
}

std::vector<DatabaseService> StackPlan::replicated() const {
  std::vector<DatabaseService> out;
  std::copy_if(databases.begin(), databases.end(), std::back_inserter(out),
               [](const DatabaseService& db) { return db.role != DatabaseRole::kShard; });
  return out;
}

std::vector<DatabaseService> StackPlan::shards() const {
  std::vector<DatabaseService> out;
  std::copy_if(databases.begin(), databases.end(), std::back_inserter(out),
               [](const DatabaseService& db) { return db.role == DatabaseRole::kShard; });
  return out;
}

Result<std::vector<std::string>> splitHosts(const std::string& text) {
  std::vector<std::string> hosts;
  std::size_t start = 0;
  while (true) {
    auto comma = text.find(',', start);
    auto entry = trimmed(text.substr(start, comma == std::string::npos ? comma : comma - start));
    if (entry.empty()) {
      return makeError("--hosts '{}' has an empty entry; give host names separated by commas",
                       text);
    }
    hosts.push_back(entry);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return hosts;
}

Result<StackPlan> planStack(const StackSpec& spec) {
  if (auto ok = checkHosts(spec.hosts); !ok) return ok.error();
  if (auto ok = checkShardHosts(spec); !ok) return ok.error();
  if (auto ok = checkNumbers(spec); !ok) return ok.error();
  if (auto ok = checkImage(spec.image); !ok) return ok.error();
  if (auto ok = checkNetwork(spec.network); !ok) return ok.error();
  StackPlan plan;
  for (const auto& host : spec.hosts) {
    for (int index = 1; index <= spec.databasesPerHost; ++index) {
      auto role = plan.databases.empty() ? DatabaseRole::kPrimary : DatabaseRole::kReplica;
      plan.databases.push_back({.name = databaseName(host, index), .host = host, .role = role});
    }
  }
  // shardN, as `pgswarm up --shards` names them: a plain SQL identifier, so
  // the foreign server (pgswarm_shard1) and the partitions (TABLE_shard1)
  // need no quoting.
  const auto& shardHosts = spec.shardHosts.empty() ? spec.hosts : spec.shardHosts;
  for (int shard = 0; shard < spec.shards; ++shard) {
    const auto& host = shardHosts[static_cast<std::size_t>(shard) % shardHosts.size()];
    plan.databases.push_back(
        {.name = "shard" + std::to_string(shard + 1), .host = host, .role = DatabaseRole::kShard});
  }
  if (auto ok = checkServiceNames(plan); !ok) return ok.error();
  return plan;
}

}  // namespace pgswarm::deploy
