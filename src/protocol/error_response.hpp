// ErrorResponse and NoticeResponse: a list of (field code, text) pairs with
// typed accessors (severity, SQLSTATE, message, detail, hint, ...). Views
// into the body; builds nothing itself (see sqlstate.hpp for that).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "protocol/codes.hpp"
#include "protocol/message.hpp"

namespace pgswarm::protocol {

// Field codes, as in the "Error and Notice Message Fields" chapter.
namespace field {
inline constexpr char kSeverity = 'S';  // localized
inline constexpr char kSeverityNonLocalized = 'V';
inline constexpr char kCode = 'C';  // SQLSTATE
inline constexpr char kMessage = 'M';
inline constexpr char kDetail = 'D';
inline constexpr char kHint = 'H';
inline constexpr char kPosition = 'P';
inline constexpr char kInternalPosition = 'p';
inline constexpr char kInternalQuery = 'q';
inline constexpr char kWhere = 'W';
inline constexpr char kSchemaName = 's';
inline constexpr char kTableName = 't';
inline constexpr char kColumnName = 'c';
inline constexpr char kDataTypeName = 'd';
inline constexpr char kConstraintName = 'n';
inline constexpr char kFile = 'F';
inline constexpr char kLine = 'L';
inline constexpr char kRoutine = 'R';
}  // namespace field

enum class Severity : unsigned char {
  kError,    // the statement failed; the session goes on
  kFatal,    // the session ends
  kPanic,    // the whole server restarts
  kWarning,  // notices from here on
  kNotice,
  kDebug,
  kInfo,
  kLog,
  kUnknown,  // absent or not one of the above
};

// The non-localized spelling ("ERROR", "FATAL", ...).
[[nodiscard]] std::string_view toString(Severity severity);
[[nodiscard]] Severity severityFromString(std::string_view text);

struct ErrorField {
  char code = '\0';  // never '\0', which ends the list on the wire
  std::string_view value;
  bool operator==(const ErrorField&) const = default;
};

struct ErrorFields {
  std::vector<ErrorField> fields;  // in wire order

  // The first field with this code, if any.
  [[nodiscard]] std::optional<std::string_view> find(char code) const;
  // The field's text, or "" when absent.
  [[nodiscard]] std::string_view get(char code) const;
  // From 'V' when present (not translated), else from 'S'.
  [[nodiscard]] Severity severity() const;
  [[nodiscard]] std::string_view sqlState() const { return get(field::kCode); }
  [[nodiscard]] std::string_view message() const { return get(field::kMessage); }
  [[nodiscard]] std::string_view detail() const { return get(field::kDetail); }
  [[nodiscard]] std::string_view hint() const { return get(field::kHint); }
  [[nodiscard]] std::optional<std::string_view> position() const { return find(field::kPosition); }

  [[nodiscard]] static ParseResult<ErrorFields> parse(Bytes body);
  // Appends the fields and the terminator to an open message.
  void put(Writer& out) const;
  bool operator==(const ErrorFields&) const = default;
};

struct ErrorResponse {
  static constexpr char kType = kErrorResponse;
  ErrorFields fields;

  [[nodiscard]] static ParseResult<ErrorResponse> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const ErrorResponse&) const = default;
};

struct NoticeResponse {
  static constexpr char kType = kNoticeResponse;
  ErrorFields fields;

  [[nodiscard]] static ParseResult<NoticeResponse> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const NoticeResponse&) const = default;
};

}  // namespace pgswarm::protocol
