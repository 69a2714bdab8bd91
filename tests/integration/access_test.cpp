// Client access rules (hba_file) and auth_query on a real cluster: what a
// client is asked for and told, as PostgreSQL would ask and tell it, rules
// changed by RELOAD (a broken file keeps the old ones), and roles created on
// the primary after the pool started logging in without a restart.
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

constexpr int kAuthMd5 = 5;
constexpr int kAuthSasl = 10;

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using RawConn = std::unique_ptr<PGconn, PgConnDeleter>;

RawConn libpqConnect(int port, const std::string& user, const std::string& database,
                     const std::string& password) {
  // Keyword arrays, not a conninfo string: user names here hold quotes and blanks.
  auto portText = std::to_string(port);
  const char* keys[] = {"host", "port", "user", "dbname", "connect_timeout", "password", nullptr};
  const char* values[] = {"127.0.0.1", portText.c_str(), user.c_str(), database.c_str(),
                          "10",        password.c_str(), nullptr};
  if (password.empty()) keys[5] = nullptr;
  return RawConn(PQconnectdbParams(keys, values, 0));
}

// "ok: <current_user>" or "error: <libpq's message>".
std::string loginAs(int port, const std::string& user, const std::string& database,
                    const std::string& password) {
  auto conn = libpqConnect(port, user, database, password);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return std::string("error: ") + PQerrorMessage(conn.get());
  }
  PGresult* result = PQexec(conn.get(), "SELECT current_user");
  std::string value = PQresultStatus(result) == PGRES_TUPLES_OK
                          ? std::string("ok: ") + PQgetvalue(result, 0, 0)
                          : std::string("error: ") + PQresultErrorMessage(result);
  PQclear(result);
  return value;
}

// The pool's first answer to a StartupMessage: an authentication request
// (its code) or an ErrorResponse (SQLSTATE and message). Raw bytes, so the
// test sees which method the pool asks for, not what libpq makes of it.
struct FirstReply {
  char type = '\0';
  int authCode = -1;
  std::string sqlState;
  std::string message;
};

FirstReply firstReply(int port, const std::string& user, const std::string& database) {
  FirstReply reply;
  int fd = connectLoopback(port);
  if (fd < 0) return reply;
  std::string body;
  auto put32 = [](std::string& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
  };
  put32(body, 196608);  // protocol 3.0
  for (const auto& part : {std::string("user"), user, std::string("database"), database}) {
    body += part;
    body += '\0';
  }
  body += '\0';
  std::string packet;
  put32(packet, static_cast<std::uint32_t>(body.size() + 4));
  packet += body;
  (void)!::write(fd, packet.data(), packet.size());
  std::string in;
  char buffer[4096];
  for (;;) {
    if (in.size() >= 5) {
      std::uint32_t length = 0;
      for (int i = 1; i <= 4; ++i) length = (length << 8) | static_cast<unsigned char>(in[i]);
      if (in.size() >= length + 1) break;
    }
    auto got = ::read(fd, buffer, sizeof(buffer));
    if (got <= 0) break;
    in.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  if (in.size() < 5) return reply;
  reply.type = in[0];
  if (reply.type == 'R' && in.size() >= 9) {
    reply.authCode = 0;
    for (int i = 5; i < 9; ++i)
      reply.authCode = (reply.authCode << 8) | static_cast<unsigned char>(in[i]);
  }
  if (reply.type == 'E') {
    for (std::size_t pos = 5; pos < in.size() && in[pos] != '\0';) {
      char field = in[pos++];
      auto end = in.find('\0', pos);
      if (end == std::string::npos) break;
      if (field == 'C') reply.sqlState = in.substr(pos, end - pos);
      if (field == 'M') reply.message = in.substr(pos, end - pos);
      pos = end + 1;
    }
  }
  return reply;
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

void appendFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
}

const char* const kRules =
    "# TYPE  DATABASE   USER              ADDRESS        METHOD\n"
    "host    forbidden  all               all            reject\n"
    "host    postgres   trusted           127.0.0.1/32   trust\n"
    "host    all        md5user           127.0.0.1/32   md5\n"
    "host    all        postgres,trusted  127.0.0.1/32   scram-sha-256\n";

class AccessOnCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(0);  // NOLINT: freed in TearDownTestSuite
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    auto primary = cluster_->connect(0);
    for (const auto& [role, password] :
         {std::pair{"md5user", "md5 secret"}, std::pair{"trusted", "trusted secret"}}) {
      auto verifier = primary.encryptPassword(role, password);
      ASSERT_TRUE(verifier.ok());
      auto created = primary.execute(std::string("CREATE ROLE ") + role + " LOGIN PASSWORD " +
                                     cluster::quoteLiteral(*verifier));
      ASSERT_TRUE(created.ok()) << created.error().message;
    }
    auto db = primary.execute("CREATE DATABASE forbidden");
    ASSERT_TRUE(db.ok()) << db.error().message;
    // The pool logs in to servers with these passwords (md5 and trust give
    // it no SCRAM keys to reuse).
    appendFile(cluster_->dir() + "/userlist.txt",
               "\"md5user\" \"md5 secret\"\n\"trusted\" \"trusted secret\"\n");
    ready_ = true;
  }
  static void TearDownTestSuite() {
    delete cluster_;  // NOLINT
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "cluster did not start";
  }

  static CommandOutput admin(int port, const std::string& command) {
    return runPgClient("psql",
                       {"-X", "-h", "127.0.0.1", "-p", std::to_string(port), "-U", "postgres", "-d",
                        "pgswarm", "-c", command},
                       cluster_->password());
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline bool ready_ = false;
};

