// Pool sizes on a real server with several workers: default_pool_size is one
// limit for the whole process (checked in pg_stat_activity while 30 clients
// run), min_pool_size keeps connections open and reopens killed ones, the
// reserve pool opens only after reserve_pool_timeout; a database's own
// pool_size, a user's max_user_connections over two databases, and RELOAD
// of a changed size.
#include <libpq-fe.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using RawConn = std::unique_ptr<PGconn, PgConnDeleter>;

RawConn rawConnect(int port, const std::string& dbname, const std::string& password) {
  std::string info = "host=127.0.0.1 port=" + std::to_string(port) +
                     " user=postgres connect_timeout=10 dbname=" + dbname + " password=" + password;
  return RawConn(PQconnectdb(info.c_str()));
}

std::string scalar(PGconn* conn, const std::string& sql) {
  PGresult* result = PQexec(conn, sql.c_str());
  std::string value = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1
                          ? PQgetvalue(result, 0, 0)
                          : std::string("error: ") + PQresultErrorMessage(result);
  PQclear(result);
  return value;
}

class PoolSizes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(0);  // NOLINT: freed in TearDownTestSuite
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    auto direct = cluster_->connect(0);
    for (const char* db : {"sz_limit", "sz_min", "sz_reserve", "sz_fair", "sz_small", "sz_wide",
                           "sz_user_a", "sz_user_b", "sz_reload", "sz_capdb"}) {
      auto made = direct.query(std::string("CREATE DATABASE ") + db);
      ASSERT_TRUE(made.ok()) << made.error().message;
    }
    // A second login for the database cap: the pool knows it as pool.user.
    auto role = direct.query("CREATE ROLE sz_other LOGIN PASSWORD 'sz_other_pw'");
    ASSERT_TRUE(role.ok()) << role.error().message;
    ready_ = true;
  }
  static void TearDownTestSuite() {
    delete cluster_;  // NOLINT
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "cluster did not start";
  }

  // Server connections of `database` as the server sees them.
  static int serverConnections(const std::string& database) {
    return serverConnections(std::vector<std::string>{database});
  }
  // Of all `databases` together, in one query: one snapshot of the server.
  static int serverConnections(const std::vector<std::string>& databases) {
    std::string names;
    for (const auto& database : databases) names += (names.empty() ? "'" : ",'") + database + "'";
    auto direct = cluster_->connect(0);
    auto rows = direct.query(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND datname IN (" +
        names + ")");
    if (!rows.ok()) return -1;
    return std::stoi(rows->text(0, "n"));
  }

  static std::string backendPids(const std::string& database) {
    auto direct = cluster_->connect(0);
    auto rows = direct.query(
        "SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') AS pids "
        "FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = '" +
        database + "'");
    return rows.ok() ? rows->text(0, "pids") : "error";
  }

  static CommandOutput pgbench(int port, const std::string& database,
                               const std::vector<std::string>& args) {
    std::vector<std::string> all{"-h", "127.0.0.1", "-p", std::to_string(port), "-U", "postgres"};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back(database);
    return runPgClient("pgbench", all, cluster_->password());
  }

  // The most server connections of `databases` together seen while `work`
  // ran, sampled every 20 ms on the server itself.
  static int peakWhile(const std::vector<std::string>& databases,
                       const std::function<void()>& work) {
    std::atomic<bool> running{true};
    std::atomic<int> highest{0};
    std::thread watcher([&] {
      while (running) {
        highest = std::max(highest.load(), serverConnections(databases));
        std::this_thread::sleep_for(20ms);
      }
    });
    work();
    running = false;
    watcher.join();
    return highest;
  }

  // 10 clients, each 15 transactions that hold a server connection 50 ms.
  static CommandOutput sleepers(int port, const std::string& database, const std::string& script) {
    return pgbench(port, database, {"-n", "-c", "10", "-j", "2", "-t", "15", "-f", script});
  }

  static void expectAllDone(const CommandOutput& run) {
    EXPECT_EQ(run.exitCode, 0) << run.output;
    EXPECT_TRUE(contains(run.output, "number of transactions actually processed: 150/150"))
        << run.output;
  }

  // `column` of the row named `database` (a key for SHOW CONFIG) in `show`
  // on the admin console.
  static std::string adminValue(int port, const std::string& show, const std::string& database,
                                const std::string& column) {
    auto admin = rawConnect(port, "pgswarm", cluster_->password());
    if (PQstatus(admin.get()) != CONNECTION_OK) return PQerrorMessage(admin.get());
    PGresult* result = PQexec(admin.get(), show.c_str());
    std::string value = "(no row)";
    if (PQresultStatus(result) != PGRES_TUPLES_OK) value = PQresultErrorMessage(result);
    const char* name = show == "SHOW DATABASES" ? "name"
                       : show == "SHOW CONFIG"  ? "key"
                                                : "database";
    int nameColumn = PQfnumber(result, name);
    for (int i = 0; i < PQntuples(result) && nameColumn >= 0; ++i) {
      if (database == PQgetvalue(result, i, nameColumn)) {
        value = PQgetvalue(result, i, PQfnumber(result, column.c_str()));
      }
    }
    PQclear(result);
    return value;
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline bool ready_ = false;
};

// 30 clients on 2 workers share 3 server connections: the server never sees
// a fourth, and no transaction fails or waits out query_wait_timeout.
TEST_F(PoolSizes, DefaultPoolSizeIsOneLimitAcrossWorkers) {
  auto init = pgbench(cluster_->nodePort(0), "sz_limit", {"-i", "-s", "1", "-q"});
  ASSERT_EQ(init.exitCode, 0) << init.output;
  PoolProcess pool(*cluster_,
                   {"--pool-mode", "transaction", "--workers", "2", "--default-pool-size", "3"});
  std::atomic<bool> running{true};
  std::atomic<int> highest{0};
  std::atomic<int> samples{0};
  std::thread watcher([&] {
    while (running) {
      int now = serverConnections("sz_limit");
      if (now > highest) highest = now;
      ++samples;
      std::this_thread::sleep_for(20ms);
    }
  });
  auto run = pgbench(pool.port(), "sz_limit", {"-c", "30", "-j", "2", "-t", "30"});
  running = false;
  watcher.join();
  EXPECT_EQ(run.exitCode, 0) << run.output;
  EXPECT_TRUE(contains(run.output, "number of transactions actually processed: 900/900"))
      << run.output;
  EXPECT_TRUE(contains(run.output, "number of failed transactions: 0 ")) << run.output;
  std::cout << "server connections seen at most: " << highest << " in " << samples << " samples\n";
  EXPECT_GT(samples.load(), 5);
  EXPECT_GE(highest.load(), 2) << "the pool never used more than one connection";
  EXPECT_LE(highest.load(), 3) << "more server connections than default_pool_size";
  EXPECT_LE(serverConnections("sz_limit"), 3);

  // SHOW POOLS: one row for the pool, totals across both workers.
  auto admin = rawConnect(pool.port(), "pgswarm", cluster_->password());
  ASSERT_EQ(PQstatus(admin.get()), CONNECTION_OK) << PQerrorMessage(admin.get());
  PGresult* pools = PQexec(admin.get(), "SHOW POOLS");
  ASSERT_EQ(PQresultStatus(pools), PGRES_TUPLES_OK) << PQresultErrorMessage(pools);
  int rows = 0;
  for (int i = 0; i < PQntuples(pools); ++i) {
    if (std::string(PQgetvalue(pools, i, PQfnumber(pools, "database"))) != "sz_limit") continue;
    ++rows;
    EXPECT_EQ(std::string(PQgetvalue(pools, i, PQfnumber(pools, "pool_size"))), "3");
    int servers = std::stoi(PQgetvalue(pools, i, PQfnumber(pools, "sv_active"))) +
                  std::stoi(PQgetvalue(pools, i, PQfnumber(pools, "sv_idle")));
    EXPECT_GE(servers, 1);
    EXPECT_LE(servers, 3);
  }
  PQclear(pools);
  EXPECT_EQ(rows, 1);
}

// min_pool_size=2: two connections soon after the first login, and two again
// after the server ended them.
TEST_F(PoolSizes, MinPoolSizeOpensAndReopens) {
  PoolProcess pool(*cluster_, {"--pool-mode", "transaction", "--workers", "2",
                               "--default-pool-size", "3", "--min-pool-size", "2"});
  EXPECT_EQ(serverConnections("sz_min"), 0);
  {
    auto client = rawConnect(pool.port(), "sz_min", cluster_->password());
    ASSERT_EQ(PQstatus(client.get()), CONNECTION_OK) << PQerrorMessage(client.get());
    EXPECT_EQ(scalar(client.get(), "SELECT 1"), "1");
  }
  ASSERT_TRUE(waitUntil([&] { return serverConnections("sz_min") == 2; }, 10s))
      << serverConnections("sz_min") << " server connections\n"
      << pool.log();
  auto before = backendPids("sz_min");
  {
    auto direct = cluster_->connect(0);
    auto killed = direct.query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND datname = 'sz_min'");
    ASSERT_TRUE(killed.ok()) << killed.error().message;
    EXPECT_EQ(killed->text(0, "n"), "2");
  }
  ASSERT_TRUE(waitUntil(
      [&] {
        auto pids = backendPids("sz_min");
        return std::count(pids.begin(), pids.end(), ',') == 1 && pids != before;
      },
      15s))
      << "before: " << before << ", now: " << backendPids("sz_min") << "\n"
      << pool.log();
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(serverConnections("sz_min"), 2) << "the pool kept opening";
  // Still usable through the reopened connections.
  auto client = rawConnect(pool.port(), "sz_min", cluster_->password());
  EXPECT_EQ(scalar(client.get(), "SELECT 'after'"), "after");
}

// default_pool_size=1, reserve_pool_size=1, reserve_pool_timeout=2: a second
// client waits while the only connection is inside a transaction, then gets
// a reserve connection, not before.
TEST_F(PoolSizes, ReservePoolOnlyAfterReservePoolTimeout) {
  PoolProcess pool(*cluster_,
                   {"--pool-mode", "transaction", "--workers", "2", "--default-pool-size", "1",
                    "--reserve-pool-size", "1", "--reserve-pool-timeout", "2"});
  auto holder = rawConnect(pool.port(), "sz_reserve", cluster_->password());
  ASSERT_EQ(PQstatus(holder.get()), CONNECTION_OK) << PQerrorMessage(holder.get());
  PQclear(PQexec(holder.get(), "BEGIN"));
  EXPECT_EQ(scalar(holder.get(), "SELECT 'holding'"), "holding");
  EXPECT_EQ(serverConnections("sz_reserve"), 1);

  auto started = Clock::now();
  auto waiter = std::async(std::launch::async, [&] {
    // Logging in needs a server connection too (its ParameterStatus set).
    auto second = rawConnect(pool.port(), "sz_reserve", cluster_->password());
    if (PQstatus(second.get()) != CONNECTION_OK) return std::string(PQerrorMessage(second.get()));
    return scalar(second.get(), "SELECT 'served'");
  });
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(waiter.wait_for(0s), std::future_status::timeout) << "served before the timeout";
  EXPECT_EQ(serverConnections("sz_reserve"), 1) << "reserve opened before reserve_pool_timeout";
  ASSERT_EQ(waiter.wait_for(15s), std::future_status::ready);
  EXPECT_EQ(waiter.get(), "served");
  auto waited = Clock::now() - started;
  EXPECT_GE(waited, 1900ms);
  EXPECT_LT(waited, 10s);
  EXPECT_EQ(serverConnections("sz_reserve"), 2);
  PQclear(PQexec(holder.get(), "COMMIT"));
}

// One server connection, two workers, clients on both: a worker whose own
// clients always wait must still let the other worker's clients have the
// connection. Were it handed over locally forever, the other worker's
// clients would wait for all of them (about 4 s) and hit the 3 s
// query_wait_timeout.
TEST_F(PoolSizes, WaitersOfAnotherWorkerAreNotStarved) {
  TempDir temp;
  std::string config = temp.path() + "/pool.toml";
  std::ofstream(config) << "[pool]\nquery_wait_timeout = 3\n";
  std::string script = temp.path() + "/sleep.sql";
  std::ofstream(script) << "SELECT pg_sleep(0.005);\n";
  PoolProcess pool(*cluster_, {"--config", config, "--pool-mode", "transaction", "--workers", "2",
                               "--default-pool-size", "1"});
  std::atomic<bool> running{true};
  std::set<std::string> workersSeen;
  std::thread watcher([&] {
    auto admin = rawConnect(pool.port(), "pgswarm", cluster_->password());
    while (running && PQstatus(admin.get()) == CONNECTION_OK) {
      PGresult* clients = PQexec(admin.get(), "SHOW CLIENTS");
      if (PQresultStatus(clients) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(clients); ++i) {
          if (std::string(PQgetvalue(clients, i, PQfnumber(clients, "database"))) == "sz_fair") {
            workersSeen.insert(PQgetvalue(clients, i, PQfnumber(clients, "worker")));
          }
        }
      }
      PQclear(clients);
      std::this_thread::sleep_for(50ms);
    }
  });
  auto run = pgbench(pool.port(), "sz_fair", {"-c", "12", "-j", "4", "-t", "80", "-f", script});
  running = false;
  watcher.join();
  EXPECT_EQ(run.exitCode, 0) << run.output << pool.log().substr(0, 4000);
  EXPECT_TRUE(contains(run.output, "number of transactions actually processed: 960/960"))
      << run.output;
  EXPECT_EQ(workersSeen.size(), 2U) << "all clients landed on one worker; nothing was tested";
  EXPECT_LE(serverConnections("sz_fair"), 1);
}

