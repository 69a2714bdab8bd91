// The session-effect pre-check: see session_prefilter.hpp.
#include "sql/session_prefilter.hpp"

#include <array>
#include <cctype>
#include <string>

namespace pgswarm::sql {
namespace {

bool isWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$';
}

// First words of the statements that matter (transaction control and the
// session statements). Lower case.
constexpr std::array kLeadingWords{
    "set",      "reset",  "begin",     "start",   "commit",  "end",
    "rollback", "abort",  "savepoint", "release", "prepare", "deallocate",
    "discard",  "listen", "unlisten",  "declare", "close",   "load",
};

bool isLeadingWord(std::string_view word) {
  for (std::string_view candidate : kLeadingWords) {
    if (word == candidate) return true;
  }
  return false;
}

// Words that matter wherever they are: temporary objects and the functions
// that change session state.
bool isAnywhereWord(std::string_view word) {
  return word == "temp" || word == "temporary" || word == "set_config" ||
         word.starts_with("pg_temp") || word.starts_with("pg_advisory") ||
         word.starts_with("pg_try_advisory");
}

}  // namespace

bool mayAffectSession(std::string_view text) {
  bool statementStart = true;
  std::string word;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {  // comment to end of line
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {  // block comment
      auto end = text.find("*/", i + 2);
      i = end == std::string_view::npos ? text.size() : end + 2;
      continue;
    }
    if (!isWordChar(c)) {
      if (c == ';')
        statementStart = true;
      else if (std::isspace(static_cast<unsigned char>(c)) == 0)
        statementStart = false;
      ++i;
      continue;
    }
    word.clear();
    while (i < text.size() && isWordChar(text[i])) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
      ++i;
    }
    if ((statementStart && isLeadingWord(word)) || isAnywhereWord(word)) return true;
    statementStart = false;
  }
  return false;
}

}  // namespace pgswarm::sql
