// Helpers for the protocol tests: encode a message to bytes, and check the
// properties every message must have (round trip, NeedMore at every cut of
// the stream, Malformed for short or over-long bodies).
#pragma once

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "protocol/frame.hpp"
#include "protocol/message.hpp"

namespace pgswarm::protocol::test {

template <typename M>
std::string encoded(const M& message) {
  std::string wire;
  Writer writer(wire);
  EncodeStatus status = message.encode(writer);
  EXPECT_EQ(status, EncodeStatus::kOk) << toString(status);
  return wire;
}

// Builds a regular message by hand (type, big-endian length, body), so
// expectations do not depend on the Writer under test.
inline std::string rawMessage(char type, std::string_view body) {
  std::string wire(1, type);
  auto length = static_cast<std::uint32_t>(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8) wire.push_back(static_cast<char>(length >> shift));
  wire.append(body);
  return wire;
}

inline std::string int32Bytes(std::int32_t value) {
  std::string out;
  auto bits = static_cast<std::uint32_t>(value);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(bits >> shift));
  return out;
}

inline std::string int16Bytes(std::int16_t value) {
  auto bits = static_cast<std::uint16_t>(value);
  return std::string{static_cast<char>(bits >> 8), static_cast<char>(bits)};
}

enum class Body {
  kStructured,  // every strict prefix and every extension of the body is malformed
  kOpaque,      // ends with a "rest of message" payload (CopyData, SASL data)
};

template <typename M>
void expectRoundTrip(const M& message, Body body = Body::kStructured) {
  std::string wire = encoded(message);
  auto split = splitFrame(asBytes(wire));
  ASSERT_EQ(split.status, FrameStatus::kReady);
  EXPECT_EQ(split.frame.type, M::kType);
  EXPECT_EQ(split.frame.length, wire.size());
  auto parsed = parseMessage<M>(split.frame);
  ASSERT_TRUE(parsed.ok()) << parsed.error().reason;
  EXPECT_EQ(*parsed, message);
  EXPECT_EQ(encoded(*parsed), wire);

  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    auto partial = splitFrame(asBytes(wire).first(cut));
    ASSERT_EQ(partial.status, FrameStatus::kNeedMore) << "cut at " << cut;
    std::size_t expected = cut < kHeaderLength ? kHeaderLength - cut : wire.size() - cut;
    EXPECT_EQ(partial.needed, expected) << "cut at " << cut;
  }
  if (body == Body::kOpaque) return;

  std::string_view payload = std::string_view(wire).substr(kHeaderLength);
  for (std::size_t size = 0; size < payload.size(); ++size) {
    auto shorter = M::parse(asBytes(payload.substr(0, size)));
    ASSERT_TRUE(shorter.malformed()) << "body cut at " << size;
  }
  std::string longer = std::string(payload) + "x";
  EXPECT_TRUE(M::parse(asBytes(longer)).malformed());
}

}  // namespace pgswarm::protocol::test
