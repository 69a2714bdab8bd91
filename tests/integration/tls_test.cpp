// TLS between clients and the pool on a real cluster: a self-signed
// certificate made with `openssl req`, libpq and psql with sslmode=require
// and disable under tls_mode prefer and require, pgbench over TLS in
// transaction mode, SHOW CLIENTS' tls column, hostssl rules, bytes stuffed
// after an SSLRequest (CVE-2021-23222) refused, RELOAD with a broken
// certificate keeping the old one, and a pool that will not start on a
// missing certificate or a world-readable key.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "runtime/ports.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

struct CertFiles {
  std::string cert;
  std::string key;
};

// A self-signed P-256 certificate for localhost in `dir`, key mode 0600.
CertFiles makeCertificate(const std::string& dir) {
  CertFiles files{dir + "/server.crt", dir + "/server.key"};
  auto made = runProgram({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                          "/CN=localhost", "-keyout", files.key, "-out", files.cert});
  EXPECT_EQ(made.exitCode, 0) << made.output;
  ::chmod(files.key.c_str(), 0600);
  return files;
}

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(0);  // NOLINT: freed in TearDownTestSuite
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    temp_ = new TempDir();  // NOLINT
    certs_ = makeCertificate(temp_->path());
    prefer_ = new PoolProcess(
        *cluster_, {"--tls-cert-file", certs_.cert, "--tls-key-file", certs_.key, "--pool-mode",
                    "transaction", "--default-pool-size", "2", "--workers", "2"});
    require_ = new PoolProcess(*cluster_, {"--tls-cert-file", certs_.cert, "--tls-key-file",
                                           certs_.key, "--tls-mode", "require"});
    ready_ = true;
  }

  static void TearDownTestSuite() {
    delete require_;
    delete prefer_;
    delete temp_;
    if (cluster_ != nullptr) (void)cluster_->down(true);
    delete cluster_;
  }

  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "suite setup failed";
  }

  static std::string password() { return cluster_->password(); }

  // "ok: <value of sql>" or "error: <libpq's message>".
  static std::string query(int port, const std::string& sslmode, const char* sql,
                           const std::string& user = "postgres",
                           const std::string& database = "postgres") {
    auto conn = rawConnect(port, user, password(), "sslmode=" + sslmode + " dbname=" + database);
    if (PQstatus(conn.get()) != CONNECTION_OK) {
      return std::string("error: ") + PQerrorMessage(conn.get());
    }
    return "ok: " + scalar(conn.get(), sql) + (PQsslInUse(conn.get()) ? " (tls)" : " (plain)");
  }

  static CommandOutput pgClient(const std::string& program, int port, const std::string& sslmode,
                                const std::vector<std::string>& args) {
    std::vector<std::string> argv{"/usr/lib/postgresql/15/bin/" + program,
                                  "-h",
                                  "127.0.0.1",
                                  "-p",
                                  std::to_string(port),
                                  "-U",
                                  "postgres"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.emplace_back("postgres");
    return runProgram(
        argv, {{"PGPASSWORD", password()}, {"PGSSLMODE", sslmode}, {"PGCONNECT_TIMEOUT", "10"}});
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline TempDir* temp_ = nullptr;
  static inline CertFiles certs_;
  static inline PoolProcess* prefer_ = nullptr;
  static inline PoolProcess* require_ = nullptr;
  static inline bool ready_ = false;
};

TEST_F(Tls, PreferServesTlsAndPlainClients) {
  EXPECT_EQ(query(prefer_->port(), "require", "SELECT 1"), "ok: 1 (tls)");
  EXPECT_EQ(query(prefer_->port(), "disable", "SELECT 1"), "ok: 1 (plain)");
  auto psql =
      pgClient("psql", prefer_->port(), "require", {"-X", "-A", "-t", "-c", "SELECT 40 + 2"});
  EXPECT_EQ(psql.exitCode, 0) << psql.output;
  EXPECT_TRUE(contains(psql.output, "42")) << psql.output;
}

TEST_F(Tls, RequireRefusesPlainClientsLikePostgres) {
  EXPECT_EQ(query(require_->port(), "require", "SELECT 1"), "ok: 1 (tls)");
  auto plain = query(require_->port(), "disable", "SELECT 1");
  EXPECT_TRUE(contains(plain,
                       "no pg_hba.conf entry for host \"127.0.0.1\", user \"postgres\", "
                       "database \"postgres\", no encryption"))
      << plain;
  EXPECT_TRUE(require_->running());
}

TEST_F(Tls, ShowClientsNamesTheTlsVersionAndCipher) {
  auto tlsClient = rawConnect(prefer_->port(), "postgres", password(), "sslmode=require");
  auto plainClient = rawConnect(prefer_->port(), "postgres", password(), "sslmode=disable");
  ASSERT_EQ(PQstatus(tlsClient.get()), CONNECTION_OK) << PQerrorMessage(tlsClient.get());
  ASSERT_EQ(PQstatus(plainClient.get()), CONNECTION_OK) << PQerrorMessage(plainClient.get());
  auto console =
      rawConnect(prefer_->port(), "postgres", password(), "sslmode=require dbname=pgswarm");
  ASSERT_EQ(PQstatus(console.get()), CONNECTION_OK) << PQerrorMessage(console.get());
  PGresult* clients = PQexec(console.get(), "SHOW CLIENTS");
  ASSERT_EQ(PQresultStatus(clients), PGRES_TUPLES_OK) << PQresultErrorMessage(clients);
  int tlsColumn = PQfnumber(clients, "tls");
  int databaseColumn = PQfnumber(clients, "database");
  ASSERT_GE(tlsColumn, 0);
  int tls = 0;
  int plain = 0;
  for (int row = 0; row < PQntuples(clients); ++row) {
    if (std::string(PQgetvalue(clients, row, databaseColumn)) != "postgres") continue;
    std::string value = PQgetvalue(clients, row, tlsColumn);
    if (value.rfind("TLSv1.", 0) == 0 && contains(value, "/")) ++tls;
    if (PQgetisnull(clients, row, tlsColumn)) ++plain;
  }
  PQclear(clients);
  EXPECT_GE(tls, 1);
  EXPECT_GE(plain, 1);
}

TEST_F(Tls, PgbenchOverTlsInTransactionModeLosesNothing) {
  auto init = pgClient("pgbench", prefer_->port(), "require", {"-i", "-s", "1", "-q"});
  ASSERT_EQ(init.exitCode, 0) << init.output;
  // 4 clients on 2 server connections, each transaction on whichever is free.
  auto run = pgClient("pgbench", prefer_->port(), "require", {"-c", "4", "-j", "2", "-t", "100"});
  EXPECT_EQ(run.exitCode, 0) << run.output;
  EXPECT_TRUE(contains(run.output, "number of transactions actually processed: 400/400"))
      << run.output;
  EXPECT_TRUE(contains(run.output, "number of failed transactions: 0 ")) << run.output;
}

// Raw bytes to the pool and everything it answers until it closes.
std::string exchange(int port, const std::string& bytes) {
  int fd = connectLoopback(port);
  std::string reply;
  if (fd >= 0 && ::send(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size())) {
    char buffer[4096];
    for (;;) {
      auto n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      reply.append(buffer, static_cast<std::size_t>(n));
    }
  }
  if (fd >= 0) ::close(fd);
  return reply;
}

std::string int32(std::uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
          static_cast<char>(value >> 8), static_cast<char>(value)};
}

