// Backend (server -> client) messages other than authentication and errors:
// session data, query results and protocol negotiation. One type each with
// parse(body) / encode(Writer&); parsed values are views into the body.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/codes.hpp"
#include "protocol/message.hpp"

namespace pgswarm::protocol {

// Transaction status in ReadyForQuery; the pool releases a server connection
// only when it reports kIdle.
enum class TransactionStatus : char {
  kIdle = 'I',
  kInTransaction = 'T',
  kFailed = 'E',  // in a failed transaction block, until ROLLBACK
};

struct BackendKeyData {
  static constexpr char kType = kBackendKeyData;
  std::int32_t processId = 0;
  std::int32_t secretKey = 0;

  [[nodiscard]] static ParseResult<BackendKeyData> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const BackendKeyData&) const = default;
};

struct ParameterStatus {
  static constexpr char kType = kParameterStatus;
  std::string_view name;
  std::string_view value;

  [[nodiscard]] static ParseResult<ParameterStatus> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const ParameterStatus&) const = default;
};

struct ReadyForQuery {
  static constexpr char kType = kReadyForQuery;
  TransactionStatus status = TransactionStatus::kIdle;

  [[nodiscard]] static ParseResult<ReadyForQuery> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const ReadyForQuery&) const = default;
};

struct CommandComplete {
  static constexpr char kType = kCommandComplete;
  std::string_view tag;  // e.g. "INSERT 0 1", "SELECT 5"

  [[nodiscard]] static ParseResult<CommandComplete> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const CommandComplete&) const = default;
};

using EmptyQueryResponse = EmptyMessage<kEmptyQueryResponse>;
using ParseComplete = EmptyMessage<kParseComplete>;
using BindComplete = EmptyMessage<kBindComplete>;
using CloseComplete = EmptyMessage<kCloseComplete>;
using NoData = EmptyMessage<kNoData>;
using PortalSuspended = EmptyMessage<kPortalSuspended>;

struct ParameterDescription {
  static constexpr char kType = kParameterDescription;
  std::vector<std::int32_t> parameterTypes;  // type OIDs

  [[nodiscard]] static ParseResult<ParameterDescription> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const ParameterDescription&) const = default;
};

struct FieldDescription {
  std::string_view name;
  std::int32_t tableOid = 0;      // 0 if not a table column
  std::int16_t columnNumber = 0;  // attribute number, 0 if not a table column
  std::int32_t typeOid = 0;
  std::int16_t typeSize = 0;  // negative = variable width
  std::int32_t typeModifier = -1;
  std::int16_t format = 0;  // 0 text, 1 binary
  bool operator==(const FieldDescription&) const = default;
};

struct RowDescription {
  static constexpr char kType = kRowDescription;
  std::vector<FieldDescription> fields;

  [[nodiscard]] static ParseResult<RowDescription> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const RowDescription&) const = default;
};

// The proxy forwards DataRow frames unparsed; parse() serves tests and the
// admin console, encode() the admin console's result sets.
struct DataRow {
  static constexpr char kType = kDataRow;
  std::vector<std::optional<std::string_view>> columns;  // nullopt = SQL NULL

  [[nodiscard]] static ParseResult<DataRow> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const DataRow&) const = default;
};

struct NotificationResponse {
  static constexpr char kType = kNotificationResponse;
  std::int32_t processId = 0;
  std::string_view channel;
  std::string_view payload;

  [[nodiscard]] static ParseResult<NotificationResponse> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const NotificationResponse&) const = default;
};

struct NegotiateProtocolVersion {
  static constexpr char kType = kNegotiateProtocolVersion;
  std::int32_t newestMinorVersion = 0;
  std::vector<std::string_view> unrecognizedOptions;  // "_pq_." options

  [[nodiscard]] static ParseResult<NegotiateProtocolVersion> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const NegotiateProtocolVersion&) const = default;
};

}  // namespace pgswarm::protocol
