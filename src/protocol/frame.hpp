// Frame splitter: finds the next whole message at the start of a receive
// buffer and hands back its type and a view of its body, without copying, so
// DataRow/CopyData can be forwarded unparsed. Does not interpret bodies.
#pragma once

#include <cstddef>
#include <string_view>

#include "protocol/codes.hpp"
#include "protocol/reader.hpp"

namespace pgswarm::protocol {

enum class FrameStatus : unsigned char {
  // frame holds a whole message at the start of the buffer; consume
  // frame.length bytes and call again for the next one.
  kReady,
  // The buffer ends inside the header or body; `needed` more bytes (at least)
  // must arrive before calling again with the same buffer start.
  kNeedMore,
  // The length word is impossible (< 4, negative, over the cap): framing is
  // lost for good; answer 08P01 and close. `reason` says why.
  kMalformed,
};

struct Frame {
  char type = '\0';        // '\0' for startup-phase packets, which have none
  std::size_t length = 0;  // bytes the message occupies: type, length word and body
  Bytes body;              // the payload after the length word, a view into the buffer
};

struct FrameResult {
  FrameStatus status = FrameStatus::kNeedMore;
  Frame frame;              // kReady only
  std::size_t needed = 0;   // kNeedMore only: bytes missing beyond the buffer
  std::string_view reason;  // kMalformed only: a string literal
};

struct FrameLimits {
  // Largest accepted length word (it counts itself, not the type byte).
  std::size_t maxMessageLength = kDefaultMaxMessageLength;
};

// A regular message: type byte, int32 length (including itself), body.
[[nodiscard]] FrameResult splitFrame(Bytes buffer, const FrameLimits& limits = {});
// The first packets of a connection: int32 length, then a payload of 4 to
// kMaxStartupPacketLength bytes (as PostgreSQL's ProcessStartupPacket checks).
[[nodiscard]] FrameResult splitStartupFrame(Bytes buffer);

}  // namespace pgswarm::protocol
