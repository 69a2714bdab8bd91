// ParseResult<T>: what every protocol read returns, a value or a ParseError
// whose kind says whether more bytes can help (kNeedMore) or never will
// (kMalformed). Holds static reason strings only: no allocation on failure.
#pragma once

#include <cassert>
#include <string_view>
#include <utility>
#include <variant>

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
class [[nodiscard]] ParseResult {
 public:
  ParseResult(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  ParseResult(ParseError error) : state_(error) {}    // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] const ParseError& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }
  [[nodiscard]] bool needsMore() const {
    return !ok() && error().kind == ParseErrorKind::kNeedMore;
  }
  [[nodiscard]] bool malformed() const {
    return !ok() && error().kind == ParseErrorKind::kMalformed;
  }

 private:
  std::variant<T, ParseError> state_;
};

// Propagates a failed ParseResult from the enclosing function.
#define PGSWARM_PROTOCOL_TRY(var, expr) \
  auto var##_result = (expr);           \
  if (!var##_result.ok()) {             \
    return var##_result.error();        \
  }                                     \
  auto var = std::move(var##_result).value()

// Propagates a failure of a ParseResult whose value is not needed.
#define PGSWARM_PROTOCOL_CHECK(expr) \
  do {                               \
    auto check_result = (expr);      \
    if (!check_result.ok()) {        \
      return check_result.error();   \
    }                                \
  } while (false)

}  // namespace pgswarm::protocol
