// The pool's operator views on a real cluster: the admin console (virtual
// database `pgswarm`) through libpq, refused to non-admin users; PAUSE and
// RESUME; RELOAD; and GET /metrics and /health on the pool's HTTP port.
// The pool is started here, on free ports, and stopped by its PID.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "runtime/ports.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

// The rows of `rows` as column -> value maps, for finding a row by content.
std::vector<std::map<std::string, std::string>> asMaps(const cluster::QueryRows& rows,
                                                       const std::vector<std::string>& columns) {
  std::vector<std::map<std::string, std::string>> maps;
  for (std::size_t row = 0; row < rows.size(); ++row) {
    auto& map = maps.emplace_back();
    for (const auto& column : columns) map[column] = rows.get(row, column).value_or("<NULL>");
  }
  return maps;
}

class PoolAdmin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(0);  // NOLINT: freed in TearDownTestSuite
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    temp_ = new TempDir();  // NOLINT
    userlist_ = temp_->path() + "/userlist.txt";
    writeUserlist({{"postgres", cluster_->password()}, {"alice", "alice-secret"}});
    auto port = runtime::pickFreePort();
    auto httpPort = runtime::pickFreePort();
    ASSERT_TRUE(port.ok() && httpPort.ok());
    port_ = *port;
    httpPort_ = *httpPort;
    runtime::SpawnOptions options{
        .argv = {pgswarmBinary(),
                 "pool",
                 "--listen",
                 "127.0.0.1",
                 "--port",
                 std::to_string(port_),
                 "--hosts",
                 "127.0.0.1:" + std::to_string(cluster_->nodePort(0)),
                 "--auth-file",
                 userlist_,
                 "--pool-mode",
                 "transaction",
                 "--workers",
                 "2",
                 "--default-pool-size",
                 "4",
                 "--admin-users",
                 "postgres",
                 "--http-port",
                 std::to_string(httpPort_),
                 "--log-level",
                 "debug"},
        // USER / PASSWORD / HOSTS of the environment would add a seed user.
        .unsetEnv = {"USER", "PASSWORD", "PASSWORD_FILE", "HOSTS"},
        .outputPath = temp_->path() + "/pool.log"};
    auto pid = runtime::spawnProcess(options);
    ASSERT_TRUE(pid.ok()) << pid.error().message;
    pid_ = *pid;
    bool ready = waitUntil(
        [] {
          (void)runtime::reapChild(pid_);
          return runtime::processAlive(pid_) && httpGet(httpPort_, "/health").status == 200 &&
                 connect("postgres", "postgres").ok();
        },
        30s);
    ASSERT_TRUE(ready) << "pool did not start:\n" << poolLog();
    ready_ = true;
  }

  static void TearDownTestSuite() {
    stopPool();
    lingering_.clear();  // after the stop: the pool stopped with them parked
    delete temp_;        // NOLINT
    delete cluster_;     // NOLINT
  }

  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "cluster or pool did not start";
  }

  static void writeUserlist(const std::vector<std::pair<std::string, std::string>>& users) {
    std::ofstream out(userlist_);
    for (const auto& [user, password] : users) out << '"' << user << "\" \"" << password << "\"\n";
  }

  static std::string poolLog() {
    std::ifstream in(temp_->path() + "/pool.log");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  static Result<cluster::PgConnection> connect(const std::string& database, const std::string& user,
                                               const std::string& password = "") {
    cluster::ConnectTarget target{
        .host = "127.0.0.1",
        .port = port_,
        .user = user,
        .password = password.empty() && user == "postgres" ? cluster_->password() : password,
        .dbname = database,
        .connectTimeoutSeconds = 5};
    return cluster::PgConnection::connect(target);
  }

  static cluster::PgConnection admin() {
    auto conn = connect("pgswarm", "postgres");
    if (!conn) throw std::runtime_error(conn.error().message);
    return std::move(*conn);
  }

  // SIGTERM, then the pool must exit 0 by itself (sanitizers report leaks
  // through the exit code); SIGKILL only as a last resort.
  static void stopPool() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    std::optional<runtime::ExitStatus> status;
    waitUntil([&] { return (status = runtime::reapChild(pid_)).has_value(); }, 20s);
    if (!status) {
      ADD_FAILURE() << "pool ignored SIGTERM:\n" << poolLog();
      runtime::stopProcess(pid_, 1s, SIGKILL);
    } else {
      EXPECT_TRUE(status->success()) << status->describe() << "\n" << poolLog();
    }
    pid_ = -1;
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline TempDir* temp_ = nullptr;
  static inline std::string userlist_;
  static inline int port_ = 0;
  static inline int httpPort_ = 0;
  static inline pid_t pid_ = -1;
  static inline bool ready_ = false;
  static inline std::vector<RawConn> lingering_;
};

