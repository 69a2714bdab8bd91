// Builds ErrorResponses for the proxy's own errors. Sanitises text instead of
// failing, because an error path must always be able to answer the client.
#include "protocol/sqlstate.hpp"

namespace pgswarm::protocol {
namespace {

std::string_view untilNul(std::string_view text) {
  return text.substr(0, text.find('\0'));
}

ErrorResponse toResponse(const ErrorSpec& spec) {
  ErrorResponse response;
  std::string_view severity = toString(spec.severity);
  auto& fields = response.fields.fields;
  fields.push_back({field::kSeverity, severity});
  fields.push_back({field::kSeverityNonLocalized, severity});
  fields.push_back({field::kCode, untilNul(spec.sqlState)});
  fields.push_back({field::kMessage, untilNul(spec.message)});
  if (!spec.detail.empty()) fields.push_back({field::kDetail, untilNul(spec.detail)});
  if (!spec.hint.empty()) fields.push_back({field::kHint, untilNul(spec.hint)});
  return response;
}

}  // namespace

void appendErrorResponse(Writer& out, const ErrorSpec& spec) {
  if (toResponse(spec).encode(out) == EncodeStatus::kOk) return;
  // Only a message over 2 GiB gets here; answer something that fits.
  ErrorSpec fallback{.severity = spec.severity,
                     .sqlState = sqlstate::kInternalError,
                     .message = "error message too long"};
  (void)toResponse(fallback).encode(out);
}

std::string makeErrorResponse(const ErrorSpec& spec) {
  std::string out;
  Writer writer(out);
  appendErrorResponse(writer, spec);
  return out;
}

std::string makeErrorResponse(Severity severity, std::string_view sqlState,
                              std::string_view message, std::string_view detail,
                              std::string_view hint) {
  return makeErrorResponse(ErrorSpec{.severity = severity,
                                     .sqlState = sqlState,
                                     .message = message,
                                     .detail = detail,
                                     .hint = hint});
}

}  // namespace pgswarm::protocol