TEST_F(AccessOnCluster, HbaRulesChooseMethodOrRefuse) {
  TempDir temp;
  auto hba = temp.path() + "/pool_hba.conf";
  writeFile(hba, kRules);
  PoolProcess pool(*cluster_, {"--hba-file", hba});
  int port = pool.port();
  auto password = cluster_->password();

  // A reject rule for one database, before any password is asked.
  auto rejected = firstReply(port, "postgres", "forbidden");
  EXPECT_EQ(rejected.type, 'E');
  EXPECT_EQ(rejected.sqlState, "28000");
  EXPECT_EQ(rejected.message,
            "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"postgres\", database "
            "\"forbidden\", no encryption");
  EXPECT_TRUE(contains(loginAs(port, "postgres", "forbidden", password), "rejects connection"));

  // md5 for md5user only; everyone else gets SCRAM.
  EXPECT_EQ(firstReply(port, "md5user", "postgres").authCode, kAuthMd5);
  EXPECT_EQ(loginAs(port, "md5user", "postgres", "md5 secret"), "ok: md5user");
  EXPECT_TRUE(contains(loginAs(port, "md5user", "postgres", "wrong"),
                       "password authentication failed for user \"md5user\""));
  EXPECT_EQ(firstReply(port, "postgres", "postgres").authCode, kAuthSasl);
  EXPECT_EQ(loginAs(port, "postgres", "postgres", password), "ok: postgres");

  // trust only where a rule says so: `trusted` needs no password on
  // postgres, but must give one anywhere else, and so must everyone else.
  EXPECT_EQ(loginAs(port, "trusted", "postgres", ""), "ok: trusted");
  EXPECT_EQ(firstReply(port, "trusted", "template1").authCode, kAuthSasl);
  EXPECT_TRUE(contains(loginAs(port, "trusted", "template1", ""), "no password supplied"));
  EXPECT_TRUE(contains(loginAs(port, "postgres", "postgres", ""), "no password supplied"));

  // No rule matches: refused as PostgreSQL refuses, whatever the password.
  auto unmatched = firstReply(port, "stranger", "postgres");
  EXPECT_EQ(unmatched.type, 'E');
  EXPECT_EQ(unmatched.sqlState, "28000");
  EXPECT_EQ(unmatched.message,
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"stranger\", database "
            "\"postgres\", no encryption");
}