TEST_F(PoolAdmin, ShowPoolsClientsServersAfterAQuery) {
  auto app = connect("postgres", "postgres");
  ASSERT_TRUE(app.ok()) << app.error().message;
  auto pid = app->query("SELECT pg_backend_pid()::text AS pid");
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  auto console = admin();

  auto pools = console.query("SHOW POOLS");
  ASSERT_TRUE(pools.ok()) << pools.error().message;
  auto poolRows = asMaps(*pools, {"database", "user", "cl_active", "cl_waiting", "sv_active",
                                  "sv_idle", "sv_login", "maxwait", "pool_mode"});
  auto pool = std::find_if(poolRows.begin(), poolRows.end(), [](const auto& row) {
    return row.at("database") == "postgres" && row.at("user") == "postgres";
  });
  ASSERT_NE(pool, poolRows.end()) << "no postgres/postgres pool";
  EXPECT_GE(std::stoi(pool->at("cl_active")), 1);
  EXPECT_EQ(pool->at("cl_waiting"), "0");
  EXPECT_GE(std::stoi(pool->at("sv_idle")) + std::stoi(pool->at("sv_active")), 1);
  EXPECT_EQ(pool->at("pool_mode"), "transaction");

  auto clients = console.query("show clients;");
  ASSERT_TRUE(clients.ok()) << clients.error().message;
  auto clientRows = asMaps(*clients, {"type", "user", "database", "state", "addr", "port"});
  EXPECT_TRUE(std::any_of(clientRows.begin(), clientRows.end(), [](const auto& row) {
    return row.at("type") == "C" && row.at("database") == "postgres" && row.at("state") == "idle" &&
           row.at("addr") == "127.0.0.1";
  })) << "the app client is not listed as idle";
  EXPECT_TRUE(std::any_of(clientRows.begin(), clientRows.end(),
                          [](const auto& row) { return row.at("database") == "pgswarm"; }));

  // The backend that ran the app's query is listed with its real pid.
  auto servers = console.query("SHOW SERVERS");
  ASSERT_TRUE(servers.ok()) << servers.error().message;
  auto serverRows = asMaps(*servers, {"type", "database", "state", "port", "remote_pid"});
  EXPECT_TRUE(std::any_of(serverRows.begin(), serverRows.end(),
                          [&](const auto& row) {
                            return row.at("type") == "S" && row.at("database") == "postgres" &&
                                   row.at("remote_pid") == pid->text(0, "pid") &&
                                   row.at("port") == std::to_string(cluster_->nodePort(0));
                          }))
      << "backend " << pid->text(0, "pid") << " not in SHOW SERVERS";
}

