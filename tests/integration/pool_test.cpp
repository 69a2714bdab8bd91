// The pool on a real cluster: the one `pgswarm up` starts (session mode) and
// pools started here in transaction mode and with one server connection.
// Real clients (psql, pgbench, libpq) talk through it.
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

// Runs pg_sleep(30) on `conn`, cancels it after 500 ms with the cancel key
// the client got, and returns the query's SQLSTATE: "57014" when the cancel
// reached it, "" if it ran to its end, "cancel refused: ..." or "still
// running" when neither happened within 10 s.
std::string cancelledSleepState(PGconn* conn) {
  auto sleeper = std::async(std::launch::async, [conn] {
    PGresult* result = PQexec(conn, "SELECT pg_sleep(30)");
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    std::string code = state != nullptr ? state : "";
    PQclear(result);
    return code;
  });
  std::this_thread::sleep_for(500ms);
  PGcancel* cancel = PQgetCancel(conn);
  char error[256];
  bool sent = PQcancel(cancel, error, sizeof error) == 1;
  PQfreeCancel(cancel);
  if (sleeper.wait_for(10s) != std::future_status::ready) {
    return sent ? "still running" : std::string("cancel refused: ") + error;
  }
  return sleeper.get();
}

class PoolOnCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(1);  // NOLINT: freed in TearDownTestSuite
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    transactionPool_ = new PoolProcess(  // NOLINT
        *cluster_, {"--pool-mode", "transaction", "--default-pool-size", "5", "--workers", "2"});
    ready_ = true;
  }
  static void TearDownTestSuite() {
    delete transactionPool_;  // NOLINT
    delete cluster_;          // NOLINT
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "cluster or pool did not start";
  }

  static CommandOutput psql(int port, const std::vector<std::string>& args) {
    std::vector<std::string> all{"-X",       "-h", "127.0.0.1", "-p", std::to_string(port), "-U",
                                 "postgres", "-d", "postgres",  "-v", "ON_ERROR_STOP=0"};
    all.insert(all.end(), args.begin(), args.end());
    return runPgClient("psql", all, cluster_->password());
  }

  static CommandOutput pgbench(int port, const std::vector<std::string>& args) {
    std::vector<std::string> all{"-h", "127.0.0.1", "-p", std::to_string(port), "-U", "postgres"};
    all.insert(all.end(), args.begin(), args.end());
    all.emplace_back("postgres");
    return runPgClient("pgbench", all, cluster_->password());
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline PoolProcess* transactionPool_ = nullptr;
  static inline bool ready_ = false;
};

TEST_F(PoolOnCluster, UpStartsThePoolAndStatusShowsIt) {
  auto status = cluster_->status();
  ASSERT_TRUE(status.contains("pool")) << status.dump(2);
  EXPECT_EQ(status["pool"]["state"], "running") << status.dump(2);
  EXPECT_EQ(status["pool"]["port"], cluster_->poolPort());
  auto conn = cluster_->connectPool();
  auto rows = conn.query("SELECT current_user AS who");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  EXPECT_EQ(rows->text(0, "who"), "postgres");
}

TEST_F(PoolOnCluster, PsqlMultiStatementStringsAndErrorsMidTransaction) {
  for (int port : {cluster_->poolPort(), transactionPool_->port()}) {
    // The error aborts the transaction; the ROLLBACK in the same string is
    // skipped, so the next string fails too until its own ROLLBACK.
    auto out = psql(port, {"-c", "SELECT 1 AS a; SELECT 2 AS b", "-c",
                           "BEGIN; SELECT 1/0; SELECT 'after error'; ROLLBACK", "-c",
                           "SELECT 'in aborted transaction'", "-c", "ROLLBACK", "-c",
                           "SELECT 'still alive' AS c"});
    EXPECT_TRUE(contains(out.output, "division by zero")) << out.output;
    EXPECT_TRUE(contains(out.output, "current transaction is aborted")) << out.output;
    EXPECT_TRUE(contains(out.output, "still alive")) << out.output;
  }
}