const std::string kSslRequest = int32(8) + int32(80877103);

std::string startupMessage(const std::string& user) {
  std::string body =
      int32(196608) + "user" + '\0' + user + '\0' + "database" + '\0' + "postgres" + '\0' + '\0';
  return int32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}

TEST_F(Tls, BytesAfterAnSslRequestAreRefusedBeforeTheHandshake) {
  auto reply = exchange(prefer_->port(), kSslRequest + startupMessage("postgres"));
  ASSERT_FALSE(reply.empty());
  EXPECT_EQ(reply[0], 'E') << "the pool must not answer 'S' to a stuffed buffer";
  EXPECT_TRUE(contains(reply, "08P01")) << reply;
  EXPECT_TRUE(contains(reply, "received unencrypted data after SSL request")) << reply;
  EXPECT_TRUE(prefer_->running());
  EXPECT_EQ(query(prefer_->port(), "require", "SELECT 1"), "ok: 1 (tls)");
}

TEST_F(Tls, GssEncRequestIsStillDeclined) {
  // GSSENCRequest, then nothing: 'N' and the pool waits for the next packet.
  int fd = connectLoopback(prefer_->port());
  ASSERT_GE(fd, 0);
  std::string request = int32(8) + int32(80877104);
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), 8);
  char answer = 0;
  EXPECT_EQ(::recv(fd, &answer, 1, 0), 1);
  EXPECT_EQ(answer, 'N');
  ::close(fd);
}

