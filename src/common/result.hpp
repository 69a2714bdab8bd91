// Result<T>: a value or an Error, for everything fallible outside the hot
// path's exceptions ban. Errors carry an operator-readable message; modules
// that need to branch on the kind of failure add their own code enum.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace pgswarm {

struct Error {
  std::string message;
};

template <typename... Args>
[[nodiscard]] Error makeError(fmt::format_string<Args...> format, Args&&... args) {
  return Error{fmt::format(format, std::forward<Args>(args)...)};
}

// A value or an error of type E. Result (below) and protocol's ParseResult
// are the two kinds in use.
template <typename T, typename E>
class [[nodiscard]] BasicResult {
 public:
  BasicResult(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  BasicResult(E error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

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

  [[nodiscard]] const E& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, E> state_;
};

template <typename T>
using Result = BasicResult<T, Error>;

// Status: a Result with no value.
struct Ok {};
using Status = Result<Ok>;

}  // namespace pgswarm
