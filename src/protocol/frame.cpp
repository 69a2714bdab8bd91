// Frame splitting: validates the length word before trusting it and reports
// exactly how many bytes are still missing. Must not copy or parse bodies.
#include "protocol/frame.hpp"

namespace pgswarm::protocol {
namespace {

FrameResult needMoreBytes(std::size_t needed) {
  return FrameResult{.status = FrameStatus::kNeedMore, .needed = needed};
}

FrameResult malformedFrame(std::string_view reason) {
  return FrameResult{.status = FrameStatus::kMalformed, .reason = reason};
}

// Cuts the frame once the header has been read and the length word checked.
FrameResult cut(Bytes buffer, char type, std::size_t headerLength, std::size_t lengthWord) {
  std::size_t total = headerLength - 4 + lengthWord;
  if (buffer.size() < total) return needMoreBytes(total - buffer.size());
  return FrameResult{.status = FrameStatus::kReady,
                     .frame = Frame{.type = type,
                                    .length = total,
                                    .body = buffer.subspan(headerLength, total - headerLength)}};
}

}  // namespace

FrameResult splitFrame(Bytes buffer, const FrameLimits& limits) {
  if (buffer.size() < kHeaderLength) return needMoreBytes(kHeaderLength - buffer.size());
  // The header read directly, its size checked above: every relayed message
  // comes through here, and Reader's checked reads cost about twice as much.
  auto type = static_cast<char>(buffer[0]);
  std::int32_t length = bigEndianInt32(buffer.data() + 1);
  if (length < 4) return malformedFrame("message length below 4");
  if (static_cast<std::size_t>(length) > limits.maxMessageLength) {
    return malformedFrame("message length over the limit");
  }
  return cut(buffer, type, kHeaderLength, static_cast<std::size_t>(length));
}

FrameResult splitStartupFrame(Bytes buffer) {
  if (buffer.size() < kStartupHeaderLength) {
    return needMoreBytes(kStartupHeaderLength - buffer.size());
  }
  Reader reader(buffer);
  std::int32_t length = reader.int32().value();
  // The payload must at least hold the protocol version or request code.
  if (length < 8) return malformedFrame("invalid length of startup packet");
  if (static_cast<std::size_t>(length) - 4 > kMaxStartupPacketLength) {
    return malformedFrame("startup packet over 10000 bytes");
  }
  return cut(buffer, '\0', kStartupHeaderLength, static_cast<std::size_t>(length));
}

}  // namespace pgswarm::protocol
