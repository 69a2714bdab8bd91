// libFuzzer target for protocol/: feeds arbitrary bytes to the frame
// splitters and to every parse function, and traps when a property breaks
// (a parse that succeeds must re-encode to the exact input bytes; a body
// parser never answers NeedMore; the splitter's byte counts add up).
#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/authentication.hpp"
#include "protocol/backend.hpp"
#include "protocol/copy.hpp"
#include "protocol/error_response.hpp"
#include "protocol/frame.hpp"
#include "protocol/frontend.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/startup.hpp"

namespace pgswarm::protocol {
namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

// A parsed message must encode back to exactly the body it came from.
template <typename M>
void checkMessage(Bytes body) {
  auto parsed = M::parse(body);
  if (!parsed.ok()) {
    require(parsed.error().kind == ParseErrorKind::kMalformed);
    require(!parsed.error().reason.empty());
    return;
  }
  std::string wire;
  Writer writer(wire);
  require(parsed->encode(writer) == EncodeStatus::kOk);
  require(wire.size() == body.size() + kHeaderLength);
  require(wire[0] == M::kType);
  require(std::string_view(wire).substr(kHeaderLength) == asText(body));
  auto again = M::parse(asBytes(std::string_view(wire).substr(kHeaderLength)));
  require(again.ok() && *again == *parsed);
}

template <typename M>
void checkStartupMessage(Bytes payload) {
  auto parsed = M::parse(payload);
  if (!parsed.ok()) {
    require(parsed.error().kind == ParseErrorKind::kMalformed);
    return;
  }
  std::string wire;
  Writer writer(wire);
  require(parsed->encode(writer) == EncodeStatus::kOk);
  require(std::string_view(wire).substr(kStartupHeaderLength) == asText(payload));
}

template <typename... Ms>
void checkEach(Bytes body) {
  (checkMessage<Ms>(body), ...);
}

void checkEveryParser(Bytes body) {
  checkEach<Query, Parse, Bind, Describe, Execute, Close, Sync, Flush, Terminate>(body);
  checkEach<CopyData, CopyDone, CopyFail, PasswordMessage, SaslInitialResponse, SaslResponse>(body);
  checkEach<AuthenticationOk, AuthenticationCleartextPassword, AuthenticationMd5Password,
            AuthenticationSasl, AuthenticationSaslContinue, AuthenticationSaslFinal>(body);
  checkEach<BackendKeyData, ParameterStatus, ReadyForQuery, CommandComplete, EmptyQueryResponse,
            ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended>(body);
  checkEach<ParameterDescription, RowDescription, DataRow, NotificationResponse,
            NegotiateProtocolVersion, ErrorResponse, NoticeResponse>(body);
  (void)authenticationCode(body);
}

// The splitter must agree with itself: a ready frame fits the buffer, and
// the same buffer cut one byte short asks for exactly one more byte.
void checkFrame(Bytes buffer, const FrameResult& result, std::size_t header) {
  if (result.status == FrameStatus::kNeedMore) {
    require(result.needed > 0);
    return;
  }
  if (result.status == FrameStatus::kMalformed) {
    require(!result.reason.empty());
    return;
  }
  require(result.frame.length <= buffer.size());
  require(result.frame.length == header + result.frame.body.size());
  require(result.frame.body.data() == buffer.data() + header);
}

void fuzzStream(Bytes input) {
  FrameLimits limits{.maxMessageLength = 1 << 16};
  while (!input.empty()) {
    FrameResult result = splitFrame(input, limits);
    checkFrame(input, result, kHeaderLength);
    if (result.status != FrameStatus::kReady) return;
    FrameResult shorter = splitFrame(input.first(result.frame.length - 1), limits);
    require(shorter.status == FrameStatus::kNeedMore && shorter.needed == 1);
    checkEveryParser(result.frame.body);
    input = input.subspan(result.frame.length);
  }
}

void fuzzStartup(Bytes input) {
  FrameResult result = splitStartupFrame(input);
  checkFrame(input, result, kStartupHeaderLength);
  if (result.status != FrameStatus::kReady) return;
  Bytes payload = result.frame.body;
  auto kind = classifyStartupPacket(payload);
  require(kind.ok());
  checkStartupMessage<StartupMessage>(payload);
  checkStartupMessage<SslRequest>(payload);
  checkStartupMessage<GssEncRequest>(payload);
  checkStartupMessage<CancelRequest>(payload);
  // A client sends its regular messages right after the startup packet.
  fuzzStream(input.subspan(result.frame.length));
}

// Whatever text goes into an error, the result is one well-formed message.
void fuzzErrorBuilder(Bytes input) {
  std::string_view text = asText(input);
  std::string wire = makeErrorResponse(Severity::kError, sqlstate::kProtocolViolation, text, text);
  FrameResult result = splitFrame(asBytes(wire));
  require(result.status == FrameStatus::kReady && result.frame.length == wire.size());
  require(parseMessage<ErrorResponse>(result.frame).ok());
}

}  // namespace
}  // namespace pgswarm::protocol

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pgswarm::protocol;
  Bytes input(reinterpret_cast<const std::byte*>(data), size);
  fuzzStream(input);
  fuzzStartup(input);
  checkEveryParser(input);
  fuzzErrorBuilder(input);
  return 0;
}
