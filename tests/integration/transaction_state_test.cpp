// Transaction mode keeps each client's session state its own: settings
// (startup parameters and SET) follow the client to whichever server it
// gets, and state that cannot follow (temp tables, advisory locks, LISTEN)
// pins the client to its server, so no other client ever inherits it.
// Two pools on one real cluster: one server connection shared by every
// client, and two, so that a pinned client leaves one for the others.
#include <poll.h>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

class TransactionState : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(0);  // NOLINT: freed in TearDownTestSuite
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    one_ = new PoolProcess(*cluster_, {"--pool-mode", "transaction", "--default-pool-size", "1",
                                       "--workers", "1", "--admin-users", "postgres"});  // NOLINT
    two_ = new PoolProcess(
        *cluster_, {"--pool-mode", "transaction", "--default-pool-size", "2", "--workers", "1",
                    "--admin-users", "postgres", "--query-wait-timeout", "5"});  // NOLINT
    ready_ = true;
  }
  static void TearDownTestSuite() {
    delete two_;      // NOLINT
    delete one_;      // NOLINT
    delete cluster_;  // NOLINT
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "cluster or pools did not start";
  }

  static RawConn client(const PoolProcess& pool, const std::string& extra = "") {
    auto conn = rawConnect(pool.port(), "postgres", cluster_->password(), extra);
    EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    return conn;
  }

  static std::string run(PGconn* conn, const char* sql) {
    PGresult* result = PQexec(conn, sql);
    auto status = PQresultStatus(result);
    std::string out = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
                          ? "ok"
                          : std::string("error: ") + PQresultErrorMessage(result);
    PQclear(result);
    return out;
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline PoolProcess* one_ = nullptr;
  static inline PoolProcess* two_ = nullptr;
  static inline bool ready_ = false;
};

TEST_F(TransactionState, StartupParametersAndSetsFollowEachClient) {
  auto alpha = client(*one_, "application_name=alpha options='-c search_path=alpha_schema'");
  auto beta = client(*one_, "application_name=beta");
  // One server connection: both clients really share a backend.
  ASSERT_EQ(scalar(alpha.get(), "SELECT pg_backend_pid()"),
            scalar(beta.get(), "SELECT pg_backend_pid()"));
  EXPECT_STREQ(PQparameterStatus(alpha.get(), "application_name"), "alpha");
  EXPECT_STREQ(PQparameterStatus(beta.get(), "application_name"), "beta");

  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(scalar(alpha.get(), "SHOW application_name"), "alpha");
    EXPECT_EQ(scalar(beta.get(), "SHOW application_name"), "beta");
    EXPECT_EQ(scalar(alpha.get(), "SHOW search_path"), "alpha_schema");
    EXPECT_EQ(scalar(beta.get(), "SHOW search_path"), "\"$user\", public");
  }
  ASSERT_EQ(run(alpha.get(), "SET work_mem = '7MB'"), "ok");
  EXPECT_EQ(scalar(beta.get(), "SHOW work_mem"), "4MB");
  EXPECT_EQ(scalar(alpha.get(), "SHOW work_mem"), "7MB");

  // A SET rolled back is gone; one committed in a transaction stays.
  ASSERT_EQ(run(alpha.get(), "BEGIN; SET work_mem = '9MB'; ROLLBACK"), "ok");
  EXPECT_EQ(scalar(beta.get(), "SHOW work_mem"), "4MB");
  EXPECT_EQ(scalar(alpha.get(), "SHOW work_mem"), "7MB");
  ASSERT_EQ(run(beta.get(), "BEGIN; SET statement_timeout = '3s'; COMMIT"), "ok");
  EXPECT_EQ(scalar(alpha.get(), "SHOW statement_timeout"), "0");
  EXPECT_EQ(scalar(beta.get(), "SHOW statement_timeout"), "3s");

  // RESET goes back to the client's own value: its startup value or the default.
  ASSERT_EQ(run(alpha.get(), "SET application_name = 'renamed'"), "ok");
  EXPECT_EQ(scalar(beta.get(), "SHOW application_name"), "beta");
  EXPECT_EQ(scalar(alpha.get(), "SHOW application_name"), "renamed");
  ASSERT_EQ(run(alpha.get(), "RESET ALL"), "ok");
  EXPECT_EQ(scalar(beta.get(), "SHOW work_mem"), "4MB");
  EXPECT_EQ(scalar(alpha.get(), "SHOW work_mem"), "4MB");
  EXPECT_EQ(scalar(alpha.get(), "SHOW application_name"), "alpha");
}

