// The admin console's parser and views, without sockets: commands in every
// spelling psql users type, PgBouncer-style columns, pools summed across
// workers, and the wire encoding of a result (RowDescription types, NULLs).
#include "proxy/admin_commands.hpp"

#include <tuple>

#include <gtest/gtest.h>

#include "protocol/backend.hpp"
#include "protocol/frame.hpp"

namespace pgswarm::proxy {
namespace {

using namespace std::chrono_literals;

TEST(AdminCommand, ParsesEverySpelling) {
  EXPECT_EQ(parseAdminCommand("SHOW POOLS"), AdminCommand::kShowPools);
  EXPECT_EQ(parseAdminCommand("show pools;"), AdminCommand::kShowPools);
  EXPECT_EQ(parseAdminCommand("  Show\t\n Clients ;; "), AdminCommand::kShowClients);
  EXPECT_EQ(parseAdminCommand("show servers"), AdminCommand::kShowServers);
  EXPECT_EQ(parseAdminCommand("SHOW STATS"), AdminCommand::kShowStats);
  EXPECT_EQ(parseAdminCommand("SHOW TOTALS"), AdminCommand::kShowTotals);
  EXPECT_EQ(parseAdminCommand("show config"), AdminCommand::kShowConfig);
  EXPECT_EQ(parseAdminCommand("show lists"), AdminCommand::kShowLists);
  EXPECT_EQ(parseAdminCommand("show nodes"), AdminCommand::kShowNodes);
  EXPECT_EQ(parseAdminCommand("show version"), AdminCommand::kShowVersion);
  EXPECT_EQ(parseAdminCommand("show help"), AdminCommand::kShowHelp);
  EXPECT_EQ(parseAdminCommand("reload"), AdminCommand::kReload);
  EXPECT_EQ(parseAdminCommand("PAUSE;"), AdminCommand::kPause);
  EXPECT_EQ(parseAdminCommand("Resume"), AdminCommand::kResume);
  EXPECT_EQ(parseAdminCommand("show failover"), AdminCommand::kShowFailover);
  EXPECT_EQ(parseAdminCommand("promote 'db2:5432';"), AdminCommand::kPromote);
  EXPECT_EQ(parseAdminCommand("switchover"), AdminCommand::kSwitchover);
  EXPECT_EQ(parseAdminCommand("SWITCHOVER 'db3:5432'"), AdminCommand::kSwitchover);
}

TEST(AdminCommand, PromoteNamesOneNode) {
  EXPECT_EQ(commandArgument("PROMOTE 'db2:5432'", "PROMOTE"), "db2:5432");
  EXPECT_EQ(commandArgument("  promote   db2:5432 ;", "PROMOTE"), "db2:5432");
  EXPECT_EQ(commandArgument("Promote 'Node-B'", "PROMOTE"), "Node-B");  // names keep their case
  for (const char* bad :
       {"PROMOTE", "PROMOTE ''", "PROMOTE a b", "PROMOTEx a", "PROMOTE 'a'b'", "SELECT 1"}) {
    EXPECT_FALSE(commandArgument(bad, "PROMOTE")) << bad;
    EXPECT_NE(parseAdminCommand(bad), AdminCommand::kPromote) << bad;
  }
}

// The coordinator's group first (no name), then the shard groups.
const std::vector<SwitchoverGroup> kSwitchoverGroups = {
    {"", {"db1:5432", "db2:5432"}},
    {"shard1", {"s1:5432", "s1r1:5432"}},
    {"shard2", {"s2:5432", "s2r1:5432"}},
};

TEST(AdminCommand, SwitchoverWithoutANameIsTheCoordinatorsGroup) {
  auto choice = chooseSwitchover(kSwitchoverGroups, commandArgument("SWITCHOVER", "SWITCHOVER"));
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->group, 0U);
  EXPECT_FALSE(choice->target);
}

TEST(AdminCommand, SwitchoverToANodeActsOnItsGroup) {
  for (const auto& [sql, group, target] : {std::tuple{"SWITCHOVER 'db2:5432'", 0U, "db2:5432"},
                                           std::tuple{"switchover 's1r1:5432';", 1U, "s1r1:5432"},
                                           std::tuple{"SWITCHOVER s2r1:5432", 2U, "s2r1:5432"}}) {
    auto choice = chooseSwitchover(kSwitchoverGroups, commandArgument(sql, "SWITCHOVER"));
    ASSERT_TRUE(choice) << sql;
    EXPECT_EQ(choice->group, group) << sql;
    EXPECT_EQ(choice->target, target) << sql;
  }
}

TEST(AdminCommand, SwitchoverOfAShardGroupPicksItsBestReplica) {
  for (const char* sql : {"SWITCHOVER shard2", "SWITCHOVER 'shard2';"}) {
    auto choice = chooseSwitchover(kSwitchoverGroups, commandArgument(sql, "SWITCHOVER"));
    ASSERT_TRUE(choice) << sql;
    EXPECT_EQ(choice->group, 2U) << sql;
    EXPECT_FALSE(choice->target) << sql;
  }
}

TEST(AdminCommand, SwitchoverToAnUnknownNameSaysSo) {
  auto choice = chooseSwitchover(kSwitchoverGroups, std::string("shard9"));
  ASSERT_FALSE(choice);
  EXPECT_NE(choice.error().message.find("no node or shard group is named 'shard9'"),
            std::string::npos)
      << choice.error().message;
  // The coordinator's group has no name to be chosen by.
  EXPECT_FALSE(chooseSwitchover(kSwitchoverGroups, std::string("")));
  // Group names are exact, as SHOW FAILOVER shows them.
  EXPECT_FALSE(chooseSwitchover(kSwitchoverGroups, std::string("SHARD1")));
}

TEST(AdminCommand, PromoteActsOnTheGroupThatHasTheNode) {
  for (const auto& [sql, group] :
       {std::pair{"PROMOTE 'db2:5432'", 0U}, std::pair{"promote 's1r1:5432';", 1U},
        std::pair{"PROMOTE s2:5432", 2U}}) {
    auto choice = choosePromotion(kSwitchoverGroups, *commandArgument(sql, "PROMOTE"));
    ASSERT_TRUE(choice) << sql;
    EXPECT_EQ(*choice, group) << sql;
  }
}

TEST(AdminCommand, PromoteNamesANodeNotAGroup) {
  for (const char* name : {"shard1", "s9:5432", "S1R1:5432"}) {
    auto choice = choosePromotion(kSwitchoverGroups, name);
    ASSERT_FALSE(choice) << name;
    EXPECT_EQ(choice.error().message,
              std::string("no node is named '") + name + "' (SHOW NODES, SHOW SHARDS)");
  }
}

TEST(AdminCommand, EmptyAndUnknown) {
  EXPECT_EQ(parseAdminCommand(""), AdminCommand::kEmpty);
  EXPECT_EQ(parseAdminCommand(" ; ;"), AdminCommand::kEmpty);
  EXPECT_EQ(parseAdminCommand("SHOW"), AdminCommand::kUnknown);
  EXPECT_EQ(parseAdminCommand("SHOW POOLSX"), AdminCommand::kUnknown);
  EXPECT_EQ(parseAdminCommand("SHOW POOLS; SHOW CLIENTS"), AdminCommand::kUnknown);
  EXPECT_EQ(parseAdminCommand("SELECT 1"), AdminCommand::kUnknown);
  EXPECT_EQ(parseAdminCommand("PAUSE mydb"), AdminCommand::kUnknown);
  EXPECT_EQ(parseAdminCommand("SHOWPOOLS"), AdminCommand::kUnknown);
}

TEST(AdminCommand, ListNamesEveryCommand) {
  auto list = adminCommandList();
  for (const char* word :
       {"SHOW POOLS|", "|CLIENTS|", "|SERVERS|", "|STATS|", "|CONFIG|", "|VERSION|", "|FAILOVER|",
        "RELOAD", "PAUSE", "RESUME", "SWITCHOVER ['node' | group]", "PROMOTE 'node'"}) {
    EXPECT_NE(list.find(word), std::string::npos) << word << " missing from " << list;
  }
}

std::vector<std::string> names(const ResultTable& table) {
  std::vector<std::string> out;
  for (const auto& column : table.columns) out.push_back(column.name);
  return out;
}

std::string cell(const ResultTable& table, std::size_t row, const std::string& column) {
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    if (table.columns[i].name == column) return table.rows.at(row).at(i).value_or("<NULL>");
  }
  ADD_FAILURE() << "no column " << column;
  return "";
}

