// Protocol transcripts: one fixed script of exchanges (simple and extended
// query, errors, notices, COPY both ways, Describe, Close) sent by a raw
// client, first straight to PostgreSQL, then through the pool in session and
// in transaction mode. Everything the backend says from AuthenticationOk on
// must be the same, byte for byte, in all three.
#include <cstdio>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "wire_client.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

struct Step {
  std::string label;
  std::string send;
  // The type bytes PostgreSQL answers with, in order: the step ends after
  // the last one. Checked against the direct run, so the script cannot
  // silently drift into testing nothing.
  std::string expect;
};

// `table` is this client's own table (concurrent clients each have one).
std::vector<Step> script(const std::string& table = "transcript_t") {
  using namespace wire;
  std::vector<Step> steps{
      {"multi-statement simple query",
       query("SELECT 1 AS a, 'x'::text AS b; SELECT g FROM generate_series(1, 3) g; "
             "VALUES (NULL::int, 2.5::numeric)"),
       "TDCTDDDCTDCZ"},
      {"empty query", query(""), "IZ"},
      {"only a semicolon", query(";"), "IZ"},
      {"notice", query("DO $$BEGIN RAISE NOTICE 'x'; END$$"), "NCZ"},
      {"syntax error", query("SELEC 1"), "EZ"},
      {"begin", query("BEGIN"), "CZ"},
      {"error mid-transaction", query("SELECT 1; SELECT 1/0; SELECT 2"), "TDCEZ"},
      {"statement in failed transaction", query("SELECT 'ignored'"), "EZ"},
      {"rollback", query("ROLLBACK"), "CZ"},
      {"error and rollback in one string", query("BEGIN; SELECT 1/0; ROLLBACK"), "CEZ"},
      {"rollback after it", query("ROLLBACK"), "CZ"},
      {"extended pipeline, unnamed and named statements",
       parse("", "SELECT $1::int + 1 AS next") + bind("", "", {"41"}) + describePortal("") +
           execute("") +
           parse("s_named", "SELECT $1::text || '!' AS shout, $2::int * 2 AS twice", {25, 23}) +
           bind("", "s_named", {"hey", "21"}) + describePortal("") + execute("") + sync() +
           bind("", "s_named", {std::nullopt, "5"}) + execute("") + sync(),
       "12TDC12TDCZ2DCZ"},
      {"named statement in a later transaction",
       bind("", "s_named", {"again", "1"}) + execute("") + sync(), "2DCZ"},
      {"describe a statement", describeStatement("s_named") + sync(), "tTZ"},
      {"describe an unknown statement", describeStatement("no_such") + sync(), "EZ"},
      {"portal suspended",
       parse("", "SELECT g FROM generate_series(1, 5) g") + bind("", "", {}) + execute("", 2) +
           execute("", 2) + execute("", 0) + sync(),
       "12DDsDDsDCZ"},
      {"error in a pipeline skips to Sync",
       parse("", "SELECT 1 / $1::int") + bind("", "", {"0"}) + execute("") +
           parse("", "SELECT 'skipped'") + bind("", "", {}) + execute("") + sync() +
           parse("", "SELECT 'after sync'") + bind("", "", {}) + execute("") + sync(),
       "1EZ12DCZ"},  // Bind plans with the value 0 and folds 1 / 0: the error comes there
      {"empty query, extended", parse("", "") + bind("", "", {}) + execute("") + sync(), "12IZ"},
      {"statement without rows, extended",
       parse("", "DO $$BEGIN END$$") + bind("", "", {}) + describePortal("") + execute("") + sync(),
       "12nCZ"},
      {"parse and describe in one pipeline",
       parse("s_described", "SELECT $1::int AS i, now() IS NOT NULL AS t") +
           describeStatement("s_described") + sync(),
       "1tTZ"},
      {"flush without sync", bind("", "s_described", {"7"}) + execute("") + flush(), "2DC"},
      {"sync after flush", sync(), "Z"},
      {"begin before a parse", query("BEGIN"), "CZ"},
      {"parse inside a transaction", parse("s_in_tx", "SELECT 'from tx' AS f") + sync(), "1Z"},
      {"rollback keeps the statement", query("ROLLBACK"), "CZ"},
      {"statement parsed in a rolled back transaction",
       bind("", "s_in_tx", {}) + execute("") + sync(), "2DCZ"},
      {"failed parse of a named statement", parse("s_bad", "SELEC 1") + sync(), "EZ"},
      {"statement whose parse failed does not exist", bind("", "s_bad", {}) + execute("") + sync(),
       "EZ"},
      {"close a statement", closeStatement("s_named") + sync(), "3Z"},
      {"closed statement is gone", bind("", "s_named", {"x", "1"}) + execute("") + sync(), "EZ"},
      {"truncate", query("TRUNCATE " + table), "CZ"},
      {"copy from stdin starts", query("COPY " + table + " FROM STDIN"), "G"},
      {"copy from stdin data",
       copyData("1\tone\n") + copyData("2\ttwo\n3\t") + copyData("three\n") + copyDone(), "CZ"},
      {"copy from stdin again", query("COPY " + table + " FROM STDIN"), "G"},
      {"copy fail", copyData("4\tfour\n") + copyFail("client gave up"), "EZ"},
      {"copy to stdout", query("COPY (SELECT * FROM " + table + " ORDER BY id) TO STDOUT"),
       "HdddcCZ"},
      {"select from the table", query("SELECT id, v FROM " + table + " ORDER BY id"), "TDDDCZ"},
  };
  return steps;
}

