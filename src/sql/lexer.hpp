// A hand-written lexer for what the sql module must know without parsing:
// where literals, quoted identifiers, comments and words begin and end, by
// PostgreSQL's rules (scan.l) with standard_conforming_strings on, as
// libpg_query assumes. Internal to sql. Never reads outside the text and
// never allocates; a token that runs off the end stops the scan.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace pgswarm::sql::detail {

enum class TokenKind : unsigned char {
  kNumber,            // 42, 1.5e-3, .5, 0x1F, 1_000: any run from a digit (see lexer.cpp)
  kString,            // '...', E'...', B'...', X'...', N'...', U&'...', $tag$...$tag$
  kWord,              // keyword or identifier: SELECT, t1, x$1
  kQuotedIdentifier,  // "..." or U&"..."
  kParameter,         // $1
  kComment,           // -- to the end of the line, or /* ... */ (nested)
  kOther,             // a run of whitespace, operators and punctuation
  kUnterminated,      // a string, quoted identifier or block comment the text ends inside
};

struct Token {
  TokenKind kind = TokenKind::kOther;
  std::size_t begin = 0;  // byte offsets into the text: [begin, end)
  std::size_t end = 0;
  // kString: where the quoted part starts, after a prefix (E, B, X, N, U&).
  // Otherwise begin.
  std::size_t quoteBegin = 0;
};

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  // The next token, or nullopt at the end of the text or after kUnterminated.
  [[nodiscard]] std::optional<Token> next();

 private:
  // How a quoted literal ends.
  enum class Quoting : unsigned char {
    kStandard,    // '...', N'...', U&'...': '' is a quote inside
    kEscape,      // E'...': '' and a backslash with any byte after it are inside
    kNoDoubling,  // B'...', X'...': the first ' ends it ('' starts a new literal)
  };

  [[nodiscard]] char at(std::size_t i) const;
  [[nodiscard]] bool startsToken(std::size_t i) const;
  Token scanWord();
  Token scanPrefixed(std::size_t prefixLength, Quoting quoting);
  Token scanString(std::size_t quote, Quoting quoting);
  Token scanDollar();
  Token scanNumber();
  Token scanQuotedIdentifier(std::size_t quote);
  Token scanLineComment();
  Token scanBlockComment();
  Token scanOther();
  Token emit(TokenKind kind, std::size_t end, std::size_t quoteBegin);
  std::optional<Token> unterminated();

  std::string_view text_;
  std::size_t pos_ = 0;  // where the next token starts
  bool done_ = false;
};

}  // namespace pgswarm::sql::detail
