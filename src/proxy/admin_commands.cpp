// Admin console commands and views: see admin_commands.hpp.
#include "proxy/admin_commands.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <set>

#include <fmt/format.h>

#include "protocol/backend.hpp"
#include "protocol/writer.hpp"
#include "proxy/router.hpp"

#ifndef PGSWARM_VERSION
#define PGSWARM_VERSION "unknown"
#endif

namespace pgswarm::proxy {
namespace {

constexpr std::int32_t kTextOid = 25;
constexpr std::int32_t kInt8Oid = 20;

struct CommandName {
  std::string_view words;  // upper case, single spaces
  AdminCommand command;
};

constexpr CommandName kCommands[] = {
    {"SHOW POOLS", AdminCommand::kShowPools},
    {"SHOW DATABASES", AdminCommand::kShowDatabases},
    {"SHOW CLIENTS", AdminCommand::kShowClients},
    {"SHOW SERVERS", AdminCommand::kShowServers},
    {"SHOW STATS", AdminCommand::kShowStats},
    {"SHOW TOTALS", AdminCommand::kShowTotals},
    {"SHOW CONFIG", AdminCommand::kShowConfig},
    {"SHOW LISTS", AdminCommand::kShowLists},
    {"SHOW NODES", AdminCommand::kShowNodes},
    {"SHOW FAILOVER", AdminCommand::kShowFailover},
    {"SHOW SHARDS", AdminCommand::kShowShards},
    {"SHOW SHARD_MAP", AdminCommand::kShowShardMap},
    {"SHOW VERSION", AdminCommand::kShowVersion},
    {"SHOW HELP", AdminCommand::kShowHelp},
    {"RELOAD", AdminCommand::kReload},
    {"PAUSE", AdminCommand::kPause},
    {"RESUME", AdminCommand::kResume},
    {"SWITCHOVER", AdminCommand::kSwitchover},
};

bool isBlank(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// Upper-cased words joined by single spaces, trailing semicolons dropped.
std::string normalise(std::string_view sql) {
  while (!sql.empty() && (isBlank(sql.back()) || sql.back() == ';')) sql.remove_suffix(1);
  std::string words;
  bool gap = false;
  for (char c : sql) {
    if (isBlank(c)) {
      gap = !words.empty();
      continue;
    }
    if (gap) words += ' ';
    gap = false;
    words += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return words;
}

std::string number(std::int64_t value) {
  return std::to_string(value);
}

std::string number(std::uint64_t value) {
  return std::to_string(value);
}

ResultColumn text(std::string name) {
  return {std::move(name), false};
}

ResultColumn integer(std::string name) {
  return {std::move(name), true};
}

// One (database, user) across workers: each worker has its own connections
// under one shared limit.
struct PoolTotals {
  int clActive = 0;
  int clWaiting = 0;
  PoolSnapshot pool;
};

using PoolKey = std::pair<std::string, std::string>;  // database, user

std::map<PoolKey, PoolTotals> poolTotals(const ProxySnapshot& snapshot) {
  std::map<PoolKey, PoolTotals> totals;
  for (const auto& worker : snapshot.workers) {
    for (const auto& pool : worker.pools) {
      auto& total = totals[{pool.database, pool.user}].pool;
      total.active += pool.active;
      total.idle += pool.idle;
      total.connecting += pool.connecting;
      total.waiting += pool.waiting;
      total.maxServers = std::max(total.maxServers, pool.maxServers);  // one shared limit
      total.maxWait = std::max(total.maxWait, pool.maxWait);
      total.paused = total.paused || pool.paused;
      total.counters.connectsMade += pool.counters.connectsMade;
      total.counters.connectFailures += pool.counters.connectFailures;
      total.counters.waits += pool.counters.waits;
      total.counters.waitTimeouts += pool.counters.waitTimeouts;
      total.counters.waitTime += pool.counters.waitTime;
      total.counters.queries += pool.counters.queries;
      total.counters.transactions += pool.counters.transactions;
    }
  }
  // Clients count against a pool only once it exists (admin clients have none).
  for (const auto& worker : snapshot.workers) {
    for (const auto& client : worker.clients) {
      auto it = totals.find({client.database, client.user});
      if (it == totals.end()) continue;
      if (client.state == "waiting") ++it->second.clWaiting;
      if (client.state == "idle" || client.state == "active") ++it->second.clActive;
    }
  }
  return totals;
}

std::int64_t micros(std::chrono::microseconds value) {
  return static_cast<std::int64_t>(value.count());
}

// The index of the group that has a node named `node`.
std::optional<std::size_t> groupHolding(const std::vector<SwitchoverGroup>& groups,
                                        const std::string& node) {
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (std::ranges::find(groups[i].nodes, node) != groups[i].nodes.end()) return i;
  }
  return std::nullopt;
}

}  // namespace

AdminCommand parseAdminCommand(std::string_view sql) {
  auto words = normalise(sql);
  if (words.empty()) return AdminCommand::kEmpty;
  for (const auto& [name, command] : kCommands) {
    if (words == name) return command;
  }
  if (commandArgument(sql, "PROMOTE")) return AdminCommand::kPromote;
  if (commandArgument(sql, "SWITCHOVER")) return AdminCommand::kSwitchover;
  return AdminCommand::kUnknown;
}

std::optional<std::string> commandArgument(std::string_view sql, std::string_view verb) {
  while (!sql.empty() && (isBlank(sql.back()) || sql.back() == ';')) sql.remove_suffix(1);
  while (!sql.empty() && isBlank(sql.front())) sql.remove_prefix(1);
  if (sql.size() <= verb.size() || !isBlank(sql[verb.size()])) return std::nullopt;
  for (std::size_t i = 0; i < verb.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(sql[i])) != verb[i]) return std::nullopt;
  }
  auto name = sql.substr(verb.size());
  while (!name.empty() && isBlank(name.front())) name.remove_prefix(1);
  if (name.size() >= 2 && name.front() == '\'' && name.back() == '\'') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.empty() || std::ranges::any_of(name, [](char c) { return isBlank(c) || c == '\''; })) {
    return std::nullopt;
  }
  return std::string(name);
}