TEST_F(PoolOnCluster, CopyInAndOutThroughThePool) {
  TempDir temp;
  std::string in = temp.path() + "/in.csv";
  std::string out = temp.path() + "/out.csv";
  {
    std::ofstream file(in);
    for (int i = 0; i < 20000; ++i)
      file << i << ",row " << i << " " << std::string(50, 'x') << "\n";
  }
  for (int port : {cluster_->poolPort(), transactionPool_->port()}) {
    auto setup =
        psql(port, {"-c", "DROP TABLE IF EXISTS copy_it; CREATE TABLE copy_it (id int, v text)"});
    ASSERT_EQ(setup.exitCode, 0) << setup.output;
    auto copyIn = psql(port, {"-c", "\\copy copy_it FROM '" + in + "' CSV"});
    ASSERT_EQ(copyIn.exitCode, 0) << copyIn.output;
    EXPECT_TRUE(contains(copyIn.output, "COPY 20000")) << copyIn.output;
    auto copyOut =
        psql(port, {"-c", "\\copy (SELECT * FROM copy_it ORDER BY id) TO '" + out + "' CSV"});
    ASSERT_EQ(copyOut.exitCode, 0) << copyOut.output;
    EXPECT_EQ(std::filesystem::file_size(out), std::filesystem::file_size(in));
  }
}

TEST_F(PoolOnCluster, PgbenchSimpleAndExtendedInBothModesLoseNothing) {
  auto init = pgbench(cluster_->poolPort(), {"-i", "-s", "1", "-q"});
  ASSERT_EQ(init.exitCode, 0) << init.output;
  for (int port : {cluster_->poolPort(), transactionPool_->port()}) {
    for (const char* mode : {"simple", "extended"}) {
      // 20 clients; the transaction pool has 5 server connections.
      auto run = pgbench(port, {"-c", "20", "-j", "2", "-t", "40", "-M", mode});
      EXPECT_EQ(run.exitCode, 0) << run.output;
      EXPECT_TRUE(contains(run.output, "number of transactions actually processed: 800/800"))
          << mode << " on port " << port << ":\n"
          << run.output;
      EXPECT_TRUE(contains(run.output, "number of failed transactions: 0 ")) << run.output;
    }
  }
}

// Named statements prepared once and bound later, on whichever of the 5
// server connections a transaction gets.
TEST_F(PoolOnCluster, PgbenchPreparedInTransactionModeLosesNothing) {
  auto init = pgbench(cluster_->poolPort(), {"-i", "-s", "1", "-q"});
  ASSERT_EQ(init.exitCode, 0) << init.output;
  for (bool selectOnly : {true, false}) {
    // pgbench prepares with a blocking PQprepare: with several clients per
    // thread, one client waiting for a server while the others hold theirs
    // inside BEGIN..END stalls the thread (with any transaction pooler), so
    // TPC-B gets a thread per client.
    std::string threads = selectOnly ? "2" : "20";
    std::vector<std::string> args{"-c", "20", "-j", threads, "-t", "40", "-M", "prepared"};
    if (selectOnly) args.emplace_back("-S");
    auto run = pgbench(transactionPool_->port(), args);
    EXPECT_EQ(run.exitCode, 0) << run.output;
    EXPECT_TRUE(contains(run.output, "number of transactions actually processed: 800/800"))
        << run.output;
    EXPECT_TRUE(contains(run.output, "number of failed transactions: 0 ")) << run.output;
  }
}

std::string execPrepared(PGconn* conn, const char* name, const char* param) {
  const char* values[1] = {param};
  PGresult* result =
      PQexecPrepared(conn, name, param != nullptr ? 1 : 0, values, nullptr, nullptr, 0);
  std::string value = PQresultStatus(result) == PGRES_TUPLES_OK
                          ? PQgetvalue(result, 0, 0)
                          : std::string("error: ") + PQresultErrorMessage(result);
  PQclear(result);
  return value;
}

