// What the classifier says about a query text: plain value types (PgDog's
// `Route` idea) that the proxy's router and session tracker read. No parsing,
// no I/O here; classifier.hpp produces these, classification_cache.hpp keeps them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgswarm::sql {

enum class StatementKind : unsigned char {
  kSelect,          // SELECT, VALUES, TABLE (also SELECT INTO: see blockers)
  kInsert,          // INSERT
  kUpdate,          // UPDATE
  kDelete,          // DELETE
  kMerge,           // MERGE
  kDdl,             // CREATE/ALTER/DROP, GRANT/REVOKE, COMMENT, TRUNCATE, REFRESH...
  kCopyFrom,        // COPY ... FROM (writes a table)
  kCopyTo,          // COPY ... TO
  kTransaction,     // BEGIN/COMMIT/ROLLBACK/SAVEPOINT/..., SET TRANSACTION
  kSet,             // SET name ..., SET SESSION CHARACTERISTICS, SET ROLE/AUTHORIZATION
  kReset,           // RESET name, RESET ALL
  kShow,            // SHOW name, SHOW ALL
  kExplain,         // EXPLAIN without ANALYZE: plans, runs nothing
  kExplainAnalyze,  // EXPLAIN ANALYZE: runs the explained statement
  kListen,          // LISTEN channel
  kUnlisten,        // UNLISTEN channel | *
  kNotify,          // NOTIFY channel [, payload]
  kPrepare,         // SQL-level PREPARE name AS ...
  kExecute,         // SQL-level EXECUTE name
  kDeallocate,      // DEALLOCATE name | ALL
  kDeclareCursor,   // DECLARE name CURSOR ...
  kCursorOp,        // FETCH, MOVE, CLOSE
  kDiscard,         // DISCARD ALL | PLANS | SEQUENCES | TEMP
  kLock,            // LOCK TABLE
  kVacuum,          // VACUUM, ANALYZE
  kCall,            // CALL procedure(...)
  kDo,              // DO $$ ... $$ (body is opaque)
  kOther,           // LOAD, CHECKPOINT, REINDEX, CLUSTER, ...
};

// Why a statement is not safe on a hot-standby replica. A statement may have
// several; `kStatementKind` alone means "not a query that could be".
enum class ReadOnlyBlocker : unsigned char {
  kStatementKind,        // not SELECT/VALUES/TABLE/SHOW/EXPLAIN
  kLockingClause,        // FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE
  kModifyingCte,         // WITH x AS (INSERT/UPDATE/DELETE/MERGE ...) ...
  kSelectInto,           // SELECT ... INTO creates a table
  kUnsafeFunction,       // calls a function outside the allowlist (see unsafeFunctions)
  kExplainAnalyzeWrite,  // EXPLAIN ANALYZE runs a statement that is not read-only
  kStandbyState,         // SHOW of a setting a standby answers otherwise (transaction_read_only)
};

// A small bit set of ReadOnlyBlocker; empty on a read-only statement.
class BlockerSet {
 public:
  void add(ReadOnlyBlocker blocker) { bits_ |= bit(blocker); }
  void remove(ReadOnlyBlocker blocker) { bits_ &= static_cast<std::uint16_t>(~bit(blocker)); }
  [[nodiscard]] bool has(ReadOnlyBlocker blocker) const { return (bits_ & bit(blocker)) != 0; }
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  void clear() { bits_ = 0; }
  bool operator==(const BlockerSet&) const = default;

 private:
  static std::uint16_t bit(ReadOnlyBlocker blocker) {
    return static_cast<std::uint16_t>(1U << static_cast<unsigned>(blocker));
  }
  std::uint16_t bits_ = 0;
};

enum class TransactionOp : unsigned char {
  kNone,                       // not transaction control
  kBegin,                      // BEGIN / START TRANSACTION
  kCommit,                     // COMMIT / END (chain: AND CHAIN)
  kRollback,                   // ROLLBACK / ABORT (chain: AND CHAIN)
  kSavepoint,                  // SAVEPOINT name
  kRelease,                    // RELEASE [SAVEPOINT] name
  kRollbackTo,                 // ROLLBACK TO [SAVEPOINT] name
  kPrepareTransaction,         // PREPARE TRANSACTION 'gid'
  kCommitPrepared,             // COMMIT PREPARED 'gid'
  kRollbackPrepared,           // ROLLBACK PREPARED 'gid'
  kSetTransaction,             // SET TRANSACTION ... (current transaction only)
  kSetTransactionSnapshot,     // SET TRANSACTION SNAPSHOT 'id'
  kSetSessionCharacteristics,  // SET SESSION CHARACTERISTICS AS TRANSACTION ...
};