// [pool.databases.sz_small] pool_size = 2: 10 clients on 2 workers never
// make a third server connection of sz_small, while sz_wide (same user,
// same time) uses default_pool_size (5) and goes above 2.
TEST_F(PoolSizes, DatabasePoolSizeOverridesTheDefault) {
  TempDir temp;
  std::string config = temp.path() + "/pool.toml";
  std::ofstream(config) << "[pool]\ndefault_pool_size = 5\n[pool.databases.sz_small]\n"
                           "pool_size = 2\n";
  std::string script = temp.path() + "/sleep.sql";
  std::ofstream(script) << "SELECT pg_sleep(0.05);\n";
  PoolProcess pool(*cluster_, {"--config", config, "--pool-mode", "transaction", "--workers", "2"});
  int small = 0;
  int wide = 0;
  std::thread other([&] {
    wide = peakWhile({"sz_wide"}, [&] { expectAllDone(sleepers(pool.port(), "sz_wide", script)); });
  });
  small =
      peakWhile({"sz_small"}, [&] { expectAllDone(sleepers(pool.port(), "sz_small", script)); });
  other.join();
  std::cout << "server connections at most: sz_small " << small << ", sz_wide " << wide << "\n";
  EXPECT_EQ(small, 2) << "pool_size = 2 for sz_small";
  EXPECT_GT(wide, 2) << "sz_wide should use default_pool_size (5)";
  EXPECT_LE(wide, 5);
  EXPECT_EQ(adminValue(pool.port(), "SHOW POOLS", "sz_small", "pool_size"), "2");
  EXPECT_EQ(adminValue(pool.port(), "SHOW POOLS", "sz_wide", "pool_size"), "5");
  EXPECT_EQ(adminValue(pool.port(), "SHOW DATABASES", "sz_small", "pool_size"), "2");
  EXPECT_EQ(adminValue(pool.port(), "SHOW DATABASES", "sz_wide", "pool_size"), "5");
}

