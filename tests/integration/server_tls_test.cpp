// TLS between the pool and PostgreSQL (server_tls_sslmode) on a real
// cluster whose primary is switched to ssl=on with a throwaway CA made by
// the openssl CLI: require and verify-full encrypt the backend (pg_stat_ssl),
// verify-full presents the pool's client certificate and its health checks
// use TLS too, a cancel and pgbench -M extended go through TLS server
// connections, a wrong CA is refused with a clear error, require against
// ssl=off fails while prefer falls back to plain, and a unix socket stays
// plain whatever the mode. A database that refuses plain logins shows the
// shard map watcher's libpq connection following server_tls_* and allow
// retrying in TLS; RELOAD / SIGHUP swap the root file for new connections.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "runtime/ports.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto made = runProgram(argv);
  ASSERT_EQ(made.exitCode, 0) << made.output;
}

// P-256 keys; a self-signed CA `name` in `dir` (name.crt, name.key).
void makeCa(const std::string& dir, const std::string& name) {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-days", "2", "-subj", "/CN=" + name, "-keyout", dir + "/" + name + ".key", "-out",
           dir + "/" + name + ".crt"});
}

// A certificate `name` signed by CA `ca`, with the extensions in `extensions`.
void makeSigned(const std::string& dir, const std::string& ca, const std::string& name,
                const std::string& subject, const std::string& extensions) {
  auto base = dir + "/" + name;
  openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-subj", subject, "-keyout", base + ".key", "-out", base + ".csr"});
  { std::ofstream(base + ".ext") << extensions << "\n"; }
  openssl({"x509", "-req", "-in", base + ".csr", "-CA", dir + "/" + ca + ".crt", "-CAkey",
           dir + "/" + ca + ".key", "-CAcreateserial", "-days", "2", "-out", base + ".crt",
           "-extfile", base + ".ext"});
  ::chmod((base + ".key").c_str(), 0600);
}

// A revocation list `out`.crl from CA `ca` naming the certificates
// `revoked` (their `name`.crt in `dir`), made as an operator would.
void makeCrl(const std::string& dir, const std::string& ca, const std::vector<std::string>& revoked,
             const std::string& out) {
  auto base = dir + "/" + out;
  { std::ofstream(base + ".index"); }
  {
    std::ofstream(base + ".cnf") << "[ca]\ndefault_ca = crl\n[crl]\ndatabase = " << base
                                 << ".index\ndefault_md = sha256\ndefault_crl_days = 2\n";
  }
  std::vector<std::string> common{"ca",
                                  "-config",
                                  base + ".cnf",
                                  "-keyfile",
                                  dir + "/" + ca + ".key",
                                  "-cert",
                                  dir + "/" + ca + ".crt"};
  for (const auto& name : revoked) {
    auto args = common;
    args.insert(args.end(), {"-revoke", dir + "/" + name + ".crt"});
    openssl(args);
  }
  auto args = common;
  args.insert(args.end(), {"-gencrl", "-out", base + ".crl"});
  openssl(args);
}

// A pool that may not be able to log in to its server (so PoolProcess's
// readiness check cannot be used): ready once its port accepts; stopped by
// PID.
class BarePool {
 public:
  BarePool(const LocalCluster& cluster, const std::string& hosts,
           const std::vector<std::string>& extra) {
    auto port = runtime::pickFreePort();
    if (!port) throw std::runtime_error(port.error().message);
    port_ = *port;
    runtime::SpawnOptions options{
        .argv = {pgswarmBinary(), "pool", "--listen", "127.0.0.1", "--port", std::to_string(port_),
                 "--hosts", hosts, "--auth-file", cluster.dir() + "/userlist.txt", "--log-level",
                 "debug", "--http-port", "0", "--health-check-period-ms", "0"},
        .outputPath = temp_.path() + "/pool.log"};
    options.argv.insert(options.argv.end(), extra.begin(), extra.end());
    auto pid = runtime::spawnProcess(options);
    if (!pid) throw std::runtime_error(pid.error().message);
    pid_ = *pid;
    waitUntil(
        [&] {
          int fd = connectLoopback(port_);
          if (fd >= 0) ::close(fd);
          return fd >= 0;
        },
        20s);
  }
  ~BarePool() { runtime::stopProcess(pid_, 10s); }
  BarePool(const BarePool&) = delete;
  BarePool& operator=(const BarePool&) = delete;

