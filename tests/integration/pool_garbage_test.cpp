// Garbage on the wire while real work runs: pgbench drives the pool in
// transaction mode while raw clients send malformed startup packets,
// impossible message lengths, unknown message types and silent half-open
// connections. Each bad client must get ErrorResponse 08P01, or what
// PostgreSQL itself does with the same bytes (measured, not assumed); the
// pool must stay up and pgbench must lose nothing.
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "wire_client.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string bytes(std::initializer_list<unsigned char> values) {
  return {values.begin(), values.end()};
}

std::string int32(std::uint32_t value) {
  return bytes({static_cast<unsigned char>(value >> 24), static_cast<unsigned char>(value >> 16),
                static_cast<unsigned char>(value >> 8), static_cast<unsigned char>(value)});
}

// A startup-phase packet: length word, then the payload as given.
std::string startupPacket(std::uint32_t version, const std::string& rest) {
  return int32(static_cast<std::uint32_t>(8 + rest.size())) + int32(version) + rest;
}

struct GarbageCase {
  std::string label;
  bool loginFirst = false;
  std::string send;
  bool shutdownAfterSend = false;  // FIN after the bytes: "nothing more is coming"
};

std::vector<GarbageCase> garbageCases() {
  const std::uint32_t v3 = 3U << 16;
  std::string userParam = std::string("user\0postgres\0", 14);
  std::string oversized = startupPacket(v3, userParam + std::string(10000, 'x') + '\0');
  return {
      {"startup length 2 GiB", false, int32(0x7fffffff) + int32(v3)},
      {"startup length negative", false, int32(0xfffffff0U) + int32(v3)},
      {"startup length below the minimum", false, int32(4) + int32(v3)},
      {"startup packet over 10000 bytes", false, oversized},
      {"startup packet cut short, then EOF", false, int32(64) + int32(v3) + "user", true},
      {"protocol 4.0", false, startupPacket(4U << 16, userParam + '\0')},
      {"protocol 2.0", false, startupPacket(2U << 16, userParam + '\0')},
      {"unknown request code 1234.9999", false, startupPacket((1234U << 16) | 9999U, "")},
      {"startup without a user", false,
       startupPacket(v3, std::string("database\0postgres\0\0", 19))},
      {"startup without its terminator", false, startupPacket(v3, userParam)},
      {"HTTP request", false, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"},
      {"TLS ClientHello", false,
       bytes({0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03}) +
           std::string(32, '\x42')},
      {"unknown message type", true, "z" + int32(4)},
      {"message length negative", true, "Q" + int32(0xffffffffU) + "SELECT 1" + '\0'},
      {"message length below 4", true, "Q" + int32(2) + "SELECT 1" + '\0'},
      {"message length 2 GiB", true, "Q" + int32(0x7fffffff) + "SELECT 1" + '\0'},
      {"Query without its NUL", true, "Q" + int32(12) + "SELECT 1"},
      {"Bind with more parameters than bytes", true,
       "B" + int32(4 + 2 + 2 + 2) + std::string("\0\0\0\0\0\x05", 6) + wire::sync()},
      // PostgreSQL reads the type byte first: FATAL 08P01 "invalid frontend
      // message type 0"; no server connection is taken for it.
      {"NUL type with text for a length", true, std::string("\0garbage, not a message", 23)},
      // PostgreSQL caps every message but Query, Parse, Bind, FunctionCall,
      // CopyData and the password messages at 10000 bytes.
      {"Sync of 20000 bytes", true, "S" + int32(20004) + std::string(20000, '\0')},
  };
}

struct Outcome {
  std::string sqlState;  // of the first ErrorResponse, "" when none came
  bool closed = false;   // the server closed the connection
  bool operator==(const Outcome&) const = default;
};

std::string describe(const Outcome& outcome) {
  return (outcome.sqlState.empty() ? std::string("no error") : "error " + outcome.sqlState) +
         (outcome.closed ? ", closed" : ", left open");
}

Outcome runCase(int port, const std::string& password, const GarbageCase& garbage) {
  WireClient client(port);
  if (garbage.loginFirst) client.login("postgres", password, "postgres");
  client.send(garbage.send);
  if (garbage.shutdownAfterSend) client.shutdownWrite();
  auto [state, how] = client.awaitErrorAndClose(10s);
  return {state, how == WireRead::kClosed};
}

class PoolGarbage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(0);  // NOLINT: freed in TearDownTestSuite
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    auto init = pgbench(cluster_->nodePort(0), {"-i", "-s", "1", "-q"});
    ASSERT_EQ(init.exitCode, 0) << init.output;
    config_ = new TempDir();  // NOLINT
    {
      std::ofstream file(config_->path() + "/pool.toml");
      file << "[pool]\nclient_login_timeout = " << kLoginTimeoutSeconds << "\n";
    }
    pool_ = new PoolProcess(  // NOLINT
        *cluster_, {"--pool-mode", "transaction", "--default-pool-size", "6", "--workers", "2",
                    "--config", config_->path() + "/pool.toml"});
    ready_ = true;
  }
  static void TearDownTestSuite() {
    delete pool_;     // NOLINT
    delete config_;   // NOLINT
    delete cluster_;  // NOLINT
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "cluster or pool did not start";
  }

  static CommandOutput pgbench(int port, const std::vector<std::string>& args) {
    std::vector<std::string> all{"-h", "127.0.0.1", "-p", std::to_string(port), "-U", "postgres"};
    all.insert(all.end(), args.begin(), args.end());
    all.emplace_back("postgres");
    return runPgClient("pgbench", all, cluster_->password());
  }

  static constexpr int kLoginTimeoutSeconds = 2;
  static constexpr int kBenchSeconds = 10;
  static inline LocalCluster* cluster_ = nullptr;
  static inline TempDir* config_ = nullptr;
  static inline PoolProcess* pool_ = nullptr;
  static inline bool ready_ = false;
};