// max_user_connections = 3 for postgres: 10 clients on each of two
// databases at once share 3 server connections between them, and all
// transactions finish (the waiters wait, as for a full pool).
TEST_F(PoolSizes, UserCapHoldsAcrossDatabases) {
  TempDir temp;
  std::string script = temp.path() + "/sleep.sql";
  std::ofstream(script) << "SELECT pg_sleep(0.05);\n";
  PoolProcess pool(*cluster_,
                   {"--pool-mode", "transaction", "--workers", "2", "--default-pool-size", "5",
                    "--users", "{ postgres = { max_user_connections = 3 } }"});
  int peak = peakWhile({"sz_user_a", "sz_user_b"}, [&] {
    auto a =
        std::async(std::launch::async, [&] { return sleepers(pool.port(), "sz_user_a", script); });
    auto b = sleepers(pool.port(), "sz_user_b", script);
    expectAllDone(a.get());
    expectAllDone(b);
  });
  std::cout << "server connections of both databases at most: " << peak << "\n";
  EXPECT_GE(peak, 2) << "nothing ran in parallel";
  EXPECT_LE(peak, 3) << "max_user_connections = 3" << pool.log().substr(0, 3000);
  EXPECT_LE(serverConnections(std::vector<std::string>{"sz_user_a", "sz_user_b"}), 3);
}

