// Startup packet parsing, with the same acceptance rules as PostgreSQL's
// ProcessStartupPacket (terminator last, user required) plus duplicate names
// refused. Must not decide about SSL, auth or databases: that is the proxy's.
#include "protocol/startup.hpp"

#include <unordered_set>

namespace pgswarm::protocol {
namespace {

// Reads the request code of a fixed 8- or 16-byte request packet.
ParseResult<Ok> expectRequest(Reader& reader, std::int32_t code) {
  PGSWARM_PROTOCOL_TRY(value, reader.int32());
  if (value != code) return malformed("unexpected startup request code");
  return Ok{};
}

ParseResult<Ok> readParameters(Reader& reader, std::vector<StartupParameter>& out) {
  std::unordered_set<std::string_view> seen;
  while (true) {
    auto name = reader.cstring();
    if (!name.ok()) return malformed("startup packet not terminated");
    if (name->empty()) return reader.expectEnd();
    auto value = reader.cstring();
    if (!value.ok()) return malformed("startup parameter without value");
    if (!seen.insert(*name).second) return malformed("duplicate startup parameter");
    out.push_back(StartupParameter{std::string(*name), std::string(*value)});
  }
}

}  // namespace

std::string_view toString(StartupPacketKind kind) {
  switch (kind) {
    case StartupPacketKind::kStartupMessage:
      return "StartupMessage";
    case StartupPacketKind::kSslRequest:
      return "SSLRequest";
    case StartupPacketKind::kGssEncRequest:
      return "GSSENCRequest";
    case StartupPacketKind::kCancelRequest:
      return "CancelRequest";
    case StartupPacketKind::kUnsupportedProtocol:
      return "unsupported protocol";
  }
  return "unknown";
}

ParseResult<StartupPacketKind> classifyStartupPacket(Bytes payload) {
  Reader reader = Reader::forBody(payload);
  PGSWARM_PROTOCOL_TRY(code, reader.int32());
  switch (code) {
    case kSslRequestCode:
      return StartupPacketKind::kSslRequest;
    case kGssEncRequestCode:
      return StartupPacketKind::kGssEncRequest;
    case kCancelRequestCode:
      return StartupPacketKind::kCancelRequest;
    default:
      break;
  }
  if (protocolMajor(code) == 3) return StartupPacketKind::kStartupMessage;
  return StartupPacketKind::kUnsupportedProtocol;
}

const std::string* StartupMessage::find(std::string_view name) const {
  for (const auto& parameter : parameters) {
    if (parameter.name == name) return &parameter.value;
  }
  return nullptr;
}

std::string_view StartupMessage::user() const {
  const std::string* value = find("user");
  return value != nullptr ? std::string_view(*value) : std::string_view();
}

std::string_view StartupMessage::database() const {
  const std::string* value = find("database");
  return value != nullptr && !value->empty() ? std::string_view(*value) : user();
}

ParseResult<StartupMessage> StartupMessage::parse(Bytes payload) {
  if (payload.size() > kMaxStartupPacketLength) return malformed("startup packet over 10000 bytes");
  Reader reader = Reader::forBody(payload);
  StartupMessage message;
  PGSWARM_PROTOCOL_TRY(version, reader.int32());
  if (protocolMajor(version) != 3) return malformed("unsupported frontend protocol");
  message.protocolVersion = version;
  PGSWARM_PROTOCOL_CHECK(readParameters(reader, message.parameters));
  if (message.find("user") == nullptr) return malformed("no user name in startup packet");
  return message;
}

EncodeStatus StartupMessage::encode(Writer& out) const {
  out.beginUntyped();
  out.putInt32(protocolVersion);
  for (const auto& parameter : parameters) {
    out.putCString(parameter.name);
    out.putCString(parameter.value);
  }
  out.putByte(0);
  return out.finish();
}

ParseResult<SslRequest> SslRequest::parse(Bytes payload) {
  Reader reader = Reader::forBody(payload);
  PGSWARM_PROTOCOL_CHECK(expectRequest(reader, kSslRequestCode));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return SslRequest{};
}

EncodeStatus SslRequest::encode(Writer& out) const {
  out.beginUntyped();
  out.putInt32(kSslRequestCode);
  return out.finish();
}

ParseResult<GssEncRequest> GssEncRequest::parse(Bytes payload) {
  Reader reader = Reader::forBody(payload);
  PGSWARM_PROTOCOL_CHECK(expectRequest(reader, kGssEncRequestCode));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return GssEncRequest{};
}

EncodeStatus GssEncRequest::encode(Writer& out) const {
  out.beginUntyped();
  out.putInt32(kGssEncRequestCode);
  return out.finish();
}

ParseResult<CancelRequest> CancelRequest::parse(Bytes payload) {
  Reader reader = Reader::forBody(payload);
  PGSWARM_PROTOCOL_CHECK(expectRequest(reader, kCancelRequestCode));
  CancelRequest request;
  PGSWARM_PROTOCOL_TRY(pid, reader.int32());
  PGSWARM_PROTOCOL_TRY(key, reader.int32());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  request.processId = pid;
  request.secretKey = key;
  return request;
}

EncodeStatus CancelRequest::encode(Writer& out) const {
  out.beginUntyped();
  out.putInt32(kCancelRequestCode);
  out.putInt32(processId);
  out.putInt32(secretKey);
  return out.finish();
}

}  // namespace pgswarm::protocol