// Two clients use the same statement name for different texts; each keeps
// getting its own, across transactions and server connections.
TEST_F(PoolOnCluster, NamedStatementsBelongToTheirClient) {
  auto password = cluster_->password();
  auto a = rawConnect(transactionPool_->port(), "postgres", password);
  auto b = rawConnect(transactionPool_->port(), "postgres", password);
  ASSERT_EQ(PQstatus(a.get()), CONNECTION_OK);
  ASSERT_EQ(PQstatus(b.get()), CONNECTION_OK);
  PGresult* prepared = PQprepare(a.get(), "s1", "SELECT ($1::int + 1)::text", 0, nullptr);
  ASSERT_EQ(PQresultStatus(prepared), PGRES_COMMAND_OK) << PQresultErrorMessage(prepared);
  PQclear(prepared);
  prepared = PQprepare(b.get(), "s1", "SELECT 'other'::text", 0, nullptr);
  ASSERT_EQ(PQresultStatus(prepared), PGRES_COMMAND_OK) << PQresultErrorMessage(prepared);
  PQclear(prepared);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(execPrepared(a.get(), "s1", std::to_string(i).c_str()), std::to_string(i + 1));
    EXPECT_EQ(execPrepared(b.get(), "s1", nullptr), "other");
  }
  // A Parse that fails creates nothing, through the pool as without it.
  prepared = PQprepare(a.get(), "bad", "SELEC 1", 0, nullptr);
  EXPECT_EQ(PQresultStatus(prepared), PGRES_FATAL_ERROR);
  PQclear(prepared);
  EXPECT_TRUE(contains(execPrepared(a.get(), "bad", nullptr), "does not exist"));
  EXPECT_EQ(execPrepared(a.get(), "s1", "41"), "42");
}