enum class AccessMode : unsigned char {
  kUnspecified,  // not written: the session default applies
  kReadOnly,     // READ ONLY
  kReadWrite,    // READ WRITE
};

enum class IsolationLevel : unsigned char {
  kUnspecified,
  kReadUncommitted,
  kReadCommitted,
  kRepeatableRead,
  kSerializable,
};

struct TransactionControl {
  TransactionOp op = TransactionOp::kNone;
  AccessMode access = AccessMode::kUnspecified;
  IsolationLevel isolation = IsolationLevel::kUnspecified;
  bool deferrable = false;  // DEFERRABLE written
  bool chain = false;       // COMMIT/ROLLBACK AND CHAIN
  std::string name;         // savepoint name, prepared-transaction gid or snapshot id
};

// State a statement leaves on its server connection beyond the transaction.
// Transaction-scoped variants (SET LOCAL, set_config(..., true),
// pg_advisory_xact_lock, CREATE TEMP ... ON COMMIT DROP) produce none.
enum class SessionEffectKind : unsigned char {
  kSet,                        // SET name = value / set_config(name, value, false): name, value
  kSetDefault,                 // SET name TO DEFAULT / RESET name: name
  kResetAll,                   // RESET ALL
  kOpaqueSet,                  // set_config() with non-constant arguments: some setting changed
  kSetRole,                    // SET ROLE name (value "none" for SET ROLE NONE)
  kResetRole,                  // RESET ROLE / SET ROLE DEFAULT
  kSetSessionAuthorization,    // SET SESSION AUTHORIZATION name
  kResetSessionAuthorization,  // RESET / SET SESSION AUTHORIZATION DEFAULT
  kListen,                     // LISTEN name
  kUnlisten,                   // UNLISTEN name
  kUnlistenAll,                // UNLISTEN *
  kTempObject,                 // CREATE TEMP TABLE/VIEW/SEQUENCE, pg_temp.x, SELECT INTO TEMP: name
  kAdvisoryLock,       // pg_advisory_lock[_shared], pg_try_advisory_lock[_shared]: name = function
  kAdvisoryUnlock,     // pg_advisory_unlock[_shared]: name = function
  kAdvisoryUnlockAll,  // pg_advisory_unlock_all()
  kHoldCursor,         // DECLARE name ... WITH HOLD
  kCloseCursor,        // CLOSE name (may end a WITH HOLD cursor)
  kCloseAllCursors,    // CLOSE ALL
  kPrepare,            // PREPARE name AS ...: name
  kDeallocate,         // DEALLOCATE name
  kDeallocateAll,      // DEALLOCATE ALL
  kDiscardAll,         // DISCARD ALL
  kDiscardPlans,       // DISCARD PLANS
  kDiscardSequences,   // DISCARD SEQUENCES
  kDiscardTemp,        // DISCARD TEMP
  kLoad,               // LOAD 'library': name = library
};

struct SessionEffect {
  SessionEffectKind kind = SessionEffectKind::kSet;
  std::string name;   // lowercased setting name, role, channel, cursor, statement, object...
  std::string value;  // kSet: the value as text ('UTC' -> UTC, lists joined with ", ")
  // SQL that recreates the effect on another connection, where one exists:
  // the statement's own text for SET/RESET, a set_config() call for
  // set_config(). Empty when the effect cannot be replayed.
  std::string replaySql;
};

// True for state that cannot be replayed on another server connection, so a
// transaction-mode client must stay on its connection until the state is gone.
[[nodiscard]] bool pinsConnection(SessionEffectKind kind);

struct TableRef {
  std::string schema;    // empty when not written schema-qualified
  std::string name;      // as the parser gives it: unquoted names lowercased
  bool written = false;  // the statement modifies this table (DML target, COPY FROM, DDL...)
  bool operator==(const TableRef&) const = default;
};