TEST_F(AccessOnCluster, ReloadRereadsTheRulesAndKeepsThemWhenBroken) {
  TempDir temp;
  auto hba = temp.path() + "/pool_hba.conf";
  writeFile(hba, kRules);
  PoolProcess pool(*cluster_, {"--hba-file", hba});
  int port = pool.port();
  EXPECT_EQ(loginAs(port, "md5user", "postgres", "md5 secret"), "ok: md5user");

  writeFile(hba, std::string("host postgres md5user all reject\n") + kRules);
  auto reloaded = admin(port, "RELOAD");
  EXPECT_EQ(reloaded.exitCode, 0) << reloaded.output;
  EXPECT_EQ(firstReply(port, "md5user", "postgres").sqlState, "28000");

  writeFile(hba, "host all all all trust\nhost all all all sideways\n");
  auto broken = admin(port, "RELOAD");
  EXPECT_NE(broken.exitCode, 0);
  EXPECT_TRUE(contains(broken.output, hba + ":2: invalid authentication method \"sideways\""))
      << broken.output;
  // The old rules stay: md5user is still refused, postgres still needs a password.
  EXPECT_EQ(firstReply(port, "md5user", "postgres").sqlState, "28000");
  EXPECT_EQ(firstReply(port, "postgres", "postgres").authCode, kAuthSasl);
}

TEST_F(AccessOnCluster, BrokenHbaFileStopsThePoolFromStarting) {
  TempDir temp;
  auto hba = temp.path() + "/pool_hba.conf";
  writeFile(hba, "host all all 10.0.0.0/40 md5\n");
  auto run = runPgswarm({"pool", "--listen", "127.0.0.1", "--port", "1", "--hosts",
                         "127.0.0.1:" + std::to_string(cluster_->nodePort(0)), "--auth-file",
                         cluster_->dir() + "/userlist.txt", "--http-port", "0", "--hba-file", hba});
  EXPECT_NE(run.exitCode, 0);
  EXPECT_TRUE(contains(run.output, hba + ":1: invalid CIDR mask in address \"10.0.0.0/40\""))
      << run.output;
}

TEST_F(AccessOnCluster, AuthQueryLogsInRolesCreatedAfterStart) {
  PoolProcess pool(*cluster_, {"--auth-user", "postgres", "--auth-query-cache-ttl", "1"});
  int port = pool.port();

  // Unknown everywhere: the same failure as a wrong password.
  EXPECT_TRUE(contains(loginAs(port, "ghost", "postgres", "boo"),
                       "password authentication failed for user \"ghost\""));
  EXPECT_EQ(firstReply(port, "ghost", "postgres").authCode, kAuthSasl);

  // Not there yet, then created on the primary: no restart, no RELOAD.
  EXPECT_TRUE(contains(loginAs(port, "latecomer", "postgres", "late pw"),
                       "password authentication failed"));
  auto primary = cluster_->connect(0);
  auto verifier = primary.encryptPassword("latecomer", "late pw");
  ASSERT_TRUE(verifier.ok());
  ASSERT_TRUE(
      primary.execute("CREATE ROLE latecomer LOGIN PASSWORD " + cluster::quoteLiteral(*verifier))
          .ok());
  std::string last;
  EXPECT_TRUE(waitUntil(
      [&] {
        last = loginAs(port, "latecomer", "postgres", "late pw");
        return last == "ok: latecomer";
      },
      15s))
      << last << "\n"
      << pool.log();
  // Twice more: from the cache, and the server login reuses the recovered keys.
  EXPECT_EQ(loginAs(port, "latecomer", "postgres", "late pw"), "ok: latecomer");
  EXPECT_TRUE(contains(loginAs(port, "latecomer", "postgres", "not it"),
                       "password authentication failed for user \"latecomer\""));

  // A user name is a parameter, never SQL: quotes find nothing.
  EXPECT_TRUE(contains(loginAs(port, "x' OR '1'='1", "postgres", "late pw"),
                       "password authentication failed"));
}

TEST_F(AccessOnCluster, AuthUserMustBeInTheAuthFile) {
  auto run =
      runPgswarm({"pool", "--listen", "127.0.0.1", "--port", "1", "--hosts",
                  "127.0.0.1:" + std::to_string(cluster_->nodePort(0)), "--auth-file",
                  cluster_->dir() + "/userlist.txt", "--http-port", "0", "--auth-user", "nobody"});
  EXPECT_NE(run.exitCode, 0);
  EXPECT_TRUE(contains(run.output, "auth_user \"nobody\" is not in the auth file")) << run.output;
}

}  // namespace
}  // namespace pgswarm::test