// max_db_connections = 3 on sz_capdb: two users with 10 clients each share
// 3 server connections of it, and all their transactions finish.
TEST_F(PoolSizes, DatabaseCapHoldsAcrossUsers) {
  TempDir temp;
  std::string script = temp.path() + "/sleep.sql";
  std::ofstream(script) << "SELECT pg_sleep(0.05);\n";
  PoolProcess pool(*cluster_,
                   {"--pool-mode", "transaction", "--workers", "2", "--default-pool-size", "5",
                    "--user", "sz_other", "--password", "sz_other_pw", "--databases",
                    "{ sz_capdb = { max_db_connections = 3 } }"});
  int peak = peakWhile({"sz_capdb"}, [&] {
    auto other = std::async(std::launch::async, [&] {
      return runPgClient("pgbench",
                         {"-h", "127.0.0.1", "-p", std::to_string(pool.port()), "-U", "sz_other",
                          "-n", "-c", "10", "-j", "2", "-t", "15", "-f", script, "sz_capdb"},
                         "sz_other_pw");
    });
    expectAllDone(sleepers(pool.port(), "sz_capdb", script));
    expectAllDone(other.get());
  });
  std::cout << "server connections of sz_capdb at most: " << peak << "\n";
  EXPECT_GE(peak, 2) << "nothing ran in parallel";
  EXPECT_LE(peak, 3) << "max_db_connections = 3" << pool.log().substr(0, 3000);
  EXPECT_EQ(adminValue(pool.port(), "SHOW DATABASES", "sz_capdb", "max_connections"), "3");
}

