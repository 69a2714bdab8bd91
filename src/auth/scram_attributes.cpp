// The attribute grammar: ALPHA "=" value, values free of ','. Error texts
// follow PostgreSQL's ("malformed SCRAM message: ...") so logs read alike.
#include "auth/scram_attributes.hpp"

namespace pgswarm::auth::detail {
namespace {

bool isAlpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

std::string_view AttributeReader::readValue() {
  std::size_t end = text_.find(',', offset_);
  if (end == std::string_view::npos) end = text_.size();
  std::string_view value = text_.substr(offset_, end - offset_);
  offset_ = end == text_.size() ? end : end + 1;
  return value;
}

Result<std::string_view> AttributeReader::expect(char name) {
  if (peek() != name) {
    return makeError("malformed SCRAM message: expected attribute '{}' but found {}", name,
                     atEnd() ? std::string("end of message") : sanitizeChar(peek()));
  }
  if (offset_ + 1 >= text_.size() || text_[offset_ + 1] != '=') {
    return makeError("malformed SCRAM message: expected '=' after attribute '{}'", name);
  }
  offset_ += 2;
  return readValue();
}

Result<std::pair<char, std::string_view>> AttributeReader::any() {
  if (atEnd())
    return makeError("malformed SCRAM message: attribute expected, found end of message");
  char name = peek();
  if (!isAlpha(name)) {
    return makeError("malformed SCRAM message: attribute expected, found {}", sanitizeChar(name));
  }
  auto value = expect(name);
  if (!value) return value.error();
  return std::pair{name, *value};
}

std::string sanitizeChar(char c) {
  if (c >= 0x21 && c <= 0x7E) return fmt::format("'{}'", c);
  return fmt::format("0x{:02x}", static_cast<unsigned char>(c));
}

bool isScramPrintable(std::string_view text) {
  for (char c : text) {
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  }
  return true;
}

Status checkMessage(std::string_view message) {
  if (message.empty()) return makeError("malformed SCRAM message: the message is empty");
  if (message.find('\0') != std::string_view::npos) {
    return makeError("malformed SCRAM message: the message contains a NUL byte");
  }
  return Ok{};
}

std::string escapeSaslName(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace pgswarm::auth::detail