TEST_F(TransactionState, ExtendedProtocolSetIsTrackedToo) {
  auto alpha = client(*one_);
  auto beta = client(*one_);
  const char* values[] = {"11MB"};
  PGresult* set = PQexecParams(alpha.get(), "SELECT set_config('work_mem', $1, false)", 1, nullptr,
                               values, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(set), PGRES_TUPLES_OK) << PQresultErrorMessage(set);
  PQclear(set);
  // A computed value cannot be replayed: alpha keeps its server.
  EXPECT_EQ(scalar(alpha.get(), "SHOW work_mem"), "11MB");
  PGresult* plain = PQexecParams(alpha.get(), "SET search_path TO alpha_ext", 0, nullptr, nullptr,
                                 nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(plain), PGRES_COMMAND_OK) << PQresultErrorMessage(plain);
  PQclear(plain);
  ASSERT_EQ(run(alpha.get(), "RESET ALL"), "ok");  // unpins
  ASSERT_EQ(run(alpha.get(), "SET search_path TO alpha_ext"), "ok");
  EXPECT_EQ(scalar(beta.get(), "SHOW search_path"), "\"$user\", public");
  EXPECT_EQ(scalar(alpha.get(), "SHOW search_path"), "alpha_ext");
}

TEST_F(TransactionState, TempTablePinsItsClient) {
  auto owner = client(*two_);
  auto a = client(*two_);
  auto b = client(*two_);
  ASSERT_EQ(run(owner.get(), "CREATE TEMP TABLE mine (x int); INSERT INTO mine VALUES (1)"), "ok");
  auto ownerPid = scalar(owner.get(), "SELECT pg_backend_pid()");
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(scalar(a.get(), "SELECT pg_backend_pid()"), ownerPid);
    EXPECT_EQ(scalar(a.get(), "SELECT to_regclass('pg_temp.mine') IS NULL"), "t");
    EXPECT_EQ(scalar(b.get(), "SELECT to_regclass('pg_temp.mine') IS NULL"), "t");
    EXPECT_EQ(scalar(owner.get(), "SELECT count(*) FROM mine"), "1");
  }
  auto console = rawConnect(two_->port(), "postgres", cluster_->password(), "dbname=pgswarm");
  PGresult* clients = PQexec(console.get(), "SHOW CLIENTS");
  ASSERT_EQ(PQresultStatus(clients), PGRES_TUPLES_OK) << PQresultErrorMessage(clients);
  int pinnedColumn = PQfnumber(clients, "pinned");
  ASSERT_GE(pinnedColumn, 0);
  int pinned = 0;
  for (int row = 0; row < PQntuples(clients); ++row) {
    if (std::string(PQgetvalue(clients, row, pinnedColumn)) == "temporary object") ++pinned;
  }
  PQclear(clients);
  EXPECT_EQ(pinned, 1);
  // Once the state is gone the client shares servers again.
  ASSERT_EQ(run(owner.get(), "DISCARD TEMP"), "ok");
  ASSERT_EQ(run(a.get(), "BEGIN"), "ok");
  ASSERT_EQ(run(b.get(), "BEGIN"), "ok");
  // Were owner still pinned, b's BEGIN would have waited out query_wait_timeout.
  EXPECT_EQ(run(a.get(), "COMMIT"), "ok");
  EXPECT_EQ(scalar(owner.get(), "SELECT 1"), "1");
  EXPECT_EQ(run(b.get(), "COMMIT"), "ok");
}