std::string adminCommandList() {
  std::string shows;
  std::string others;
  for (const auto& [name, command] : kCommands) {
    if (name.starts_with("SHOW ")) {
      shows += (shows.empty() ? "SHOW " : "|") + std::string(name.substr(5));
    } else {
      others += "; " + std::string(name);
    }
  }
  return shows + others + " ['node' | group]; PROMOTE 'node'";
}

Result<SwitchoverChoice> chooseSwitchover(const std::vector<SwitchoverGroup>& groups,
                                          const std::optional<std::string>& argument) {
  if (!argument) return SwitchoverChoice{};
  if (auto group = groupHolding(groups, *argument)) {
    return SwitchoverChoice{.group = *group, .target = argument};
  }
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (!groups[i].name.empty() && groups[i].name == *argument) return SwitchoverChoice{.group = i};
  }
  return makeError("no node or shard group is named '{}' (SHOW NODES, SHOW SHARDS)", *argument);
}

Result<std::size_t> choosePromotion(const std::vector<SwitchoverGroup>& groups,
                                    const std::string& node) {
  if (auto group = groupHolding(groups, node)) return *group;
  return makeError("no node is named '{}' (SHOW NODES, SHOW SHARDS)", node);
}

std::string formatTime(WallClock::time_point time) {
  std::time_t seconds = WallClock::to_time_t(time);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

std::string versionString() {
  return std::string("pgswarm ") + PGSWARM_VERSION;
}

ResultTable showPools(const ProxySnapshot& snapshot, const PoolConfig& config) {
  ResultTable table{
      {text("database"), text("user"), integer("cl_active"), integer("cl_waiting"),
       integer("sv_active"), integer("sv_idle"), integer("sv_login"), integer("maxwait"),
       integer("maxwait_us"), text("pool_mode"), integer("pool_size"), text("paused")},
      {}};
  for (const auto& [key, total] : poolTotals(snapshot)) {
    const auto& pool = total.pool;
    auto waitUs = micros(pool.maxWait);
    table.rows.push_back({key.first, key.second, number(std::int64_t{total.clActive}),
                          number(std::int64_t{total.clWaiting}), number(std::int64_t{pool.active}),
                          number(std::int64_t{pool.idle}), number(std::int64_t{pool.connecting}),
                          number(waitUs / 1000000), number(waitUs % 1000000), toString(config.mode),
                          number(std::int64_t{pool.maxServers}), pool.paused ? "yes" : "no"});
  }
  return table;
}

ResultTable showDatabases(const ProxySnapshot& snapshot, const PoolConfig& config) {
  // PgBouncer's columns that mean something here; the configured databases
  // and those with a pool, each with the sizes a pool of it gets unless
  // its user has a pool_size of its own.
  ResultTable table{{text("name"), integer("pool_size"), integer("min_pool_size"),
                     integer("reserve_pool"), text("pool_mode"), integer("max_connections"),
                     integer("current_connections"), text("paused")},
                    {}};
  std::map<std::string, int> connections;
  for (const auto& [name, entry] : config.sizes.databases) connections[name] = 0;
  bool anyPaused = false;
  for (const auto& worker : snapshot.workers) {
    for (const auto& pool : worker.pools) {
      connections[pool.database] += pool.active + pool.idle + pool.connecting;
      anyPaused = anyPaused || pool.paused;
    }
  }
  for (const auto& [name, current] : connections) {
    auto sizes = config.sizes.of("", name);
    table.rows.push_back({name, number(std::int64_t{sizes.limit}), number(std::int64_t{sizes.min}),
                          number(std::int64_t{sizes.reserve}), toString(config.mode),
                          number(std::int64_t{config.sizes.maxDbConnections(name)}),
                          number(std::int64_t{current}),
                          snapshot.paused || anyPaused ? "yes" : "no"});
  }
  return table;
}

ResultTable showClients(const ProxySnapshot& snapshot) {
  ResultTable table{{text("type"), text("user"), text("database"), text("state"), text("addr"),
                     integer("port"), text("connect_time"), text("link"), integer("worker"),
                     text("pinned"), text("tls"), text("parked")},
                    {}};
  std::vector<const ClientSnapshot*> clients;
  for (const auto& worker : snapshot.workers) {
    for (const auto& client : worker.clients) clients.push_back(&client);
  }
  std::stable_sort(clients.begin(), clients.end(),
                   [](const auto* a, const auto* b) { return a->connectTime < b->connectTime; });
  for (const auto* client : clients) {
    table.rows.push_back({"C", client->user, client->database, client->state, client->addr,
                          number(std::int64_t{client->port}), formatTime(client->connectTime),
                          client->link.empty() ? std::nullopt : std::optional(client->link),
                          number(std::int64_t{client->worker}),
                          client->pinned.empty() ? std::nullopt : std::optional(client->pinned),
                          client->tls.empty() ? std::nullopt : std::optional(client->tls),
                          client->parked ? "yes" : "no"});
  }
  return table;
}

ResultTable showServers(const ProxySnapshot& snapshot) {
  ResultTable table{
      {text("type"), text("user"), text("database"), text("state"), text("addr"), integer("port"),
       text("local_addr"), integer("local_port"), text("connect_time"), text("request_time"),
       text("link"), integer("remote_pid"), integer("id"), integer("worker"), text("tls")},
      {}};
  std::vector<const ServerSnapshot*> servers;
  for (const auto& worker : snapshot.workers) {
    for (const auto& server : worker.servers) servers.push_back(&server);
  }
  std::stable_sort(servers.begin(), servers.end(), [](const auto* a, const auto* b) {
    return std::tie(a->worker, a->id) < std::tie(b->worker, b->id);
  });
  for (const auto* server : servers) {
    table.rows.push_back({"S", server->user, server->database, server->state, server->addr,
                          number(std::int64_t{server->port}), server->localAddr,
                          number(std::int64_t{server->localPort}), formatTime(server->connectTime),
                          formatTime(server->requestTime),
                          server->link.empty() ? std::nullopt : std::optional(server->link),
                          number(std::int64_t{server->backendPid}), number(server->id),
                          number(std::int64_t{server->worker}),
                          server->tls.empty() ? std::nullopt : std::optional(server->tls)});
  }
  return table;
}

ResultTable showStats(const ProxySnapshot& snapshot) {
  ResultTable table{{text("database"), integer("total_xact_count"), integer("total_query_count"),
                     integer("total_server_connects"), integer("total_server_connect_failures"),
                     integer("total_wait_count"), integer("total_wait_timeouts"),
                     integer("total_wait_time"), integer("avg_wait_time")},
                    {}};
  std::map<std::string, pool::PoolCounters> byDatabase;
  for (const auto& [key, total] : poolTotals(snapshot)) {
    auto& sum = byDatabase[key.first];
    const auto& c = total.pool.counters;
    sum.transactions += c.transactions;
    sum.queries += c.queries;
    sum.connectsMade += c.connectsMade;
    sum.connectFailures += c.connectFailures;
    sum.waits += c.waits;
    sum.waitTimeouts += c.waitTimeouts;
    sum.waitTime += c.waitTime;
  }
  for (const auto& [database, c] : byDatabase) {
    auto waitUs = micros(c.waitTime);
    auto average = c.waits == 0 ? 0 : waitUs / static_cast<std::int64_t>(c.waits);
    table.rows.push_back({database, number(c.transactions), number(c.queries),
                          number(c.connectsMade), number(c.connectFailures), number(c.waits),
                          number(c.waitTimeouts), number(waitUs), number(average)});
  }
  return table;
}

ResultTable showTotals(const ProxySnapshot& snapshot) {
  std::uint64_t transactions = 0;
  std::uint64_t queries = 0;
  pool::PoolCounters sum;
  for (const auto& worker : snapshot.workers) {
    transactions += worker.transactions;
    queries += worker.queries;
    for (const auto& pool : worker.pools) {
      sum.connectsMade += pool.counters.connectsMade;
      sum.connectFailures += pool.counters.connectFailures;
      sum.waits += pool.counters.waits;
      sum.waitTimeouts += pool.counters.waitTimeouts;
      sum.waitTime += pool.counters.waitTime;
    }
  }
  ResultTable table{{text("name"), integer("value")}, {}};
  auto add = [&](std::string name, std::uint64_t value) {
    table.rows.push_back({std::move(name), number(value)});
  };
  add("total_xact_count", transactions);
  add("total_query_count", queries);
  add("total_server_connects", sum.connectsMade);
  add("total_server_connect_failures", sum.connectFailures);
  add("total_wait_count", sum.waits);
  add("total_wait_timeouts", sum.waitTimeouts);
  add("total_wait_time", static_cast<std::uint64_t>(micros(sum.waitTime)));
  return table;
}

ResultTable showConfig(const PoolConfig& config) {
  ResultTable table{{text("key"), text("value"), text("default"), text("changeable")}, {}};
  auto described = describeConfig(config);
  const auto& defs = poolSettingDefs();
  for (std::size_t i = 0; i < described.size() && i < defs.size(); ++i) {
    // RELOAD applies the pool sizes; besides them only the users, the hba
    // file's rules and the TLS files' contents change without a restart.
    const auto& key = described[i].first;
    bool changeable = key == "default_pool_size" || key == "min_pool_size" ||
                      key == "reserve_pool_size" || key == "databases" || key == "users";
    table.rows.push_back(
        {key, described[i].second, defs[i].defaultValue, std::string(changeable ? "yes" : "no")});
  }
  return table;
}

ResultTable showLists(const ProxySnapshot& snapshot) {
  std::set<std::string> databases;
  std::set<PoolKey> pools;
  std::int64_t clients = 0;
  std::int64_t loginClients = 0;
  std::int64_t usedServers = 0;
  std::int64_t freeServers = 0;
  std::int64_t loginServers = 0;
  for (const auto& worker : snapshot.workers) {
    for (const auto& pool : worker.pools) {
      databases.insert(pool.database);
      pools.insert({pool.database, pool.user});
      usedServers += pool.active;
      freeServers += pool.idle;
      loginServers += pool.connecting;
    }
    for (const auto& client : worker.clients) {
      ++clients;
      if (client.state == "login") ++loginClients;
    }
  }
  ResultTable table{{text("list"), integer("items")}, {}};
  auto add = [&](std::string name, std::int64_t value) {
    table.rows.push_back({std::move(name), number(value)});
  };
  add("databases", static_cast<std::int64_t>(databases.size()));
  add("users", static_cast<std::int64_t>(snapshot.users));
  add("pools", static_cast<std::int64_t>(pools.size()));
  add("used_clients", clients);
  add("login_clients", loginClients);
  add("used_servers", usedServers);
  add("free_servers", freeServers);
  add("login_servers", loginServers);
  add("workers", snapshot.workersAsked);
  add("workers_answered", static_cast<std::int64_t>(snapshot.workers.size()));
  return table;
}

namespace {

// A replica's WAL receiver: "streaming from host:port", its other status,
// or "none" when no receiver runs; NULL for others and unchecked nodes.
std::optional<std::string> receiverOf(const cluster::NodeObservation* observed) {
  if (observed == nullptr || observed->role != cluster::NodeRole::kReplica) return std::nullopt;
  if (observed->receiverStatus.empty()) return "none";
  if (observed->receiverStatus == "streaming" && !observed->upstream.empty()) {
    return "streaming from " + observed->upstream;
  }
  return observed->receiverStatus;
}

}  // namespace

ResultTable showNodes(const ProxySnapshot& snapshot, const PoolConfig& config) {
  ResultTable table{{integer("node"), text("host"), integer("port"), text("role"), text("health"),
                     integer("weight"), text("reads"), integer("lag_bytes"),
                     integer("replay_delay_ms"), text("lsn"), integer("transactions"),
                     integer("active"), text("last_error"), text("receiver")},
                    {}};
  auto policy = RoutingPolicy::fromConfig(config);
  for (std::size_t i = 0; i < config.servers.size(); ++i) {
    std::uint64_t routed = 0;
    std::int64_t now = 0;
    for (const auto& worker : snapshot.workers) {
      if (i < worker.routedTotal.size()) routed += worker.routedTotal[i];
      if (i < worker.routedNow.size()) now += worker.routedNow[i];
    }
    const auto& server = config.servers[i];
    const auto* observed = snapshot.topology && i < snapshot.topology->nodes.size()
                               ? &snapshot.topology->nodes[i]
                               : nullptr;
    bool primary = observed ? primaryNode(*snapshot.topology) == static_cast<int>(i) : i == 0;
    std::optional<std::string> role =
        observed ? cluster::toString(observed->role) : (i == 0 ? "primary" : "unchecked");
    if (observed && observed->fenced) role = *role + " (fenced)";
    std::optional<std::string> reads;
    std::optional<std::string> lagBytes;
    std::optional<std::string> delay;
    std::optional<std::string> lsn;
    std::optional<std::string> lastError;
    if (observed) {
      auto exclusion = readExclusion(*snapshot.topology, policy, i);
      reads = exclusion.empty() ? std::string("yes") : std::string(exclusion);
      if (observed->lagBytes) lagBytes = number(*observed->lagBytes);
      if (observed->replayDelaySeconds) {
        delay = number(static_cast<std::int64_t>(*observed->replayDelaySeconds * 1000.0));
      }
      auto position = observed->role == cluster::NodeRole::kPrimary ? observed->currentLsn
                                                                    : observed->replayLsn;
      if (position) lsn = cluster::formatLsn(*position);
      if (!observed->lastError.empty()) lastError = observed->lastError;
    } else {
      reads = primary ? "primary" : "health checks off";
    }
    table.rows.push_back(
        {number(static_cast<std::int64_t>(i)), server.host, number(std::int64_t{server.port}), role,
         observed ? cluster::toString(observed->health) : "unchecked",
         number(std::int64_t{primary ? config.primaryWeight : config.weights[i]}), reads, lagBytes,
         delay, lsn, number(routed), number(now), lastError, receiverOf(observed)});
  }
  return table;
}

// One row per replication group that fails over: the coordinator's first
// (group NULL), then each shard group's.
ResultTable showFailover(const ProxySnapshot& snapshot) {
  ResultTable table{{text("state"), text("primary"), integer("failovers"), integer("switchovers"),
                     text("last_event"), text("last_event_at"), text("refusal"),
                     text("synchronous_mode"), text("synchronous_standby_names"), text("group")},
                    {}};
  auto optional = [](const std::string& value) {
    return value.empty() ? std::nullopt : std::optional<std::string>(value);
  };
  auto addRow = [&](const cluster::FailoverStatus& status, const std::string& group) {
    table.rows.push_back(
        {cluster::toString(status.state), optional(status.primary), number(status.failovers),
         number(status.switchovers), optional(status.lastEvent),
         status.lastEvent.empty() ? std::nullopt : std::optional(formatTime(status.lastEventAt)),
         optional(status.refusal), cluster::toString(status.syncMode),
         optional(status.synchronousStandbyNames), optional(group)});
  };
  if (snapshot.failover) addRow(*snapshot.failover, "");
  for (const auto& group : snapshot.shardGroups) {
    if (group.failover) addRow(*group.failover, group.name);
  }
  return table;
}

ResultTable showShards(const ProxySnapshot& snapshot) {
  ResultTable table{
      {text("group"), integer("node"), text("host"), integer("port"), text("role"), text("health"),
       integer("transactions"), integer("active"), text("last_error")},
      {}};
  for (const auto& group : snapshot.shardGroups) {
    for (std::size_t i = 0; i < group.servers.size(); ++i) {
      auto node = static_cast<std::size_t>(group.base) + i;
      std::uint64_t routed = 0;
      std::int64_t now = 0;
      for (const auto& worker : snapshot.workers) {
        if (node < worker.routedTotal.size()) routed += worker.routedTotal[node];
        if (node < worker.routedNow.size()) now += worker.routedNow[node];
      }
      const auto* observed =
          group.topology && i < group.topology->nodes.size() ? &group.topology->nodes[i] : nullptr;
      std::optional<std::string> role =
          observed ? cluster::toString(observed->role) : (i == 0 ? "primary" : "unchecked");
      std::optional<std::string> lastError;
      if (observed && !observed->lastError.empty()) lastError = observed->lastError;
      table.rows.push_back({group.name, number(static_cast<std::int64_t>(node)),
                            group.servers[i].host, number(std::int64_t{group.servers[i].port}),
                            role, observed ? cluster::toString(observed->health) : "unchecked",
                            number(routed), number(now), lastError});
    }
  }
  return table;
}

ResultTable showShardMap(const ProxySnapshot& snapshot) {
  ResultTable table{{text("database"), text("table"), text("key"), text("strategy"),
                     text("partition"), text("bounds"), text("node"), text("direct")},
                    {}};
  if (!snapshot.shardMap) return table;
  for (const auto& [database, routes] : snapshot.shardMap->databases) {
    for (const auto& route : routes.tables) {
      const auto& map = route.map;
      for (std::size_t i = 0; i < map.partitions.size(); ++i) {
        const auto& partition = map.partitions[i];
        auto reason = shard::whyNotDirect(route, i);
        std::string direct = reason.empty() ? "yes" : fmt::format("no ({})", reason);
        table.rows.push_back({database, map.schema + "." + map.table, map.keyColumn,
                              shard::toString(map.strategy), partition.name,
                              shard::boundClause(map, partition),
                              partition.local() ? "coordinator" : partition.node, direct});
      }
    }
  }
  return table;
}

ResultTable showVersion() {
  return {{text("version")}, {{versionString()}}};
}

void encodeResult(const ResultTable& table, std::string_view tag, std::string& out) {
  protocol::Writer writer(out);
  protocol::RowDescription description;
  for (const auto& column : table.columns) {
    description.fields.push_back({.name = column.name,
                                  .typeOid = column.integer ? kInt8Oid : kTextOid,
                                  .typeSize = static_cast<std::int16_t>(column.integer ? 8 : -1)});
  }
  // Our own names and values: nothing here can hold a NUL or reach 1 GB.
  (void)description.encode(writer);
  for (const auto& row : table.rows) {
    protocol::DataRow data;
    for (const auto& value : row) {
      data.columns.push_back(value ? std::optional<std::string_view>(*value) : std::nullopt);
    }
    (void)data.encode(writer);
  }
  (void)protocol::CommandComplete{tag}.encode(writer);
}

}  // namespace pgswarm::proxy