TEST_F(PoolAdmin, ShowStatsTotalsConfigListsVersionHelp) {
  auto app = connect("postgres", "postgres");
  ASSERT_TRUE(app.ok()) << app.error().message;
  ASSERT_TRUE(app->execute("SELECT 1").ok());
  auto console = admin();

  auto stats = console.query("SHOW STATS");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  auto statRows = asMaps(*stats, {"database", "total_server_connects", "total_query_count"});
  auto postgres = std::find_if(statRows.begin(), statRows.end(),
                               [](const auto& row) { return row.at("database") == "postgres"; });
  ASSERT_NE(postgres, statRows.end());
  EXPECT_GE(std::stoi(postgres->at("total_server_connects")), 1);

  auto totals = console.query("SHOW TOTALS");
  ASSERT_TRUE(totals.ok()) << totals.error().message;
  auto totalRows = asMaps(*totals, {"name", "value"});
  for (const auto& row : totalRows) {
    if (row.at("name") == "total_query_count" || row.at("name") == "total_xact_count") {
      EXPECT_GE(std::stoll(row.at("value")), 1) << row.at("name");
    }
  }

  auto config = console.query("SHOW CONFIG");
  ASSERT_TRUE(config.ok()) << config.error().message;
  std::map<std::string, std::string> settings;
  for (const auto& row : asMaps(*config, {"key", "value"}))
    settings[row.at("key")] = row.at("value");
  EXPECT_EQ(settings["listen_port"], std::to_string(port_));
  EXPECT_EQ(settings["pool_mode"], "transaction");
  EXPECT_EQ(settings["http_port"], std::to_string(httpPort_));
  EXPECT_EQ(settings["workers"], "2");

  auto lists = console.query("SHOW LISTS");
  ASSERT_TRUE(lists.ok()) << lists.error().message;
  std::map<std::string, std::string> items;
  for (const auto& row : asMaps(*lists, {"list", "items"})) items[row.at("list")] = row.at("items");
  EXPECT_EQ(items["users"], "2");
  EXPECT_EQ(items["workers"], "2");
  EXPECT_EQ(items["workers_answered"], "2");

  auto version = console.query("SHOW VERSION");
  ASSERT_TRUE(version.ok()) << version.error().message;
  EXPECT_TRUE(version->text(0, "version").starts_with("pgswarm ")) << version->text(0, "version");
  EXPECT_TRUE(console.execute("SHOW HELP").ok());
}

TEST_F(PoolAdmin, BadCommandsGetErrorsAndTheConsoleGoesOn) {
  auto console = admin();
  auto unknown = console.query("SHOW NONSENSE");
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(contains(unknown.error().message, "invalid command")) << unknown.error().message;
  // PQexecParams speaks the extended protocol, which the console refuses.
  auto extended = console.query("SHOW POOLS", {"unused"});
  ASSERT_FALSE(extended.ok());
  EXPECT_TRUE(contains(extended.error().message, "simple query protocol"))
      << extended.error().message;
  auto after = console.query("SHOW VERSION");
  EXPECT_TRUE(after.ok()) << after.error().message;
}

TEST_F(PoolAdmin, NonAdminUsersAreRefused) {
  auto alice = connect("pgswarm", "alice", "alice-secret");
  ASSERT_FALSE(alice.ok());
  EXPECT_TRUE(contains(alice.error().message, "not allowed")) << alice.error().message;
  auto wrong = connect("pgswarm", "alice", "wrong");
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(contains(wrong.error().message, "password authentication failed"))
      << wrong.error().message;
}

TEST_F(PoolAdmin, ReloadReadsTheUserListAgain) {
  auto console = admin();
  auto before = connect("pgswarm", "bob", "bob-secret");
  ASSERT_FALSE(before.ok());
  EXPECT_TRUE(contains(before.error().message, "password authentication failed"));
  writeUserlist(
      {{"postgres", cluster_->password()}, {"alice", "alice-secret"}, {"bob", "bob-secret"}});
  auto reloaded = console.execute("RELOAD");
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  // Bob's password is known now; the console still refuses him as no admin.
  auto after = connect("pgswarm", "bob", "bob-secret");
  ASSERT_FALSE(after.ok());
  EXPECT_TRUE(contains(after.error().message, "not allowed")) << after.error().message;
  writeUserlist({{"postgres", cluster_->password()}, {"alice", "alice-secret"}});
  EXPECT_TRUE(console.execute("RELOAD").ok());
}

