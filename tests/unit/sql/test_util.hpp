// Helpers for the sql tests: a one-line description of a classification so a
// failing table row prints everything the classifier said.
#pragma once

#include <string>

#include "sql/statement.hpp"

namespace pgswarm::sql {

inline std::string describe(const Statement& statement) {
  std::string out = std::string(toString(statement.kind)) + "(" + statement.nodeType + ")";
  out += statement.readOnly ? " ro" : " rw";
  for (int b = 0; b <= static_cast<int>(ReadOnlyBlocker::kExplainAnalyzeWrite); ++b) {
    if (statement.blockers.has(static_cast<ReadOnlyBlocker>(b))) {
      out += " [" + std::string(toString(static_cast<ReadOnlyBlocker>(b))) + "]";
    }
  }
  if (statement.transaction.op != TransactionOp::kNone) {
    out += " txn=" + std::string(toString(statement.transaction.op)) +
           " access=" + std::to_string(static_cast<int>(statement.transaction.access)) +
           " iso=" + std::to_string(static_cast<int>(statement.transaction.isolation)) +
           (statement.transaction.name.empty() ? "" : " name=" + statement.transaction.name);
  }
  for (const SessionEffect& effect : statement.sessionEffects) {
    out += " effect=" + std::string(toString(effect.kind)) + "(" + effect.name + "=" +
           effect.value + ")";
  }
  for (const TableRef& table : statement.tables) {
    out += " table=" + qualifiedName(table) + (table.written ? "(w)" : "");
  }
  for (const std::string& function : statement.functions) out += " fn=" + function;
  return out;
}

inline std::string describe(const Classification& classification) {
  std::string out = std::string(toString(classification.status));
  if (!classification.error.message.empty()) {
    out += " error='" + classification.error.message + "'@" +
           std::to_string(classification.error.cursorPosition);
  }
  for (const Statement& statement : classification.statements) out += " | " + describe(statement);
  return out;
}

}  // namespace pgswarm::sql
