// Reader implementation: every read checks the remaining length first and
// moves the cursor only on success, so a failed read leaves it unchanged.
// Must not allocate or keep anything beyond the caller's span.
#include "protocol/reader.hpp"

#include <cstring>

namespace pgswarm::protocol {

ParseError Reader::shortInput(std::string_view reason) const {
  return input_ == Input::kStream ? needMore(reason) : malformed(reason);
}

ParseResult<std::string_view> Reader::cstring() {
  if (remaining() == 0) return shortInput("string without terminator");
  const auto* start = data_.data() + position_;
  // The unnamed statement and portal: most names in the extended protocol.
  // The view still points into the input (callers locate names by it).
  if (*start == std::byte{0}) {
    ++position_;
    return std::string_view(reinterpret_cast<const char*>(start), 0);
  }
  const void* nul = std::memchr(start, 0, remaining());
  if (nul == nullptr) return shortInput("string without terminator");
  auto length = static_cast<std::size_t>(static_cast<const std::byte*>(nul) - start);
  position_ += length + 1;
  return std::string_view(reinterpret_cast<const char*>(start), length);
}

ParseResult<Bytes> Reader::bytes(std::size_t n) {
  if (remaining() < n) return shortInput("byte run past end of input");
  Bytes run = data_.subspan(position_, n);
  position_ += n;
  return run;
}

ParseResult<std::string_view> Reader::text(std::size_t n) {
  PGSWARM_PROTOCOL_TRY(run, bytes(n));
  return asText(run);
}

std::string_view Reader::rest() {
  std::string_view all = asText(data_.subspan(position_));
  position_ = data_.size();
  return all;
}

ParseResult<Ok> Reader::expectEnd() const {
  if (!atEnd()) return malformed("message has trailing bytes");
  return Ok{};
}

ParseResult<std::size_t> Reader::count16(std::size_t elementSize) {
  std::size_t start = position_;
  PGSWARM_PROTOCOL_TRY(count, int16());
  if (count < 0) {
    position_ = start;
    return malformed("negative count");
  }
  auto n = static_cast<std::size_t>(count);
  if (input_ == Input::kBody && n * elementSize > remaining()) {
    position_ = start;
    return malformed("count larger than the message");
  }
  return n;
}

}  // namespace pgswarm::protocol
