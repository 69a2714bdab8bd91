// The session-effect pre-check: see session_prefilter.hpp. Words are taken
// from lexer.hpp's tokens, so a "--" or "/*" inside a string, a dollar
// quote or a quoted identifier cannot hide the statement after it.
#include "sql/session_prefilter.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include "sql/lexer.hpp"

namespace pgswarm::sql {
namespace {

using detail::TokenKind;

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// word, in any case, equals or starts with a lower-case pattern.
bool startsWithWord(std::string_view word, std::string_view pattern) {
  return word.size() >= pattern.size() && std::equal(pattern.begin(), pattern.end(), word.begin(),
                                                     [](char p, char w) { return p == lower(w); });
}
bool isWord(std::string_view word, std::string_view pattern) {
  return word.size() == pattern.size() && startsWithWord(word, pattern);
}

// First words of the statements that matter (transaction control and the
// session statements). Lower case.
constexpr std::array kLeadingWords{
    "set",      "reset",  "begin",     "start",   "commit",  "end",
    "rollback", "abort",  "savepoint", "release", "prepare", "deallocate",
    "discard",  "listen", "unlisten",  "declare", "close",   "load",
};

bool isLeadingWord(std::string_view word) {
  return std::any_of(kLeadingWords.begin(), kLeadingWords.end(),
                     [&](std::string_view candidate) { return isWord(word, candidate); });
}

// Names that matter wherever they are: temporary objects and the functions
// that change session state. Also checked inside quoted identifiers
// ("set_config"(...) calls the same function).
bool isAnywhereWord(std::string_view word) {
  return isWord(word, "temp") || isWord(word, "temporary") || isWord(word, "set_config") ||
         startsWithWord(word, "pg_temp") || startsWithWord(word, "pg_advisory") ||
         startsWithWord(word, "pg_try_advisory");
}

// Whether a statement starts after a run of whitespace and punctuation.
bool startsStatement(std::string_view run, bool atStart) {
  for (char c : run) {
    if (c == ';') {
      atStart = true;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') {
      atStart = false;
    }
  }
  return atStart;
}

}  // namespace

bool mayAffectSession(std::string_view text) {
  bool statementStart = true;
  detail::Lexer lexer(text);
  while (std::optional<detail::Token> token = lexer.next()) {
    const std::string_view spelling = text.substr(token->begin, token->end - token->begin);
    switch (token->kind) {
      case TokenKind::kComment:
        break;
      case TokenKind::kOther:
        statementStart = startsStatement(spelling, statementStart);
        break;
      case TokenKind::kWord:
        if ((statementStart && isLeadingWord(spelling)) || isAnywhereWord(spelling)) return true;
        statementStart = false;
        break;
      case TokenKind::kQuotedIdentifier:
        // U&"..." may spell any name with escapes.
        if (spelling.front() != '"') return true;
        if (isAnywhereWord(spelling.substr(1, spelling.size() - 2))) return true;
        statementStart = false;
        break;
      case TokenKind::kUnterminated:
        return true;  // only the parser can tell
      case TokenKind::kNumber:
      case TokenKind::kString:
      case TokenKind::kParameter:
        statementStart = false;
        break;
    }
  }
  return false;
}

}  // namespace pgswarm::sql
