// Reading and writing SCRAM attribute strings ("a=value,b=value"), the
// payload grammar of RFC 5802 section 7 shared by both sides. Internal to
// auth/: the SASL message framing around these payloads is protocol/'s job.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "common/result.hpp"

namespace pgswarm::auth::detail {

// A cursor over one SCRAM message. Each read consumes "x=value" and the ','
// after it; values end at the next ',' or the end of the message.
class AttributeReader {
 public:
  explicit AttributeReader(std::string_view text) : text_(text) {}

  // The value of the attribute `name`, which must come next.
  [[nodiscard]] Result<std::string_view> expect(char name);
  // Whatever attribute comes next (an extension we skip or a field we branch on).
  [[nodiscard]] Result<std::pair<char, std::string_view>> any();

  [[nodiscard]] bool atEnd() const { return offset_ == text_.size(); }
  [[nodiscard]] std::size_t offset() const { return offset_; }
  [[nodiscard]] char peek() const { return atEnd() ? '\0' : text_[offset_]; }

 private:
  std::string_view readValue();

  std::string_view text_;
  std::size_t offset_ = 0;
};

// A byte as PostgreSQL shows it in errors: 'c' when printable, else 0x%02x,
// so unauthenticated peers cannot put arbitrary bytes into our messages.
[[nodiscard]] std::string sanitizeChar(char c);

// RFC 5802 "printable": %x21-2B / %x2D-7E (printable ASCII except ',').
[[nodiscard]] bool isScramPrintable(std::string_view text);

// Common checks on any SCRAM message: not empty and no NUL byte (PostgreSQL
// compares the length with strlen()).
[[nodiscard]] Status checkMessage(std::string_view message);

// saslname escaping for the username attribute: ',' -> "=2C", '=' -> "=3D".
[[nodiscard]] std::string escapeSaslName(std::string_view name);

}  // namespace pgswarm::auth::detail
