// Backend message codecs. Fixed-size messages are checked to be exactly
// their size; list counts are checked against the body before reserve().
// Must not hold state or interpret values (command tags, parameter values).
#include "protocol/backend.hpp"

#include <limits>

#include "protocol/codec.hpp"

namespace pgswarm::protocol {
namespace {

// Smallest wire size of one RowDescription field: empty name + 18 bytes.
constexpr std::size_t kMinFieldDescriptionSize = 19;

ParseResult<FieldDescription> readField(Reader& reader) {
  FieldDescription field;
  PGSWARM_PROTOCOL_TRY(name, reader.cstring());
  PGSWARM_PROTOCOL_TRY(table, reader.int32());
  PGSWARM_PROTOCOL_TRY(column, reader.int16());
  PGSWARM_PROTOCOL_TRY(type, reader.int32());
  PGSWARM_PROTOCOL_TRY(size, reader.int16());
  PGSWARM_PROTOCOL_TRY(modifier, reader.int32());
  PGSWARM_PROTOCOL_TRY(format, reader.int16());
  field.name = name;
  field.tableOid = table;
  field.columnNumber = column;
  field.typeOid = type;
  field.typeSize = size;
  field.typeModifier = modifier;
  field.format = format;
  return field;
}

void putField(Writer& out, const FieldDescription& field) {
  out.putCString(field.name);
  out.putInt32(field.tableOid);
  out.putInt16(field.columnNumber);
  out.putInt32(field.typeOid);
  out.putInt16(field.typeSize);
  out.putInt32(field.typeModifier);
  out.putInt16(field.format);
}

ParseResult<std::string_view> parseSingleString(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(value, reader.cstring());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return value;
}

EncodeStatus encodeSingleString(Writer& out, char type, std::string_view value) {
  out.begin(type);
  out.putCString(value);
  return out.finish();
}

}  // namespace

ParseResult<BackendKeyData> BackendKeyData::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(pid, reader.int32());
  PGSWARM_PROTOCOL_TRY(key, reader.int32());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return BackendKeyData{.processId = pid, .secretKey = key};
}

EncodeStatus BackendKeyData::encode(Writer& out) const {
  out.begin(kType);
  out.putInt32(processId);
  out.putInt32(secretKey);
  return out.finish();
}

ParseResult<ParameterStatus> ParameterStatus::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(name, reader.cstring());
  PGSWARM_PROTOCOL_TRY(value, reader.cstring());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return ParameterStatus{.name = name, .value = value};
}

EncodeStatus ParameterStatus::encode(Writer& out) const {
  out.begin(kType);
  out.putCString(name);
  out.putCString(value);
  return out.finish();
}

ParseResult<ReadyForQuery> ReadyForQuery::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(status, reader.byte());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  switch (status) {
    case 'I':
      return ReadyForQuery{.status = TransactionStatus::kIdle};
    case 'T':
      return ReadyForQuery{.status = TransactionStatus::kInTransaction};
    case 'E':
      return ReadyForQuery{.status = TransactionStatus::kFailed};
    default:
      return malformed("unknown transaction status");
  }
}

EncodeStatus ReadyForQuery::encode(Writer& out) const {
  out.begin(kType);
  if (status != TransactionStatus::kIdle && status != TransactionStatus::kInTransaction &&
      status != TransactionStatus::kFailed) {
    out.fail(EncodeStatus::kInvalidValue);
  }
  out.putByte(static_cast<std::uint8_t>(status));
  return out.finish();
}

ParseResult<CommandComplete> CommandComplete::parse(Bytes body) {
  PGSWARM_PROTOCOL_TRY(tag, parseSingleString(body));
  return CommandComplete{.tag = tag};
}

EncodeStatus CommandComplete::encode(Writer& out) const {
  return encodeSingleString(out, kType, tag);
}

ParseResult<ParameterDescription> ParameterDescription::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(types, detail::readInt32Array(reader));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return ParameterDescription{.parameterTypes = std::move(types)};
}

EncodeStatus ParameterDescription::encode(Writer& out) const {
  out.begin(kType);
  detail::putInt32Array(out, parameterTypes);
  return out.finish();
}

ParseResult<RowDescription> RowDescription::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(count, reader.count16(kMinFieldDescriptionSize));
  RowDescription message;
  message.fields.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    PGSWARM_PROTOCOL_TRY(field, readField(reader));
    message.fields.push_back(field);
  }
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return message;
}

EncodeStatus RowDescription::encode(Writer& out) const {
  out.begin(kType);
  out.putCount16(fields.size());
  for (const auto& field : fields) putField(out, field);
  return out.finish();
}

ParseResult<DataRow> DataRow::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(columns, detail::readNullableValues(reader));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return DataRow{.columns = std::move(columns)};
}

EncodeStatus DataRow::encode(Writer& out) const {
  out.begin(kType);
  detail::putNullableValues(out, columns);
  return out.finish();
}

ParseResult<NotificationResponse> NotificationResponse::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(pid, reader.int32());
  PGSWARM_PROTOCOL_TRY(channel, reader.cstring());
  PGSWARM_PROTOCOL_TRY(payload, reader.cstring());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return NotificationResponse{.processId = pid, .channel = channel, .payload = payload};
}

EncodeStatus NotificationResponse::encode(Writer& out) const {
  out.begin(kType);
  out.putInt32(processId);
  out.putCString(channel);
  out.putCString(payload);
  return out.finish();
}

ParseResult<NegotiateProtocolVersion> NegotiateProtocolVersion::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(minor, reader.int32());
  PGSWARM_PROTOCOL_TRY(count, reader.int32());
  // Each option takes at least its terminator, so a larger count is a lie.
  if (count < 0 || static_cast<std::size_t>(count) > reader.remaining()) {
    return malformed("bad unrecognized option count");
  }
  NegotiateProtocolVersion message{.newestMinorVersion = minor};
  message.unrecognizedOptions.reserve(static_cast<std::size_t>(count));
  for (std::int32_t i = 0; i < count; ++i) {
    PGSWARM_PROTOCOL_TRY(option, reader.cstring());
    message.unrecognizedOptions.push_back(option);
  }
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return message;
}

EncodeStatus NegotiateProtocolVersion::encode(Writer& out) const {
  out.begin(kType);
  out.putInt32(newestMinorVersion);
  if (unrecognizedOptions.size() >
      static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    out.fail(EncodeStatus::kTooMany);
  }
  out.putInt32(static_cast<std::int32_t>(unrecognizedOptions.size()));
  for (std::string_view option : unrecognizedOptions) out.putCString(option);
  return out.finish();
}

}  // namespace pgswarm::protocol