// Two workers with connections of (app, alice) under one shared limit, one with (app, bob).
ProxySnapshot twoWorkers() {
  ProxySnapshot snapshot{.workersAsked = 2, .clientConnections = 4, .users = 3};
  WorkerSnapshot first{.index = 0, .queries = 10, .transactions = 7};
  first.pools.push_back({.user = "alice",
                         .database = "app",
                         .active = 1,
                         .idle = 2,
                         .connecting = 0,
                         .waiting = 1,
                         .maxServers = 5,
                         .maxWait = 1500000us,
                         .counters = {.connectsMade = 3, .waits = 2, .waitTime = 2000000us}});
  first.clients.push_back({.user = "alice",
                           .database = "app",
                           .state = "active",
                           .addr = "10.0.0.1",
                           .port = 5000,
                           .link = "127.0.0.1:6000",
                           .worker = 0,
                           .tls = "TLSv1.3/TLS_AES_256_GCM_SHA384"});
  first.clients.push_back(
      {.user = "alice", .database = "app", .state = "waiting", .addr = "10.0.0.2", .port = 5001});
  first.clients.push_back(
      {.user = "postgres", .database = "pgswarm", .state = "login", .addr = "::1", .port = 5002});
  first.servers.push_back({.user = "alice",
                           .database = "app",
                           .state = "active",
                           .addr = "127.0.0.1",
                           .port = 5432,
                           .localAddr = "127.0.0.1",
                           .localPort = 6000,
                           .link = "10.0.0.1:5000",
                           .backendPid = 4242,
                           .id = 1});
  WorkerSnapshot second{.index = 1, .queries = 5, .transactions = 1};
  second.pools.push_back({.user = "alice",
                          .database = "app",
                          .active = 0,
                          .idle = 1,
                          .connecting = 1,
                          .maxServers = 5,
                          .maxWait = 250us,
                          .counters = {.connectsMade = 2, .connectFailures = 1, .waits = 2}});
  second.pools.push_back({.user = "bob", .database = "app", .idle = 1, .maxServers = 5});
  second.clients.push_back({.user = "alice",
                            .database = "app",
                            .state = "idle",
                            .addr = "10.0.0.3",
                            .port = 5003,
                            .parked = true});
  snapshot.workers = {first, second};
  return snapshot;
}