// RELOAD applies a changed pool_size to the pool that exists: 2 before,
// up to 4 after, 1 after the next; SHOW CONFIG and SHOW POOLS show the
// size in effect; a config that does not validate changes nothing.
TEST_F(PoolSizes, ReloadChangesTheSizeOfAnExistingPool) {
  TempDir temp;
  std::string config = temp.path() + "/pool.toml";
  auto writeSize = [&](const std::string& poolSize) {
    std::ofstream(config) << "[pool]\ndefault_pool_size = 8\n[pool.databases.sz_reload]\n"
                             "pool_size = "
                          << poolSize << "\n";
  };
  std::string script = temp.path() + "/sleep.sql";
  std::ofstream(script) << "SELECT pg_sleep(0.05);\n";
  writeSize("2");
  PoolProcess pool(*cluster_, {"--config", config, "--pool-mode", "transaction", "--workers", "2"});
  auto reload = [&] {
    auto admin = rawConnect(pool.port(), "pgswarm", cluster_->password());
    PGresult* result = PQexec(admin.get(), "RELOAD");
    std::string outcome = PQresultStatus(result) == PGRES_COMMAND_OK
                              ? std::string("ok")
                              : std::string(PQresultErrorMessage(result));
    PQclear(result);
    return outcome;
  };
  auto peakOfALoad = [&] {
    return peakWhile({"sz_reload"},
                     [&] { expectAllDone(sleepers(pool.port(), "sz_reload", script)); });
  };
  int before = peakOfALoad();
  EXPECT_EQ(before, 2);
  EXPECT_EQ(adminValue(pool.port(), "SHOW POOLS", "sz_reload", "pool_size"), "2");

  writeSize("4");
  EXPECT_EQ(reload(), "ok");
  EXPECT_EQ(adminValue(pool.port(), "SHOW POOLS", "sz_reload", "pool_size"), "4");
  EXPECT_EQ(adminValue(pool.port(), "SHOW CONFIG", "databases", "value"),
            "{ sz_reload = { pool_size = 4 } }");
  EXPECT_EQ(adminValue(pool.port(), "SHOW CONFIG", "databases", "changeable"), "yes");
  int after = peakOfALoad();
  std::cout << "server connections at most: " << before << " before RELOAD, " << after
            << " after\n";
  EXPECT_GT(after, 2) << "the new pool_size was not applied\n" << pool.log().substr(0, 3000);
  EXPECT_LE(after, 4);

  // Down to 1: idle connections above it close at the next maintenance
  // tick, and the next load runs on one connection.
  writeSize("1");
  EXPECT_EQ(reload(), "ok");
  EXPECT_TRUE(waitUntil([&] { return serverConnections("sz_reload") <= 1; }, 5s))
      << serverConnections("sz_reload") << " server connections after RELOAD to 1";
  EXPECT_EQ(peakOfALoad(), 1);

  writeSize("-3");
  EXPECT_TRUE(contains(reload(), "pool_size: -3 is out of range (1..100000)"));
  EXPECT_EQ(adminValue(pool.port(), "SHOW POOLS", "sz_reload", "pool_size"), "1");
}

}  // namespace
}  // namespace pgswarm::test
