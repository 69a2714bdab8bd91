// The session-effect pre-check: see session_prefilter.hpp. Words are taken
// from lexer.hpp's tokens, so a "--" or "/*" inside a string, a dollar
// quote or a quoted identifier cannot hide the statement after it.
#include "sql/session_prefilter.hpp"

#include <algorithm>
#include <array>
#include <bit>
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
// session statements). Lower case, grouped by first letter so that an
// ordinary first word ("select", "insert", "with") is turned away after
// one lookup.
// string_views, so that a comparison does not measure the word first.
using Candidates = std::array<std::string_view, 3>;
// Not constexpr: reaching it stops kLeadingWords' constant evaluation, so a
// fourth word under one letter fails the build instead of going missing.
void moreLeadingWordsThanCandidatesHold() {}
constexpr std::array<Candidates, 26> kLeadingWords = [] {
  std::array<Candidates, 26> words{};
  auto add = [&words](std::string_view word) {
    for (auto& slot : words[static_cast<std::size_t>(word.front() - 'a')]) {
      if (slot.empty()) {
        slot = word;
        return;
      }
    }
    moreLeadingWordsThanCandidatesHold();
  };
  for (std::string_view word : {"set", "reset", "begin", "start", "commit", "end", "rollback",
                                "abort", "savepoint", "release", "prepare", "deallocate", "discard",
                                "listen", "unlisten", "declare", "close", "load"}) {
    add(word);
  }
  return words;
}();

bool isLeadingWord(std::string_view word) {
  if (word.empty()) return false;
  const char first = lower(word.front());
  if (first < 'a' || first > 'z') return false;
  const Candidates& candidates = kLeadingWords[static_cast<std::size_t>(first - 'a')];
  return std::any_of(candidates.begin(), candidates.end(), [&](std::string_view candidate) {
    return !candidate.empty() && isWord(word, candidate);
  });
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

// The one-pass check's first word runs over letters and '_'; the lexer's
// goes on over digits, '$' and non-ASCII bytes as well.
constexpr std::array<bool, 256> kWordRun = [] {
  std::array<bool, 256> run{};
  for (int c = 'a'; c <= 'z'; ++c) run[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) run[static_cast<std::size_t>(c)] = true;
  run['_'] = true;
  return run;
}();
constexpr std::array<bool, 256> kWordTail = [] {
  std::array<bool, 256> tail{};
  for (int c = '0'; c <= '9'; ++c) tail[static_cast<std::size_t>(c)] = true;
  tail['$'] = true;
  for (std::size_t c = 0x80; c < 256; ++c) tail[c] = true;
  return tail;
}();

bool onlyBlanks(std::string_view text) {
  return std::all_of(text.begin(), text.end(), isBlank);
}

// Where the one-pass check stops: a statement separator, the '&' of
// U&"..." (names spelled with escapes), and a pair of letters that every
// isAnywhereWord match contains and ordinary text seldom does ("te[mp]",
// "a[dv]isory", "set_co[nf]ig"). Single letters ('m', '_') would stop at
// every FROM and every snake_case name. Indexed by the first byte.
enum Anchor : unsigned char { kNone, kSemicolon, kAmpersand, kTempMP, kAdvisoryDV, kSetConfigNF };

constexpr std::array<Anchor, 256> kAnchors = [] {
  std::array<Anchor, 256> anchors{};
  anchors[';'] = kSemicolon;
  anchors['&'] = kAmpersand;
  anchors['m'] = anchors['M'] = kTempMP;
  anchors['d'] = anchors['D'] = kAdvisoryDV;
  anchors['n'] = anchors['N'] = kSetConfigNF;
  return anchors;
}();

// Whether `name` (lower case) appears in `text` with its byte `offset` at `at`.
bool nameAround(std::string_view text, std::size_t at, std::size_t offset, std::string_view name) {
  return at >= offset && startsWithWord(text.substr(at - offset), name);
}

// Sixteen bytes at a time, in GCC's vector extension: SSE2 on x86-64, NEON
// on ARM, and no intrinsics of either.
using Chunk = unsigned char __attribute__((vector_size(16)));
// Byte i of a chunk is byte i of its first eight-byte lane.
static_assert(std::endian::native == std::endian::little,
              "anchorCandidates reads lanes little-end first");
constexpr std::size_t kChunk = sizeof(Chunk);

// One bit per byte of a chunk whose bytes are 0x00 or 0xff: SSE2's
// pmovmskb on x86-64, else a multiply per 8-byte lane.
#if defined(__SSE2__)
using SignedChunk = char __attribute__((vector_size(16)));
std::uint32_t byteBits(Chunk hits) {
  return static_cast<std::uint32_t>(
      __builtin_ia32_pmovmskb128(reinterpret_cast<SignedChunk>(hits)));
}
#else
std::uint32_t laneBits(std::uint64_t lane) {
  return static_cast<std::uint32_t>(((lane & 0x0101010101010101ULL) * 0x0102040810204080ULL) >> 56);
}
std::uint32_t byteBits(Chunk hits) {
  std::array<std::uint64_t, 2> halves{};
  std::memcpy(halves.data(), &hits, kChunk);
  return laneBits(halves[0]) | (laneBits(halves[1]) << 8U);
}
#endif

// Bit i set: an anchor may start at byte i of the kChunk bytes at `bytes`
// (which must be followed by one more readable byte, the pairs' second).
// Folding in 0x20 turns an upper-case letter into its lower-case one and
// no other byte into a letter.
std::uint32_t anchorCandidates(const char* bytes) {
  Chunk raw;
  Chunk next;
  std::memcpy(&raw, bytes, kChunk);
  std::memcpy(&next, bytes + 1, kChunk);
  const Chunk first = raw | 0x20;
  const Chunk second = next | 0x20;
  const Chunk hits = ((first == 'm') & (second == 'p')) | ((first == 'd') & (second == 'v')) |
                     ((first == 'n') & (second == 'f')) | (raw == ';') | (raw == '&');
  return byteBits(hits);
}

// Whether the anchor at `at` starts what the one-pass check gives up on.
bool triggersAt(std::string_view text, std::size_t at) {
  switch (kAnchors[static_cast<unsigned char>(text[at])]) {
    case kNone:
      return false;
    case kSemicolon:
      return !onlyBlanks(text.substr(at + 1));
    case kAmpersand:
      return true;
    case kTempMP:
      return nameAround(text, at, 2, "temp");
    case kAdvisoryDV:
      return nameAround(text, at, 1, "advisory");
    case kSetConfigNF:
      return nameAround(text, at, 6, "set_config");
  }
  return true;
}

// Whether an anchor flagged in `candidates` (bit i: byte base + i) triggers.
bool triggersIn(std::string_view text, std::uint32_t candidates, std::size_t base) {
  for (; candidates != 0; candidates &= candidates - 1) {
    if (triggersAt(text, base + static_cast<std::size_t>(__builtin_ctz(candidates)))) return true;
  }
  return false;
}

// Whether `text` can hold an isAnywhereWord name (as a word or inside a
// quoted identifier, escaped or not) or a second statement. Only the bytes
// a chunk's bit mask flags are looked at: most of an ordinary statement's
// text is skipped sixteen bytes at a time.
bool mayHideTrigger(std::string_view text) {
  const std::size_t size = text.size();
  if (size <= kChunk) {
    std::array<char, kChunk + 1> padded{};  // zero bytes are no anchor
    std::memcpy(padded.data(), text.data(), size);
    return triggersIn(text, anchorCandidates(padded.data()), 0);
  }
  // Anchors starting at 0 .. size-2 (each chunk reads one byte past itself),
  // the last ones from the text's last kChunk + 1 bytes less those already
  // looked at; then the last byte, which starts no pair.
  std::size_t base = 0;
  for (; base + kChunk + 1 <= size; base += kChunk) {
    if (triggersIn(text, anchorCandidates(text.data() + base), base)) return true;
  }
  if (base + 1 < size) {
    const std::size_t from = size - kChunk - 1;
    if (triggersIn(text, anchorCandidates(text.data() + from) >> (base - from), base)) return true;
  }
  return text.back() == '&';
}

}  // namespace