std::string printable(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

std::string render(const WireMessage& message) {
  // BackendKeyData is the one message that must differ: through the pool it
  // is the pool's own cancel key (in transaction mode a client has no
  // backend of its own), and even straight from PostgreSQL the secret is
  // random per connection.
  if (message.type == 'K') return "K <cancel key>";
  return std::string(1, message.type) + " " + printable(message.body);
}

struct Transcript {
  std::string text;   // one line per message, "## label" per step
  std::string types;  // per step, "label: types"
};

Transcript runScript(int port, const std::string& password,
                     const std::string& table = "transcript_t") {
  Transcript out;
  WireClient client(port);
  auto welcome = client.login("postgres", password, "postgres",
                              {{"application_name", "transcript"}, {"client_encoding", "UTF8"}});
  out.text += "## login\n";
  for (const auto& message : welcome) out.text += render(message) + "\n";
  for (const auto& step : script(table)) {
    out.text += "## " + step.label + "\n";
    EXPECT_TRUE(client.send(step.send)) << step.label;
    std::string types;
    for (std::size_t i = 0; i < step.expect.size(); ++i) {
      WireMessage message;
      auto outcome = client.read(message, 10s);
      if (outcome != WireRead::kMessage) {
        out.text += "<read ended: " + std::to_string(static_cast<int>(outcome)) + ">\n";
        break;
      }
      out.text += render(message) + "\n";
      types += message.type;
    }
    out.types += step.label + ": " + types + "\n";
  }
  // Nothing may follow the last expected message of the last step.
  WireMessage extra;
  auto last = client.read(extra, 200ms);
  if (last == WireRead::kMessage) out.text += "<unexpected> " + render(extra) + "\n";
  client.send(wire::terminate());
  out.text += client.read(extra, 5s) == WireRead::kClosed ? "<closed>\n" : "<not closed>\n";
  return out;
}

class Transcripts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(0);  // NOLINT: freed in TearDownTestSuite
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    auto conn = cluster_->connect(0);
    for (const auto& table : tables()) {
      auto created = conn.query("CREATE TABLE " + table + " (id int PRIMARY KEY, v text)");
      ASSERT_TRUE(created.ok()) << created.error().message;
    }
    transactionPool_ = new PoolProcess(  // NOLINT
        *cluster_, {"--pool-mode", "transaction", "--default-pool-size", "2", "--workers", "1"});
    // Straight to PostgreSQL, twice: the script must be deterministic on its
    // own before the pool can be held to it.
    direct_ = runScript(cluster_->nodePort(0), cluster_->password());
    for (const auto& table : tables()) {
      directPerTable_.push_back(runScript(cluster_->nodePort(0), cluster_->password(), table));
    }
    ready_ = true;
  }
  static void TearDownTestSuite() {
    delete transactionPool_;  // NOLINT
    delete cluster_;          // NOLINT
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "cluster or pool did not start";
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline PoolProcess* transactionPool_ = nullptr;
  // transcript_t for the single-client runs, one more per concurrent client.
  static std::vector<std::string> tables() {
    return {"transcript_t", "transcript_c1", "transcript_c2", "transcript_c3"};
  }

  static inline Transcript direct_;
  static inline std::vector<Transcript> directPerTable_;
  static inline bool ready_ = false;
};

TEST_F(Transcripts, DirectRunAnswersAsScripted) {
  std::string expected;
  for (const auto& step : script()) expected += step.label + ": " + step.expect + "\n";
  EXPECT_EQ(direct_.types, expected);
  EXPECT_NE(direct_.text.find("<closed>"), std::string::npos) << direct_.text;
  EXPECT_EQ(runScript(cluster_->nodePort(0), cluster_->password()).text, direct_.text);
}

TEST_F(Transcripts, SessionModePoolIsTransparent) {
  auto pooled = runScript(cluster_->poolPort(), cluster_->password());
  EXPECT_EQ(pooled.text, direct_.text);
}

TEST_F(Transcripts, TransactionModePoolIsTransparent) {
  auto pooled = runScript(transactionPool_->port(), cluster_->password());
  EXPECT_EQ(pooled.text, direct_.text);
}

// A second run on the same pool finds its server connections used before
// (statements prepared by the first run, session state left behind).
TEST_F(Transcripts, TransactionModePoolIsTransparentOnReusedServers) {
  auto pooled = runScript(transactionPool_->port(), cluster_->password());
  EXPECT_EQ(pooled.text, direct_.text);
}

// Three clients at once on two server connections: transactions land on
// whichever server is free, so named statements must follow their client
// from server to server, and no client may see another's messages.
TEST_F(Transcripts, ConcurrentClientsOnFewerServersInTransactionMode) {
  std::vector<std::future<Transcript>> runs;
  for (std::size_t i = 1; i < tables().size(); ++i) {
    runs.push_back(std::async(std::launch::async, [i] {
      return runScript(transactionPool_->port(), cluster_->password(), tables()[i]);
    }));
  }
  for (std::size_t i = 1; i < tables().size(); ++i) {
    EXPECT_EQ(runs[i - 1].get().text, directPerTable_[i].text) << tables()[i];
  }
}

}  // namespace
}  // namespace pgswarm::test
