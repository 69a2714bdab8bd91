// Names for the classification enums and the combined view over statements.
// Pure functions over the value types; no parsing here.
#include "sql/statement.hpp"

#include <algorithm>

namespace pgswarm::sql {

bool pinsConnection(SessionEffectKind kind) {
  switch (kind) {
    case SessionEffectKind::kOpaqueSet:  // which setting changed is unknown
    case SessionEffectKind::kSetRole:    // issue 3: never let another client inherit a role
    case SessionEffectKind::kSetSessionAuthorization:
    case SessionEffectKind::kListen:  // notifications must reach this client
    case SessionEffectKind::kTempObject:
    case SessionEffectKind::kAdvisoryLock:
    case SessionEffectKind::kHoldCursor:
    case SessionEffectKind::kLoad:  // a loaded library cannot be unloaded
      return true;
    default:
      return false;
  }
}

std::string_view toString(StatementKind kind) {
  switch (kind) {
    case StatementKind::kSelect:
      return "select";
    case StatementKind::kInsert:
      return "insert";
    case StatementKind::kUpdate:
      return "update";
    case StatementKind::kDelete:
      return "delete";
    case StatementKind::kMerge:
      return "merge";
    case StatementKind::kDdl:
      return "ddl";
    case StatementKind::kCopyFrom:
      return "copy-from";
    case StatementKind::kCopyTo:
      return "copy-to";
    case StatementKind::kTransaction:
      return "transaction";
    case StatementKind::kSet:
      return "set";
    case StatementKind::kReset:
      return "reset";
    case StatementKind::kShow:
      return "show";
    case StatementKind::kExplain:
      return "explain";
    case StatementKind::kExplainAnalyze:
      return "explain-analyze";
    case StatementKind::kListen:
      return "listen";
    case StatementKind::kUnlisten:
      return "unlisten";
    case StatementKind::kNotify:
      return "notify";
    case StatementKind::kPrepare:
      return "prepare";
    case StatementKind::kExecute:
      return "execute";
    case StatementKind::kDeallocate:
      return "deallocate";
    case StatementKind::kDeclareCursor:
      return "declare-cursor";
    case StatementKind::kCursorOp:
      return "cursor-op";
    case StatementKind::kDiscard:
      return "discard";
    case StatementKind::kLock:
      return "lock";
    case StatementKind::kVacuum:
      return "vacuum";
    case StatementKind::kCall:
      return "call";
    case StatementKind::kDo:
      return "do";
    case StatementKind::kOther:
      return "other";
  }
  return "?";
}

std::string_view toString(ReadOnlyBlocker blocker) {
  switch (blocker) {
    case ReadOnlyBlocker::kStatementKind:
      return "statement kind";
    case ReadOnlyBlocker::kLockingClause:
      return "locking clause";
    case ReadOnlyBlocker::kModifyingCte:
      return "data-modifying CTE";
    case ReadOnlyBlocker::kSelectInto:
      return "SELECT INTO";
    case ReadOnlyBlocker::kUnsafeFunction:
      return "unsafe function";
    case ReadOnlyBlocker::kExplainAnalyzeWrite:
      return "EXPLAIN ANALYZE of a write";
    case ReadOnlyBlocker::kStandbyState:
      return "standby state";
  }
  return "?";
}

std::string_view toString(TransactionOp op) {
  switch (op) {
    case TransactionOp::kNone:
      return "none";
    case TransactionOp::kBegin:
      return "begin";
    case TransactionOp::kCommit:
      return "commit";
    case TransactionOp::kRollback:
      return "rollback";
    case TransactionOp::kSavepoint:
      return "savepoint";
    case TransactionOp::kRelease:
      return "release";
    case TransactionOp::kRollbackTo:
      return "rollback-to";
    case TransactionOp::kPrepareTransaction:
      return "prepare-transaction";
    case TransactionOp::kCommitPrepared:
      return "commit-prepared";
    case TransactionOp::kRollbackPrepared:
      return "rollback-prepared";
    case TransactionOp::kSetTransaction:
      return "set-transaction";
    case TransactionOp::kSetTransactionSnapshot:
      return "set-transaction-snapshot";
    case TransactionOp::kSetSessionCharacteristics:
      return "set-session-characteristics";
  }
  return "?";
}

std::string_view toString(SessionEffectKind kind) {
  switch (kind) {
    case SessionEffectKind::kSet:
      return "set";
    case SessionEffectKind::kSetDefault:
      return "set-default";
    case SessionEffectKind::kResetAll:
      return "reset-all";
    case SessionEffectKind::kOpaqueSet:
      return "opaque-set";
    case SessionEffectKind::kSetRole:
      return "set-role";
    case SessionEffectKind::kResetRole:
      return "reset-role";
    case SessionEffectKind::kSetSessionAuthorization:
      return "set-session-authorization";
    case SessionEffectKind::kResetSessionAuthorization:
      return "reset-session-authorization";
    case SessionEffectKind::kListen:
      return "listen";
    case SessionEffectKind::kUnlisten:
      return "unlisten";
    case SessionEffectKind::kUnlistenAll:
      return "unlisten-all";
    case SessionEffectKind::kTempObject:
      return "temp-object";
    case SessionEffectKind::kAdvisoryLock:
      return "advisory-lock";
    case SessionEffectKind::kAdvisoryUnlock:
      return "advisory-unlock";
    case SessionEffectKind::kAdvisoryUnlockAll:
      return "advisory-unlock-all";
    case SessionEffectKind::kHoldCursor:
      return "hold-cursor";
    case SessionEffectKind::kCloseCursor:
      return "close-cursor";
    case SessionEffectKind::kCloseAllCursors:
      return "close-all-cursors";
    case SessionEffectKind::kPrepare:
      return "prepare";
    case SessionEffectKind::kDeallocate:
      return "deallocate";
    case SessionEffectKind::kDeallocateAll:
      return "deallocate-all";
    case SessionEffectKind::kDiscardAll:
      return "discard-all";
    case SessionEffectKind::kDiscardPlans:
      return "discard-plans";
    case SessionEffectKind::kDiscardSequences:
      return "discard-sequences";
    case SessionEffectKind::kDiscardTemp:
      return "discard-temp";
    case SessionEffectKind::kLoad:
      return "load";
  }
  return "?";
}

std::string_view toString(ClassificationStatus status) {
  switch (status) {
    case ClassificationStatus::kOk:
      return "ok";
    case ClassificationStatus::kEmpty:
      return "empty";
    case ClassificationStatus::kParseError:
      return "parse error";
    case ClassificationStatus::kTooLarge:
      return "too large";
    case ClassificationStatus::kUnreadable:
      return "unreadable";
  }
  return "?";
}

std::string qualifiedName(const TableRef& table) {
  return table.schema.empty() ? table.name : table.schema + "." + table.name;
}

namespace {

void mergeTable(std::vector<TableRef>& tables, const TableRef& table) {
  auto same = [&](const TableRef& t) { return t.schema == table.schema && t.name == table.name; };
  auto found = std::find_if(tables.begin(), tables.end(), same);
  if (found == tables.end()) {
    tables.push_back(table);
  } else {
    found->written = found->written || table.written;
  }
}

}  // namespace

void combine(Classification& classification) {
  const bool ok = classification.status == ClassificationStatus::kOk;
  classification.readOnly = ok && !classification.statements.empty();
  classification.tables.clear();
  for (const Statement& statement : classification.statements) {
    classification.readOnly = classification.readOnly && statement.readOnly;
    classification.transactionControl =
        classification.transactionControl || statement.transaction.op != TransactionOp::kNone;
    classification.sessionEffects =
        classification.sessionEffects || !statement.sessionEffects.empty();
    for (const SessionEffect& effect : statement.sessionEffects) {
      classification.pinsConnection = classification.pinsConnection || pinsConnection(effect.kind);
    }
    for (const TableRef& table : statement.tables) mergeTable(classification.tables, table);
  }
}

}  // namespace pgswarm::sql