TEST(AdminViews, ShowPoolsSumsWorkersInPgBouncerColumns) {
  PoolConfig config;
  config.mode = PoolMode::kTransaction;
  auto table = showPools(twoWorkers(), config);
  auto expected = std::vector<std::string>{"database",   "user",      "cl_active", "cl_waiting",
                                           "sv_active",  "sv_idle",   "sv_login",  "maxwait",
                                           "maxwait_us", "pool_mode", "pool_size", "paused"};
  EXPECT_EQ(names(table), expected);
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(cell(table, 0, "user"), "alice");
  EXPECT_EQ(cell(table, 0, "cl_active"), "2");  // active + idle clients
  EXPECT_EQ(cell(table, 0, "cl_waiting"), "1");
  EXPECT_EQ(cell(table, 0, "sv_active"), "1");
  EXPECT_EQ(cell(table, 0, "sv_idle"), "3");
  EXPECT_EQ(cell(table, 0, "sv_login"), "1");
  EXPECT_EQ(cell(table, 0, "maxwait"), "1");
  EXPECT_EQ(cell(table, 0, "maxwait_us"), "500000");
  EXPECT_EQ(cell(table, 0, "pool_mode"), "transaction");
  // default_pool_size is one limit shared by the workers, not a share each.
  EXPECT_EQ(cell(table, 0, "pool_size"), "5");
  EXPECT_EQ(cell(table, 1, "user"), "bob");
  EXPECT_EQ(cell(table, 1, "cl_active"), "0");
  EXPECT_TRUE(table.columns[2].integer);
  EXPECT_FALSE(table.columns[0].integer);
}

TEST(AdminViews, ShowClientsListsEveryClientWithItsLink) {
  auto table = showClients(twoWorkers());
  ASSERT_EQ(table.rows.size(), 4u);
  EXPECT_EQ(names(table).at(0), "type");
  std::size_t linked = 0;
  std::size_t admin = 0;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    EXPECT_EQ(cell(table, row, "type"), "C");
    if (cell(table, row, "link") == "127.0.0.1:6000") ++linked;
    if (cell(table, row, "database") == "pgswarm") ++admin;
  }
  EXPECT_EQ(linked, 1u);
  EXPECT_EQ(admin, 1u);
}

TEST(AdminViews, ShowClientsNamesTlsOrNull) {
  auto table = showClients(twoWorkers());
  std::size_t tls = 0;
  std::size_t plain = 0;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    auto value = cell(table, row, "tls");
    if (value == "TLSv1.3/TLS_AES_256_GCM_SHA384") ++tls;
    if (value == "<NULL>") ++plain;
  }
  EXPECT_EQ(tls, 1u);
  EXPECT_EQ(plain, 3u);
}

