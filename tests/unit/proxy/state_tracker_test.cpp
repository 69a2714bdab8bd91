// The transaction-mode state tracker, fed real classifications and the
// message sequences a server answers with.
#include "proxy/state_tracker.hpp"

#include <gtest/gtest.h>

#include "sql/classifier.hpp"

namespace pgswarm::proxy {
namespace {

std::shared_ptr<const sql::Classification> classified(std::string_view text) {
  return std::make_shared<const sql::Classification>(sql::classify(text));
}

// Runs a simple Query whose statements all succeed.
void runQuery(StateTracker& tracker, std::string_view text, std::vector<std::string> tags,
              char status = 'I') {
  tracker.query(classified(text));
  for (const auto& tag : tags) tracker.commandComplete(tag);
  tracker.readyForQuery(status);
}

TEST(StartupSettings, ParametersAndOptionsBecomeSetConfigCalls) {
  pool::Parameters startup{{"user", "alice"},
                           {"database", "app"},
                           {"application_name", "it's"},
                           {"DateStyle", "ISO, MDY"},
                           {"options", "-c search_path=a,b --statement-timeout=5s -cwork_mem=8MB"},
                           {"_pq_.something", "x"}};
  auto settings = startupSettings(startup);
  ASSERT_TRUE(settings) << settings.error().message;
  ASSERT_EQ(settings->size(), 5U);
  EXPECT_EQ(settings->at("application_name"),
            "SELECT pg_catalog.set_config(E'application_name', E'it''s', false)");
  EXPECT_EQ(settings->at("datestyle"),
            "SELECT pg_catalog.set_config(E'datestyle', E'ISO, MDY', false)");
  EXPECT_EQ(settings->at("search_path"),
            "SELECT pg_catalog.set_config(E'search_path', E'a,b', false)");
  EXPECT_EQ(settings->count("statement_timeout"), 1U);
  EXPECT_EQ(settings->count("work_mem"), 1U);
}

TEST(StartupSettings, EscapedSpacesAndUnsupportedSwitches) {
  auto escaped = startupSettings({{"options", R"(-c application_name=a\ b)"}});
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->at("application_name"),
            "SELECT pg_catalog.set_config(E'application_name', E'a b', false)");
  auto bad = startupSettings({{"options", "-d 5"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("unsupported option \"-d\""), std::string::npos);
  EXPECT_FALSE(startupSettings({{"options", "-c novalue"}}));
}

TEST(StateTracker, SameSettingsGiveTheSameKey) {
  auto settings = startupSettings({{"application_name", "pgbench"}});
  ASSERT_TRUE(settings);
  StateTracker a(*settings);
  StateTracker b(*settings);
  EXPECT_EQ(a.settingsKey(), b.settingsKey());
  EXPECT_FALSE(a.settingsKey().empty());
  EXPECT_EQ(StateTracker().settingsKey(), "");
  runQuery(a, "SELECT 1", {"SELECT 1"});
  EXPECT_EQ(a.settingsKey(), b.settingsKey());
}

TEST(StateTracker, CommittedSetChangesTheKeyAndReplays) {
  StateTracker tracker;
  runQuery(tracker, "SET search_path TO app, public", {"SET"});
  EXPECT_NE(tracker.settingsKey().find("SET search_path TO app, public"), std::string::npos);
  EXPECT_EQ(tracker.replayQuery().rfind("RESET ALL;", 0), 0U);
  EXPECT_FALSE(tracker.pinned());
  runQuery(tracker, "RESET search_path", {"RESET"});
  EXPECT_EQ(tracker.settingsKey(), "");
}

TEST(StateTracker, SetInAFailedImplicitTransactionIsRolledBack) {
  StateTracker tracker;
  tracker.query(classified("SET work_mem = '64MB'; SELECT 1/0"));
  tracker.commandComplete("SET");
  tracker.error();
  tracker.readyForQuery('I');
  EXPECT_EQ(tracker.settingsKey(), "");
}

TEST(StateTracker, ExplicitTransactionCommitsOrRollsBack) {
  StateTracker tracker;
  runQuery(tracker, "BEGIN; SET work_mem = '64MB'", {"BEGIN", "SET"}, 'T');
  EXPECT_EQ(tracker.settingsKey(), "");  // not committed yet
  runQuery(tracker, "ROLLBACK", {"ROLLBACK"});
  EXPECT_EQ(tracker.settingsKey(), "");

  runQuery(tracker, "BEGIN; SET work_mem = '64MB'", {"BEGIN", "SET"}, 'T');
  runQuery(tracker, "COMMIT", {"COMMIT"});
  EXPECT_NE(tracker.settingsKey().find("work_mem"), std::string::npos);

  // COMMIT of a failed transaction is a rollback.
  runQuery(tracker, "BEGIN; SET statement_timeout = 1000", {"BEGIN", "SET"}, 'T');
  tracker.query(classified("SELECT 1/0"));
  tracker.error();
  tracker.readyForQuery('E');
  runQuery(tracker, "COMMIT", {"ROLLBACK"});
  EXPECT_EQ(tracker.settingsKey().find("statement_timeout"), std::string::npos);
}

TEST(StateTracker, RollbackToSavepointDropsLaterSettings) {
  StateTracker tracker;
  runQuery(tracker, "BEGIN; SET work_mem = '1MB'; SAVEPOINT s; SET statement_timeout = 5",
           {"BEGIN", "SET", "SAVEPOINT", "SET"}, 'T');
  runQuery(tracker, "ROLLBACK TO SAVEPOINT s; COMMIT", {"ROLLBACK", "COMMIT"});
  EXPECT_NE(tracker.settingsKey().find("work_mem"), std::string::npos);
  EXPECT_EQ(tracker.settingsKey().find("statement_timeout"), std::string::npos);
}

TEST(StateTracker, ResetOfAStartupParameterDivergesTheServer) {
  auto settings = startupSettings({{"application_name", "app"}});
  ASSERT_TRUE(settings);
  StateTracker tracker(*settings);
  auto key = tracker.settingsKey();
  runQuery(tracker, "SET application_name = 'other'", {"SET"});
  EXPECT_NE(tracker.settingsKey(), key);
  EXPECT_FALSE(tracker.takeServerDiverged());
  runQuery(tracker, "RESET ALL", {"RESET"});
  EXPECT_EQ(tracker.settingsKey(), key);      // the client is back at its startup value...
  EXPECT_TRUE(tracker.takeServerDiverged());  // ...its server at the server default
  EXPECT_FALSE(tracker.takeServerDiverged());
}

TEST(StateTracker, UnreplayableStatePinsUntilItIsGone) {
  StateTracker tracker;
  runQuery(tracker, "LISTEN jobs", {"LISTEN"});
  EXPECT_TRUE(tracker.pinned());
  EXPECT_EQ(tracker.pinReason(), "LISTEN");
  runQuery(tracker, "UNLISTEN jobs", {"UNLISTEN"});
  EXPECT_FALSE(tracker.pinned());

  runQuery(tracker, "SELECT pg_advisory_lock(7)", {"SELECT 1"});
  EXPECT_EQ(tracker.pinReason(), "advisory lock");
  runQuery(tracker, "SELECT pg_advisory_unlock(7)", {"SELECT 1"});
  EXPECT_FALSE(tracker.pinned());

  runQuery(tracker, "CREATE TEMP TABLE t (x int)", {"CREATE TABLE"});
  runQuery(tracker, "SET ROLE app_reader", {"SET"});
  EXPECT_EQ(tracker.pinReason(), "temporary object, SET ROLE");
  runQuery(tracker, "RESET ROLE", {"RESET"});
  runQuery(tracker, "DISCARD TEMP", {"DISCARD TEMP"});
  EXPECT_FALSE(tracker.pinned());
}

TEST(StateTracker, AdvisoryLocksSurviveRollbackAndFailedStatements) {
  StateTracker tracker;
  runQuery(tracker, "BEGIN; SELECT pg_advisory_lock(1)", {"BEGIN", "SELECT 1"}, 'T');
  runQuery(tracker, "ROLLBACK", {"ROLLBACK"});
  EXPECT_TRUE(tracker.pinned());  // session locks are not transactional
  runQuery(tracker, "SELECT pg_advisory_unlock_all()", {"SELECT 1"});
  EXPECT_FALSE(tracker.pinned());
  // A statement that fails after locking may hold the lock: assume it does.
  tracker.query(classified("SELECT pg_advisory_lock(2), 1/0"));
  tracker.error();
  tracker.readyForQuery('I');
  EXPECT_TRUE(tracker.pinned());
}

TEST(StateTracker, TempTableOfARolledBackTransactionDoesNotPin) {
  StateTracker tracker;
  runQuery(tracker, "BEGIN; CREATE TEMP TABLE t (x int)", {"BEGIN", "CREATE TABLE"}, 'T');
  runQuery(tracker, "ROLLBACK", {"ROLLBACK"});
  EXPECT_FALSE(tracker.pinned());
}

TEST(StateTracker, ExtendedProtocolTracksPortalsToTheirStatements) {
  StateTracker tracker;
  tracker.parse("", classified("SET work_mem = '2MB'"));
  tracker.bind("", "");
  tracker.execute("");
  tracker.sync();
  tracker.commandComplete("SET");
  tracker.readyForQuery('I');
  EXPECT_NE(tracker.settingsKey().find("work_mem"), std::string::npos);

  // A named statement executed later, after unrelated unnamed ones.
  tracker.parse("listen", classified("LISTEN ch"));
  tracker.parse("", classified("SELECT 1"));
  tracker.bind("", "");
  tracker.execute("");
  tracker.bind("p", "listen");
  tracker.execute("p");
  tracker.sync();
  tracker.commandComplete("SELECT 1");
  EXPECT_FALSE(tracker.pinned());
  tracker.commandComplete("LISTEN");
  tracker.readyForQuery('I');
  EXPECT_TRUE(tracker.pinned());
}

TEST(StateTracker, ErrorSkipsTheRestOfAnExtendedBatch) {
  StateTracker tracker;
  tracker.parse("", classified("SELECT 1/0"));
  tracker.bind("", "");
  tracker.execute("");
  tracker.parse("l", classified("LISTEN ch"));
  tracker.bind("", "l");
  tracker.execute("");
  tracker.sync();
  tracker.error();  // the first Execute fails; the server skips to Sync
  tracker.readyForQuery('I');
  EXPECT_FALSE(tracker.pinned());
  // The next batch is tracked normally.
  tracker.bind("", "l");
  tracker.execute("");
  tracker.sync();
  tracker.commandComplete("LISTEN");
  tracker.readyForQuery('I');
  EXPECT_TRUE(tracker.pinned());
}

TEST(StateTracker, PipelinedQueriesRetireInOrder) {
  StateTracker tracker;
  tracker.query(classified("SET work_mem = '3MB'"));
  tracker.query(classified("SELECT 1/0"));
  tracker.query(classified("LISTEN ch"));
  tracker.commandComplete("SET");
  tracker.readyForQuery('I');
  tracker.error();
  tracker.readyForQuery('I');
  tracker.commandComplete("LISTEN");
  tracker.readyForQuery('I');
  EXPECT_NE(tracker.settingsKey().find("work_mem"), std::string::npos);
  EXPECT_TRUE(tracker.pinned());
}

TEST(StateTracker, DeallocateAndDiscardAllClearStatements) {
  StateTracker tracker;
  runQuery(tracker, "PREPARE q AS SELECT 1", {"PREPARE"});
  EXPECT_EQ(tracker.pinReason(), "PREPARE");
  runQuery(tracker, "DEALLOCATE ALL", {"DEALLOCATE ALL"});
  EXPECT_FALSE(tracker.pinned());
  EXPECT_TRUE(tracker.takeStatementsDeallocated());
  runQuery(tracker, "SET work_mem = '5MB'; LISTEN x", {"SET", "LISTEN"});
  runQuery(tracker, "DISCARD ALL", {"DISCARD ALL"});
  EXPECT_FALSE(tracker.pinned());
  EXPECT_EQ(tracker.settingsKey(), "");
  EXPECT_TRUE(tracker.takeStatementsDeallocated());
}

TEST(StateTracker, UnclassifiedTextRetiresItsWholeBatch) {
  StateTracker tracker;
  tracker.query(nullptr);
  tracker.commandComplete("INSERT 0 1");
  tracker.commandComplete("INSERT 0 1");
  tracker.readyForQuery('I');
  runQuery(tracker, "LISTEN ch", {"LISTEN"});
  EXPECT_TRUE(tracker.pinned());
}

TEST(StateTracker, ComputedSetConfigPinsUntilResetAll) {
  StateTracker tracker;
  runQuery(tracker, "SELECT set_config('work_mem', current_setting('work_mem'), false)",
           {"SELECT 1"});
  EXPECT_EQ(tracker.pinReason(), "computed set_config");
  runQuery(tracker, "RESET ALL", {"RESET"});
  EXPECT_FALSE(tracker.pinned());
}

}  // namespace
}  // namespace pgswarm::proxy