TEST_F(TransactionState, AdvisoryLocksAreNeverInherited) {
  auto holder = client(*two_);
  auto other = client(*two_);
  ASSERT_EQ(scalar(holder.get(), "SELECT 1 FROM pg_advisory_lock(4242)"), "1");
  // Were `other` on holder's backend, the re-entrant lock would succeed.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(scalar(other.get(), "SELECT pg_try_advisory_lock(4242)"), "f");
  }
  ASSERT_EQ(scalar(holder.get(), "SELECT pg_advisory_unlock(4242)"), "t");
  EXPECT_EQ(scalar(other.get(), "SELECT pg_try_advisory_lock(4242)"), "t");
  EXPECT_EQ(scalar(other.get(), "SELECT pg_advisory_unlock(4242)"), "t");

  // A client that leaves holding a lock takes its server connection along.
  ASSERT_EQ(scalar(holder.get(), "SELECT 1 FROM pg_advisory_lock(4343)"), "1");
  holder.reset();
  EXPECT_TRUE(waitUntil(
      [&] { return scalar(other.get(), "SELECT pg_try_advisory_lock(4343)") == "t"; }, 5000ms));
}

TEST_F(TransactionState, ListenReceivesNotificationsWhileIdle) {
  auto listener = client(*two_);
  auto sender = client(*two_);
  ASSERT_EQ(run(listener.get(), "LISTEN jobs"), "ok");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(run(sender.get(), "NOTIFY jobs, 'hello'"), "ok");
  int received = 0;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (received < 3 && std::chrono::steady_clock::now() < deadline) {
    pollfd fd{PQsocket(listener.get()), POLLIN, 0};
    poll(&fd, 1, 200);
    PQconsumeInput(listener.get());
    while (PGnotify* note = PQnotifies(listener.get())) {
      EXPECT_STREQ(note->relname, "jobs");
      EXPECT_STREQ(note->extra, "hello");
      ++received;
      PQfreemem(note);
    }
  }
  EXPECT_EQ(received, 3);
  ASSERT_EQ(run(listener.get(), "UNLISTEN *"), "ok");
}

TEST_F(TransactionState, DeallocateAllForgetsNamedStatements) {
  auto conn = client(*one_);
  PGresult* prepared = PQprepare(conn.get(), "s1", "SELECT 41 + 1", 0, nullptr);
  ASSERT_EQ(PQresultStatus(prepared), PGRES_COMMAND_OK) << PQresultErrorMessage(prepared);
  PQclear(prepared);
  ASSERT_EQ(run(conn.get(), "DEALLOCATE ALL"), "ok");
  PGresult* gone = PQexecPrepared(conn.get(), "s1", 0, nullptr, nullptr, nullptr, 0);
  EXPECT_TRUE(contains(PQresultErrorMessage(gone), "does not exist")) << PQresultErrorMessage(gone);
  PQclear(gone);
  prepared = PQprepare(conn.get(), "s1", "SELECT 41 + 1", 0, nullptr);
  ASSERT_EQ(PQresultStatus(prepared), PGRES_COMMAND_OK) << PQresultErrorMessage(prepared);
  PQclear(prepared);
  PGresult* again = PQexecPrepared(conn.get(), "s1", 0, nullptr, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(again), PGRES_TUPLES_OK) << PQresultErrorMessage(again);
  EXPECT_STREQ(PQgetvalue(again, 0, 0), "42");
  PQclear(again);
}

TEST_F(TransactionState, BadStartupSettingsFailTheLogin) {
  auto unsupported = rawConnect(one_->port(), "postgres", cluster_->password(), "options='-d 5'");
  EXPECT_EQ(PQstatus(unsupported.get()), CONNECTION_BAD);
  EXPECT_TRUE(contains(PQerrorMessage(unsupported.get()), "unsupported option"))
      << PQerrorMessage(unsupported.get());
  auto unknown =
      rawConnect(one_->port(), "postgres", cluster_->password(), "options='-c no_such_setting=1'");
  EXPECT_EQ(PQstatus(unknown.get()), CONNECTION_BAD);
  EXPECT_TRUE(contains(PQerrorMessage(unknown.get()), "no_such_setting"))
      << PQerrorMessage(unknown.get());
  // The failed replay did not hurt the pool.
  auto fine = client(*one_);
  EXPECT_EQ(scalar(fine.get(), "SELECT 1"), "1");
}

}  // namespace
}  // namespace pgswarm::test
