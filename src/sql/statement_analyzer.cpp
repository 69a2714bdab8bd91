// Reads one statement of libpg_query's JSON parse tree (PostgreSQL 15 node
// names) into a Statement: kind, read-only verdict with reasons, transaction
// control, session effects, tables and functions. The tree is walked with an
// explicit stack, never recursion, because its depth is the client's choice.
#include "sql/statement_analyzer.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sql/json_tree.hpp"
#include "sql/single_relation.hpp"

namespace pgswarm::sql::detail {
namespace {

// PostgreSQL's CURSOR_OPT_HOLD (nodes/parsenodes.h): DECLARE ... WITH HOLD.
constexpr long long kCursorOptHold = 0x0020;

bool asksStandbyState(std::string_view setting) {
  return setting == "transaction_read_only" || setting == "in_hot_standby" ||
         setting == "default_transaction_read_only" || setting == "all";
}

// The text of a constant as written: A_Const (string, integer, float,
// boolean, bit string) or a bare String/Integer/Float/Boolean value node,
// through any number of casts ('UTC'::text, INTERVAL '1' HOUR).
std::optional<std::string> constantText(const Json& value) {
  std::optional<Node> node = asNode(value);
  while (node && node->type == "TypeCast") {
    const Json* arg = field(*node->body, "arg");
    node = arg != nullptr ? asNode(*arg) : std::nullopt;
  }
  if (!node) return std::nullopt;
  const Json& body = *node->body;
  if (node->type == "String") return std::string(text(field(body, "sval")));
  if (node->type == "Integer") return std::to_string(integer(field(body, "ival")));
  if (node->type == "Float") return std::string(text(field(body, "fval")));
  if (node->type == "Boolean") return flag(field(body, "boolval")) ? "true" : "false";
  if (node->type != "A_Const") return std::nullopt;
  if (const Json* s = field(body, "sval")) return std::string(text(field(*s, "sval")));
  if (const Json* i = field(body, "ival")) return std::to_string(integer(field(*i, "ival")));
  if (const Json* f = field(body, "fval")) return std::string(text(field(*f, "fval")));
  if (const Json* b = field(body, "boolval")) return flag(field(*b, "boolval")) ? "true" : "false";
  if (const Json* b = field(body, "bsval")) return std::string(text(field(*b, "bsval")));
  return std::nullopt;  // NULL
}

// "a.b.c" from a list of String nodes (function names, qualified names).
std::string joinNames(const Json* list) {
  std::string joined;
  if (list == nullptr || !list->is_array()) return joined;
  for (const Json& item : *list) {
    std::optional<Node> node = asNode(item);
    if (!node || node->type != "String") continue;
    if (!joined.empty()) joined += '.';
    joined += text(field(*node->body, "sval"));
  }
  return joined;
}

std::string lowercase(std::string_view name) {
  std::string lowered(name);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered;
}

std::optional<bool> booleanText(std::string_view value) {
  static constexpr auto kTrue = std::to_array<std::string_view>({"true", "t", "on", "yes", "1"});
  static constexpr auto kFalse = std::to_array<std::string_view>({"false", "f", "off", "no", "0"});
  const std::string lowered = lowercase(value);
  if (std::find(kTrue.begin(), kTrue.end(), lowered) != kTrue.end()) return true;
  if (std::find(kFalse.begin(), kFalse.end(), lowered) != kFalse.end()) return false;
  return std::nullopt;
}

// A string literal that reads the same whatever standard_conforming_strings is.
std::string quoteLiteral(std::string_view value) {
  const bool escape = value.find('\\') != std::string_view::npos;
  std::string quoted = escape ? "E'" : "'";
  for (char c : value) {
    if (c == '\'' || (escape && c == '\\')) quoted += c;
    quoted += c;
  }
  quoted += '\'';
  return quoted;
}

std::string_view trimmed(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

bool isTemp(const Json& rangeVar) {
  const std::string_view schema = text(field(rangeVar, "schemaname"));
  return text(field(rangeVar, "relpersistence")) == "t" || schema == "pg_temp" ||
         schema.starts_with("pg_temp_");
}

// Statement nodes whose kind needs no further look.
StatementKind simpleKind(std::string_view type) {
  struct Entry {
    std::string_view type;
    StatementKind kind;
  };
  static constexpr auto kTable = std::to_array<Entry>({
      {"SelectStmt", StatementKind::kSelect},
      {"InsertStmt", StatementKind::kInsert},
      {"UpdateStmt", StatementKind::kUpdate},
      {"DeleteStmt", StatementKind::kDelete},
      {"MergeStmt", StatementKind::kMerge},
      {"VariableShowStmt", StatementKind::kShow},
      {"NotifyStmt", StatementKind::kNotify},
      {"ExecuteStmt", StatementKind::kExecute},
      {"FetchStmt", StatementKind::kCursorOp},
      {"LockStmt", StatementKind::kLock},
      {"VacuumStmt", StatementKind::kVacuum},
      {"CallStmt", StatementKind::kCall},
      {"DoStmt", StatementKind::kDo},
      {"RenameStmt", StatementKind::kDdl},
      {"GrantStmt", StatementKind::kDdl},
      {"GrantRoleStmt", StatementKind::kDdl},
      {"CommentStmt", StatementKind::kDdl},
      {"SecLabelStmt", StatementKind::kDdl},
      {"TruncateStmt", StatementKind::kDdl},
      {"IndexStmt", StatementKind::kDdl},
      {"ViewStmt", StatementKind::kDdl},
      {"RuleStmt", StatementKind::kDdl},
      {"DefineStmt", StatementKind::kDdl},
      {"CompositeTypeStmt", StatementKind::kDdl},
      {"ReassignOwnedStmt", StatementKind::kDdl},
      {"ImportForeignSchemaStmt", StatementKind::kDdl},
      {"RefreshMatViewStmt", StatementKind::kDdl},
  });
  for (const Entry& entry : kTable) {
    if (entry.type == type) return entry.kind;
  }
  if (type.starts_with("Create") || type.starts_with("Alter") || type.starts_with("Drop")) {
    return StatementKind::kDdl;
  }
  return StatementKind::kOther;
}

IsolationLevel isolationLevel(std::string_view name) {
  if (name == "read uncommitted") return IsolationLevel::kReadUncommitted;
  if (name == "read committed") return IsolationLevel::kReadCommitted;
  if (name == "repeatable read") return IsolationLevel::kRepeatableRead;
  if (name == "serializable") return IsolationLevel::kSerializable;
  return IsolationLevel::kUnspecified;
}

// BEGIN / SET TRANSACTION / SET SESSION CHARACTERISTICS options: DefElems
// transaction_isolation, transaction_read_only, transaction_deferrable.
void readTransactionOptions(const Json* options, TransactionControl& control) {
  if (options == nullptr || !options->is_array()) return;
  for (const Json& item : *options) {
    std::optional<Node> node = asNode(item);
    if (!node || node->type != "DefElem") continue;
    const std::string_view name = text(field(*node->body, "defname"));
    const Json* arg = field(*node->body, "arg");
    const std::string value = arg != nullptr ? constantText(*arg).value_or("") : "";
    if (name == "transaction_isolation") {
      control.isolation = isolationLevel(value);
    } else if (name == "transaction_read_only") {
      control.access = value == "1" ? AccessMode::kReadOnly : AccessMode::kReadWrite;
    } else if (name == "transaction_deferrable") {
      control.deferrable = value == "1";
    }
  }
}

TransactionOp transactionOp(std::string_view kind) {
  struct Entry {
    std::string_view kind;
    TransactionOp op;
  };
  static constexpr auto kTable = std::to_array<Entry>({
      {"TRANS_STMT_BEGIN", TransactionOp::kBegin},
      {"TRANS_STMT_START", TransactionOp::kBegin},
      {"TRANS_STMT_COMMIT", TransactionOp::kCommit},
      {"TRANS_STMT_ROLLBACK", TransactionOp::kRollback},
      {"TRANS_STMT_SAVEPOINT", TransactionOp::kSavepoint},
      {"TRANS_STMT_RELEASE", TransactionOp::kRelease},
      {"TRANS_STMT_ROLLBACK_TO", TransactionOp::kRollbackTo},
      {"TRANS_STMT_PREPARE", TransactionOp::kPrepareTransaction},
      {"TRANS_STMT_COMMIT_PREPARED", TransactionOp::kCommitPrepared},
      {"TRANS_STMT_ROLLBACK_PREPARED", TransactionOp::kRollbackPrepared},
  });
  for (const Entry& entry : kTable) {
    if (entry.kind == kind) return entry.op;
  }
  return TransactionOp::kNone;
}

std::optional<SessionEffectKind> advisoryEffect(std::string_view function) {
  if (function == "pg_advisory_lock" || function == "pg_advisory_lock_shared" ||
      function == "pg_try_advisory_lock" || function == "pg_try_advisory_lock_shared") {
    return SessionEffectKind::kAdvisoryLock;
  }
  if (function == "pg_advisory_unlock" || function == "pg_advisory_unlock_shared") {
    return SessionEffectKind::kAdvisoryUnlock;
  }
  if (function == "pg_advisory_unlock_all") return SessionEffectKind::kAdvisoryUnlockAll;
  return std::nullopt;  // the _xact_ variants end with the transaction
}

// ---- the analyzer ---------------------------------------------------------

class Analyzer {
 public:
  Analyzer(std::string_view statementText, const FunctionAllowlist& allowlist)
      : text_(statementText), allowlist_(allowlist) {}

  Statement run(const Json& stmt) {
    std::optional<Node> top = asNode(stmt);
    if (!top) {
      statement_.blockers.add(ReadOnlyBlocker::kStatementKind);
      return std::move(statement_);
    }
    wrapper_ = &stmt;
    top_ = top->body;
    statement_.nodeType = std::string(top->type);
    statement_.kind = simpleKind(top->type);
    // Column defaults, view and rule bodies are stored, not run now.
    executesNow_ = statement_.kind != StatementKind::kDdl || top->type == "CreateTableAsStmt";
    if (!classifySpecial(top->type, *top->body)) classifyPlain(top->type, *top->body);
    finish();
    return std::move(statement_);
  }

 private:
  // Top-level statements that need more than a kind. Returns false when the
  // statement is not one of them.
  bool classifySpecial(std::string_view type, const Json& body) {
    if (type == "ExplainStmt") {
      classifyExplain(body);
    } else if (type == "PrepareStmt") {
      classifyPrepare(body);
    } else if (type == "TransactionStmt") {
      classifyTransaction(body);
    } else if (type == "VariableSetStmt") {
      classifySet(body);
    } else if (type == "CopyStmt") {
      classifyCopy(body);
    } else if (type == "DeclareCursorStmt") {
      classifyDeclare(body);
    } else {
      return classifySessionCommand(type, body);
    }
    return true;
  }

  // LISTEN, UNLISTEN, DEALLOCATE, CLOSE, DISCARD, LOAD.
  bool classifySessionCommand(std::string_view type, const Json& body) {
    const std::string name(text(field(body, "conditionname")));
    if (type == "ListenStmt") {
      statement_.kind = StatementKind::kListen;
      addEffect(SessionEffectKind::kListen, name);
    } else if (type == "UnlistenStmt") {
      statement_.kind = StatementKind::kUnlisten;
      addEffect(name.empty() ? SessionEffectKind::kUnlistenAll : SessionEffectKind::kUnlisten,
                name);
    } else if (type == "DeallocateStmt") {
      const std::string statementName(text(field(body, "name")));
      statement_.kind = StatementKind::kDeallocate;
      addEffect(statementName.empty() ? SessionEffectKind::kDeallocateAll
                                      : SessionEffectKind::kDeallocate,
                statementName);
    } else if (type == "ClosePortalStmt") {
      const std::string cursor(text(field(body, "portalname")));
      statement_.kind = StatementKind::kCursorOp;
      addEffect(
          cursor.empty() ? SessionEffectKind::kCloseAllCursors : SessionEffectKind::kCloseCursor,
          cursor);
    } else if (type == "DiscardStmt") {
      classifyDiscard(text(field(body, "target")));
    } else if (type == "LoadStmt") {
      addEffect(SessionEffectKind::kLoad, std::string(text(field(body, "filename"))));
    } else {
      return false;
    }
    return true;
  }

  void classifyDiscard(std::string_view target) {
    statement_.kind = StatementKind::kDiscard;
    if (target == "DISCARD_ALL") addEffect(SessionEffectKind::kDiscardAll);
    if (target == "DISCARD_PLANS") addEffect(SessionEffectKind::kDiscardPlans);
    if (target == "DISCARD_SEQUENCES") addEffect(SessionEffectKind::kDiscardSequences);
    if (target == "DISCARD_TEMP") addEffect(SessionEffectKind::kDiscardTemp);
  }

  // Everything else: mark what the statement writes, note temporary
  // objects, then walk the whole tree.
  // The walk starts at the wrapper so the top statement's own node is seen.
  void classifyPlain(std::string_view type, const Json& body) {
    if (statement_.kind == StatementKind::kDdl) markDdlTargets(type, body);
    // CALL holds its FuncCall unwrapped, where the walk would not know it.
    if (const Json* call = field(body, "funccall"); call != nullptr && type == "CallStmt") {
      visitFuncCall(*call);
    }
    walk(*wrapper_);
  }

  void markDdlTargets(std::string_view type, const Json& body) {
    // ON COMMIT DROP: the object cannot outlive the transaction.
    const bool dropsAtCommit = text(field(body, "oncommit")) == "ONCOMMIT_DROP" ||
                               text(path(body, {"into", "onCommit"})) == "ONCOMMIT_DROP";
    const bool creates = !dropsAtCommit && (type == "CreateStmt" || type == "ViewStmt" ||
                                            type == "CreateSeqStmt" || type == "CreateTableAsStmt");
    for (std::string_view key : {"relation", "view", "sequence"}) {
      if (const Json* target = field(body, key)) markWritten(target, creates);
    }
    if (const Json* rel = path(body, {"into", "rel"})) markWritten(rel, creates);
    if (const Json* relations = field(body, "relations"); relations && relations->is_array()) {
      for (const Json& item : *relations) {
        if (std::optional<Node> node = asNode(item)) markWritten(node->body, false);
      }
    }
    if (type == "CreateFunctionStmt" &&
        joinNames(field(body, "funcname")).starts_with("pg_temp.")) {
      addEffect(SessionEffectKind::kTempObject, joinNames(field(body, "funcname")));
    }
    if (type == "DropStmt") markDroppedTables(body);
  }

  // DROP TABLE names its tables as lists of strings, not RangeVars.
  void markDroppedTables(const Json& body) {
    const std::string_view objectType = text(field(body, "removeType"));
    const Json* objects = field(body, "objects");
    if (objectType != "OBJECT_TABLE" && objectType != "OBJECT_FOREIGN_TABLE") return;
    if (objects == nullptr || !objects->is_array()) return;
    for (const Json& object : *objects) {
      std::optional<Node> list = asNode(object);
      if (!list || list->type != "List") continue;
      const std::string name = joinNames(field(*list->body, "items"));
      const std::size_t dot = name.rfind('.');
      TableRef table{.schema = dot == std::string::npos ? "" : name.substr(0, dot),
                     .name = dot == std::string::npos ? name : name.substr(dot + 1),
                     .written = true};
      addTable(std::move(table));
    }
  }

  // temp: also report a temporary object when the target is one.
  void markWritten(const Json* rangeVar, bool temp) {
    if (rangeVar == nullptr || !rangeVar->is_object()) return;
    written_.push_back(rangeVar);
    if (temp && isTemp(*rangeVar)) {
      addEffect(SessionEffectKind::kTempObject, std::string(text(field(*rangeVar, "relname"))));
    }
  }

  void classifyExplain(const Json& body) {
    bool analyze = false;
    if (const Json* options = field(body, "options"); options && options->is_array()) {
      for (const Json& item : *options) {
        std::optional<Node> node = asNode(item);
        if (!node || text(field(*node->body, "defname")) != "analyze") continue;
        const Json* arg = field(*node->body, "arg");
        analyze = arg == nullptr || booleanText(constantText(*arg).value_or("")).value_or(true);
      }
    }
    const Json* query = field(body, "query");
    Statement inner = query != nullptr ? Analyzer(text_, allowlist_).run(*query) : Statement{};
    statement_.kind = analyze ? StatementKind::kExplainAnalyze : StatementKind::kExplain;
    adoptInner(std::move(inner), analyze);
  }

  void classifyPrepare(const Json& body) {
    const Json* query = field(body, "query");
    Statement inner = query != nullptr ? Analyzer(text_, allowlist_).run(*query) : Statement{};
    statement_.kind = StatementKind::kPrepare;
    adoptInner(std::move(inner), false);
    statement_.blockers.add(ReadOnlyBlocker::kStatementKind);
    addEffect(SessionEffectKind::kPrepare, std::string(text(field(body, "name"))), "",
              std::string(trimmed(text_)));
  }

  // Takes the explained or prepared statement's findings. executed: whether
  // it runs now (EXPLAIN ANALYZE); otherwise it writes nothing and has no
  // session effect, and a plan is safe on a replica unless it names a
  // prepared statement that exists only on this connection.
  void adoptInner(Statement inner, bool executed) {
    statement_.tables = std::move(inner.tables);
    statement_.functions = std::move(inner.functions);
    statement_.unsafeFunctions = std::move(inner.unsafeFunctions);
    if (executed) {
      statement_.sessionEffects = std::move(inner.sessionEffects);
      statement_.blockers = inner.blockers;
      if (statement_.blockers.has(ReadOnlyBlocker::kStatementKind)) {
        statement_.blockers.remove(ReadOnlyBlocker::kStatementKind);
        statement_.blockers.add(ReadOnlyBlocker::kExplainAnalyzeWrite);
      }
    } else {
      for (TableRef& table : statement_.tables) table.written = false;
      if (inner.kind == StatementKind::kExecute)
        statement_.blockers.add(ReadOnlyBlocker::kStatementKind);
    }
    explained_ = true;
  }

  void classifyTransaction(const Json& body) {
    statement_.kind = StatementKind::kTransaction;
    TransactionControl& control = statement_.transaction;
    control.op = transactionOp(text(field(body, "kind")));
    control.chain = flag(field(body, "chain"));
    control.name = std::string(text(field(body, "savepoint_name")));
    if (control.name.empty()) control.name = std::string(text(field(body, "gid")));
    readTransactionOptions(field(body, "options"), control);
  }

  void classifyCopy(const Json& body) {
    const bool from = flag(field(body, "is_from"));
    statement_.kind = from ? StatementKind::kCopyFrom : StatementKind::kCopyTo;
    if (from) markWritten(field(body, "relation"), false);
    walk(*wrapper_);
  }

  void classifyDeclare(const Json& body) {
    statement_.kind = StatementKind::kDeclareCursor;
    if ((integer(field(body, "options")) & kCursorOptHold) != 0) {
      addEffect(SessionEffectKind::kHoldCursor, std::string(text(field(body, "portalname"))));
    }
    walk(*wrapper_);
  }

  // ---- SET / RESET ----

  void classifySet(const Json& body) {
    const std::string_view kind = text(field(body, "kind"));
    const std::string name = lowercase(text(field(body, "name")));
    const bool reset = kind == "VAR_RESET" || kind == "VAR_RESET_ALL";
    statement_.kind = reset ? StatementKind::kReset : StatementKind::kSet;
    if (kind == "VAR_SET_MULTI") return classifySetMulti(name, field(body, "args"));
    // SET LOCAL ends with the transaction; SET x FROM CURRENT changes nothing.
    if (flag(field(body, "is_local")) || kind == "VAR_SET_CURRENT") return;
    if (kind == "VAR_RESET_ALL") {
      // RESET ALL leaves role and session_authorization alone, as the server does.
      return addEffect(SessionEffectKind::kResetAll, "", "", std::string(trimmed(text_)));
    }
    if (kind == "VAR_SET_VALUE") return setValue(name, setArguments(field(body, "args")));
    setDefault(name);  // VAR_SET_DEFAULT, VAR_RESET
  }

  void setValue(const std::string& name, std::string value) {
    if (name == "role") {
      // SET ROLE NONE is RESET ROLE.
      if (value == "none") return addEffect(SessionEffectKind::kResetRole);
      return addEffect(SessionEffectKind::kSetRole, std::move(value));
    }
    if (name == "session_authorization") {
      return addEffect(SessionEffectKind::kSetSessionAuthorization, std::move(value));
    }
    addEffect(SessionEffectKind::kSet, name, std::move(value), std::string(trimmed(text_)));
  }

  void setDefault(const std::string& name) {
    if (name == "role") return addEffect(SessionEffectKind::kResetRole);
    if (name == "session_authorization") {
      return addEffect(SessionEffectKind::kResetSessionAuthorization);
    }
    addEffect(SessionEffectKind::kSetDefault, name, "", std::string(trimmed(text_)));
  }

  static std::string setArguments(const Json* args) {
    std::string joined;
    if (args == nullptr || !args->is_array()) return joined;
    for (const Json& arg : *args) {
      std::optional<std::string> value = constantText(arg);
      if (!value) continue;
      if (!joined.empty()) joined += ", ";
      joined += *value;
    }
    return joined;
  }

  // SET TRANSACTION ..., SET SESSION CHARACTERISTICS AS TRANSACTION ...,
  // SET TRANSACTION SNAPSHOT 'id' (the parser spells these names uppercase).
  void classifySetMulti(const std::string& name, const Json* args) {
    TransactionControl& control = statement_.transaction;
    readTransactionOptions(args, control);
    if (name == "transaction") {
      statement_.kind = StatementKind::kTransaction;
      control.op = TransactionOp::kSetTransaction;
    } else if (name == "transaction snapshot") {
      statement_.kind = StatementKind::kTransaction;
      control.op = TransactionOp::kSetTransactionSnapshot;
      control.name = setArguments(args);
    } else if (name == "session characteristics") {
      control.op = TransactionOp::kSetSessionCharacteristics;
      addCharacteristics(control);
    }
  }

  // The session defaults SET SESSION CHARACTERISTICS changes, as plain SETs,
  // so the proxy tracks default_transaction_read_only one way only.
  void addCharacteristics(const TransactionControl& control) {
    if (control.access != AccessMode::kUnspecified) {
      addDefaultSetting("default_transaction_read_only",
                        control.access == AccessMode::kReadOnly ? "on" : "off");
    }
    if (control.isolation != IsolationLevel::kUnspecified) {
      static constexpr auto kNames = std::to_array<std::string_view>(
          {"", "read uncommitted", "read committed", "repeatable read", "serializable"});
      addDefaultSetting("default_transaction_isolation",
                        std::string(kNames.at(static_cast<std::size_t>(control.isolation))));
    }
    if (control.deferrable) addDefaultSetting("default_transaction_deferrable", "on");
  }

  void addDefaultSetting(const std::string& name, const std::string& value) {
    addEffect(SessionEffectKind::kSet, name, value, "SET " + name + " TO " + quoteLiteral(value));
  }

  // ---- the generic walk ----

  void walk(const Json& root) {
    std::vector<const Json*> stack{&root};
    while (!stack.empty()) {
      const Json* value = stack.back();
      stack.pop_back();
      if (value->is_object()) {
        if (std::optional<Node> node = asNode(*value)) {
          visitNode(node->type, *node->body);
        } else if (value->contains("relname")) {
          visitRangeVar(*value);  // RangeVar fields are written unwrapped
        }
      }
      // Arrays go on the stack back to front so that list items (select
      // lists, arguments) come off it in the order they were written.
      for (auto child = value->rbegin(); child != value->rend(); ++child) {
        if (child->is_structured()) stack.push_back(&*child);
      }
    }
  }

  void visitNode(std::string_view type, const Json& body) {
    if (type == "FuncCall") return visitFuncCall(body);
    if (type == "SelectStmt") return visitSelect(body);
    if (type == "CommonTableExpr") {
      cteNames_.emplace_back(text(field(body, "ctename")));
      return;
    }
    if (type == "InsertStmt" || type == "UpdateStmt" || type == "DeleteStmt" ||
        type == "MergeStmt") {
      markWritten(field(body, "relation"), false);
      if (&body != top_) statement_.blockers.add(ReadOnlyBlocker::kModifyingCte);
    }
  }

  // A set operation's arms (larg, rarg) are SelectStmts written unwrapped,
  // which the walk cannot recognise, so each arm is checked from here, with
  // a stack of its own: UNION chains are as deep as the client writes them.
  // The server takes INTO from the leftmost arm (SELECT * INTO x FROM t
  // UNION SELECT 1 creates x).
  void visitSelect(const Json& body) {
    const Json* leftmost = &body;
    while (const Json* left = field(*leftmost, "larg")) leftmost = left;
    std::vector<const Json*> arms{&body};
    while (!arms.empty()) {
      const Json* arm = arms.back();
      arms.pop_back();
      checkSelect(*arm, &body == top_ && arm == leftmost);
      for (std::string_view side : {"larg", "rarg"}) {
        if (const Json* next = field(*arm, side)) arms.push_back(next);
      }
    }
  }

  // topLevel: an INTO here creates its table now (and may be temporary).
  void checkSelect(const Json& select, bool topLevel) {
    const Json* locking = field(select, "lockingClause");
    if (locking != nullptr && !locking->empty()) {
      statement_.blockers.add(ReadOnlyBlocker::kLockingClause);
    }
    if (const Json* into = field(select, "intoClause")) {
      statement_.blockers.add(ReadOnlyBlocker::kSelectInto);
      markWritten(field(*into, "rel"), topLevel);
    }
  }

  void visitRangeVar(const Json& body) {
    ++rangeVars_;
    const bool written = std::find(written_.begin(), written_.end(), &body) != written_.end();
    addTable(TableRef{.schema = std::string(text(field(body, "schemaname"))),
                      .name = std::string(text(field(body, "relname"))),
                      .written = written});
  }

  void addTable(TableRef table) {
    auto same = [&](const TableRef& t) { return t.schema == table.schema && t.name == table.name; };
    auto found = std::find_if(statement_.tables.begin(), statement_.tables.end(), same);
    if (found == statement_.tables.end()) {
      statement_.tables.push_back(std::move(table));
    } else {
      found->written = found->written || table.written;
    }
  }

  void visitFuncCall(const Json& body) {
    std::string name = joinNames(field(body, "funcname"));
    const bool safe = allowlist_.allows(name);
    if (!safe) statement_.blockers.add(ReadOnlyBlocker::kUnsafeFunction);
    if (executesNow_) functionEffect(name, field(body, "args"));
    addUnique(statement_.functions, name);
    if (!safe) addUnique(statement_.unsafeFunctions, std::move(name));
  }

  static void addUnique(std::vector<std::string>& names, std::string name) {
    if (std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(std::move(name));
  }

  void functionEffect(const std::string& function, const Json* args) {
    const std::string_view name = catalogName(function);
    if (std::optional<SessionEffectKind> advisory = advisoryEffect(name)) {
      return addEffect(*advisory, std::string(name));
    }
    if (name == "set_config") setConfigEffect(args);
  }

  // set_config(name, value, is_local): a session SET when is_local is false,
  // nothing when true, and an unknown change when the arguments are not
  // constants.
  void setConfigEffect(const Json* args) {
    std::array<std::optional<std::string>, 3> values;
    if (args != nullptr && args->is_array() && args->size() == values.size()) {
      for (std::size_t i = 0; i < values.size(); ++i) values.at(i) = constantText((*args)[i]);
    }
    const std::optional<bool> local = values[2] ? booleanText(*values[2]) : std::nullopt;
    if (!values[0] || !values[1] || !local) return addEffect(SessionEffectKind::kOpaqueSet);
    if (*local) return;
    const std::string name = lowercase(*values[0]);
    addEffect(SessionEffectKind::kSet, name, *values[1],
              "SELECT pg_catalog.set_config(" + quoteLiteral(name) + ", " +
                  quoteLiteral(*values[1]) + ", false)");
  }

  void addEffect(SessionEffectKind kind, std::string name = {}, std::string value = {},
                 std::string replaySql = {}) {
    statement_.sessionEffects.push_back(SessionEffect{.kind = kind,
                                                      .name = std::move(name),
                                                      .value = std::move(value),
                                                      .replaySql = std::move(replaySql)});
  }

  // ---- verdict ----

  void finish() {
    // An unqualified name that a WITH clause defines is that CTE, not a table.
    std::erase_if(statement_.tables, [&](const TableRef& table) {
      return table.schema.empty() && !table.written &&
             std::find(cteNames_.begin(), cteNames_.end(), table.name) != cteNames_.end();
    });
    const StatementKind kind = statement_.kind;
    if (kind == StatementKind::kExplain && explained_) {
      statement_.blockers.remove(ReadOnlyBlocker::kUnsafeFunction);  // plans run nothing
    } else if (kind != StatementKind::kSelect && kind != StatementKind::kShow &&
               kind != StatementKind::kExplainAnalyze) {
      statement_.blockers.add(ReadOnlyBlocker::kStatementKind);
    }
    // A client asking whether its server is read-only (pgjdbc's
    // targetServerType, health checks) asks about the primary it thinks
    // it talks to; a standby would say "on".
    if (kind == StatementKind::kShow && asksStandbyState(text(field(*top_, "name")))) {
      statement_.blockers.add(ReadOnlyBlocker::kStandbyState);
    }
    statement_.readOnly = statement_.blockers.empty();
    // Every relation reference counts, the same table twice too: a
    // subquery over it reads rows the key does not pick.
    if (rangeVars_ == 1) statement_.singleRelation = findSingleRelation(statement_.nodeType, *top_);
  }

  std::string_view text_;
  const FunctionAllowlist& allowlist_;
  Statement statement_;
  const Json* wrapper_ = nullptr;  // {"SelectStmt": ...}: the top node with its name
  const Json* top_ = nullptr;      // the top node's fields
  bool executesNow_ = true;
  bool explained_ = false;
  std::vector<const Json*> written_;
  std::vector<std::string> cteNames_;
  std::size_t rangeVars_ = 0;  // RangeVars the walk met
};

}  // namespace

Statement analyzeStatement(const Json& rawStmt, std::string_view query,
                           const FunctionAllowlist& allowlist) {
  const auto location =
      static_cast<std::size_t>(std::max(0LL, integer(field(rawStmt, "stmt_location"))));
  const auto length = static_cast<std::size_t>(std::max(0LL, integer(field(rawStmt, "stmt_len"))));
  const std::size_t offset = std::min(location, query.size());
  // stmt_len 0 means "to the end of the text".
  const std::size_t span =
      length == 0 ? query.size() - offset : std::min(length, query.size() - offset);
  const Json* stmt = field(rawStmt, "stmt");
  if (stmt == nullptr) {
    Statement unknown;
    unknown.blockers.add(ReadOnlyBlocker::kStatementKind);
    return unknown;
  }
  Statement statement = Analyzer(query.substr(offset, span), allowlist).run(*stmt);
  statement.offset = offset;
  statement.length = span;
  return statement;
}

}  // namespace pgswarm::sql::detail