TEST_F(PoolGarbage, BadClientsGet08P01WhilePgbenchLosesNothing) {
  const auto password = cluster_->password();
  const auto cases = garbageCases();
  // What PostgreSQL does with the same bytes.
  std::vector<Outcome> reference;
  for (const auto& garbage : cases) {
    reference.push_back(runCase(cluster_->nodePort(0), password, garbage));
  }

  auto bench = std::async(std::launch::async, [&] {
    return pgbench(pool_->port(), {"-c", "8", "-j", "2", "-T", std::to_string(kBenchSeconds)});
  });
  std::this_thread::sleep_for(1s);  // pgbench's clients are connected and busy

  // Silent clients: before the startup packet, inside it, and during SCRAM.
  WireClient silentBeforeStartup(pool_->port());
  WireClient silentInsideStartup(pool_->port());
  silentInsideStartup.send(int32(64) + int32(3U << 16));
  WireClient silentDuringScram(pool_->port());
  silentDuringScram.send(wire::startup({{"user", "postgres"}, {"database", "postgres"}}));
  // Logged-in clients that go quiet: idle, inside a message, inside a
  // transaction. The last two hold a server each, as they would a backend.
  WireClient idle(pool_->port());
  idle.login("postgres", password, "postgres");
  WireClient insideMessage(pool_->port());
  insideMessage.login("postgres", password, "postgres");
  insideMessage.send("Q" + int32(256) + "SELECT");
  WireClient insideTransaction(pool_->port());
  insideTransaction.login("postgres", password, "postgres");
  insideTransaction.send(wire::query("BEGIN"));
  WireMessage message;
  EXPECT_EQ(silentBeforeStartup.read(message, 300ms), WireRead::kTimeout)
      << "a silent client was closed before client_login_timeout";
  auto garbageStarted = Clock::now();

  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto pooled = runCase(pool_->port(), password, cases[i]);
    bool protocolViolation = pooled.sqlState == "08P01" && pooled.closed;
    EXPECT_TRUE(protocolViolation || pooled == reference[i])
        << cases[i].label << ": through the pool " << describe(pooled) << ", PostgreSQL "
        << describe(reference[i]);
  }

  for (auto* silent : {&silentBeforeStartup, &silentInsideStartup, &silentDuringScram}) {
    auto [state, how] = silent->awaitErrorAndClose(kLoginTimeoutSeconds * 1s + 5s);
    EXPECT_EQ(how, WireRead::kClosed) << "a silent client was not closed at client_login_timeout";
  }

  auto garbageDone = Clock::now();
  EXPECT_EQ(bench.wait_for(0s), std::future_status::timeout)
      << "pgbench ended before the garbage did ("
      << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - garbageStarted)
             .count()
      << " ms): the test proved nothing";
  auto run = bench.get();
  EXPECT_EQ(run.exitCode, 0) << run.output;
  EXPECT_TRUE(contains(run.output, "number of failed transactions: 0 ")) << run.output;
  const std::string processedLabel = "number of transactions actually processed: ";
  auto processed = run.output.find(processedLabel);
  ASSERT_NE(processed, std::string::npos) << run.output;
  EXPECT_GE(std::stol(run.output.substr(processed + processedLabel.size())), 50) << run.output;
  auto garbageMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(garbageDone - garbageStarted).count();
  std::cout << "garbage phase: " << garbageMs << " ms within pgbench's " << kBenchSeconds << " s\n";
  EXPECT_FALSE(contains(run.output, "aborted")) << run.output;

  // The quiet logged-in clients were left alone, like PostgreSQL would.
  EXPECT_EQ(idle.read(message, 0ms), WireRead::kTimeout);
  EXPECT_EQ(insideTransaction.read(message, 1s), WireRead::kMessage);  // BEGIN's CommandComplete
  idle.send(wire::query("SELECT 'idle client still served'"));
  std::vector<WireMessage> answer;
  ASSERT_EQ(idle.readUntilReady(answer, 1, 10s), WireRead::kMessage);
  EXPECT_EQ(answer.front().type, 'T');

  EXPECT_TRUE(pool_->running()) << pool_->log();
  auto conn = cluster::PgConnection::connect(
      {.host = "127.0.0.1", .port = pool_->port(), .password = password});
  ASSERT_TRUE(conn.ok()) << conn.error().message;
  EXPECT_TRUE(conn->query("SELECT 1").ok());
  auto log = pool_->log();
  EXPECT_FALSE(contains(log, "runtime error")) << log;  // UBSan
  EXPECT_FALSE(contains(log, "AddressSanitizer")) << log;
}

}  // namespace
}  // namespace pgswarm::test