  [[nodiscard]] int port() const { return port_; }
  void hangUp() const { ::kill(pid_, SIGHUP); }
  [[nodiscard]] bool running() const {
    (void)runtime::reapChild(pid_);
    return runtime::processAlive(pid_);
  }
  [[nodiscard]] std::string log() const {
    std::ifstream in(temp_.path() + "/pool.log");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  TempDir temp_;
  pid_t pid_ = -1;
  int port_ = 0;
};

class ServerTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(0);  // NOLINT: freed in TearDownTestSuite
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    pki_ = new TempDir();  // NOLINT
    const auto& dir = pki_->path();
    makeCa(dir, "ca");
    makeCa(dir, "other-ca");
    makeSigned(dir, "ca", "server", "/CN=localhost",
               "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth");
    makeSigned(dir, "ca", "client", "/CN=postgres", "extendedKeyUsage=clientAuth");
    // The pool's own certificate for its clients, and a client certificate
    // from a CA the pool does not know.
    makeSigned(dir, "ca", "pool", "/CN=localhost",
               "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth");
    makeSigned(dir, "other-ca", "stranger", "/CN=postgres", "extendedKeyUsage=clientAuth");
    // PostgreSQL wants its key owned by the user it runs as.
    auto runAs = runtime::runAsWhenRoot("postgres");
    ASSERT_TRUE(runAs.ok());
    if (*runAs) {
      ASSERT_EQ(::chown((dir + "/server.key").c_str(), (*runAs)->uid, (*runAs)->gid), 0);
    }
    auto primary = cluster_->connect(0);
    for (const std::string& setting :
         {"ssl_cert_file = '" + dir + "/server.crt'", "ssl_key_file = '" + dir + "/server.key'",
          // With a CA the server asks for (and shows) client certificates.
          "ssl_ca_file = '" + dir + "/ca.crt'"}) {
      auto set = primary.execute("ALTER SYSTEM SET " + setting);
      ASSERT_TRUE(set.ok()) << set.error().message;
    }
    setServerSsl(true);
    makeTlsOnlyDatabase();
    // One worker: a worker's idle connections are its own, so "the next
    // client gets the same backend" holds only while one worker accepts.
    require_ = new PoolProcess(  // NOLINT
        *cluster_, {"--server-tls-sslmode", "require", "--workers", "1"});
    verifyFull_ = new PoolProcess(  // NOLINT
        *cluster_, PoolNodes::kAll,
        {"--server-tls-sslmode", "verify-full", "--server-tls-ca-file", dir + "/ca.crt",
         "--server-tls-cert-file", dir + "/client.crt", "--server-tls-key-file",
         dir + "/client.key", "--pool-mode", "transaction", "--default-pool-size", "4", "--workers",
         "2"});
    ready_ = true;
  }

  static void TearDownTestSuite() {
    delete verifyFull_;
    delete require_;
    if (cluster_ != nullptr) (void)cluster_->down(true);
    delete cluster_;
    delete pki_;
  }

  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "suite setup failed";
  }

  // ssl on or off on the primary, waited for until a direct libpq
  // connection with sslmode=require agrees.
  static void setServerSsl(bool on) {
    auto primary = cluster_->connect(0);
    auto set = primary.execute(std::string("ALTER SYSTEM SET ssl = ") + (on ? "on" : "off"));
    ASSERT_TRUE(set.ok()) << set.error().message;
    ASSERT_TRUE(primary.execute("SELECT pg_reload_conf()").ok());
    bool agreed = waitUntil(
        [&] {
          auto conn = rawConnect(cluster_->nodePort(0), "postgres", cluster_->password(),
                                 "sslmode=require");
          return (PQstatus(conn.get()) == CONNECTION_OK) == on;
        },
        15s);
    ASSERT_TRUE(agreed) << "ssl did not turn " << (on ? "on" : "off");
  }

  // A database whose plain TCP logins the server refuses (hostnossl ...
  // reject, first in pg_hba.conf), as a server that requires TLS does; the
  // suite's other databases keep taking plain ones.
  static void makeTlsOnlyDatabase() {
    auto primary = cluster_->connect(0);
    ASSERT_TRUE(primary.execute("CREATE DATABASE tlsonly").ok());
    auto file = primary.query("SHOW hba_file");
    ASSERT_TRUE(file.ok()) << file.error().message;
    std::string path = file->text(0, "hba_file");
    std::string rules;
    {
      std::ifstream in(path);
      rules.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    { std::ofstream(path) << "hostnossl tlsonly all all reject\n" << rules; }
    ASSERT_TRUE(primary.execute("SELECT pg_reload_conf()").ok());
    bool refused = waitUntil(
        [&] {
          auto conn = rawConnect(cluster_->nodePort(0), "postgres", cluster_->password(),
                                 "sslmode=disable dbname=tlsonly");
          return PQstatus(conn.get()) != CONNECTION_OK;
        },
        15s);
    ASSERT_TRUE(refused) << "plain logins to tlsonly are still taken";
  }

  // The primary's certificate and key from `name`.crt / .key in the PKI
  // folder, waited for until a direct verify-full connection with the
  // roots of `ca` agrees.
  static void setServerCertificate(const std::string& name, const std::string& ca) {
    const auto& dir = pki_->path();
    auto primary = cluster_->connect(0);
    for (const std::string& setting : {"ssl_cert_file = '" + dir + "/" + name + ".crt'",
                                       "ssl_key_file = '" + dir + "/" + name + ".key'"}) {
      auto set = primary.execute("ALTER SYSTEM SET " + setting);
      ASSERT_TRUE(set.ok()) << set.error().message;
    }
    ASSERT_TRUE(primary.execute("SELECT pg_reload_conf()").ok());
    bool agreed = waitUntil(
        [&] {
          auto conn = rawConnect(cluster_->nodePort(0), "postgres", cluster_->password(),
                                 "sslmode=verify-full sslrootcert=" + dir + "/" + ca + ".crt");
          return PQstatus(conn.get()) == CONNECTION_OK;
        },
        15s);
    ASSERT_TRUE(agreed) << "the server does not present " << name;
  }

  static RawConn connectTo(int port, const std::string& extra = "") {
    return rawConnect(port, "postgres", cluster_->password(), "sslmode=disable " + extra);
  }

  // pg_stat_ssl's ssl column for the backend serving `conn`.
  static std::string backendSsl(PGconn* conn) {
    return scalar(conn, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline TempDir* pki_ = nullptr;
  static inline PoolProcess* require_ = nullptr;
  static inline PoolProcess* verifyFull_ = nullptr;
  static inline bool ready_ = false;
};

TEST_F(ServerTls, RequireEncryptsTheBackendConnection) {
  auto conn = connectTo(require_->port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(backendSsl(conn.get()), "t");
  // SHOW SERVERS names the protocol and cipher, as SHOW CLIENTS does.
  auto console = connectTo(require_->port(), "dbname=pgswarm");
  ASSERT_EQ(PQstatus(console.get()), CONNECTION_OK) << PQerrorMessage(console.get());
  PGresult* servers = PQexec(console.get(), "SHOW SERVERS");
  ASSERT_EQ(PQresultStatus(servers), PGRES_TUPLES_OK) << PQresultErrorMessage(servers);
  int tls = PQfnumber(servers, "tls");
  ASSERT_GE(tls, 0);
  ASSERT_GE(PQntuples(servers), 1);
  std::string value = PQgetvalue(servers, 0, tls);
  PQclear(servers);
  EXPECT_EQ(value.rfind("TLSv1.3/", 0), 0U) << value;
}

TEST_F(ServerTls, VerifyFullChecksTheServerAndPresentsTheClientCertificate) {
  auto conn = connectTo(verifyFull_->port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(backendSsl(conn.get()), "t");
  EXPECT_EQ(scalar(conn.get(), "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
            "/CN=postgres");
}

TEST_F(ServerTls, HealthChecksUseTheSameTls) {
  auto primary =
      rawConnect(cluster_->nodePort(0), "postgres", cluster_->password(), "sslmode=disable");
  ASSERT_EQ(PQstatus(primary.get()), CONNECTION_OK) << PQerrorMessage(primary.get());
  // The verify-full pool's checks are the ones with its client certificate,
  // the require pool's use TLS without one (and the cluster's own pool,
  // whose checks connected before ssl was on, stays plain).
  const char* checks =
      "SELECT count(*) FILTER (WHERE s.client_dn = '/CN=postgres' AND s.ssl) || ' of: ' || "
      "string_agg(coalesce(host(a.client_addr), 'unix') || ' ssl=' || s.ssl || ' dn=' || "
      "coalesce(s.client_dn, '-'), ', ') "
      "FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
      "WHERE a.application_name = 'pgswarm health check'";
  std::string seen;
  bool encrypted = waitUntil(
      [&] {
        seen = scalar(primary.get(), checks);
        return seen.rfind("0 of", 0) != 0;
      },
      10s);
  EXPECT_TRUE(encrypted) << seen;
  EXPECT_TRUE(contains(seen, "127.0.0.1 ssl=true dn=-")) << seen;
}

TEST_F(ServerTls, IdleTlsConnectionsAreReusedAndDeadOnesNoticed) {
  std::string pid;
  {
    auto first = connectTo(require_->port());
    ASSERT_EQ(PQstatus(first.get()), CONNECTION_OK) << PQerrorMessage(first.get());
    pid = scalar(first.get(), "SELECT pg_backend_pid()");
  }
  // Session mode: the next client gets the same backend, idle in between
  // (its reader stopped by a cancel on the socket under TLS).
  std::string again;
  waitUntil(
      [&] {
        auto next = connectTo(require_->port());
        again = scalar(next.get(), "SELECT pg_backend_pid()");
        return again == pid;
      },
      5s);
  EXPECT_EQ(again, pid);
  // Ended while idle: its FATAL arrives as a TLS record, and the next lease
  // must see it rather than hand the dead connection to a client.
  auto primary = cluster_->connect(0);
  ASSERT_TRUE(primary.execute("SELECT pg_terminate_backend(" + pid + ")").ok());
  std::this_thread::sleep_for(300ms);
  auto after = connectTo(require_->port());
  ASSERT_EQ(PQstatus(after.get()), CONNECTION_OK) << PQerrorMessage(after.get());
  auto fresh = scalar(after.get(), "SELECT pg_backend_pid()");
  EXPECT_NE(fresh, pid);
  EXPECT_EQ(backendSsl(after.get()), "t");
}

TEST_F(ServerTls, CancelReachesAQueryOnATlsServerConnection) {
  auto conn = connectTo(require_->port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  auto sleeper = std::async(std::launch::async, [&] {
    PGresult* result = PQexec(conn.get(), "SELECT pg_sleep(30)");
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    std::string code = state != nullptr ? state : "";
    PQclear(result);
    return code;
  });
  std::this_thread::sleep_for(500ms);
  PGcancel* cancel = PQgetCancel(conn.get());
  char error[256];
  EXPECT_EQ(PQcancel(cancel, error, sizeof error), 1) << error;
  PQfreeCancel(cancel);
  ASSERT_EQ(sleeper.wait_for(10s), std::future_status::ready) << "pg_sleep was not cancelled";
  EXPECT_EQ(sleeper.get(), "57014");
  EXPECT_EQ(scalar(conn.get(), "SELECT 'usable again'"), "usable again");
}

TEST_F(ServerTls, PgbenchExtendedThroughVerifyFullLosesNothing) {
  auto init = runPgClient("pgbench",
                          {"-h", "127.0.0.1", "-p", std::to_string(verifyFull_->port()), "-U",
                           "postgres", "-i", "-s", "1", "-q", "postgres"},
                          cluster_->password());
  ASSERT_EQ(init.exitCode, 0) << init.output;
  auto run =
      runPgClient("pgbench",
                  {"-h", "127.0.0.1", "-p", std::to_string(verifyFull_->port()), "-U", "postgres",
                   "-M", "extended", "-c", "8", "-j", "2", "-T", "5", "postgres"},
                  cluster_->password());
  EXPECT_EQ(run.exitCode, 0) << run.output;
  EXPECT_TRUE(contains(run.output, "number of failed transactions: 0 ")) << run.output;
  std::cout << run.output.substr(run.output.find("number of transactions actually")) << "\n";
}

TEST_F(ServerTls, VerifyFullWithTheWrongCaIsRefusedClearly) {
  BarePool pool(*cluster_, "127.0.0.1:" + std::to_string(cluster_->nodePort(0)),
                {"--server-tls-sslmode", "verify-full", "--server-tls-ca-file",
                 pki_->path() + "/other-ca.crt"});
  auto conn = connectTo(pool.port());
  EXPECT_NE(PQstatus(conn.get()), CONNECTION_OK);
  // OpenSSL's reason: PostgreSQL sends its CA along with its certificate.
  const std::string why =
      "TLS handshake failed: server certificate refused (verify-full): self-signed certificate in "
      "certificate chain";
  EXPECT_TRUE(contains(PQerrorMessage(conn.get()), why)) << PQerrorMessage(conn.get());
  EXPECT_TRUE(contains(pool.log(), why)) << pool.log();
  EXPECT_TRUE(pool.running());
}

TEST_F(ServerTls, VerifyFullAcceptsTheHostNameInTheCertificate) {
  BarePool pool(
      *cluster_, "localhost:" + std::to_string(cluster_->nodePort(0)),
      {"--server-tls-sslmode", "verify-full", "--server-tls-ca-file", pki_->path() + "/ca.crt"});
  auto conn = connectTo(pool.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get()) << pool.log();
  EXPECT_EQ(backendSsl(conn.get()), "t");
}

TEST_F(ServerTls, RequireFailsAndPreferFallsBackAgainstAPlainServer) {
  setServerSsl(false);
  struct SslBackOn {
    ~SslBackOn() { setServerSsl(true); }
  } restore;
  {
    BarePool pool(*cluster_, "127.0.0.1:" + std::to_string(cluster_->nodePort(0)),
                  {"--server-tls-sslmode", "require"});
    auto conn = connectTo(pool.port());
    EXPECT_NE(PQstatus(conn.get()), CONNECTION_OK);
    const std::string why = "server does not support TLS, and server_tls_sslmode is require";
    EXPECT_TRUE(contains(PQerrorMessage(conn.get()), why)) << PQerrorMessage(conn.get());
    EXPECT_TRUE(contains(pool.log(), why)) << pool.log();
  }
  PoolProcess prefer(*cluster_, {});  // the default: prefer
  auto conn = connectTo(prefer.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(backendSsl(conn.get()), "f");
}

TEST_F(ServerTls, AllowStaysPlainWhileTheServerTakesPlainLogins) {
  PoolProcess allow(*cluster_, {"--server-tls-sslmode", "allow"});
  auto conn = connectTo(allow.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(backendSsl(conn.get()), "f");
}

TEST_F(ServerTls, AUnixSocketStaysPlainWhateverTheMode) {
  PoolProcess pool(*cluster_, PoolNodes::kPrimaryUnixSocket, {"--server-tls-sslmode", "require"});
  auto conn = connectTo(pool.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(scalar(conn.get(), "SELECT count(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
            "1");
  EXPECT_EQ(backendSsl(conn.get()), "f");
}

// Client certificates (pool side): tls_ca_file asks for them, and an hba
// cert line logs in the user the certificate's CN names.
TEST_F(ServerTls, HbaCertLogsInTheUserTheClientCertificateNames) {
  const auto& dir = pki_->path();
  TempDir temp;
  std::string hba = temp.path() + "/hba.conf";
  { std::ofstream(hba) << "hostssl all all 127.0.0.1/32 cert\n"; }
  BarePool pool(*cluster_, "127.0.0.1:" + std::to_string(cluster_->nodePort(0)),
                {"--tls-cert-file", dir + "/pool.crt", "--tls-key-file", dir + "/pool.key",
                 "--tls-ca-file", dir + "/ca.crt", "--hba-file", hba});
  auto login = [&](const std::string& user, const std::string& cert) {
    return rawConnect(pool.port(), user, "unused",
                      "sslmode=verify-full sslrootcert=" + dir + "/ca.crt sslcert=" + dir + "/" +
                          cert + ".crt sslkey=" + dir + "/" + cert + ".key");
  };
  auto good = login("postgres", "client");
  ASSERT_EQ(PQstatus(good.get()), CONNECTION_OK) << PQerrorMessage(good.get()) << pool.log();
  EXPECT_EQ(scalar(good.get(), "SELECT current_user"), "postgres");

  auto otherUser = login("nobody", "client");
  EXPECT_NE(PQstatus(otherUser.get()), CONNECTION_OK);
  EXPECT_TRUE(contains(PQerrorMessage(otherUser.get()),
                       "certificate authentication failed for user \"nobody\""))
      << PQerrorMessage(otherUser.get());

  auto noCertificate = rawConnect(pool.port(), "postgres", "unused",
                                  "sslmode=require sslcert=" + dir + "/missing.crt");
  EXPECT_NE(PQstatus(noCertificate.get()), CONNECTION_OK);
  EXPECT_TRUE(contains(PQerrorMessage(noCertificate.get()),
                       "connection requires a valid client certificate"))
      << PQerrorMessage(noCertificate.get());

  // A certificate from another CA fails the handshake itself.
  auto stranger = login("postgres", "stranger");
  EXPECT_NE(PQstatus(stranger.get()), CONNECTION_OK);
  EXPECT_TRUE(pool.running());
  EXPECT_EQ(scalar(login("postgres", "client").get(), "SELECT 1"), "1");
}

// hba's clientcert= beside a password method: verify-full wants a
// certificate the CA signed whose CN is the user, verify-ca any such
// certificate; the password is still asked for.
TEST_F(ServerTls, HbaClientcertAddsACertificateToThePassword) {
  const auto& dir = pki_->path();
  makeSigned(dir, "ca", "someone", "/CN=someone", "extendedKeyUsage=clientAuth");
  TempDir temp;
  std::string hba = temp.path() + "/hba.conf";
  {
    std::ofstream(hba) << "hostssl postgres all 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n"
                       << "hostssl template1 all 127.0.0.1/32 scram-sha-256 clientcert=verify-ca\n";
  }
  BarePool pool(*cluster_, "127.0.0.1:" + std::to_string(cluster_->nodePort(0)),
                {"--tls-cert-file", dir + "/pool.crt", "--tls-key-file", dir + "/pool.key",
                 "--tls-ca-file", dir + "/ca.crt", "--hba-file", hba});
  auto login = [&](const std::string& database, const std::string& password,
                   const std::string& cert) {
    std::string tls = "sslmode=verify-full sslrootcert=" + dir + "/ca.crt";
    if (!cert.empty())
      tls += " sslcert=" + dir + "/" + cert + ".crt sslkey=" + dir + "/" + cert + ".key";
    if (cert.empty()) tls += " sslcert=" + dir + "/missing.crt";
    return rawConnect(pool.port(), "postgres", password, "dbname=" + database + " " + tls);
  };
  auto refusal = [](const RawConn& conn) {
    return PQstatus(conn.get()) == CONNECTION_OK ? std::string("(logged in)")
                                                 : std::string(PQerrorMessage(conn.get()));
  };
  const auto& password = cluster_->password();

  auto good = login("postgres", password, "client");
  ASSERT_EQ(PQstatus(good.get()), CONNECTION_OK) << PQerrorMessage(good.get()) << pool.log();
  EXPECT_EQ(scalar(good.get(), "SELECT current_user"), "postgres");
  EXPECT_TRUE(contains(refusal(login("postgres", password, "")),
                       "connection requires a valid client certificate"));
  EXPECT_TRUE(contains(refusal(login("postgres", "wrong", "client")),
                       "password authentication failed for user \"postgres\""));
  // The right password and a good certificate that names someone else.
  EXPECT_TRUE(contains(refusal(login("postgres", password, "someone")),
                       "password authentication failed for user \"postgres\""));
  EXPECT_TRUE(
      contains(pool.log(), "clientcert=verify-full) failed for user \"postgres\": CN mismatch"));

  auto anyName = login("template1", password, "someone");
  EXPECT_EQ(PQstatus(anyName.get()), CONNECTION_OK) << PQerrorMessage(anyName.get());
  EXPECT_TRUE(contains(refusal(login("template1", password, "")),
                       "connection requires a valid client certificate"));
  EXPECT_TRUE(contains(refusal(login("template1", "wrong", "someone")),
                       "password authentication failed for user \"postgres\""));
}

// Revocation lists on both sides: tls_crl_file refuses a client
// certificate the CA revoked (in the handshake) and takes the others;
// server_tls_crl_file refuses a server whose certificate is revoked.
TEST_F(ServerTls, RevokedCertificatesAreRefusedOnBothSides) {
  const auto& dir = pki_->path();
  makeSigned(dir, "ca", "revoked", "/CN=postgres", "extendedKeyUsage=clientAuth");
  makeCrl(dir, "ca", {"revoked", "server"}, "revocations");
  TempDir temp;
  std::string hba = temp.path() + "/hba.conf";
  { std::ofstream(hba) << "hostssl all all 127.0.0.1/32 cert\n"; }
  BarePool clientSide(
      *cluster_, "127.0.0.1:" + std::to_string(cluster_->nodePort(0)),
      {"--tls-cert-file", dir + "/pool.crt", "--tls-key-file", dir + "/pool.key", "--tls-ca-file",
       dir + "/ca.crt", "--tls-crl-file", dir + "/revocations.crl", "--hba-file", hba});
  auto login = [&](const std::string& cert) {
    return rawConnect(clientSide.port(), "postgres", "unused",
                      "sslmode=verify-full sslrootcert=" + dir + "/ca.crt sslcert=" + dir + "/" +
                          cert + ".crt sslkey=" + dir + "/" + cert + ".key");
  };
  auto good = login("client");
  ASSERT_EQ(PQstatus(good.get()), CONNECTION_OK) << PQerrorMessage(good.get()) << clientSide.log();
  auto revoked = login("revoked");
  EXPECT_NE(PQstatus(revoked.get()), CONNECTION_OK);
  EXPECT_TRUE(contains(PQerrorMessage(revoked.get()), "certificate revoked"))
      << PQerrorMessage(revoked.get());
  EXPECT_TRUE(clientSide.running());

  BarePool serverSide(*cluster_, "127.0.0.1:" + std::to_string(cluster_->nodePort(0)),
                      {"--server-tls-sslmode", "verify-ca", "--server-tls-ca-file", dir + "/ca.crt",
                       "--server-tls-crl-file", dir + "/revocations.crl"});
  auto conn = connectTo(serverSide.port());
  EXPECT_NE(PQstatus(conn.get()), CONNECTION_OK);
  EXPECT_TRUE(contains(PQerrorMessage(conn.get()), "certificate revoked"))
      << PQerrorMessage(conn.get());
}

// The pool's libpq connections besides the health checks (here the shard
// map watcher's, which reads the catalog of tlsonly) take server_tls_* too:
// verify-full logs in with the pool's client certificate, and disable is
// refused by a server that requires TLS, where libpq's own default (prefer)
// would have got in.
TEST_F(ServerTls, ShardMapWatcherUsesTheServerTlsSettings) {
  const auto& dir = pki_->path();
  auto node = "127.0.0.1:" + std::to_string(cluster_->nodePort(0));
  std::vector<std::string> watching{"--shard-hosts", "shard1=" + node,         "--shard-databases",
                                    "tlsonly",       "--shard-map-refresh-ms", "100"};
  auto primary =
      rawConnect(cluster_->nodePort(0), "postgres", cluster_->password(), "sslmode=disable");
  ASSERT_EQ(PQstatus(primary.get()), CONNECTION_OK) << PQerrorMessage(primary.get());
  {
    auto args = watching;
    args.insert(args.end(), {"--server-tls-sslmode", "verify-full", "--server-tls-ca-file",
                             dir + "/ca.crt", "--server-tls-cert-file", dir + "/client.crt",
                             "--server-tls-key-file", dir + "/client.key"});
    BarePool pool(*cluster_, node, args);
    const char* watcher =
        "SELECT coalesce(string_agg(s.ssl || ' ' || coalesce(s.client_dn, '-'), ', '), 'none') "
        "FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
        "WHERE a.application_name = 'pgswarm shard map' AND a.datname = 'tlsonly'";
    std::string seen;
    bool connected = waitUntil(
        [&] {
          seen = scalar(primary.get(), watcher);
          return seen != "none";
        },
        10s);
    EXPECT_TRUE(connected) << pool.log();
    EXPECT_EQ(seen, "true /CN=postgres") << pool.log();
    EXPECT_FALSE(contains(pool.log(), "cannot read the catalog")) << pool.log();
  }
  auto args = watching;
  args.insert(args.end(), {"--server-tls-sslmode", "disable"});
  BarePool pool(*cluster_, node, args);
  const std::string why = "shard map: cannot read the catalog of tlsonly on " + node +
                          " (keeping the last map): cannot connect to " + node +
                          " as postgres with sslmode=disable: ";
  bool logged = waitUntil([&] { return contains(pool.log(), why); }, 10s);
  EXPECT_TRUE(logged) << pool.log();
  EXPECT_TRUE(contains(pool.log(), "no encryption")) << pool.log();
}

// RELOAD reads server_tls_* again: the server's certificate moves to
// another CA, the pool's root file follows, and after RELOAD new server
// connections verify with the new roots while the one opened before stays;
// a root file that does not load is reported and the roots in use stay.
TEST_F(ServerTls, ReloadSwapsTheServerTlsFilesForNewConnections) {
  const auto& dir = pki_->path();
  makeSigned(dir, "other-ca", "server2", "/CN=localhost",
             "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth");
  auto runAs = runtime::runAsWhenRoot("postgres");
  ASSERT_TRUE(runAs.ok());
  if (*runAs) {
    ASSERT_EQ(::chown((dir + "/server2.key").c_str(), (*runAs)->uid, (*runAs)->gid), 0);
  }
  TempDir temp;
  std::string roots = temp.path() + "/roots.crt";
  auto copyRoots = [&](const std::string& ca) {
    std::ifstream in(dir + "/" + ca + ".crt");
    std::ofstream(roots) << in.rdbuf();
  };
  copyRoots("ca");
  BarePool pool(*cluster_, "127.0.0.1:" + std::to_string(cluster_->nodePort(0)),
                {"--server-tls-sslmode", "verify-full", "--server-tls-ca-file", roots});
  auto before = connectTo(pool.port());
  ASSERT_EQ(PQstatus(before.get()), CONNECTION_OK) << PQerrorMessage(before.get()) << pool.log();
  auto pid = scalar(before.get(), "SELECT pg_backend_pid()");

  struct CertificateBack {
    ~CertificateBack() { setServerCertificate("server", "ca"); }
  } restore;
  setServerCertificate("server2", "other-ca");
  auto refused = connectTo(pool.port());
  EXPECT_NE(PQstatus(refused.get()), CONNECTION_OK);
  EXPECT_TRUE(contains(PQerrorMessage(refused.get()), "server certificate refused (verify-full)"))
      << PQerrorMessage(refused.get());

  copyRoots("other-ca");
  auto console = connectTo(pool.port(), "dbname=pgswarm");
  ASSERT_EQ(PQstatus(console.get()), CONNECTION_OK) << PQerrorMessage(console.get());
  PGresult* reloaded = PQexec(console.get(), "RELOAD");
  EXPECT_EQ(PQresultStatus(reloaded), PGRES_COMMAND_OK) << PQresultErrorMessage(reloaded);
  PQclear(reloaded);
  auto after = connectTo(pool.port());
  ASSERT_EQ(PQstatus(after.get()), CONNECTION_OK) << PQerrorMessage(after.get()) << pool.log();
  EXPECT_EQ(backendSsl(after.get()), "t");
  EXPECT_NE(scalar(after.get(), "SELECT pg_backend_pid()"), pid);
  EXPECT_EQ(scalar(before.get(), "SELECT pg_backend_pid()"), pid);
  EXPECT_EQ(backendSsl(before.get()), "t");
  EXPECT_TRUE(contains(pool.log(), "reloaded the server TLS settings and files")) << pool.log();

  { std::ofstream(roots) << "not a certificate\n"; }
  PGresult* bad = PQexec(console.get(), "RELOAD");
  std::string message = PQresultErrorMessage(bad);
  EXPECT_EQ(PQresultStatus(bad), PGRES_FATAL_ERROR);
  PQclear(bad);
  EXPECT_TRUE(contains(message,
                       "reloaded users and access rules, but kept the old server TLS settings: "
                       "could not load root certificate file \"" +
                           roots + "\""))
      << message;
  EXPECT_TRUE(contains(pool.log(), "RELOAD: keeping the old server TLS settings")) << pool.log();
  pool.hangUp();  // SIGHUP reloads as RELOAD does
  bool logged = waitUntil(
      [&] {
        return contains(pool.log(),
                        "reload: keeping the old server TLS settings: could not load root "
                        "certificate file");
      },
      5s);
  EXPECT_TRUE(logged) << pool.log();
  auto still = connectTo(pool.port());
  ASSERT_EQ(PQstatus(still.get()), CONNECTION_OK) << PQerrorMessage(still.get()) << pool.log();
  EXPECT_EQ(backendSsl(still.get()), "t");
}

// allow: plain first, and a second login in TLS when the server refused
// the plain one (tlsonly's hostnossl reject), as libpq does it.
TEST_F(ServerTls, AllowRetriesInTlsWhenThePlainLoginIsRefused) {
  PoolProcess allow(*cluster_, {"--server-tls-sslmode", "allow"});
  auto conn = connectTo(allow.port(), "dbname=tlsonly");
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(scalar(conn.get(), "SELECT current_database()"), "tlsonly");
  EXPECT_EQ(backendSsl(conn.get()), "t");
}

}  // namespace
}  // namespace pgswarm::test