namespace detail {

// The lexer costs about 50 instructions a byte; most application texts are
// one statement that starts with an ordinary keyword and never mentions the
// names isAnywhereWord looks for, which one pass over the bytes can tell.
// Every isAnywhereWord name contains "temp", "advisory" or "set_config",
// and a second statement needs a ';' before it, so a text this passes has
// no statement the lexer could flag. A text whose first word is a leading
// word (BEGIN, COMMIT, SET) is flagged by the lexer at its first token,
// which one look at that word can tell too. Anything else takes the lexer.
OnePass onePassVerdict(std::string_view text) {
  std::size_t start = 0;
  while (start < text.size() && isBlank(text[start])) ++start;
  if (start == text.size() || !isAsciiLetter(text[start])) return OnePass::kAskTheLexer;
  std::size_t end = start + 1;
  while (end < text.size() && kWordRun[static_cast<unsigned char>(text[end])]) ++end;
  if (isLeadingWord(text.substr(start, end - start))) {
    // The lexer's first word is this run, or a longer one with digits,
    // '$' or non-ASCII bytes, which no leading word is.
    const bool wordEnds = end == text.size() || !kWordTail[static_cast<unsigned char>(text[end])];
    return wordEnds ? OnePass::kAffects : OnePass::kAskTheLexer;
  }
  return mayHideTrigger(text.substr(start)) ? OnePass::kAskTheLexer : OnePass::kUnaffecting;
}

bool plainlyUnaffecting(std::string_view text) {
  return onePassVerdict(text) == OnePass::kUnaffecting;
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
  switch (detail::onePassVerdict(text)) {
    case detail::OnePass::kUnaffecting:
      return false;
    case detail::OnePass::kAffects:
      return true;
    case detail::OnePass::kAskTheLexer:
      break;
  }
  return detail::mayAffectSessionLexed(text);
}

}  // namespace pgswarm::sql
