// SQLSTATE codes the proxy reports or reacts to (names as in PostgreSQL's
// errcodes.txt) and the helper that builds a ready-to-send ErrorResponse.
// Codes only: deciding which error a situation deserves is the caller's job.
#pragma once

#include <string>
#include <string_view>

#include "protocol/error_response.hpp"
#include "protocol/writer.hpp"

namespace pgswarm::protocol {
namespace sqlstate {
inline constexpr std::string_view kSuccessfulCompletion = "00000";
// Class 08: connection exception.
inline constexpr std::string_view kConnectionException = "08000";
inline constexpr std::string_view kSqlclientUnableToEstablishSqlconnection = "08001";
inline constexpr std::string_view kConnectionDoesNotExist = "08003";
inline constexpr std::string_view kSqlserverRejectedEstablishmentOfSqlconnection = "08004";
inline constexpr std::string_view kConnectionFailure = "08006";
inline constexpr std::string_view kProtocolViolation = "08P01";
inline constexpr std::string_view kFeatureNotSupported = "0A000";
inline constexpr std::string_view kInvalidParameterValue = "22023";
// Class 25: invalid transaction state.
inline constexpr std::string_view kInvalidTransactionState = "25000";
inline constexpr std::string_view kActiveSqlTransaction = "25001";
inline constexpr std::string_view kReadOnlySqlTransaction = "25006";
inline constexpr std::string_view kInFailedSqlTransaction = "25P02";
inline constexpr std::string_view kIdleInTransactionSessionTimeout = "25P03";
inline constexpr std::string_view kInvalidSqlStatementName = "26000";
// Class 28: invalid authorization specification.
inline constexpr std::string_view kInvalidAuthorizationSpecification = "28000";
inline constexpr std::string_view kInvalidPassword = "28P01";
inline constexpr std::string_view kInvalidCursorName = "34000";
inline constexpr std::string_view kInvalidCatalogName = "3D000";
inline constexpr std::string_view kSerializationFailure = "40001";
inline constexpr std::string_view kCheckViolation = "23514";
inline constexpr std::string_view kDeadlockDetected = "40P01";
inline constexpr std::string_view kSyntaxError = "42601";
inline constexpr std::string_view kInsufficientPrivilege = "42501";
inline constexpr std::string_view kUndefinedTable = "42P01";
inline constexpr std::string_view kUndefinedObject = "42704";
inline constexpr std::string_view kDuplicatePreparedStatement = "42P05";
// Class 53: insufficient resources.
inline constexpr std::string_view kInsufficientResources = "53000";
inline constexpr std::string_view kOutOfMemory = "53200";
inline constexpr std::string_view kTooManyConnections = "53300";
inline constexpr std::string_view kConfigurationLimitExceeded = "53400";
inline constexpr std::string_view kObjectNotInPrerequisiteState = "55000";
inline constexpr std::string_view kLockNotAvailable = "55P03";
// Class 57: operator intervention.
inline constexpr std::string_view kOperatorIntervention = "57000";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kAdminShutdown = "57P01";
inline constexpr std::string_view kCrashShutdown = "57P02";
inline constexpr std::string_view kCannotConnectNow = "57P03";
inline constexpr std::string_view kDatabaseDropped = "57P04";
inline constexpr std::string_view kIdleSessionTimeout = "57P05";
inline constexpr std::string_view kSystemError = "58000";
inline constexpr std::string_view kInternalError = "XX000";
}  // namespace sqlstate

struct ErrorSpec {
  Severity severity = Severity::kError;
  std::string_view sqlState = sqlstate::kInternalError;
  std::string_view message;
  std::string_view detail;  // omitted when empty
  std::string_view hint;    // omitted when empty
};

// Appends a complete ErrorResponse (fields S, V, C, M, then D and H when
// given). Never fails: text is cut at its first NUL, so client-supplied text
// quoted in a message cannot break the framing.
void appendErrorResponse(Writer& out, const ErrorSpec& spec);
[[nodiscard]] std::string makeErrorResponse(const ErrorSpec& spec);
[[nodiscard]] std::string makeErrorResponse(Severity severity, std::string_view sqlState,
                                            std::string_view message, std::string_view detail = {},
                                            std::string_view hint = {});

}  // namespace pgswarm::protocol