TEST_F(PoolAdmin, PauseHoldsNewTransactionsUntilResume) {
  auto app = connect("postgres", "postgres");
  ASSERT_TRUE(app.ok()) << app.error().message;
  auto console = admin();
  ASSERT_TRUE(console.execute("PAUSE").ok());
  auto pending = std::async(std::launch::async, [&] { return app->query("SELECT 42 AS v"); });
  bool waiting = waitUntil(
      [&] {
        auto pools = console.query("SHOW POOLS");
        if (!pools) return false;
        for (const auto& row : asMaps(*pools, {"database", "cl_waiting", "paused"})) {
          if (row.at("database") == "postgres" && row.at("cl_waiting") == "1" &&
              row.at("paused") == "yes") {
            return true;
          }
        }
        return false;
      },
      10s);
  EXPECT_TRUE(waiting) << "the query did not wait in SHOW POOLS";
  EXPECT_EQ(pending.wait_for(0s), std::future_status::timeout) << "the query ran during PAUSE";
  auto metrics = httpGet(httpPort_, "/metrics");
  EXPECT_TRUE(contains(metrics.body, "pgswarm_pool_paused 1")) << metrics.body;

  ASSERT_TRUE(console.execute("RESUME").ok());
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready) << "RESUME did not release it";
  auto rows = pending.get();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  EXPECT_EQ(rows->text(0, "v"), "42");
}