TEST(AdminViews, ShowClientsSaysWhichIdleClientsAreParked) {
  auto table = showClients(twoWorkers());
  std::vector<std::string> parked;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    if (cell(table, row, "parked") == "yes")
      parked.push_back(cell(table, row, "port"));
    else
      EXPECT_EQ(cell(table, row, "parked"), "no");
  }
  EXPECT_EQ(parked, std::vector<std::string>{"5003"});
}

TEST(AdminViews, ShowServersShowsBackendPidAndClient) {
  auto table = showServers(twoWorkers());
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_EQ(cell(table, 0, "type"), "S");
  EXPECT_EQ(cell(table, 0, "state"), "active");
  EXPECT_EQ(cell(table, 0, "remote_pid"), "4242");
  EXPECT_EQ(cell(table, 0, "local_port"), "6000");
  EXPECT_EQ(cell(table, 0, "link"), "10.0.0.1:5000");
}

TEST(AdminViews, ShowStatsIsPerDatabaseAndTotalsPerProcess) {
  auto stats = showStats(twoWorkers());
  ASSERT_EQ(stats.rows.size(), 1u);
  EXPECT_EQ(cell(stats, 0, "database"), "app");
  EXPECT_EQ(cell(stats, 0, "total_server_connects"), "5");
  EXPECT_EQ(cell(stats, 0, "total_server_connect_failures"), "1");
  EXPECT_EQ(cell(stats, 0, "total_wait_count"), "4");
  EXPECT_EQ(cell(stats, 0, "total_wait_time"), "2000000");
  EXPECT_EQ(cell(stats, 0, "avg_wait_time"), "500000");
  auto totals = showTotals(twoWorkers());
  EXPECT_EQ(cell(totals, 0, "name"), "total_xact_count");
  EXPECT_EQ(cell(totals, 0, "value"), "8");
  EXPECT_EQ(cell(totals, 1, "value"), "15");
}

TEST(AdminViews, ShowConfigMasksThePasswordAndShowsDefaults) {
  PoolConfig config;
  config.seedUser = "app";
  config.seedPassword = "secret";
  config.servers = {{"db1", 5432}, {"db2", 5433}};
  config.httpPort = 9187;
  auto table = showConfig(config);
  EXPECT_EQ(names(table), (std::vector<std::string>{"key", "value", "default", "changeable"}));
  std::map<std::string, std::pair<std::string, std::string>> byKey;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    byKey[cell(table, row, "key")] = {cell(table, row, "value"), cell(table, row, "default")};
  }
  EXPECT_EQ(byKey["password"].first, "********");
  EXPECT_EQ(byKey["hosts"].first, "db1:5432,db2:5433");
  EXPECT_EQ(byKey["http_port"], (std::pair<std::string, std::string>{"9187", "8080"}));
  EXPECT_EQ(byKey["query_wait_timeout"].first, "120");
  for (const auto& [key, value] : byKey) EXPECT_NE(value.first, "(unknown)") << key;
}

TEST(AdminViews, ShowNodesNamesFencedPrimariesAndReceivers) {
  PoolConfig config;
  config.servers = {{"db1", 5432}, {"db2", 5432}, {"db3", 5432}};
  config.weights = {1, 1, 1};
  auto topology = std::make_shared<cluster::Topology>();
  topology->nodes.resize(3);
  auto& old = topology->nodes[0];
  old.health = cluster::NodeHealth::kUp;
  old.role = cluster::NodeRole::kPrimary;
  old.fenced = true;
  auto& streaming = topology->nodes[1];
  streaming.health = cluster::NodeHealth::kUp;
  streaming.role = cluster::NodeRole::kReplica;
  streaming.receiverStatus = "streaming";
  streaming.upstream = "db3:5432";
  auto& waiting = topology->nodes[2];
  waiting.health = cluster::NodeHealth::kUp;
  waiting.role = cluster::NodeRole::kReplica;
  waiting.receiverStatus = "waiting";
  ProxySnapshot snapshot;
  snapshot.topology = topology;
  auto table = showNodes(snapshot, config);
  ASSERT_EQ(table.rows.size(), 3U);
  EXPECT_EQ(cell(table, 0, "role"), "primary (fenced)");
  EXPECT_EQ(cell(table, 0, "receiver"), "<NULL>");
  EXPECT_EQ(cell(table, 1, "receiver"), "streaming from db3:5432");
  EXPECT_EQ(cell(table, 2, "receiver"), "waiting");
}

