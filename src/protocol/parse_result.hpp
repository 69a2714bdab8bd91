// ParseResult<T>: what every protocol read returns, a value or a ParseError
// whose kind says whether more bytes can help (kNeedMore) or never will
// (kMalformed). Holds static reason strings only: no allocation on failure.
#pragma once

#include <string_view>
#include <utility>

#include "common/result.hpp"

namespace pgswarm::protocol {

enum class ParseErrorKind : unsigned char {
  // The input stops before the item ends. Nothing was consumed for good:
  // call again with the same start once more bytes have arrived.
  kNeedMore,
  // The input can never become valid (bad length, missing terminator,
  // trailing bytes, unknown code...). The connection has lost framing or
  // talks nonsense: answer 08P01 protocol_violation and close it.
  kMalformed,
};

[[nodiscard]] constexpr std::string_view toString(ParseErrorKind kind) {
  return kind == ParseErrorKind::kNeedMore ? "need more" : "malformed";
}

struct ParseError {
  ParseErrorKind kind = ParseErrorKind::kMalformed;
  std::string_view reason;  // always a string literal
};

[[nodiscard]] constexpr ParseError needMore(std::string_view reason) {
  return ParseError{ParseErrorKind::kNeedMore, reason};
}
[[nodiscard]] constexpr ParseError malformed(std::string_view reason) {
  return ParseError{ParseErrorKind::kMalformed, reason};
}

template <typename T>
class [[nodiscard]] ParseResult : public BasicResult<T, ParseError> {
 public:
  using BasicResult<T, ParseError>::BasicResult;

  [[nodiscard]] bool needsMore() const {
    return !this->ok() && this->error().kind == ParseErrorKind::kNeedMore;
  }
  [[nodiscard]] bool malformed() const {
    return !this->ok() && this->error().kind == ParseErrorKind::kMalformed;
  }
};

// Propagates a failed ParseResult from the enclosing function. `var` is
// pasted into a name, where parentheses cannot go.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define PGSWARM_PROTOCOL_TRY(var, expr) \
  auto var##_result = (expr);           \
  if (!var##_result.ok()) {             \
    return var##_result.error();        \
  }                                     \
  auto var = std::move(var##_result).value()
// NOLINTEND(bugprone-macro-parentheses)

// Propagates a failure of a ParseResult whose value is not needed.
#define PGSWARM_PROTOCOL_CHECK(expr) \
  do {                               \
    auto check_result = (expr);      \
    if (!check_result.ok()) {        \
      return check_result.error();   \
    }                                \
  } while (false)

}  // namespace pgswarm::protocol