// A client that keeps sending queries but stops reading fills its socket:
// the pool keeps the reply it could not write (and its server) until the
// client reads again, and every reply then arrives whole and in order.
// Each query goes out alone, a moment after the one before, so that the
// pool's client loop reads and writes each reply itself (its write of the
// rest when the socket is full). 6 MB of replies is more than the client's
// receive buffer (kept at 256 KiB, above loopback's 64 KiB segment so that
// the window never closes below one) and the pool's send buffer hold.
TEST_F(PoolOnCluster, AClientThatStopsReadingGetsEveryReplyInOrder) {
  auto conn = rawConnect(transactionPool_->port(), "postgres", cluster_->password());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  int receiveBuffer = 256 * 1024;
  ASSERT_EQ(
      setsockopt(PQsocket(conn.get()), SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer),
      0);
  ASSERT_EQ(PQenterPipelineMode(conn.get()), 1);
  constexpr int kQueries = 1000;
  constexpr int kReplyBytes = 6000;  // one send of PostgreSQL's 8 KiB output buffer
  for (int i = 0; i < kQueries; ++i) {
    std::string sql =
        "SELECT '" + std::to_string(i) + ":' || repeat('x', " + std::to_string(kReplyBytes) + ")";
    ASSERT_EQ(PQsendQueryParams(conn.get(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0),
              1)
        << PQerrorMessage(conn.get());
    ASSERT_EQ(PQpipelineSync(conn.get()), 1);
    ASSERT_EQ(PQflush(conn.get()), 0);
    std::this_thread::sleep_for(1ms);
  }
  for (int i = 0; i < kQueries; ++i) {
    PGresult* result = PQgetResult(conn.get());
    ASSERT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << i << ": " << PQerrorMessage(conn.get());
    EXPECT_EQ(std::string(PQgetvalue(result, 0, 0)),
              std::to_string(i) + ":" + std::string(kReplyBytes, 'x'));
    PQclear(result);
    ASSERT_EQ(PQgetResult(conn.get()), nullptr);  // this query's results end
    result = PQgetResult(conn.get());
    EXPECT_EQ(PQresultStatus(result), PGRES_PIPELINE_SYNC);
    PQclear(result);
  }
  ASSERT_EQ(PQexitPipelineMode(conn.get()), 1) << PQerrorMessage(conn.get());
  EXPECT_EQ(scalar(conn.get(), "SELECT 'still usable'"), "still usable");
}

// Between the statements of a transaction block nothing reads the server
// (transaction mode leaves no loop waiting there): a backend ended
// meanwhile fails the client's next statement, as on a direct connection
// (where libpq, too, reports the closed connection rather than the FATAL
// that preceded it), and the pool goes on serving.
TEST_F(PoolOnCluster, ABackendEndedInsideATransactionBlockIsReportedAtTheNextStatement) {
  auto password = cluster_->password();
  auto conn = rawConnect(transactionPool_->port(), "postgres", password);
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  PGresult* begun = PQexec(conn.get(), "BEGIN");
  ASSERT_EQ(PQresultStatus(begun), PGRES_COMMAND_OK) << PQresultErrorMessage(begun);
  PQclear(begun);
  auto pid = scalar(conn.get(), "SELECT pg_backend_pid()::text");
  ASSERT_FALSE(contains(pid, "error")) << pid;
  auto primary = cluster_->connect(0);
  ASSERT_TRUE(primary.execute("SELECT pg_terminate_backend(" + pid + ")").ok());
  ASSERT_TRUE(waitUntil(
      [&] {
        auto left = primary.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = " + pid);
        return left.ok() && left->text(0, "n") == "0";
      },
      10s));
  auto after = scalar(conn.get(), "SELECT 'after'");
  EXPECT_TRUE(contains(after, "terminating connection due to administrator command") ||
              contains(after, "server closed the connection"))
      << after;
  auto next = rawConnect(transactionPool_->port(), "postgres", password);
  EXPECT_EQ(scalar(next.get(), "SELECT 'served'"), "served");
}

TEST_F(PoolOnCluster, CancelStopsOnlyThatClientsQuery) {
  auto password = cluster_->password();
  for (int port : {cluster_->poolPort(), transactionPool_->port()}) {
    auto victim = rawConnect(port, "postgres", password);
    auto bystander = rawConnect(port, "postgres", password);
    ASSERT_EQ(PQstatus(victim.get()), CONNECTION_OK) << PQerrorMessage(victim.get());
    ASSERT_EQ(PQstatus(bystander.get()), CONNECTION_OK);
    auto started = std::chrono::steady_clock::now();
    // The first query of the session: in session mode its server has been
    // attached since login.
    EXPECT_EQ(cancelledSleepState(victim.get()), "57014") << "port " << port;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    EXPECT_EQ(scalar(bystander.get(), "SELECT 'unharmed'"), "unharmed");
    EXPECT_EQ(scalar(victim.get(), "SELECT 'usable again'"), "usable again");
  }
}

TEST_F(PoolOnCluster, WrongPasswordAndUnknownUserAreRefusedAlike) {
  auto wrong = rawConnect(cluster_->poolPort(), "postgres", "not-the-password");
  EXPECT_NE(PQstatus(wrong.get()), CONNECTION_OK);
  EXPECT_TRUE(
      contains(PQerrorMessage(wrong.get()), "password authentication failed for user \"postgres\""))
      << PQerrorMessage(wrong.get());
  auto unknown = rawConnect(cluster_->poolPort(), "nobody", "whatever");
  EXPECT_NE(PQstatus(unknown.get()), CONNECTION_OK);
  EXPECT_TRUE(
      contains(PQerrorMessage(unknown.get()), "password authentication failed for user \"nobody\""))
      << PQerrorMessage(unknown.get());
}

TEST_F(PoolOnCluster, SessionModeBackendKeyMatchesTheBackend) {
  auto conn = rawConnect(cluster_->poolPort(), "postgres", cluster_->password());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  EXPECT_EQ(std::to_string(PQbackendPID(conn.get())),
            scalar(conn.get(), "SELECT pg_backend_pid()"));
}

// With one server connection, the second client gets the first one's backend
// and must find none of its state there.
TEST_F(PoolOnCluster, SessionModeHandsOverACleanServer) {
  PoolProcess single(*cluster_, {"--default-pool-size", "1", "--workers", "1"});
  auto password = cluster_->password();
  std::string firstPid;
  {
    auto first = rawConnect(single.port(), "postgres", password);
    ASSERT_EQ(PQstatus(first.get()), CONNECTION_OK);
    firstPid = scalar(first.get(), "SELECT pg_backend_pid()");
    PQclear(PQexec(first.get(), "SET work_mem = '1234kB'"));
    PQclear(PQexec(first.get(), "CREATE TEMP TABLE leak_me (x int)"));
    PQclear(PQexec(first.get(), "PREPARE leak_stmt AS SELECT 1"));
    PQclear(PQexec(first.get(), "LISTEN leak_channel"));
  }
  auto second = rawConnect(single.port(), "postgres", password);
  ASSERT_EQ(PQstatus(second.get()), CONNECTION_OK);
  ASSERT_TRUE(
      waitUntil([&] { return scalar(second.get(), "SELECT pg_backend_pid()") == firstPid; }, 5s))
      << "the server connection was not reused";
  EXPECT_EQ(scalar(second.get(), "SHOW work_mem"), "4MB");
  EXPECT_EQ(scalar(second.get(), "SELECT count(*) FROM pg_class WHERE relname = 'leak_me'"), "0");
  EXPECT_EQ(scalar(second.get(), "SELECT count(*) FROM pg_prepared_statements"), "0");
  EXPECT_EQ(scalar(second.get(), "SELECT count(*) FROM pg_listening_channels()"), "0");
}

// Garbage from one client costs that client its connection, nothing more.
TEST_F(PoolOnCluster, MalformedStartupIsAnsweredWith08P01) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(transactionPool_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const unsigned char lying[] = {0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0};  // a 2 GiB startup packet
  ASSERT_EQ(::write(fd, lying, sizeof lying), static_cast<ssize_t>(sizeof lying));
  std::string reply(512, '\0');
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  auto n = ::read(fd, reply.data(), reply.size());
  ::close(fd);
  ASSERT_GT(n, 0);
  reply.resize(static_cast<std::size_t>(n));
  EXPECT_EQ(reply[0], 'E');
  EXPECT_TRUE(contains(reply, "08P01")) << reply;
  auto conn = rawConnect(transactionPool_->port(), "postgres", cluster_->password());
  EXPECT_EQ(scalar(conn.get(), "SELECT 'fine'"), "fine");
}

// Idle clients are ended with PostgreSQL's own errors; a client that holds a
// transaction open loses it (rolled back) and its server connection. The
// idle client is parked (after about a second) before its timeout ends it.
TEST_F(PoolOnCluster, IdleTimeoutsEndIdleClients) {
  PoolProcess timed(*cluster_, {"--pool-mode", "transaction", "--workers", "1",
                                "--client-idle-timeout", "3", "--idle-transaction-timeout", "2"});
  auto password = cluster_->password();
  auto idle = rawConnect(timed.port(), "postgres", password);
  auto inTransaction = rawConnect(timed.port(), "postgres", password);
  auto busy = rawConnect(timed.port(), "postgres", password);
  ASSERT_EQ(scalar(inTransaction.get(), "SELECT 1"), "1");
  PQclear(PQexec(inTransaction.get(), "CREATE TABLE IF NOT EXISTS idle_it (x int)"));
  PQclear(PQexec(inTransaction.get(), "BEGIN"));
  PQclear(PQexec(inTransaction.get(), "INSERT INTO idle_it VALUES (1)"));
  // A query running longer than both timeouts is not idle.
  EXPECT_EQ(scalar(busy.get(), "SELECT 1 FROM pg_sleep(3.5)"), "1");
  std::this_thread::sleep_for(1500ms);
  // libpq reports an unsolicited FATAL on the connection, not the result.
  EXPECT_NE(scalar(idle.get(), "SELECT 1"), "1");
  EXPECT_TRUE(contains(PQerrorMessage(idle.get()), "idle-session timeout"))
      << PQerrorMessage(idle.get());
  EXPECT_NE(scalar(inTransaction.get(), "SELECT 1"), "1");
  EXPECT_TRUE(contains(PQerrorMessage(inTransaction.get()), "idle-in-transaction timeout"))
      << PQerrorMessage(inTransaction.get());
  auto check = rawConnect(timed.port(), "postgres", password);
  EXPECT_EQ(scalar(check.get(), "SELECT count(*) FROM idle_it"), "0");
  PQclear(PQexec(check.get(), "DROP TABLE idle_it"));
}

// A health check the server refuses (a role that does not exist) says
// nothing about the node: a transaction held across several failover
// timeouts keeps its server connection, and writes go on.
TEST_F(PoolOnCluster, RefusedHealthCheckLoginDoesNotCutConnections) {
  PoolProcess pool(*cluster_, {"--pool-mode", "transaction", "--workers", "1",
                               "--health-check-user", "no_such_role_hc", "--health-check-period-ms",
                               "100", "--failover-timeout-ms", "500"});
  auto client = rawConnect(pool.port(), "postgres", cluster_->password());
  PQclear(PQexec(client.get(), "CREATE TABLE IF NOT EXISTS hc_refused (x int)"));
  PQclear(PQexec(client.get(), "BEGIN"));
  auto pid = scalar(client.get(), "SELECT pg_backend_pid()");
  ASSERT_EQ(pid.find("error"), std::string::npos) << pid;
  std::this_thread::sleep_for(2500ms);  // the pool drops lost nodes' connections every second
  EXPECT_EQ(scalar(client.get(), "SELECT pg_backend_pid()"), pid) << pool.log();
  PQclear(PQexec(client.get(), "INSERT INTO hc_refused VALUES (1)"));
  PGresult* commit = PQexec(client.get(), "COMMIT");
  EXPECT_EQ(PQresultStatus(commit), PGRES_COMMAND_OK) << PQerrorMessage(client.get());
  PQclear(commit);
  EXPECT_EQ(scalar(client.get(), "SELECT count(*) FROM hc_refused"), "1") << pool.log();
  EXPECT_TRUE(contains(pool.log(), "refuses the health check's login")) << pool.log();
  EXPECT_FALSE(contains(pool.log(), "the node is lost")) << pool.log();
  PQclear(PQexec(client.get(), "DROP TABLE hc_refused"));
}

// A node on the same host through its unix socket (libpq's convention: a
// host that is a directory): queries, prepared statements under pgbench,
// a cancel (sent to the same socket) and SHOW SERVERS.
TEST_F(PoolOnCluster, ANodeThroughItsUnixSocket) {
  PoolProcess pool(*cluster_, PoolNodes::kPrimaryUnixSocket,
                   {"--pool-mode", "transaction", "--default-pool-size", "3", "--workers", "1"});
  auto client = rawConnect(pool.port(), "postgres", cluster_->password());
  EXPECT_EQ(scalar(client.get(), "SELECT inet_server_addr() IS NULL"), "t") << pool.log();
  const auto script = cluster_->dir() + "/unix-socket.sql";
  std::ofstream(script) << "\\set v random(1, 1000)\nSELECT :v::int + 1;\n";
  auto bench = pgbench(pool.port(),
                       {"-n", "-f", script, "-M", "prepared", "-c", "6", "-j", "2", "-t", "50"});
  EXPECT_EQ(bench.exitCode, 0) << bench.output;
  EXPECT_TRUE(contains(bench.output, "number of failed transactions: 0")) << bench.output;

  EXPECT_EQ(cancelledSleepState(client.get()), "57014") << pool.log();

  auto console = rawConnect(pool.port(), "postgres", cluster_->password(), "dbname=pgswarm");
  PGresult* servers = PQexec(console.get(), "SHOW SERVERS");
  ASSERT_EQ(PQresultStatus(servers), PGRES_TUPLES_OK) << PQerrorMessage(console.get());
  ASSERT_GT(PQntuples(servers), 0);
  EXPECT_EQ(PQgetvalue(servers, 0, PQfnumber(servers, "addr"))[0], '/');
  PQclear(servers);
}

// The rows of a SHOW command of the admin console of the pool on `port`,
// each as column -> value.
std::vector<std::map<std::string, std::string>> adminRows(int port, const std::string& password,
                                                          const char* command) {
  auto console = rawConnect(port, "postgres", password, "dbname=pgswarm");
  PGresult* result = PQexec(console.get(), command);
  std::vector<std::map<std::string, std::string>> rows;
  for (int row = 0; PQresultStatus(result) == PGRES_TUPLES_OK && row < PQntuples(result); ++row) {
    auto& values = rows.emplace_back();
    for (int column = 0; column < PQnfields(result); ++column) {
      values[PQfname(result, column)] = PQgetvalue(result, row, column);
    }
  }
  PQclear(result);
  return rows;
}

// "t" when this query's server connection came over a unix socket: such a
// backend has no client address.
constexpr const char* kOverUnixSocket =
    "SELECT client_addr IS NULL FROM pg_stat_activity WHERE pid = pg_backend_pid()";

int occurrences(const std::string& text, const std::string& part) {
  int count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

// pool.server_socket_dirs for the coordinator's nodes of `cluster`: each
// node's own socket folder, as its postgres reports it.
std::string socketRoutes(const LocalCluster& cluster) {
  std::string routes;
  for (int i = 0; i < cluster.nodeCount(); ++i) {
    auto rows = cluster.connect(i).query("SHOW unix_socket_directories");
    if (!rows) throw std::runtime_error(rows.error().message);
    routes += (i == 0 ? "" : ",") + std::string("127.0.0.1:") +
              std::to_string(cluster.nodePort(i)) + "=" + rows->text(0, "unix_socket_directories");
  }
  return routes;
}

// `pgswarm up` gives its pool each node's unix socket (server_socket_dirs):
// server connections and cancel requests go through it, while the pool
// still names every node 127.0.0.1:port.
TEST_F(PoolOnCluster, UpReachesItsNodesThroughTheirUnixSockets) {
  const auto poolLog = [] {
    std::ifstream in(cluster_->dir() + "/pool.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto client = rawConnect(cluster_->poolPort(), "postgres", cluster_->password());
  EXPECT_EQ(scalar(client.get(), kOverUnixSocket), "t") << poolLog();
  EXPECT_EQ(cancelledSleepState(client.get()), "57014") << poolLog();

  const auto& password = cluster_->password();
  auto servers = adminRows(cluster_->poolPort(), password, "SHOW SERVERS");
  ASSERT_FALSE(servers.empty());
  for (auto& server : servers) {
    EXPECT_EQ(server["addr"], "127.0.0.1");
    EXPECT_EQ(server["local_addr"], "unix") << server["port"];
  }
  auto nodes = adminRows(cluster_->poolPort(), password, "SHOW NODES");
  ASSERT_EQ(nodes.size(), 2U);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(nodes[i]["host"], "127.0.0.1");
    EXPECT_EQ(nodes[i]["port"], std::to_string(cluster_->nodePort(i)));
  }
  std::string configured;
  for (auto& row : adminRows(cluster_->poolPort(), password, "SHOW CONFIG")) {
    if (row["key"] == "server_socket_dirs") configured = row["value"];
  }
  EXPECT_EQ(configured, socketRoutes(*cluster_));
  EXPECT_EQ(occurrences(poolLog(), "go through the unix socket in"), 2) << poolLog();
  EXPECT_FALSE(contains(poolLog(), "over TCP until it works")) << poolLog();
}

// A socket route that does not work: server connections and cancels go
// over TCP instead, and the pool says so once, not per connection.
TEST_F(PoolOnCluster, AServerSocketThatFailsFallsBackToTcp) {
  auto route = "127.0.0.1:" + std::to_string(cluster_->nodePort(0)) + "=" + cluster_->dir() +
               "/no-socket-here";
  PoolProcess pool(*cluster_, {"--server-socket-dirs", route});
  // Session mode: each client holds a server connection of its own.
  auto first = rawConnect(pool.port(), "postgres", cluster_->password());
  auto second = rawConnect(pool.port(), "postgres", cluster_->password());
  EXPECT_EQ(scalar(first.get(), kOverUnixSocket), "f") << pool.log();
  EXPECT_EQ(scalar(second.get(), kOverUnixSocket), "f") << pool.log();
  EXPECT_EQ(cancelledSleepState(first.get()), "57014") << pool.log();
  EXPECT_EQ(occurrences(pool.log(), "over TCP until it works"), 1) << pool.log();
  EXPECT_TRUE(contains(pool.log(), "No such file or directory")) << pool.log();
}

// Every node's route, the replica's too: the reads the pool sends to the
// replica (transaction mode) go through its socket.
TEST_F(PoolOnCluster, ReadsOnAReplicaGoThroughItsSocket) {
  PoolProcess pool(*cluster_, PoolNodes::kAll,
                   {"--pool-mode", "transaction", "--server-socket-dirs", socketRoutes(*cluster_)});
  auto client = rawConnect(pool.port(), "postgres", cluster_->password());
  // No pg_backend_pid() (it goes to the primary): this query finds itself.
  const char* probe =
      "SELECT current_setting('port') || ' ' || bool_and(client_addr IS NULL)::text "
      "FROM pg_stat_activity WHERE query LIKE '%unix-route' || '-probe%' -- unix-route-probe";
  const auto onReplica = std::to_string(cluster_->nodePort(1)) + " true";
  std::string last;
  EXPECT_TRUE(waitUntil(
      [&] {
        last = scalar(client.get(), probe);
        return last == onReplica;
      },
      15s))
      << last << "\n"
      << pool.log();
  EXPECT_EQ(scalar(client.get(),
                   "SELECT current_setting('port') || ' ' || (SELECT client_addr IS "
                   "NULL FROM pg_stat_activity WHERE pid = pg_backend_pid())"),
            std::to_string(cluster_->nodePort(0)) + " true")
      << pool.log();
}

}  // namespace
}  // namespace pgswarm::test
