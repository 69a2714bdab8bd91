// Startup-phase packets (no type byte): StartupMessage, SSLRequest,
// GSSENCRequest and CancelRequest, plus the classification of a connection's
// first packet. Parses payloads cut by splitStartupFrame; no I/O, no policy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/codes.hpp"
#include "protocol/parse_result.hpp"
#include "protocol/reader.hpp"
#include "protocol/writer.hpp"

namespace pgswarm::protocol {

enum class StartupPacketKind : unsigned char {
  kStartupMessage,       // protocol 3.x: parse with StartupMessage::parse
  kSslRequest,           // answer one byte, 'S' or 'N', then expect the next packet
  kGssEncRequest,        // answer 'G' or 'N', then expect the next packet
  kCancelRequest,        // parse with CancelRequest::parse; no reply, close
  kUnsupportedProtocol,  // any other version (2.0, 4.x): answer FATAL 0A000 and close
};

[[nodiscard]] std::string_view toString(StartupPacketKind kind);

// payload: the bytes after the length word (Frame::body of splitStartupFrame).
[[nodiscard]] ParseResult<StartupPacketKind> classifyStartupPacket(Bytes payload);

struct StartupParameter {
  std::string name;
  std::string value;
  bool operator==(const StartupParameter&) const = default;
};

// Owns its strings, unlike the other messages: the session keeps it for the
// whole connection (pool key, parameters replayed on server connections).
struct StartupMessage {
  std::int32_t protocolVersion = kProtocolVersion3;
  std::vector<StartupParameter> parameters;  // in packet order, names unique

  [[nodiscard]] const std::string* find(std::string_view name) const;
  [[nodiscard]] std::string_view user() const;
  // The "database" parameter, which PostgreSQL defaults to the user name.
  [[nodiscard]] std::string_view database() const;

  // Requires protocol 3.x, a "user", unique names and the final terminator.
  [[nodiscard]] static ParseResult<StartupMessage> parse(Bytes payload);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const StartupMessage&) const = default;
};

struct SslRequest {
  [[nodiscard]] static ParseResult<SslRequest> parse(Bytes payload);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const SslRequest&) const = default;
};

struct GssEncRequest {
  [[nodiscard]] static ParseResult<GssEncRequest> parse(Bytes payload);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const GssEncRequest&) const = default;
};

struct CancelRequest {
  std::int32_t processId = 0;
  std::int32_t secretKey = 0;

  [[nodiscard]] static ParseResult<CancelRequest> parse(Bytes payload);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const CancelRequest&) const = default;
};

}  // namespace pgswarm::protocol
