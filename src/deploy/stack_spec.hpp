// What `pgswarm stack` is asked for (StackSpec) and the services that follow
// from it (StackPlan): which database service runs on which Swarm host in
// which role. Pure values and validation: no YAML, no I/O.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace pgswarm::deploy {

inline constexpr const char* kDefaultImage = "pgswarm/pgswarm:latest";
inline constexpr const char* kDefaultNetwork = "spark";  // the seed's overlay network
inline constexpr int kPostgresPort = 5432;               // inside every database container
inline constexpr int kAgentPort = 8008;                  // node agent REST API (/health)
inline constexpr int kPoolHttpPort = 8080;               // pool /health and /metrics
inline constexpr int kMaxDatabasesPerHost = 8;
inline constexpr int kMaxShards = 64;
inline constexpr const char* kShardSetupService = "shard-setup";  // the one-shot set-up step

struct StackSpec {
  // Swarm node hostnames (node.hostname placement); the first one holds the primary.
  std::vector<std::string> hosts;
  int databasesPerHost = 1;  // replicated database services on each host
  int shards = 0;            // standalone shard primaries, round-robin over shardHosts
  // Swarm nodes the shards are pinned to; empty: `hosts`. A list of its own
  // keeps the shards in place when a host is added to `hosts`.
  std::vector<std::string> shardHosts;
  bool sync = false;                 // the pool's synchronous_mode = on
  std::string poolMode = "session";  // the pool's pool_mode: session or transaction
  std::string image = kDefaultImage;
  std::string network = kDefaultNetwork;
  int poolPort = 5432;  // published by the pool service (the seed's port)
};

enum class DatabaseRole { kPrimary, kReplica, kShard };
[[nodiscard]] const char* toString(DatabaseRole role);

struct DatabaseService {
  std::string name;  // Swarm service name, also its DNS name and the node name
  std::string host;  // node.hostname it is pinned to (Swarm never moves a local volume)
  DatabaseRole role = DatabaseRole::kReplica;
  [[nodiscard]] std::string volume() const { return name + "-data"; }
};

struct StackPlan {
  std::vector<DatabaseService> databases;  // primary first, then replicas, then shards
  std::string poolService = "pool";
  [[nodiscard]] const DatabaseService& primary() const { return databases.front(); }
  // The primary and its replicas, in the pool's `hosts` order.
  [[nodiscard]] std::vector<DatabaseService> replicated() const;
  // The shard nodes shard1..shardN; each one's service name is also its
  // node name in the shard catalog and its foreign server's suffix.
  [[nodiscard]] std::vector<DatabaseService> shards() const;
};

// "a.example, b" -> {"a.example", "b"}; an empty entry is an error.
[[nodiscard]] Result<std::vector<std::string>> splitHosts(const std::string& text);

// Checks every field (host names as RFC 1123 names, no duplicates ignoring
// case, counts in range, image and network names) and derives the services;
// errors name the offending value.
[[nodiscard]] Result<StackPlan> planStack(const StackSpec& spec);

}  // namespace pgswarm::deploy