TEST(AdminViews, ShowFailoverIsOneRowWhileACoordinatorRuns) {
  ProxySnapshot snapshot;
  EXPECT_TRUE(showFailover(snapshot).rows.empty());
  snapshot.failover = cluster::FailoverStatus{.state = cluster::FailoverState::kRefused,
                                              .primary = "db1:5432",
                                              .failovers = 2,
                                              .lastEvent = "electing -> refused on no candidate",
                                              .refusal = "no replica can safely be promoted"};
  auto table = showFailover(snapshot);
  EXPECT_EQ(names(table),
            (std::vector<std::string>{"state", "primary", "failovers", "switchovers", "last_event",
                                      "last_event_at", "refusal", "synchronous_mode",
                                      "synchronous_standby_names", "group"}));
  ASSERT_EQ(table.rows.size(), 1U);
  EXPECT_EQ(cell(table, 0, "group"), "<NULL>");
  EXPECT_EQ(cell(table, 0, "state"), "refused");
  EXPECT_EQ(cell(table, 0, "primary"), "db1:5432");
  EXPECT_EQ(cell(table, 0, "failovers"), "2");
  EXPECT_EQ(cell(table, 0, "refusal"), "no replica can safely be promoted");
}

TEST(AdminViews, ShowFailoverAddsARowPerShardGroupThatFailsOver) {
  ProxySnapshot snapshot;
  snapshot.failover =
      cluster::FailoverStatus{.state = cluster::FailoverState::kHealthy, .primary = "db1:5432"};
  snapshot.shardGroups.push_back(
      {.name = "shard1",
       .failover = cluster::FailoverStatus{
           .state = cluster::FailoverState::kHealthy, .primary = "s1b:5432", .failovers = 1}});
  snapshot.shardGroups.push_back({.name = "shard2"});  // one node: no coordinator
  auto table = showFailover(snapshot);
  ASSERT_EQ(table.rows.size(), 2U);
  EXPECT_EQ(cell(table, 0, "primary"), "db1:5432");
  EXPECT_EQ(cell(table, 1, "group"), "shard1");
  EXPECT_EQ(cell(table, 1, "primary"), "s1b:5432");
  EXPECT_EQ(cell(table, 1, "failovers"), "1");
}

TEST(AdminViews, ShowListsCountsObjects) {
  auto table = showLists(twoWorkers());
  std::map<std::string, std::string> items;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    items[cell(table, row, "list")] = cell(table, row, "items");
  }
  EXPECT_EQ(items["databases"], "1");
  EXPECT_EQ(items["pools"], "2");
  EXPECT_EQ(items["users"], "3");
  EXPECT_EQ(items["used_clients"], "4");
  EXPECT_EQ(items["login_clients"], "1");
  EXPECT_EQ(items["free_servers"], "4");
  EXPECT_EQ(items["workers"], "2");
}

TEST(AdminViews, FormatTimeIsUtc) {
  EXPECT_EQ(formatTime(WallClock::time_point{}), "1970-01-01 00:00:00 UTC");
  EXPECT_EQ(formatTime(WallClock::time_point{} + 86400s + 3723s), "1970-01-02 01:02:03 UTC");
}

TEST(AdminViews, EncodeResultWritesTypedColumnsRowsAndTag) {
  ResultTable table{{{"name", false}, {"count", true}}, {{"a", "1"}, {std::nullopt, "2"}}};
  std::string wire;
  encodeResult(table, "SHOW", wire);
  auto bytes = protocol::asBytes(wire);
  std::vector<char> types;
  while (!bytes.empty()) {
    auto frame = protocol::splitFrame(bytes);
    ASSERT_EQ(frame.status, protocol::FrameStatus::kReady);
    types.push_back(frame.frame.type);
    if (frame.frame.type == protocol::kRowDescription) {
      auto description = protocol::RowDescription::parse(frame.frame.body);
      ASSERT_TRUE(description.ok());
      ASSERT_EQ(description->fields.size(), 2u);
      EXPECT_EQ(description->fields[0].typeOid, 25);
      EXPECT_EQ(description->fields[1].typeOid, 20);
      EXPECT_EQ(description->fields[1].name, "count");
    }
    if (types.size() == 3) {
      auto row = protocol::DataRow::parse(frame.frame.body);
      ASSERT_TRUE(row.ok());
      EXPECT_FALSE(row->columns[0].has_value());
      EXPECT_EQ(row->columns[1], "2");
    }
    if (frame.frame.type == protocol::kCommandComplete) {
      EXPECT_EQ(protocol::CommandComplete::parse(frame.frame.body)->tag, "SHOW");
    }
    bytes = bytes.subspan(frame.frame.length);
  }
  EXPECT_EQ(types, (std::vector<char>{'T', 'D', 'D', 'C'}));
}

}  // namespace
}  // namespace pgswarm::proxy