// A value a statement fixes a column to: a Bind parameter, or a constant
// written in the text. The tree gives a constant's place but not always its
// value (libpg_query 15-4.0's JSON drops negative integers), so the value
// is read from the text at `location` (shard_key.cpp does).
struct FixedValue {
  int parameter = -1;  // $n -> n - 1; -1 for a constant
  // A constant: the byte offset in the query text where the parser says it
  // starts (at its unary minus, if any), and the value the JSON gives where
  // it gives one exactly (strings; integers above 0, as written for
  // integers beyond int4); nullopt for 0 and negative integers.
  std::size_t location = 0;
  std::optional<std::string> parsed;
  bool operator==(const FixedValue&) const = default;
};

struct FixedColumn {
  std::string column;  // as the parser gives it: unquoted names lowercased
  FixedValue value;
  bool operator==(const FixedColumn&) const = default;
};

// A SELECT, UPDATE, DELETE or single-row INSERT whose whole tree names
// exactly one relation (no join, subquery or CTE over another, no USING or
// FROM list, no INSERT ... SELECT, no WITH, no ONLY) and what it fixes there:
// the columns its WHERE clause sets equal to a constant or parameter at the
// top-level AND (`col = v`, `v = col`, `col IN (v)`, `t.col`, `v::int`), or
// the columns of the one row it inserts (explicit column list only). What
// the shard router needs (shard_key.hpp), as facts without a shard map.
struct SingleRelation {
  TableRef table;                     // written: the statement modifies it
  std::vector<FixedColumn> fixed;     // a column fixed twice is listed twice
  std::vector<std::string> assigned;  // UPDATE SET / ON CONFLICT DO UPDATE SET targets
  // Columns given DEFAULT: `SET c = DEFAULT`, `VALUES (DEFAULT)`.
  std::vector<std::string> defaulted;
  // INSERT: the listed columns given a value (not DEFAULT); every other
  // column gets its default. nullopt for SELECT, UPDATE, DELETE.
  std::optional<std::vector<std::string>> inserted;
  bool operator==(const SingleRelation&) const = default;
};

struct Statement {
  StatementKind kind = StatementKind::kOther;
  std::string nodeType;  // the parse tree's statement node, e.g. "SelectStmt", for diagnostics
  bool readOnly = false;
  BlockerSet blockers;  // empty exactly when readOnly
  TransactionControl transaction;
  std::vector<SessionEffect> sessionEffects;
  std::vector<TableRef> tables;              // every relation named, deduplicated
  std::vector<std::string> functions;        // every function called, "schema.name" if qualified
  std::vector<std::string> unsafeFunctions;  // the subset outside the allowlist
  std::optional<SingleRelation> singleRelation;  // see SingleRelation
  std::size_t offset = 0;                        // byte span of this statement in the query text
  std::size_t length = 0;
};

enum class ClassificationStatus : unsigned char {
  kOk,          // statements holds one entry per statement
  kEmpty,       // nothing but whitespace, comments or ';'
  kParseError,  // the PostgreSQL grammar rejects the text: see error
  kTooLarge,    // longer than the parse limit: not parsed (deep trees overflow the stack)
  kUnreadable,  // parsed, but the tree could not be read (e.g. invalid UTF-8 in a literal)
};

struct ParseError {
  std::string message;
  int cursorPosition = 0;  // 1-based character offset as PostgreSQL reports it, 0 if none
};

struct Classification {
  ClassificationStatus status = ClassificationStatus::kOk;
  std::vector<Statement> statements;
  ParseError error;  // kParseError, kTooLarge and kUnreadable only

  // The combined view over all statements (a simple-protocol string runs
  // them in one implicit transaction).
  bool readOnly = false;            // status kOk and every statement read-only
  bool transactionControl = false;  // some statement is transaction control
  bool sessionEffects = false;      // some statement has a session effect
  bool pinsConnection = false;      // some session effect cannot be replayed
  std::vector<TableRef> tables;     // union over statements, written flags merged
};

[[nodiscard]] std::string_view toString(StatementKind kind);
[[nodiscard]] std::string_view toString(ReadOnlyBlocker blocker);
[[nodiscard]] std::string_view toString(TransactionOp op);
[[nodiscard]] std::string_view toString(SessionEffectKind kind);
[[nodiscard]] std::string_view toString(ClassificationStatus status);

// "schema.name" or "name".
[[nodiscard]] std::string qualifiedName(const TableRef& table);

// Fills the combined fields of classification from its statements.
void combine(Classification& classification);

}  // namespace pgswarm::sql
