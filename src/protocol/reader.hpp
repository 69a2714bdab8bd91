// Reader: a bounds-checked cursor over received bytes (big-endian integers,
// C strings, byte runs) with a tentative position that only commit() makes
// final. Never allocates, never reads past its span, never trusts a length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/result.hpp"
#include "protocol/parse_result.hpp"

namespace pgswarm::protocol {

using Bytes = std::span<const std::byte>;

[[nodiscard]] inline Bytes asBytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}
[[nodiscard]] inline std::string_view asText(Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// The network-order int32 at `bytes` (four readable bytes). Spelled out, so
// that the compiler makes it one load and a byte swap.
[[nodiscard]] inline std::int32_t bigEndianInt32(const std::byte* bytes) {
  auto at = [bytes](std::size_t i) { return std::to_integer<std::uint32_t>(bytes[i]); };
  return static_cast<std::int32_t>((at(0) << 24U) | (at(1) << 16U) | (at(2) << 8U) | at(3));
}

class Reader {
 public:
  // What running out of input means.
  enum class Input : unsigned char {
    // A stream prefix: more may arrive, so short reads give kNeedMore.
    kStream,
    // A whole message body whose length was declared: short reads give kMalformed.
    kBody,
  };

  explicit Reader(Bytes data, Input input = Input::kStream) : data_(data), input_(input) {}
  explicit Reader(std::string_view data, Input input = Input::kStream)
      : Reader(asBytes(data), input) {}
  [[nodiscard]] static Reader forBody(Bytes body) { return Reader(body, Input::kBody); }

  // Inline: every frame header is read with these (a call each cost about
  // as much as the read).
  [[nodiscard]] ParseResult<std::uint8_t> byte() {
    if (remaining() < 1) return shortInput("byte past end of input");
    return std::to_integer<std::uint8_t>(data_[position_++]);
  }
  [[nodiscard]] ParseResult<std::int16_t> int16() {
    if (remaining() < 2) return shortInput("int16 past end of input");
    auto value = static_cast<std::uint16_t>((std::to_integer<unsigned>(data_[position_]) << 8) |
                                            std::to_integer<unsigned>(data_[position_ + 1]));
    position_ += 2;
    return static_cast<std::int16_t>(value);
  }
  [[nodiscard]] ParseResult<std::int32_t> int32() {
    if (remaining() < 4) return shortInput("int32 past end of input");
    auto value = bigEndianInt32(data_.data() + position_);
    position_ += 4;
    return value;
  }
  // A NUL-terminated string; the view excludes the terminator.
  [[nodiscard]] ParseResult<std::string_view> cstring();
  // Exactly n bytes, as a view into the input.
  [[nodiscard]] ParseResult<Bytes> bytes(std::size_t n);
  [[nodiscard]] ParseResult<std::string_view> text(std::size_t n);
  // Everything up to the end of the input.
  [[nodiscard]] std::string_view rest();
  // kMalformed unless every byte has been read: messages are consumed exactly.
  [[nodiscard]] ParseResult<Ok> expectEnd() const;
  // A count read as int16 that must be >= 0; on a body reader it must also
  // fit elementSize bytes per element in what is left, so callers may
  // reserve() it safely (a hostile count cannot force an allocation).
  [[nodiscard]] ParseResult<std::size_t> count16(std::size_t elementSize);

  // Tentative cursor: reads move position(); commit() makes them final and
  // rollback() returns to the last commit (as libpq's inCursor/inStart).
  void commit() { committed_ = position_; }
  void rollback() { position_ = committed_; }
  [[nodiscard]] std::size_t committed() const { return committed_; }
  [[nodiscard]] std::size_t position() const { return position_; }
  [[nodiscard]] std::size_t remaining() const { return data_.size() - position_; }
  [[nodiscard]] bool atEnd() const { return position_ == data_.size(); }

 private:
  [[nodiscard]] ParseError shortInput(std::string_view reason) const;

  Bytes data_;
  Input input_;
  std::size_t position_ = 0;
  std::size_t committed_ = 0;
};

}  // namespace pgswarm::protocol
