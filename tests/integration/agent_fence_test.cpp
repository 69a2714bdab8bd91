// Agent-side fencing on one real primary: loopback cannot be cut, so its only
// peer is a port nobody listens on. Within the fence timeout the agent fences
// postgres (a direct client's write is refused, or waits for a synchronous
// standby that does not exist). Once a listener appears on the peer port the
// fence holds until the pool's word (POST /unfence), or until the peer has
// answered for unfence_after_ms; then the waiting commit goes through.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "runtime/ports.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

std::string command(PGconn* conn, const char* sql) {
  PGresult* result = PQexec(conn, sql);
  auto status = PQresultStatus(result);
  std::string out = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
                        ? "ok"
                        : std::string("error: ") + PQresultErrorMessage(result);
  PQclear(result);
  return out;
}

// A plain listening socket: enough for the agent to count the peer reachable.
class Listener {
 public:
  explicit Listener(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
          ::listen(fd_, 128) == 0;
  }
  ~Listener() { ::close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  int fd_;
  bool ok_ = false;
};

class AgentFence : public ::testing::Test {
 protected:
  void SetUp() override {
    auto peer = runtime::pickFreePort();
    auto api = runtime::pickFreePort();
    ASSERT_TRUE(peer.ok() && api.ok());
    peerPort_ = *peer;
    apiPort_ = *api;
    port_ = findPortBase(1);
    std::ofstream(temp_.path() + "/pw") << password_ << "\n";
    std::ofstream(temp_.path() + "/token") << token_ << "\n";
    runtime::SpawnOptions options{.argv = {pgswarmBinary(),
                                           "node",
                                           "--name",
                                           "fenced",
                                           "--mode",
                                           "primary",
                                           "--data-dir",
                                           temp_.path() + "/data",
                                           "--listen",
                                           "127.0.0.1",
                                           "--port",
                                           std::to_string(port_),
                                           "--api-listen",
                                           "127.0.0.1",
                                           "--api-port",
                                           std::to_string(apiPort_),
                                           "--password-file",
                                           temp_.path() + "/pw",
                                           "--replication-password-file",
                                           temp_.path() + "/pw",
                                           "--peers",
                                           "127.0.0.1:" + std::to_string(peerPort_),
                                           "--fence-timeout-ms",
                                           "1000",
                                           "--api-token-file",
                                           temp_.path() + "/token",
                                           "--unfence-after-ms",
                                           std::to_string(kUnfenceAfter.count())},
                                  .unsetEnv = {"PGPASSWORD", "PGDATA", "PGPORT"},
                                  .outputPath = temp_.path() + "/agent.log",
                                  .newSession = true};
    auto pid = runtime::spawnProcess(options);
    ASSERT_TRUE(pid.ok()) << pid.error().message;
    agent_ = *pid;
    ASSERT_TRUE(waitUntil([&] { return httpGet(apiPort_, "/primary").status == 200; }, 120s))
        << log();
  }

  void TearDown() override {
    if (agent_ > 0) {
      EXPECT_TRUE(runtime::stopProcess(agent_, 60s));
    }
  }

  nlohmann::json status() {
    auto json = nlohmann::json::parse(httpGet(apiPort_, "/status").body, nullptr, false);
    return json.is_discarded() ? nlohmann::json::object() : json;
  }

  bool fenced() { return status().value("fenced", false); }

  std::string log() {
    return runProgram({"/usr/bin/tail", "-n", "60", temp_.path() + "/agent.log"}).output;
  }

  RawConn connect() { return rawConnect(port_, "postgres", password_); }

