// Message type bytes and protocol constants of the PostgreSQL v3 wire protocol,
// named after the "Message Formats" chapter of the PostgreSQL docs (as libpq's
// protocol.h does). Constants only: no parsing, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pgswarm::protocol {

// Frontend (client -> server) message types.
inline constexpr char kBind = 'B';
inline constexpr char kClose = 'C';
inline constexpr char kDescribe = 'D';
inline constexpr char kExecute = 'E';
inline constexpr char kFunctionCall = 'F';
inline constexpr char kFlush = 'H';
inline constexpr char kParse = 'P';
inline constexpr char kQuery = 'Q';
inline constexpr char kSync = 'S';
inline constexpr char kTerminate = 'X';
inline constexpr char kCopyFail = 'f';
// 'p' carries PasswordMessage, SASLInitialResponse, SASLResponse and
// GSSResponse; which one is meant follows from the authentication request.
inline constexpr char kPasswordMessage = 'p';
inline constexpr char kSaslInitialResponse = 'p';
inline constexpr char kSaslResponse = 'p';
inline constexpr char kGssResponse = 'p';

// Backend (server -> client) message types.
inline constexpr char kParseComplete = '1';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kNotificationResponse = 'A';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kDataRow = 'D';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kAuthenticationRequest = 'R';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kRowDescription = 'T';
inline constexpr char kFunctionCallResponse = 'V';
inline constexpr char kCopyBothResponse = 'W';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kNoData = 'n';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kParameterDescription = 't';
inline constexpr char kNegotiateProtocolVersion = 'v';

// Both directions.
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';

// Authentication request codes: the first int32 of an 'R' message.
inline constexpr std::int32_t kAuthOk = 0;
inline constexpr std::int32_t kAuthKerberosV5 = 2;
inline constexpr std::int32_t kAuthCleartextPassword = 3;
inline constexpr std::int32_t kAuthMd5Password = 5;
inline constexpr std::int32_t kAuthGss = 7;
inline constexpr std::int32_t kAuthGssContinue = 8;
inline constexpr std::int32_t kAuthSspi = 9;
inline constexpr std::int32_t kAuthSasl = 10;
inline constexpr std::int32_t kAuthSaslContinue = 11;
inline constexpr std::int32_t kAuthSaslFinal = 12;

// Protocol versions: major in the high 16 bits, minor in the low 16 bits.
[[nodiscard]] constexpr std::int32_t protocolVersion(int major, int minor) {
  return static_cast<std::int32_t>((static_cast<std::uint32_t>(major) << 16) |
                                   static_cast<std::uint32_t>(minor));
}
[[nodiscard]] constexpr int protocolMajor(std::int32_t version) {
  return static_cast<int>(static_cast<std::uint32_t>(version) >> 16);
}
[[nodiscard]] constexpr int protocolMinor(std::int32_t version) {
  return static_cast<int>(static_cast<std::uint32_t>(version) & 0xffffU);
}
inline constexpr std::int32_t kProtocolVersion3 = protocolVersion(3, 0);  // 196608

// Special "versions" that open the startup-phase request packets.
inline constexpr std::int32_t kCancelRequestCode = protocolVersion(1234, 5678);  // 80877102
inline constexpr std::int32_t kSslRequestCode = protocolVersion(1234, 5679);     // 80877103
inline constexpr std::int32_t kGssEncRequestCode = protocolVersion(1234, 5680);  // 80877104

// Size limits. PostgreSQL refuses startup packets whose payload (after the
// length word) exceeds 10000 bytes, and any message longer than MaxAllocSize.
inline constexpr std::size_t kMaxStartupPacketLength = 10000;
inline constexpr std::size_t kDefaultMaxMessageLength = 0x3fffffff;  // 1 GiB - 1
inline constexpr std::size_t kHeaderLength = 5;                      // type byte + int32 length
inline constexpr std::size_t kStartupHeaderLength = 4;               // int32 length only

// The int32 length at NULL parameter values / DataRow columns.
inline constexpr std::int32_t kNullLength = -1;

}  // namespace pgswarm::protocol
