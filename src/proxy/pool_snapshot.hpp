// A point-in-time copy of what one worker owns (pools, client sessions,
// server connections, counters), built on that worker's own thread and then
// read anywhere: the admin console and /metrics render only these values.
// Plain data: no pointers into a worker, no I/O, no locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/failover_coordinator.hpp"
#include "cluster/topology.hpp"
#include "pool/server_pool.hpp"
#include "shard/routing.hpp"
#include "shard/shard_operations.hpp"

namespace pgswarm::proxy {

using WallClock = std::chrono::system_clock;

struct ClientSnapshot {
  std::string user;
  std::string database;
  std::string state;  // toString(SessionState)
  std::string addr;
  int port = 0;
  WallClock::time_point connectTime;
  std::string link;  // local "addr:port" of the attached server connection, or empty
  int worker = 0;
  std::string pinned;   // transaction mode: why the client keeps its server, or empty
  std::string tls;      // "TLSv1.3/TLS_AES_256_GCM_SHA384", or empty for a plain connection
  bool parked = false;  // idle, holding no coroutine (Session::parkIfIdle)
};

struct ServerSnapshot {
  std::string user;
  std::string database;
  std::string state;  // "active" (leased to a client) or "idle"
  std::string addr;
  int port = 0;
  std::string localAddr;
  int localPort = 0;
  WallClock::time_point connectTime;
  WallClock::time_point requestTime;  // last given back to the pool
  std::string link;                   // the client's "addr:port" while active
  std::int32_t backendPid = 0;
  std::uint64_t id = 0;
  int worker = 0;
  std::string tls;  // "TLSv1.3/TLS_AES_256_GCM_SHA384", or empty when plain
};

struct PoolSnapshot {
  std::string user;
  std::string database;
  int active = 0;  // server connections leased to clients
  int idle = 0;
  int connecting = 0;
  int waiting = 0;                       // clients queued for a server (or held by PAUSE)
  int maxServers = 0;                    // default_pool_size (the limit of all workers together)
  std::chrono::microseconds maxWait{0};  // age of the oldest waiter
  bool paused = false;
  pool::PoolCounters counters;
};

struct WorkerSnapshot {
  int index = 0;
  std::uint64_t queries = 0;
  std::uint64_t transactions = 0;
  std::vector<PoolSnapshot> pools;
  std::vector<ClientSnapshot> clients;
  std::vector<ServerSnapshot> servers;
  // Per node (config order): transactions routed there in total, and now.
  std::vector<std::uint64_t> routedTotal;
  std::vector<int> routedNow;
  // Per node: Query and Execute messages sent there in total.
  std::vector<std::uint64_t> queriesTotal;
};

// What the whole process looks like: every worker that answered in time,
// plus the shared facts the renderers need.
struct ProxySnapshot {
  std::vector<WorkerSnapshot> workers;
  int workersAsked = 0;
  int clientConnections = 0;  // ProxyShared::clients
  std::size_t users = 0;
  bool paused = false;
  // The health monitor's latest view; null when health checks are off.
  std::shared_ptr<const cluster::Topology> topology;
  // The failover coordinator's state; absent when it does not run.
  std::optional<cluster::FailoverStatus> failover;
  // Each shard group's nodes (node indices from `base`) and their health
  // monitor's view (null when checks are off), in shard_hosts order.
  struct ShardGroupView {
    std::string name;
    int base = 0;
    std::vector<pool::ServerAddress> servers;
    std::shared_ptr<const cluster::Topology> topology;
    std::optional<cluster::FailoverStatus> failover;  // absent when it does not run
  };
  std::vector<ShardGroupView> shardGroups;
  std::shared_ptr<const shard::ShardMap> shardMap;  // null without direct routing
  // Running and lately ended shard commands, as the shard map's reader
  // last read them (empty without it).
  std::vector<shard::OperationRow> shardOperations;
};

}  // namespace pgswarm::proxy
