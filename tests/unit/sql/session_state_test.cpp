// Transaction control and session-state effects: what transaction pooling
// must track, replay or pin (issue 3), and what routing needs from BEGIN and
// the session's read-only defaults (issue 4).
#include <string_view>

#include <gtest/gtest.h>

#include "sql/classifier.hpp"
#include "test_util.hpp"

namespace pgswarm::sql {
namespace {

Statement only(std::string_view sql) {
  Classification result = classify(sql);
  EXPECT_EQ(result.status, ClassificationStatus::kOk) << sql << " => " << describe(result);
  EXPECT_EQ(result.statements.size(), 1U) << sql;
  return result.statements.empty() ? Statement{} : result.statements.front();
}

SessionEffect onlyEffect(std::string_view sql) {
  Statement statement = only(sql);
  EXPECT_EQ(statement.sessionEffects.size(), 1U) << sql << " => " << describe(statement);
  return statement.sessionEffects.empty() ? SessionEffect{} : statement.sessionEffects.front();
}

// ---- transaction control ----

TEST(Transaction, BeginNotesReadOnlyAndIsolation) {
  Statement begin = only("BEGIN READ ONLY");
  EXPECT_EQ(begin.transaction.op, TransactionOp::kBegin);
  EXPECT_EQ(begin.transaction.access, AccessMode::kReadOnly);
  EXPECT_EQ(begin.transaction.isolation, IsolationLevel::kUnspecified);

  Statement start = only("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE");
  EXPECT_EQ(start.transaction.op, TransactionOp::kBegin);
  EXPECT_EQ(start.transaction.access, AccessMode::kReadWrite);
  EXPECT_EQ(start.transaction.isolation, IsolationLevel::kRepeatableRead);

  Statement full = only("begin isolation level serializable read only deferrable");
  EXPECT_EQ(full.transaction.access, AccessMode::kReadOnly);
  EXPECT_EQ(full.transaction.isolation, IsolationLevel::kSerializable);
  EXPECT_TRUE(full.transaction.deferrable);

  EXPECT_EQ(only("BEGIN").transaction.access, AccessMode::kUnspecified);
  EXPECT_EQ(only("BEGIN ISOLATION LEVEL READ COMMITTED").transaction.isolation,
            IsolationLevel::kReadCommitted);
  EXPECT_EQ(only("BEGIN ISOLATION LEVEL READ UNCOMMITTED").transaction.isolation,
            IsolationLevel::kReadUncommitted);
}

TEST(Transaction, EndingsSavepointsAndTwoPhaseCommit) {
  struct Case {
    std::string_view sql;
    TransactionOp op;
    std::string_view name;
    bool chain;
  };
  const Case cases[] = {
      {"COMMIT", TransactionOp::kCommit, "", false},
      {"END", TransactionOp::kCommit, "", false},
      {"COMMIT AND CHAIN", TransactionOp::kCommit, "", true},
      {"ROLLBACK", TransactionOp::kRollback, "", false},
      {"ABORT", TransactionOp::kRollback, "", false},
      {"ROLLBACK AND CHAIN", TransactionOp::kRollback, "", true},
      {"SAVEPOINT a", TransactionOp::kSavepoint, "a", false},
      {"RELEASE a", TransactionOp::kRelease, "a", false},
      {"RELEASE SAVEPOINT \"A b\"", TransactionOp::kRelease, "A b", false},
      {"ROLLBACK TO a", TransactionOp::kRollbackTo, "a", false},
      {"ROLLBACK TO SAVEPOINT a", TransactionOp::kRollbackTo, "a", false},
      {"PREPARE TRANSACTION 'g1'", TransactionOp::kPrepareTransaction, "g1", false},
      {"COMMIT PREPARED 'g1'", TransactionOp::kCommitPrepared, "g1", false},
      {"ROLLBACK PREPARED 'g1'", TransactionOp::kRollbackPrepared, "g1", false},
      {"SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", TransactionOp::kSetTransactionSnapshot,
       "00000003-0000001B-1", false},
  };
  for (const Case& c : cases) {
    Statement statement = only(c.sql);
    SCOPED_TRACE(c.sql);
    EXPECT_EQ(statement.kind, StatementKind::kTransaction);
    EXPECT_EQ(statement.transaction.op, c.op);
    EXPECT_EQ(statement.transaction.name, c.name);
    EXPECT_EQ(statement.transaction.chain, c.chain);
    EXPECT_TRUE(statement.sessionEffects.empty());
  }
}

TEST(Transaction, SetTransactionAffectsOnlyTheCurrentTransaction) {
  Statement statement = only("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY");
  EXPECT_EQ(statement.kind, StatementKind::kTransaction);
  EXPECT_EQ(statement.transaction.op, TransactionOp::kSetTransaction);
  EXPECT_EQ(statement.transaction.access, AccessMode::kReadOnly);
  EXPECT_EQ(statement.transaction.isolation, IsolationLevel::kSerializable);
  EXPECT_TRUE(statement.sessionEffects.empty());
}

TEST(Transaction, SessionCharacteristicsBecomeDefaultSettings) {
  Statement statement =
      only("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE");
  EXPECT_EQ(statement.kind, StatementKind::kSet);
  EXPECT_EQ(statement.transaction.op, TransactionOp::kSetSessionCharacteristics);
  EXPECT_EQ(statement.transaction.access, AccessMode::kReadOnly);
  ASSERT_EQ(statement.sessionEffects.size(), 2U);
  EXPECT_EQ(statement.sessionEffects[0].kind, SessionEffectKind::kSet);
  EXPECT_EQ(statement.sessionEffects[0].name, "default_transaction_read_only");
  EXPECT_EQ(statement.sessionEffects[0].value, "on");
  EXPECT_EQ(statement.sessionEffects[0].replaySql, "SET default_transaction_read_only TO 'on'");
  EXPECT_EQ(statement.sessionEffects[1].name, "default_transaction_isolation");
  EXPECT_EQ(statement.sessionEffects[1].value, "serializable");

  SessionEffect readWrite = onlyEffect("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE");
  EXPECT_EQ(readWrite.name, "default_transaction_read_only");
  EXPECT_EQ(readWrite.value, "off");
}

TEST(Transaction, DefaultTransactionReadOnlyIsAPlainSet) {
  SessionEffect effect = onlyEffect("SET default_transaction_read_only = on");
  EXPECT_EQ(effect.kind, SessionEffectKind::kSet);
  EXPECT_EQ(effect.name, "default_transaction_read_only");
  EXPECT_EQ(effect.value, "on");
  EXPECT_EQ(onlyEffect("SET default_transaction_read_only TO true").value, "true");
}

// ---- SET / RESET ----

TEST(SessionSet, ValuesAreReconstructedFromTheTree) {
  struct Case {
    std::string_view sql;
    std::string_view name;
    std::string_view value;
  };
  const Case cases[] = {
      {"SET search_path TO a, b", "search_path", "a, b"},
      {"SET search_path = \"$user\", public", "search_path", "$user, public"},
      {"SET search_path TO 'My Schema', \"Other\"", "search_path", "My Schema, Other"},
      {"SET TIME ZONE 'UTC'", "timezone", "UTC"},
      {"set timezone = 'Europe/Paris'", "timezone", "Europe/Paris"},
      {"SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE", "timezone", "+02:00"},
      {"SET statement_timeout = 5000", "statement_timeout", "5000"},
      {"SET extra_float_digits = -1.5", "extra_float_digits", "-1.5"},
      {"SET enable_seqscan = off", "enable_seqscan", "off"},
      {"SET application_name = ''", "application_name", ""},
      {"SET NAMES 'UTF8'", "client_encoding", "UTF8"},
      {"SET SCHEMA 'app'", "search_path", "app"},
      {"SET \"DateStyle\" TO ISO, MDY", "datestyle", "iso, mdy"},
      {"SET SESSION work_mem = '64MB'", "work_mem", "64MB"},
      {"SET myapp.user_id = 42", "myapp.user_id", "42"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.sql);
    SessionEffect effect = onlyEffect(c.sql);
    EXPECT_EQ(effect.kind, SessionEffectKind::kSet);
    EXPECT_EQ(effect.name, c.name);
    EXPECT_EQ(effect.value, c.value);
    EXPECT_EQ(effect.replaySql, c.sql);  // the statement itself replays it
    EXPECT_FALSE(pinsConnection(effect.kind));
  }
}

TEST(SessionSet, LocalAndFromCurrentHaveNoSessionEffect) {
  EXPECT_TRUE(only("SET LOCAL search_path TO a").sessionEffects.empty());
  EXPECT_TRUE(only("SET LOCAL ROLE bob").sessionEffects.empty());
  EXPECT_TRUE(only("SET work_mem FROM CURRENT").sessionEffects.empty());
  EXPECT_EQ(only("SET LOCAL search_path TO a").kind, StatementKind::kSet);
}

TEST(SessionSet, DefaultsAndResets) {
  SessionEffect toDefault = onlyEffect("SET search_path TO DEFAULT");
  EXPECT_EQ(toDefault.kind, SessionEffectKind::kSetDefault);
  EXPECT_EQ(toDefault.name, "search_path");
  EXPECT_EQ(toDefault.replaySql, "SET search_path TO DEFAULT");

  SessionEffect reset = onlyEffect("RESET Search_Path");
  EXPECT_EQ(reset.kind, SessionEffectKind::kSetDefault);
  EXPECT_EQ(reset.name, "search_path");

  SessionEffect all = onlyEffect("RESET ALL");
  EXPECT_EQ(all.kind, SessionEffectKind::kResetAll);
  EXPECT_EQ(all.replaySql, "RESET ALL");
  EXPECT_EQ(onlyEffect("SET TIME ZONE LOCAL").kind, SessionEffectKind::kSetDefault);
}

TEST(SessionSet, SetConfigWithConstantsIsASessionSet) {
  Statement statement = only("select set_config('x','y',false)");
  EXPECT_EQ(statement.kind, StatementKind::kSelect);
  EXPECT_FALSE(statement.readOnly);
  ASSERT_EQ(statement.sessionEffects.size(), 1U);
  const SessionEffect& effect = statement.sessionEffects.front();
  EXPECT_EQ(effect.kind, SessionEffectKind::kSet);
  EXPECT_EQ(effect.name, "x");
  EXPECT_EQ(effect.value, "y");
  EXPECT_EQ(effect.replaySql, "SELECT pg_catalog.set_config('x', 'y', false)");

  SessionEffect quoted = onlyEffect("SELECT pg_catalog.set_config('Search_Path', 'a, \"B\"', 'f')");
  EXPECT_EQ(quoted.name, "search_path");
  EXPECT_EQ(quoted.value, "a, \"B\"");

  SessionEffect escaped = onlyEffect("SELECT set_config('x', E'it''s \\\\ here', false)");
  EXPECT_EQ(escaped.value, "it's \\ here");
  EXPECT_EQ(escaped.replaySql, "SELECT pg_catalog.set_config('x', E'it''s \\\\ here', false)");
}

TEST(SessionSet, SetConfigLocalOrOpaque) {
  EXPECT_TRUE(only("SELECT set_config('x', 'y', true)").sessionEffects.empty());
  EXPECT_EQ(onlyEffect("SELECT set_config('x', current_user, false)").kind,
            SessionEffectKind::kOpaqueSet);
  EXPECT_EQ(onlyEffect("SELECT set_config($1, $2, $3)").kind, SessionEffectKind::kOpaqueSet);
  EXPECT_EQ(onlyEffect("SELECT set_config(name, 'v', false) FROM t").kind,
            SessionEffectKind::kOpaqueSet);
  EXPECT_TRUE(pinsConnection(SessionEffectKind::kOpaqueSet));
}

// ---- roles ----

TEST(SessionRole, SetRoleAndSessionAuthorizationPin) {
  SessionEffect role = onlyEffect("SET ROLE bob");
  EXPECT_EQ(role.kind, SessionEffectKind::kSetRole);
  EXPECT_EQ(role.name, "bob");
  EXPECT_TRUE(pinsConnection(role.kind));

  EXPECT_EQ(onlyEffect("SET ROLE \"Admin\"").name, "Admin");
  EXPECT_EQ(onlyEffect("RESET ROLE").kind, SessionEffectKind::kResetRole);
  EXPECT_EQ(onlyEffect("SET ROLE NONE").kind, SessionEffectKind::kResetRole);
  EXPECT_FALSE(pinsConnection(SessionEffectKind::kResetRole));

  SessionEffect authorization = onlyEffect("SET SESSION AUTHORIZATION alice");
  EXPECT_EQ(authorization.kind, SessionEffectKind::kSetSessionAuthorization);
  EXPECT_EQ(authorization.name, "alice");
  EXPECT_TRUE(pinsConnection(authorization.kind));
  EXPECT_EQ(onlyEffect("RESET SESSION AUTHORIZATION").kind,
            SessionEffectKind::kResetSessionAuthorization);
  EXPECT_EQ(onlyEffect("SET SESSION AUTHORIZATION DEFAULT").kind,
            SessionEffectKind::kResetSessionAuthorization);
}

// ---- notifications, temporary objects, locks, cursors, statements ----

TEST(SessionState, ListenAndUnlisten) {
  SessionEffect listen = onlyEffect("LISTEN orders");
  EXPECT_EQ(listen.kind, SessionEffectKind::kListen);
  EXPECT_EQ(listen.name, "orders");
  EXPECT_TRUE(pinsConnection(listen.kind));
  EXPECT_EQ(onlyEffect("LISTEN \"Mixed Case\"").name, "Mixed Case");
  EXPECT_EQ(onlyEffect("UNLISTEN orders").kind, SessionEffectKind::kUnlisten);
  EXPECT_EQ(onlyEffect("UNLISTEN *").kind, SessionEffectKind::kUnlistenAll);
  EXPECT_TRUE(only("NOTIFY orders, 'x'").sessionEffects.empty());
}

TEST(SessionState, TemporaryObjects) {
  struct Case {
    std::string_view sql;
    std::string_view name;
  };
  const Case cases[] = {
      {"CREATE TEMP TABLE tmp (a int)", "tmp"},
      {"CREATE TEMPORARY TABLE IF NOT EXISTS tmp2 (a int)", "tmp2"},
      {"CREATE LOCAL TEMP TABLE tmp3 (a int)", "tmp3"},
      {"CREATE TABLE pg_temp.tmp4 (a int)", "tmp4"},
      {"CREATE TEMP TABLE tmp5 AS SELECT * FROM t", "tmp5"},
      {"CREATE TEMP VIEW v AS SELECT 1", "v"},
      {"CREATE TEMPORARY SEQUENCE s", "s"},
      {"SELECT * INTO TEMP TABLE tmp6 FROM t", "tmp6"},
      {"SELECT * INTO TEMP tmp7 FROM t UNION SELECT * FROM u", "tmp7"},
      {"CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "pg_temp.f"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.sql);
    SessionEffect effect = onlyEffect(c.sql);
    EXPECT_EQ(effect.kind, SessionEffectKind::kTempObject);
    EXPECT_EQ(effect.name, c.name);
    EXPECT_TRUE(pinsConnection(effect.kind));
  }
  // Gone at commit, or not temporary at all: nothing to pin.
  EXPECT_TRUE(only("CREATE TEMP TABLE t (a int) ON COMMIT DROP").sessionEffects.empty());
  EXPECT_TRUE(only("CREATE TEMP TABLE t ON COMMIT DROP AS SELECT 1").sessionEffects.empty());
  EXPECT_TRUE(only("CREATE TABLE t (a int)").sessionEffects.empty());
  EXPECT_TRUE(only("CREATE UNLOGGED TABLE t (a int)").sessionEffects.empty());
  EXPECT_TRUE(only("ALTER TABLE pg_temp.t ADD COLUMN b int").sessionEffects.empty());
}

TEST(SessionState, AdvisoryLocks) {
  struct Case {
    std::string_view sql;
    SessionEffectKind kind;
  };
  const Case cases[] = {
      {"SELECT pg_advisory_lock(1)", SessionEffectKind::kAdvisoryLock},
      {"SELECT pg_advisory_lock(1, 2)", SessionEffectKind::kAdvisoryLock},
      {"SELECT pg_advisory_lock_shared(1)", SessionEffectKind::kAdvisoryLock},
      {"SELECT pg_try_advisory_lock(1)", SessionEffectKind::kAdvisoryLock},
      {"SELECT pg_try_advisory_lock_shared(1)", SessionEffectKind::kAdvisoryLock},
      {"SELECT pg_catalog.pg_advisory_lock(hashtext('job'))", SessionEffectKind::kAdvisoryLock},
      {"SELECT pg_advisory_unlock(1)", SessionEffectKind::kAdvisoryUnlock},
      {"SELECT pg_advisory_unlock_shared(1)", SessionEffectKind::kAdvisoryUnlock},
      {"SELECT pg_advisory_unlock_all()", SessionEffectKind::kAdvisoryUnlockAll},
      {"SELECT id FROM jobs WHERE pg_try_advisory_lock(id) LIMIT 1",
       SessionEffectKind::kAdvisoryLock},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.sql);
    Statement statement = only(c.sql);
    EXPECT_FALSE(statement.readOnly);
    ASSERT_EQ(statement.sessionEffects.size(), 1U) << describe(statement);
    EXPECT_EQ(statement.sessionEffects.front().kind, c.kind);
  }
  EXPECT_TRUE(pinsConnection(SessionEffectKind::kAdvisoryLock));
  // Transaction-scoped locks end with the transaction: never a session effect.
  for (std::string_view sql :
       {"SELECT pg_advisory_xact_lock(1)", "SELECT pg_try_advisory_xact_lock(1)",
        "SELECT pg_advisory_xact_lock_shared(1)", "SELECT pg_try_advisory_xact_lock_shared(1)"}) {
    Statement statement = only(sql);
    EXPECT_TRUE(statement.sessionEffects.empty()) << sql;
    EXPECT_FALSE(statement.readOnly) << sql;
  }
  // A lock that is only planned, prepared or stored does not happen now.
  EXPECT_TRUE(only("EXPLAIN SELECT pg_advisory_lock(1)").sessionEffects.empty());
  EXPECT_TRUE(only("PREPARE p AS SELECT pg_advisory_lock(1)").sessionEffects.size() == 1U);
  EXPECT_TRUE(only("CREATE VIEW v AS SELECT pg_advisory_lock(1)").sessionEffects.empty());
  EXPECT_EQ(onlyEffect("EXPLAIN ANALYZE SELECT pg_advisory_lock(1)").kind,
            SessionEffectKind::kAdvisoryLock);
}

TEST(SessionState, AdvisoryEffectsKeepTheirWrittenOrder) {
  Statement statement =
      only("SELECT pg_advisory_unlock_all(), pg_advisory_lock(1), pg_advisory_unlock(1)");
  ASSERT_EQ(statement.sessionEffects.size(), 3U);
  EXPECT_EQ(statement.sessionEffects[0].kind, SessionEffectKind::kAdvisoryUnlockAll);
  EXPECT_EQ(statement.sessionEffects[1].kind, SessionEffectKind::kAdvisoryLock);
  EXPECT_EQ(statement.sessionEffects[2].kind, SessionEffectKind::kAdvisoryUnlock);
}

TEST(SessionState, HoldCursorsAndClose) {
  SessionEffect hold = onlyEffect("DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t");
  EXPECT_EQ(hold.kind, SessionEffectKind::kHoldCursor);
  EXPECT_EQ(hold.name, "c");
  EXPECT_TRUE(pinsConnection(hold.kind));
  EXPECT_EQ(onlyEffect("DECLARE \"C2\" BINARY SCROLL CURSOR WITH HOLD FOR SELECT 1").name, "C2");
  EXPECT_TRUE(only("DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1").sessionEffects.empty());
  EXPECT_TRUE(only("DECLARE c NO SCROLL CURSOR FOR SELECT 1").sessionEffects.empty());
  EXPECT_EQ(onlyEffect("CLOSE c").kind, SessionEffectKind::kCloseCursor);
  EXPECT_EQ(onlyEffect("CLOSE ALL").kind, SessionEffectKind::kCloseAllCursors);
  EXPECT_TRUE(only("FETCH ALL FROM c").sessionEffects.empty());
}

TEST(SessionState, PreparedStatements) {
  SessionEffect prepare = onlyEffect("PREPARE q(int) AS SELECT * FROM t WHERE a = $1");
  EXPECT_EQ(prepare.kind, SessionEffectKind::kPrepare);
  EXPECT_EQ(prepare.name, "q");
  EXPECT_EQ(prepare.replaySql, "PREPARE q(int) AS SELECT * FROM t WHERE a = $1");
  EXPECT_FALSE(pinsConnection(prepare.kind));  // replayable from its text

  SessionEffect deallocate = onlyEffect("DEALLOCATE q");
  EXPECT_EQ(deallocate.kind, SessionEffectKind::kDeallocate);
  EXPECT_EQ(deallocate.name, "q");
  EXPECT_EQ(onlyEffect("DEALLOCATE PREPARE q").name, "q");
  EXPECT_EQ(onlyEffect("DEALLOCATE ALL").kind, SessionEffectKind::kDeallocateAll);
  EXPECT_TRUE(only("EXECUTE q(1)").sessionEffects.empty());

  // The prepared query's tables and functions are reported, but it neither
  // writes nor takes effect until EXECUTE.
  Statement statement = only("PREPARE w AS INSERT INTO t VALUES (nextval('s'))");
  ASSERT_EQ(statement.tables.size(), 1U);
  EXPECT_FALSE(statement.tables.front().written);
  EXPECT_EQ(statement.functions, std::vector<std::string>{"nextval"});
}

TEST(SessionState, DiscardAndLoad) {
  EXPECT_EQ(onlyEffect("DISCARD ALL").kind, SessionEffectKind::kDiscardAll);
  EXPECT_EQ(onlyEffect("DISCARD PLANS").kind, SessionEffectKind::kDiscardPlans);
  EXPECT_EQ(onlyEffect("DISCARD SEQUENCES").kind, SessionEffectKind::kDiscardSequences);
  EXPECT_EQ(onlyEffect("DISCARD TEMP").kind, SessionEffectKind::kDiscardTemp);
  EXPECT_EQ(onlyEffect("DISCARD TEMPORARY").kind, SessionEffectKind::kDiscardTemp);
  SessionEffect load = onlyEffect("LOAD 'auto_explain'");
  EXPECT_EQ(load.kind, SessionEffectKind::kLoad);
  EXPECT_EQ(load.name, "auto_explain");
  EXPECT_TRUE(pinsConnection(load.kind));
}

TEST(SessionState, PlainStatementsHaveNone) {
  for (std::string_view sql : {"SELECT 1", "INSERT INTO t VALUES (1)", "UPDATE t SET a = 1",
                               "DELETE FROM t", "CREATE TABLE t (a int)", "SHOW search_path",
                               "BEGIN", "COMMIT", "VACUUM t", "EXPLAIN SELECT 1", "NOTIFY ch"}) {
    EXPECT_TRUE(only(sql).sessionEffects.empty()) << sql;
  }
}

TEST(SessionState, CombinedViewPinsWhenAnyStatementPins) {
  Classification replayable = classify("SET search_path TO a; SET work_mem = '1MB'; SELECT 1");
  EXPECT_TRUE(replayable.sessionEffects);
  EXPECT_FALSE(replayable.pinsConnection);

  Classification pinned = classify("SELECT 1; LISTEN ch; SELECT 2");
  EXPECT_TRUE(pinned.sessionEffects);
  EXPECT_TRUE(pinned.pinsConnection);

  Classification none = classify("SELECT 1; SELECT 2");
  EXPECT_FALSE(none.sessionEffects);
  EXPECT_FALSE(none.pinsConnection);
}

}  // namespace
}  // namespace pgswarm::sql
