// The lexer: each scan* method starts at pos_ on its token's first byte and
// returns the token, which ends where the next one starts. Lookahead goes
// through at(), which answers '\0' past the end, so no branch can read
// beyond the text; a zero byte inside the text is an ordinary kOther byte.
#include "sql/lexer.hpp"

namespace pgswarm::sql::detail {
namespace {

// Marks a token that runs off the end of the text.
constexpr std::size_t kNoEnd = std::string_view::npos;

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
// scan.l's ident_start: letters, '_' and every byte from 0x80 (any encoding).
bool isIdentStart(char c) {
  return isLetter(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
// dolq_cont: an identifier character other than '$'.
bool isTagChar(char c) {
  return isIdentStart(c) || isDigit(c);
}
// ident_cont.
bool isIdentChar(char c) {
  return isTagChar(c) || c == '$';
}
char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

char Lexer::at(std::size_t i) const {
  return i < text_.size() ? text_[i] : '\0';
}

std::optional<Token> Lexer::next() {
  if (done_ || pos_ >= text_.size()) return std::nullopt;
  const char c = text_[pos_];
  const char after = at(pos_ + 1);
  Token token;
  if (c == '\'') {
    token = scanString(pos_, Quoting::kStandard);
  } else if (c == '"') {
    token = scanQuotedIdentifier(pos_);
  } else if (c == '$') {
    token = scanDollar();
  } else if (c == '-' && after == '-') {
    token = scanLineComment();
  } else if (c == '/' && after == '*') {
    token = scanBlockComment();
  } else if (isDigit(c) || (c == '.' && isDigit(after))) {
    token = scanNumber();
  } else if (isIdentStart(c)) {
    token = scanWord();
  } else {
    token = scanOther();
  }
  if (token.end == kNoEnd) return unterminated();
  pos_ = token.end;
  return token;
}

std::optional<Token> Lexer::unterminated() {
  done_ = true;
  return Token{
      .kind = TokenKind::kUnterminated, .begin = pos_, .end = text_.size(), .quoteBegin = pos_};
}

Token Lexer::emit(TokenKind kind, std::size_t end, std::size_t quoteBegin) {
  return Token{.kind = kind, .begin = pos_, .end = end, .quoteBegin = quoteBegin};
}

// Comments start anywhere, even inside a run of operator characters, as in
// scan.l, which cuts an operator at "--" or "/*".
bool Lexer::startsToken(std::size_t i) const {
  const char c = text_[i];
  const char after = at(i + 1);
  return c == '\'' || c == '"' || c == '$' || isIdentStart(c) || isDigit(c) ||
         (c == '.' && isDigit(after)) || (c == '-' && after == '-') || (c == '/' && after == '*');
}

Token Lexer::scanOther() {
  std::size_t end = pos_ + 1;
  while (end < text_.size() && !startsToken(end)) ++end;
  return emit(TokenKind::kOther, end, pos_);
}

// A keyword or identifier, or the prefix of a prefixed literal. A prefix
// only counts at the start of a word: `date'x'` is the word date and a string.
Token Lexer::scanWord() {
  const char c = lower(text_[pos_]);
  const char after = at(pos_ + 1);
  if (after == '\'') {
    if (c == 'e') return scanPrefixed(1, Quoting::kEscape);
    if (c == 'b' || c == 'x') return scanPrefixed(1, Quoting::kNoDoubling);
    if (c == 'n') return scanPrefixed(1, Quoting::kStandard);  // NCHAR '...'
  }
  if (c == 'u' && after == '&') {
    if (at(pos_ + 2) == '\'') return scanPrefixed(2, Quoting::kStandard);
    if (at(pos_ + 2) == '"') return scanQuotedIdentifier(pos_ + 2);
  }
  std::size_t end = pos_ + 1;
  while (isIdentChar(at(end))) ++end;  // t1, col_2 and x$1 stay whole
  return emit(TokenKind::kWord, end, pos_);
}

Token Lexer::scanPrefixed(std::size_t prefixLength, Quoting quoting) {
  return scanString(pos_ + prefixLength, quoting);
}

Token Lexer::scanString(std::size_t quote, Quoting quoting) {
  const std::string_view stops = quoting == Quoting::kEscape ? "\\'" : "'";
  std::size_t i = quote + 1;
  while (true) {
    i = text_.find_first_of(stops, i);
    if (i == std::string_view::npos) return emit(TokenKind::kString, kNoEnd, quote);
    // A backslash (E'' only) hides the byte after it, and '' is a quote
    // (not in B'' or X''). A backslash that ends the text leaves i past it.
    const bool escaped = text_[i] == '\\';
    const bool doubled = !escaped && quoting != Quoting::kNoDoubling && at(i + 1) == '\'';
    if (!escaped && !doubled) return emit(TokenKind::kString, i + 1, quote);
    i += 2;
  }
}

// $n (a parameter), $tag$...$tag$ (a string), or a lone '$' (which the
// server rejects).
Token Lexer::scanDollar() {
  std::size_t end = pos_ + 1;
  if (isDigit(at(end))) {
    while (isDigit(at(end))) ++end;
    return emit(TokenKind::kParameter, end, pos_);
  }
  if (isIdentStart(at(end))) {
    while (isTagChar(at(end))) ++end;
  }
  if (at(end) != '$') return emit(TokenKind::kOther, pos_ + 1, pos_);
  // scan.l tries every '$' in the body as a delimiter, so the body ends at
  // the first occurrence of the exact opening delimiter.
  const std::string_view delimiter = text_.substr(pos_, end + 1 - pos_);
  const std::size_t close = text_.find(delimiter, end + 1);
  if (close == std::string_view::npos) return emit(TokenKind::kString, kNoEnd, pos_);
  return emit(TokenKind::kString, close + delimiter.size(), pos_);
}

// Any maximal run of [0-9A-Za-z_.] from a digit (or '.' and a digit), with
// a sign right after a decimal exponent's e/E. Since PostgreSQL 15 a number
// running into letters is an error ("trailing junk after numeric literal"),
// so such a run is one token or no valid text at all, and PostgreSQL 16's
// 0x1F, 0o17, 0b101 and 1_000 are one token each.
Token Lexer::scanNumber() {
  const bool hex = text_[pos_] == '0' && lower(at(pos_ + 1)) == 'x';
  std::size_t end = pos_;
  while (true) {
    const char c = at(end);
    if (!isLetter(c) && !isDigit(c) && c != '_' && c != '.') break;
    ++end;
    const char sign = at(end);
    if (!hex && lower(c) == 'e' && (sign == '+' || sign == '-')) ++end;
  }
  return emit(TokenKind::kNumber, end, pos_);
}

Token Lexer::scanQuotedIdentifier(std::size_t quote) {
  std::size_t i = quote + 1;
  while (true) {
    i = text_.find('"', i);
    if (i == std::string_view::npos) return emit(TokenKind::kQuotedIdentifier, kNoEnd, pos_);
    if (at(i + 1) != '"') return emit(TokenKind::kQuotedIdentifier, i + 1, pos_);
    i += 2;  // "" is a quote inside the name
  }
}

Token Lexer::scanLineComment() {
  const std::size_t newline = text_.find_first_of("\r\n", pos_ + 2);
  return emit(TokenKind::kComment, newline == std::string_view::npos ? text_.size() : newline,
              pos_);
}

// Block comments nest in PostgreSQL, unlike the SQL standard's.
Token Lexer::scanBlockComment() {
  std::size_t depth = 1;
  std::size_t i = pos_ + 2;
  while (depth > 0) {
    i = text_.find_first_of("/*", i);
    if (i == std::string_view::npos) return emit(TokenKind::kComment, kNoEnd, pos_);
    if (text_[i] == '/' && at(i + 1) == '*') {
      ++depth;
      i += 2;
    } else if (text_[i] == '*' && at(i + 1) == '/') {
      --depth;
      i += 2;
    } else {
      ++i;
    }
  }
  return emit(TokenKind::kComment, i, pos_);
}

}  // namespace pgswarm::sql::detail
