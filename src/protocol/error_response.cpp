// ErrorResponse / NoticeResponse codecs and field accessors. Accepts unknown
// field codes (newer servers add some) and keeps duplicates in wire order;
// must not translate or rewrite any text.
#include "protocol/error_response.hpp"

#include <array>
#include <utility>

namespace pgswarm::protocol {
namespace {

constexpr std::array<std::pair<Severity, std::string_view>, 8> kSeverityNames = {{
    {Severity::kError, "ERROR"},
    {Severity::kFatal, "FATAL"},
    {Severity::kPanic, "PANIC"},
    {Severity::kWarning, "WARNING"},
    {Severity::kNotice, "NOTICE"},
    {Severity::kDebug, "DEBUG"},
    {Severity::kInfo, "INFO"},
    {Severity::kLog, "LOG"},
}};

}  // namespace

std::string_view toString(Severity severity) {
  for (const auto& [value, name] : kSeverityNames) {
    if (value == severity) return name;
  }
  return "UNKNOWN";
}

Severity severityFromString(std::string_view text) {
  for (const auto& [value, name] : kSeverityNames) {
    if (name == text) return value;
  }
  return Severity::kUnknown;
}

std::optional<std::string_view> ErrorFields::find(char code) const {
  for (const auto& entry : fields) {
    if (entry.code == code) return entry.value;
  }
  return std::nullopt;
}

std::string_view ErrorFields::get(char code) const {
  return find(code).value_or("");
}

Severity ErrorFields::severity() const {
  if (auto raw = find(field::kSeverityNonLocalized)) return severityFromString(*raw);
  return severityFromString(get(field::kSeverity));
}

ParseResult<ErrorFields> ErrorFields::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  ErrorFields result;
  while (true) {
    PGSWARM_PROTOCOL_TRY(code, reader.byte());
    if (code == 0) break;
    PGSWARM_PROTOCOL_TRY(value, reader.cstring());
    result.fields.push_back(ErrorField{.code = static_cast<char>(code), .value = value});
  }
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return result;
}

void ErrorFields::put(Writer& out) const {
  for (const auto& entry : fields) {
    if (entry.code == '\0') out.fail(EncodeStatus::kInvalidValue);
    out.putByte(static_cast<std::uint8_t>(entry.code));
    out.putCString(entry.value);
  }
  out.putByte(0);
}

ParseResult<ErrorResponse> ErrorResponse::parse(Bytes body) {
  PGSWARM_PROTOCOL_TRY(fields, ErrorFields::parse(body));
  return ErrorResponse{.fields = std::move(fields)};
}

EncodeStatus ErrorResponse::encode(Writer& out) const {
  out.begin(kType);
  fields.put(out);
  return out.finish();
}

ParseResult<NoticeResponse> NoticeResponse::parse(Bytes body) {
  PGSWARM_PROTOCOL_TRY(fields, ErrorFields::parse(body));
  return NoticeResponse{.fields = std::move(fields)};
}

EncodeStatus NoticeResponse::encode(Writer& out) const {
  out.begin(kType);
  fields.put(out);
  return out.finish();
}

}  // namespace pgswarm::protocol