TEST_F(PoolAdmin, MetricsAndHealthOverHttp) {
  auto app = connect("postgres", "postgres");
  ASSERT_TRUE(app.ok()) << app.error().message;
  ASSERT_TRUE(app->execute("SELECT 1").ok());
  auto health = httpGet(httpPort_, "/health");
  EXPECT_EQ(health.status, 200);
  auto metrics = httpGet(httpPort_, "/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.body;
  for (const char* expected :
       {"# TYPE pgswarm_pool_transactions_total counter", "pgswarm_pool_transactions_total ",
        "pgswarm_pool_queries_total ", "pgswarm_pool_clients{state=\"idle\"}",
        "pgswarm_pool_servers{database=\"postgres\",user=\"postgres\",state=\"idle\"}",
        "pgswarm_pool_server_connects_total{database=\"postgres\",user=\"postgres\"}",
        "pgswarm_pool_wait_seconds_total", "pgswarm_pool_max_client_connections 1000"}) {
    EXPECT_TRUE(contains(metrics.body, expected)) << expected << " missing:\n" << metrics.body;
  }
  auto line = metrics.body.find("\npgswarm_pool_transactions_total ");
  ASSERT_NE(line, std::string::npos);
  auto value = std::stoll(metrics.body.substr(line + 33));
  EXPECT_GE(value, 1);
  EXPECT_EQ(httpGet(httpPort_, "/nothing").status, 404);
}

// Clients of database `postgres` in SHOW CLIENTS, and how many are parked.
std::pair<int, int> appClientsAndParked(cluster::PgConnection& console) {
  auto clients = console.query("SHOW CLIENTS");
  if (!clients) return {-1, -1};
  int all = 0;
  int parked = 0;
  for (const auto& row : asMaps(*clients, {"database", "state", "parked"})) {
    if (row.at("database") != "postgres") continue;
    ++all;
    if (row.at("parked") == "yes" && row.at("state") == "idle") ++parked;
  }
  return {all, parked};
}

// SHOW CLIENTS as text, for failure messages.
std::string describeClients(cluster::PgConnection& console) {
  auto clients = console.query("SHOW CLIENTS");
  if (!clients) return "SHOW CLIENTS failed: " + clients.error().message;
  std::string text;
  for (const auto& row :
       asMaps(*clients, {"database", "state", "port", "link", "worker", "pinned", "parked"})) {
    for (const auto& [column, value] : row) text += column + "=" + value + " ";
    text += "\n";
  }
  return text;
}

// An idle client gives its coroutines up after about a second (parked). It
// wakes at its next message with its session as it was (a setting, a named
// statement), it ends when it hangs up while parked, and a pool stopped
// with clients parked still exits cleanly (TearDownTestSuite checks).
TEST_F(PoolAdmin, IdleClientsParkAndWakeWithTheirSessionIntact) {
  constexpr int kClients = 6;
  std::vector<RawConn> clients;
  for (int i = 0; i < kClients; ++i) {
    auto conn = rawConnect(port_, "postgres", cluster_->password());
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    auto set = "SET application_name = 'parked_" + std::to_string(i) + "'";
    PQclear(PQexec(conn.get(), set.c_str()));
    PGresult* prepared = PQprepare(conn.get(), "add_one", "SELECT $1::int + 1", 1, nullptr);
    EXPECT_EQ(PQresultStatus(prepared), PGRES_COMMAND_OK) << PQerrorMessage(conn.get());
    PQclear(prepared);
    clients.push_back(std::move(conn));
  }
  auto console = admin();
  std::pair<int, int> seen;
  EXPECT_TRUE(waitUntil(
      [&] { return (seen = appClientsAndParked(console)) == std::pair(kClients, kClients); }, 10s))
      << seen.first << " clients, " << seen.second << " parked\n"
      << describeClients(console);
  auto metrics = httpGet(httpPort_, "/metrics");
  EXPECT_TRUE(contains(metrics.body, "\npgswarm_pool_parked_clients " + std::to_string(kClients)))
      << metrics.body;

  for (int i = 0; i < kClients; ++i) {
    const char* value = "41";
    PGresult* result = PQexecPrepared(clients[i].get(), "add_one", 1, &value, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQerrorMessage(clients[i].get());
    EXPECT_STREQ(PQgetvalue(result, 0, 0), "42");
    PQclear(result);
    EXPECT_EQ(scalar(clients[i].get(), "SHOW application_name"), "parked_" + std::to_string(i));
  }

  // Parked again, half of them hang up: their sessions end.
  EXPECT_TRUE(waitUntil(
      [&] { return (seen = appClientsAndParked(console)) == std::pair(kClients, kClients); }, 10s))
      << seen.first << " clients, " << seen.second << " parked\n"
      << describeClients(console);
  clients.resize(kClients / 2);
  EXPECT_TRUE(
      waitUntil([&] { return (seen = appClientsAndParked(console)).first == kClients / 2; }, 10s))
      << seen.first << " clients left after " << kClients / 2 << " hung up\n"
      << describeClients(console);
  for (auto& conn : clients) lingering_.push_back(std::move(conn));
}

// A parked client whose settings are only its startup parameters drops
// its state tracker and builds it again when it speaks: the server it gets
// then must still carry its own startup settings, not another client's.
TEST_F(PoolAdmin, ParkedClientsKeepTheirStartupSettings) {
  struct Client {
    RawConn conn;
    std::string timeout;
    std::string app;
  };
  auto console = admin();
  const int before = appClientsAndParked(console).first;  // earlier tests' lingering clients
  std::vector<Client> clients;
  for (int i = 0; i < 3; ++i) {
    auto timeout = std::to_string(4001 + i) + "ms";
    auto app = "startup_" + std::to_string(i);
    auto conn =
        rawConnect(port_, "postgres", cluster_->password(),
                   "application_name=" + app + " options='-c statement_timeout=" + timeout + "'");
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    clients.push_back({std::move(conn), timeout, app});
  }
  // One more that changes its settings after login (its tracker is kept).
  auto changed = rawConnect(port_, "postgres", cluster_->password());
  ASSERT_EQ(PQstatus(changed.get()), CONNECTION_OK) << PQerrorMessage(changed.get());
  PQclear(PQexec(changed.get(), "SET statement_timeout = '9999ms'"));
  std::pair<int, int> seen;
  const auto all = std::pair(before + 4, before + 4);
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(waitUntil([&] { return (seen = appClientsAndParked(console)) == all; }, 10s))
        << seen.first << " clients, " << seen.second << " parked\n"
        << describeClients(console);
    EXPECT_EQ(scalar(changed.get(), "SHOW statement_timeout"), "9999ms");
    for (auto& client : clients) {
      EXPECT_EQ(scalar(client.conn.get(), "SHOW statement_timeout"), client.timeout);
      EXPECT_EQ(scalar(client.conn.get(), "SHOW application_name"), client.app);
    }
  }
  for (auto& client : clients) lingering_.push_back(std::move(client.conn));
  lingering_.push_back(std::move(changed));
}

}  // namespace
}  // namespace pgswarm::test
