// The session-effect pre-check: see session_prefilter.hpp. Words are taken
// from lexer.hpp's tokens, so a "--" or "/*" inside a string, a dollar
// quote or a quoted identifier cannot hide the statement after it.
#include "sql/session_prefilter.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

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
// string_views, so that a comparison does not measure the word first.
constexpr std::array<std::string_view, 18> kLeadingWords{
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

bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool isAsciiLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool onlyBlanks(std::string_view text) {
  return std::all_of(text.begin(), text.end(), isBlank);
}

// The bytes the one-pass check stops at: a statement separator, the '&' of
// U&"..." (names spelled with escapes), and a rare letter of each name that
// every isAnywhereWord match contains ("te[m]p", "ad[v]isory", "set[_]config").
enum Anchor : unsigned char {
  kNone,
  kSemicolon,
  kAmpersand,
  kTempM,
  kAdvisoryV,
  kSetConfigUnderscore
};

constexpr std::array<Anchor, 256> kAnchors = [] {
  std::array<Anchor, 256> anchors{};
  anchors[';'] = kSemicolon;
  anchors['&'] = kAmpersand;
  anchors['m'] = anchors['M'] = kTempM;
  anchors['v'] = anchors['V'] = kAdvisoryV;
  anchors['_'] = kSetConfigUnderscore;
  return anchors;
}();

// Whether `name` (lower case) appears in `text` with its byte `offset` at `at`.
bool nameAround(std::string_view text, std::size_t at, std::size_t offset, std::string_view name) {
  return at >= offset && startsWithWord(text.substr(at - offset), name);
}

// Sixteen bytes at a time, in GCC's vector extension: SSE2 on x86-64, NEON
// on ARM, and no intrinsics of either.
using Chunk = unsigned char __attribute__((vector_size(16)));
constexpr std::size_t kChunk = sizeof(Chunk);

// Whether the kChunk bytes at `bytes` may hold an anchor. Folding in 0x20
// turns 'M' and 'V' into 'm' and 'v'; the few other bytes it folds onto
// ';' or '&' only send their chunk to the byte loop.
bool chunkMayHoldAnchor(const char* bytes) {
  Chunk raw;
  std::memcpy(&raw, bytes, kChunk);
  Chunk folded = raw | 0x20;
  auto hits = (folded == 'm') | (folded == 'v') | (folded == ';') | (folded == '&') | (raw == '_');
  std::array<std::uint64_t, 2> halves{};
  std::memcpy(halves.data(), &hits, kChunk);
  return (halves[0] | halves[1]) != 0;
}

// Whether `text` can hold an isAnywhereWord name (as a word or inside a
// quoted identifier, escaped or not) or a second statement. Chunks with no
// anchor byte are skipped whole: most of an ordinary statement's text.
bool mayHideTrigger(std::string_view text) {
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (at % kChunk == 0 && text.size() - at >= kChunk && !chunkMayHoldAnchor(text.data() + at)) {
      at += kChunk - 1;
      continue;
    }
    const Anchor anchor = kAnchors[static_cast<unsigned char>(text[at])];
    if (anchor == kNone) [[likely]] {
      continue;  // tested before the switch: the compiler's jump table costs 6 more instructions
    }
    switch (anchor) {
      case kNone:
        break;
      case kSemicolon:
        if (!onlyBlanks(text.substr(at + 1))) return true;
        break;
      case kAmpersand:
        return true;
      case kTempM:
        if (nameAround(text, at, 2, "temp")) return true;
        break;
      case kAdvisoryV:
        if (nameAround(text, at, 2, "advisory")) return true;
        break;
      case kSetConfigUnderscore:
        if (nameAround(text, at, 3, "set_config")) return true;
        break;
    }
  }
  return false;
}

}  // namespace

namespace detail {

// The lexer costs about 50 instructions a byte; most application texts are
// one statement that starts with an ordinary keyword and never mentions the
// names isAnywhereWord looks for, which one pass over the bytes can tell.
// Every isAnywhereWord name contains "temp", "advisory" or "set_config",
// and a second statement needs a ';' before it, so a text this passes has
// no statement the lexer could flag. Anything else takes the lexer.
bool plainlyUnaffecting(std::string_view text) {
  std::size_t start = 0;
  while (start < text.size() && isBlank(text[start])) ++start;
  if (start == text.size() || !isAsciiLetter(text[start])) return false;
  // The lexer's first word is this run or a longer one with digits or '$',
  // which no leading word has.
  std::size_t end = start;
  while (end < text.size() && (isAsciiLetter(text[end]) || text[end] == '_')) ++end;
  if (isLeadingWord(text.substr(start, end - start))) return false;
  return !mayHideTrigger(text.substr(start));
}

bool mayAffectSessionLexed(std::string_view text) {
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

}  // namespace detail

bool mayAffectSession(std::string_view text) {
  return !detail::plainlyUnaffecting(text) && detail::mayAffectSessionLexed(text);
}

}  // namespace pgswarm::sql
