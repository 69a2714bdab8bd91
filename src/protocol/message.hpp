// Shared pieces of the message types: EmptyMessage for the many messages
// without a body, and parseMessage() that checks a frame's type before
// parsing its body. Message types borrow from the frame; they never copy.
#pragma once

#include "protocol/frame.hpp"
#include "protocol/parse_result.hpp"
#include "protocol/reader.hpp"
#include "protocol/writer.hpp"

namespace pgswarm::protocol {

template <char Type>
struct EmptyMessage {
  static constexpr char kType = Type;

  [[nodiscard]] static ParseResult<EmptyMessage> parse(Bytes body) {
    if (!body.empty()) return malformed("message must have an empty body");
    return EmptyMessage{};
  }
  [[nodiscard]] EncodeStatus encode(Writer& out) const {
    out.begin(Type);
    return out.finish();
  }
  bool operator==(const EmptyMessage&) const = default;
};

// Parses a frame as message M after checking its type byte. Several codes
// are shared (e.g. 'S' Sync / ParameterStatus), so the caller picks M by
// direction and state.
template <typename M>
[[nodiscard]] ParseResult<M> parseMessage(const Frame& frame) {
  if (frame.type != M::kType) return malformed("unexpected message type");
  return M::parse(frame.body);
}

}  // namespace pgswarm::protocol