TEST_F(Tls, HostsslRulesSeeTheRealConnection) {
  TempDir dir;
  std::string hba = dir.path() + "/hba.conf";
  {
    std::ofstream out(hba);
    out << "hostnossl all nobody 127.0.0.1/32 reject\n"
        << "hostssl all all 127.0.0.1/32 scram-sha-256\n";
  }
  PoolProcess pool(
      *cluster_, {"--tls-cert-file", certs_.cert, "--tls-key-file", certs_.key, "--hba-file", hba});
  EXPECT_EQ(query(pool.port(), "require", "SELECT 1"), "ok: 1 (tls)");
  auto plain = query(pool.port(), "disable", "SELECT 1");
  EXPECT_TRUE(contains(plain,
                       "no pg_hba.conf entry for host \"127.0.0.1\", user \"postgres\", "
                       "database \"postgres\", no encryption"))
      << plain;
  auto rejected = query(pool.port(), "disable", "SELECT 1", "nobody");
  EXPECT_TRUE(contains(rejected, "pg_hba.conf rejects connection")) << rejected;
}

TEST_F(Tls, ReloadWithABrokenCertificateKeepsTheOldOne) {
  TempDir dir;
  auto certs = makeCertificate(dir.path());
  PoolProcess pool(*cluster_, {"--tls-cert-file", certs.cert, "--tls-key-file", certs.key});
  ASSERT_EQ(query(pool.port(), "require", "SELECT 1"), "ok: 1 (tls)");
  { std::ofstream(certs.cert, std::ios::trunc) << "not a certificate\n"; }
  auto console = rawConnect(pool.port(), "postgres", password(), "sslmode=require dbname=pgswarm");
  ASSERT_EQ(PQstatus(console.get()), CONNECTION_OK) << PQerrorMessage(console.get());
  PGresult* reload = PQexec(console.get(), "RELOAD");
  EXPECT_EQ(PQresultStatus(reload), PGRES_FATAL_ERROR);
  EXPECT_TRUE(contains(PQresultErrorMessage(reload), "kept the old TLS certificate"))
      << PQresultErrorMessage(reload);
  PQclear(reload);
  EXPECT_EQ(query(pool.port(), "require", "SELECT 1"), "ok: 1 (tls)");
  // A good certificate again: RELOAD takes it.
  auto fresh = makeCertificate(dir.path());
  reload = PQexec(console.get(), "RELOAD");
  EXPECT_EQ(PQresultStatus(reload), PGRES_COMMAND_OK) << PQresultErrorMessage(reload);
  PQclear(reload);
  EXPECT_EQ(query(pool.port(), "require", "SELECT 1"), "ok: 1 (tls)");
}

// Starts a pool that should refuse to start: its exit status and output.
std::pair<runtime::ExitStatus, std::string> failedStart(const LocalCluster& cluster,
                                                        const std::vector<std::string>& extra) {
  TempDir dir;
  auto port = runtime::pickFreePort();
  EXPECT_TRUE(port.ok());
  runtime::SpawnOptions options{
      .argv = {pgswarmBinary(), "pool", "--listen", "127.0.0.1", "--port", std::to_string(*port),
               "--hosts", "127.0.0.1:" + std::to_string(cluster.nodePort(0)), "--auth-file",
               cluster.dir() + "/userlist.txt", "--http-port", "0"},
      .outputPath = dir.path() + "/pool.log"};
  options.argv.insert(options.argv.end(), extra.begin(), extra.end());
  auto pid = runtime::spawnProcess(options);
  EXPECT_TRUE(pid.ok());
  std::optional<runtime::ExitStatus> status;
  waitUntil([&] { return (status = runtime::reapChild(*pid)).has_value(); }, 20s);
  if (!status) {
    runtime::stopProcess(*pid, 5s);
    status = runtime::ExitStatus{};
  }
  std::ifstream in(dir.path() + "/pool.log");
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {*status, log};
}

TEST_F(Tls, ABadCertificatePathStopsThePoolFromStarting) {
  auto [status, log] = failedStart(
      *cluster_, {"--tls-cert-file", "/nonexistent/server.crt", "--tls-key-file", certs_.key});
  EXPECT_EQ(status.code, 2) << status.describe() << "\n" << log;
  EXPECT_TRUE(contains(log, "could not access certificate file \"/nonexistent/server.crt\""))
      << log;
}

TEST_F(Tls, AWorldReadableKeyStopsThePoolFromStarting) {
  TempDir dir;
  auto certs = makeCertificate(dir.path());
  ::chmod(certs.key.c_str(), 0644);
  auto [status, log] =
      failedStart(*cluster_, {"--tls-cert-file", certs.cert, "--tls-key-file", certs.key});
  EXPECT_EQ(status.code, 2) << status.describe() << "\n" << log;
  EXPECT_TRUE(contains(log, "has group or world access")) << log;
}

}  // namespace
}  // namespace pgswarm::test