  // Long enough that the word-of-the-pool case never lifts by the clock.
  static constexpr std::chrono::milliseconds kUnfenceAfter{8000};
  TempDir temp_;
  std::string password_ = "fence-secret";
  std::string token_ = "fence-api-token";
  int port_ = 0;
  int apiPort_ = 0;
  int peerPort_ = 0;
  pid_t agent_ = -1;
};

TEST_F(AgentFence, APrimaryWithoutPeersFencesItselfAndUnfencesOnThePoolsWord) {
  ASSERT_TRUE(waitUntil([&] { return fenced(); }, 10s)) << status().dump(2) << log();
  EXPECT_TRUE(contains(log(), "FENCING postgres")) << log();

  auto conn = connect();
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(scalar(conn.get(), "SHOW default_transaction_read_only"), "on");
  EXPECT_EQ(scalar(conn.get(), "SHOW synchronous_standby_names"), "\"pgswarm-fenced\"");
  EXPECT_TRUE(contains(command(conn.get(), "CREATE TABLE t (v int)"), "read-only transaction"));
  // Reads keep working.
  EXPECT_EQ(scalar(conn.get(), "SELECT 1"), "1");

  // A client that turns read-only off still gets no acknowledgement: its
  // commit waits for the synchronous standby that never comes.
  auto writer = connect();
  ASSERT_EQ(command(writer.get(), "SET default_transaction_read_only = off"), "ok");
  auto writerPid = scalar(writer.get(), "SELECT pg_backend_pid()");
  ASSERT_EQ(PQsendQuery(writer.get(), "CREATE TABLE t AS SELECT 1 AS v"), 1);
  std::this_thread::sleep_for(3s);
  ASSERT_EQ(PQconsumeInput(writer.get()), 1);
  EXPECT_EQ(PQisBusy(writer.get()), 1) << "the write was acknowledged while fenced";
  auto waitEvent = "SELECT wait_event FROM pg_stat_activity WHERE pid = " + writerPid;
  EXPECT_EQ(scalar(conn.get(), waitEvent.c_str()), "SyncRep");

  // A peer answers again: not enough, a pool could be promoting a replica.
  Listener listener(peerPort_);
  ASSERT_TRUE(listener.ok());
  ASSERT_TRUE(waitUntil([&] { return contains(log(), "waiting for the pool's word"); }, 10s))
      << log();
  EXPECT_TRUE(fenced());
  EXPECT_EQ(httpPost(apiPort_, "/unfence", "{}", "wrong-token").status, 403);
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(fenced()) << log();
  // The pool's word lifts it, and the waiting commit returns.
  auto word = httpPost(apiPort_, "/unfence", "{}", token_);
  EXPECT_EQ(word.status, 202) << word.body;
  ASSERT_TRUE(waitUntil([&] { return !fenced(); }, 3s)) << status().dump(2) << log();
  EXPECT_TRUE(contains(log(), "postgres is UNFENCED: the pool vouches")) << log();
  EXPECT_EQ(httpPost(apiPort_, "/unfence", "{}", token_).status, 200);
  ASSERT_TRUE(waitUntil(
      [&] { return PQconsumeInput(writer.get()) == 1 && PQisBusy(writer.get()) == 0; }, 10s));
  PGresult* result = PQgetResult(writer.get());
  EXPECT_EQ(PQresultStatus(result), PGRES_COMMAND_OK) << PQresultErrorMessage(result);
  PQclear(result);
  while ((result = PQgetResult(writer.get())) != nullptr) PQclear(result);

  auto after = connect();
  ASSERT_EQ(PQstatus(after.get()), CONNECTION_OK) << PQerrorMessage(after.get());
  EXPECT_EQ(scalar(after.get(), "SHOW default_transaction_read_only"), "off");
  EXPECT_EQ(scalar(after.get(), "SHOW synchronous_standby_names"), "");
  EXPECT_EQ(command(after.get(), "INSERT INTO t VALUES (2)"), "ok");
  EXPECT_EQ(scalar(after.get(), "SELECT count(*) FROM t"), "2");
  EXPECT_FALSE(std::ifstream(temp_.path() + "/pgswarm-fenced.fence.json").good());
}

// Without a pool (or one that cannot reach the agent), peers that answer for
// unfence_after_ms lift the fence: by then any election the isolation set off
// has ended, and a newer primary among the peers would keep it.
TEST_F(AgentFence, PeersThatAnswerLongEnoughLiftTheFenceWithoutThePool) {
  ASSERT_TRUE(waitUntil([&] { return fenced(); }, 10s)) << status().dump(2) << log();
  Listener listener(peerPort_);
  ASSERT_TRUE(listener.ok());
  auto back = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitUntil([&] { return !fenced(); }, kUnfenceAfter + 10s)) << log();
  EXPECT_GE(std::chrono::steady_clock::now() - back, kUnfenceAfter - 1s);
  EXPECT_TRUE(contains(log(), "postgres is UNFENCED: peers have been reachable for")) << log();
  auto conn = connect();
  EXPECT_EQ(command(conn.get(), "CREATE TABLE lifted (v int)"), "ok");
}

