// The router's view of a classification (readIntent), and the literal-free
// key, built in one pass over lexer.hpp's tokens. It never parses and never
// guesses: a text the lexer cannot finish gets no key.
#include "sql/read_intent.hpp"

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>

#include "sql/lexer.hpp"

namespace pgswarm::sql {
namespace {

bool allReadOnly(std::span<const Statement> statements) {
  return std::all_of(statements.begin(), statements.end(),
                     [](const Statement& statement) { return statement.readOnly; });
}

bool changesSettingsOnly(const Statement& statement) {
  if (statement.kind == StatementKind::kShow) return true;
  if (statement.kind != StatementKind::kSet && statement.kind != StatementKind::kReset) {
    return false;
  }
  // Roles and session authorization change what later statements may do.
  return std::all_of(statement.sessionEffects.begin(), statement.sessionEffects.end(),
                     [](const SessionEffect& effect) {
                       return effect.kind == SessionEffectKind::kSet ||
                              effect.kind == SessionEffectKind::kSetDefault ||
                              effect.kind == SessionEffectKind::kResetAll;
                     });
}

// The first statement is BEGIN / START TRANSACTION; rest follow it in the text.
ReadIntent beginIntent(const TransactionControl& begin, std::span<const Statement> rest) {
  // A hot standby refuses serializable transactions ("cannot use
  // serializable mode in a hot standby"), read-only or not.
  if (begin.isolation == IsolationLevel::kSerializable) return ReadIntent::kPrimary;
  // READ WRITE written out overrides a read-only session default.
  if (begin.access == AccessMode::kReadWrite) return ReadIntent::kPrimary;
  // COMMIT, SAVEPOINT, SET LOCAL... are not read-only statements, so a text
  // that also ends or shapes the transaction stays on the primary.
  if (!allReadOnly(rest)) return ReadIntent::kPrimary;
  return begin.access == AccessMode::kReadOnly ? ReadIntent::kBeginReadOnly : ReadIntent::kBegin;
}

// One pass: everything but literals is copied as it is, a span at a time.
// literals, when given, receives where each replaced literal was.
std::optional<std::string> buildKey(std::string_view text, std::vector<LiteralSpan>* literals) {
  std::string key;
  key.reserve(text.size() + 16);
  std::size_t copied = 0;  // text[0, copied) is in key already
  detail::Lexer lexer(text);
  while (std::optional<detail::Token> token = lexer.next()) {
    std::string_view placeholder;
    if (token->kind == detail::TokenKind::kNumber) {
      placeholder = kNumberPlaceholder;
    } else if (token->kind == detail::TokenKind::kString) {
      placeholder = kStringPlaceholder;  // after its prefix, which stays
    } else if (token->kind == detail::TokenKind::kUnterminated) {
      return std::nullopt;
    } else {
      continue;
    }
    key.append(text.substr(copied, token->quoteBegin - copied));
    key.append(placeholder);
    if (literals != nullptr) literals->push_back(LiteralSpan{token->begin, token->end});
    copied = token->end;
  }
  key.append(text.substr(copied));
  return key;
}

}  // namespace

std::string_view toString(ReadIntent intent) {
  switch (intent) {
    case ReadIntent::kPrimary:
      return "primary";
    case ReadIntent::kReplica:
      return "replica";
    case ReadIntent::kBeginReadOnly:
      return "begin-read-only";
    case ReadIntent::kBegin:
      return "begin";
  }
  return "unknown";
}

ReadIntent readIntent(const Classification& classification) {
  if (classification.status != ClassificationStatus::kOk || classification.statements.empty()) {
    return ReadIntent::kPrimary;
  }
  const std::span<const Statement> statements = classification.statements;
  const Statement& first = statements.front();
  if (first.transaction.op == TransactionOp::kBegin) {
    return beginIntent(first.transaction, statements.subspan(1));
  }
  return allReadOnly(statements) ? ReadIntent::kReplica : ReadIntent::kPrimary;
}

bool changesSettingsOnly(const Classification& classification) {
  if (classification.status != ClassificationStatus::kOk || classification.statements.empty()) {
    return false;
  }
  return std::all_of(classification.statements.begin(), classification.statements.end(),
                     [](const Statement& statement) { return changesSettingsOnly(statement); });
}

std::optional<std::string> literalFreeKey(std::string_view text) {
  // The protocol ends a query at its first zero byte and the classifier
  // rejects such texts; refusing them keeps the placeholders unambiguous.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  return buildKey(text, nullptr);
}

std::optional<std::string> literalFreeKey(std::string_view text,
                                          std::vector<LiteralSpan>& literals) {
  literals.clear();
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  return buildKey(text, &literals);
}

// Where a literal's value decides read-only, the analyzer reads it:
//  - EXPLAIN (ANALYZE 0) plans, EXPLAIN (ANALYZE 1) runs the statement. The
//    classification keeps only the outcome, not whether a literal chose it,
//    so every EXPLAIN is keyed by its exact text (rare in application traffic).
//  - set_config(name, value, is_local) reads its literals only for session
//    effects; the function is never safe, so the intent is kPrimary either way.
//  - BEGIN / SET TRANSACTION options are keywords, not literals.
// Everything else that decides read-only is a keyword or a name: statement
// kind, locking clause, CTE kind, INTO, function names. A failed
// classification may have failed because of a literal (an invalid escape,
// trailing junk after a number, bytes that are not UTF-8, a text made too
// large by a long string), so its answer holds for that text only.
bool intentIgnoresLiterals(const Classification& classification) {
  if (classification.status != ClassificationStatus::kOk) return false;
  return std::none_of(classification.statements.begin(), classification.statements.end(),
                      [](const Statement& statement) {
                        return statement.kind == StatementKind::kExplain ||
                               statement.kind == StatementKind::kExplainAnalyze;
                      });
}

}  // namespace pgswarm::sql