// The fence lives in postgresql.auto.conf, which pg_basebackup copies: a
// replica cloned while its primary was fenced must not inherit it, or it
// refuses every write once promoted (seen as "read-only transaction" for
// good after a failover).
TEST_F(AgentFence, AReplicaClonedFromAFencedPrimaryTakesWritesOncePromoted) {
  ASSERT_TRUE(waitUntil([&] { return fenced(); }, 10s)) << status().dump(2) << log();
  auto clonePort = findPortBase(1);
  auto cloneApi = runtime::pickFreePort();
  ASSERT_TRUE(cloneApi.ok());
  runtime::SpawnOptions options{.argv = {pgswarmBinary(),
                                         "node",
                                         "--name",
                                         "clone",
                                         "--mode",
                                         "replica",
                                         "--data-dir",
                                         temp_.path() + "/clone/data",
                                         "--listen",
                                         "127.0.0.1",
                                         "--port",
                                         std::to_string(clonePort),
                                         "--primary-host",
                                         "127.0.0.1",
                                         "--primary-port",
                                         std::to_string(port_),
                                         "--api-listen",
                                         "127.0.0.1",
                                         "--api-port",
                                         std::to_string(*cloneApi),
                                         "--password-file",
                                         temp_.path() + "/pw",
                                         "--replication-password-file",
                                         temp_.path() + "/pw",
                                         "--peers",
                                         "127.0.0.1:" + std::to_string(port_)},
                                .unsetEnv = {"PGPASSWORD", "PGDATA", "PGPORT"},
                                .outputPath = temp_.path() + "/clone.log",
                                .newSession = true};
  auto clone = runtime::spawnProcess(options);
  ASSERT_TRUE(clone.ok()) << clone.error().message;
  auto cloneLog = [&] {
    return runProgram({"/usr/bin/tail", "-n", "40", temp_.path() + "/clone.log"}).output;
  };
  auto inRecovery = [&]() -> std::string {
    auto conn = rawConnect(clonePort, "postgres", password_);
    if (PQstatus(conn.get()) != CONNECTION_OK) return "";
    return scalar(conn.get(), "SELECT pg_is_in_recovery()");
  };
  EXPECT_TRUE(waitUntil([&] { return inRecovery() == "t"; }, 120s)) << cloneLog();
  {
    auto conn = rawConnect(clonePort, "postgres", password_);
    EXPECT_EQ(scalar(conn.get(), "SELECT pg_promote()"), "t") << cloneLog();
  }
  EXPECT_TRUE(waitUntil([&] { return inRecovery() == "f"; }, 30s)) << cloneLog();
  auto promoted = rawConnect(clonePort, "postgres", password_);
  ASSERT_EQ(PQstatus(promoted.get()), CONNECTION_OK) << PQerrorMessage(promoted.get());
  EXPECT_EQ(scalar(promoted.get(), "SHOW default_transaction_read_only"), "off") << cloneLog();
  EXPECT_EQ(scalar(promoted.get(), "SHOW synchronous_standby_names"), "");
  EXPECT_EQ(command(promoted.get(), "CREATE TABLE written (v int)"), "ok") << cloneLog();
  EXPECT_TRUE(runtime::stopProcess(*clone, 60s));
}

}  // namespace
}  // namespace pgswarm::test
