// Frame splitting: whole messages, NeedMore with the exact missing byte
// count, and every impossible length word (negative, < 4, over the cap),
// for regular messages and for startup packets (10000-byte cap).
#include "protocol/frame.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace pgswarm::protocol {
namespace {

using namespace std::string_view_literals;
using test::int32Bytes;
using test::rawMessage;

TEST(Frame, SplitsAWholeMessageWithoutCopying) {
  std::string wire = rawMessage('D',
                                "\x00\x01\x00\x00\x00\x01"
                                "7"sv) +
                     "Z";
  auto result = splitFrame(asBytes(wire));
  ASSERT_EQ(result.status, FrameStatus::kReady);
  EXPECT_EQ(result.frame.type, 'D');
  EXPECT_EQ(result.frame.length, wire.size() - 1);
  EXPECT_EQ(result.frame.body.size(), 7U);
  EXPECT_EQ(static_cast<const void*>(result.frame.body.data()),
            static_cast<const void*>(wire.data() + 5));
}

TEST(Frame, WalksAStreamOfMessages) {
  std::string wire = rawMessage('1', "") + rawMessage('2', "") + rawMessage('C', "SELECT 1\0"sv);
  Bytes rest = asBytes(wire);
  std::string types;
  while (!rest.empty()) {
    auto result = splitFrame(rest);
    ASSERT_EQ(result.status, FrameStatus::kReady);
    types.push_back(result.frame.type);
    rest = rest.subspan(result.frame.length);
  }
  EXPECT_EQ(types, "12C");
}

TEST(Frame, NeedsMoreAtEveryCutPoint) {
  std::string wire = rawMessage('Q', "select 42\0"sv);
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    auto result = splitFrame(asBytes(wire).first(cut));
    ASSERT_EQ(result.status, FrameStatus::kNeedMore) << cut;
    EXPECT_EQ(result.needed, cut < 5 ? 5 - cut : wire.size() - cut) << cut;
  }
}

TEST(Frame, EmptyBodyIsReadyWithFiveBytes) {
  auto result = splitFrame(asBytes("S\x00\x00\x00\x04"sv));
  ASSERT_EQ(result.status, FrameStatus::kReady);
  EXPECT_EQ(result.frame.length, 5U);
  EXPECT_TRUE(result.frame.body.empty());
}

TEST(Frame, LengthBelowFourIsMalformed) {
  for (std::int32_t length : {0, 1, 2, 3}) {
    std::string wire = "Q" + int32Bytes(length) + "xxxxxxxx";
    auto result = splitFrame(asBytes(wire));
    EXPECT_EQ(result.status, FrameStatus::kMalformed) << length;
    EXPECT_FALSE(result.reason.empty());
  }
}

TEST(Frame, NegativeLengthIsMalformed) {
  for (std::int32_t length : {-1, -4, INT32_MIN}) {
    std::string wire = "D" + int32Bytes(length);
    EXPECT_EQ(splitFrame(asBytes(wire)).status, FrameStatus::kMalformed) << length;
  }
}

TEST(Frame, LengthOverTheCapIsMalformedBeforeTheBodyArrives) {
  std::string wire = "d" + int32Bytes(0x40000000);  // 1 GiB: one over the default cap
  EXPECT_EQ(splitFrame(asBytes(wire)).status, FrameStatus::kMalformed);
  std::string at_cap = "d" + int32Bytes(0x3fffffff);
  auto waiting = splitFrame(asBytes(at_cap));
  ASSERT_EQ(waiting.status, FrameStatus::kNeedMore);
  EXPECT_EQ(waiting.needed, 0x3fffffffU - 4U);
}

TEST(Frame, CapIsConfigurable) {
  std::string wire = rawMessage('Q', std::string(100, 'a'));
  EXPECT_EQ(splitFrame(asBytes(wire), FrameLimits{.maxMessageLength = 104}).status,
            FrameStatus::kReady);
  EXPECT_EQ(splitFrame(asBytes(wire), FrameLimits{.maxMessageLength = 103}).status,
            FrameStatus::kMalformed);
}

TEST(StartupFrame, SplitsAPacketWithoutTypeByte) {
  std::string wire = int32Bytes(8) + int32Bytes(80877103) + "N";
  auto result = splitStartupFrame(asBytes(wire));
  ASSERT_EQ(result.status, FrameStatus::kReady);
  EXPECT_EQ(result.frame.type, '\0');
  EXPECT_EQ(result.frame.length, 8U);
  EXPECT_EQ(asText(result.frame.body), int32Bytes(80877103));
}

TEST(StartupFrame, NeedsMoreAtEveryCutPoint) {
  std::string wire = int32Bytes(16) + int32Bytes(80877102) + int32Bytes(7) + int32Bytes(9);
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    auto result = splitStartupFrame(asBytes(wire).first(cut));
    ASSERT_EQ(result.status, FrameStatus::kNeedMore) << cut;
    EXPECT_EQ(result.needed, cut < 4 ? 4 - cut : 16 - cut) << cut;
  }
}

TEST(StartupFrame, RefusesLengthsThatCannotHoldAVersion) {
  for (std::int32_t length : {-1, 0, 4, 7, INT32_MIN}) {
    std::string wire = int32Bytes(length) + std::string(8, '\0');
    EXPECT_EQ(splitStartupFrame(asBytes(wire)).status, FrameStatus::kMalformed) << length;
  }
}

TEST(StartupFrame, CapsThePayloadAt10000BytesLikePostgres) {
  std::string largest = int32Bytes(10004) + std::string(10000, 'a');
  EXPECT_EQ(splitStartupFrame(asBytes(largest)).status, FrameStatus::kReady);
  std::string too_big = int32Bytes(10005);
  auto result = splitStartupFrame(asBytes(too_big));
  EXPECT_EQ(result.status, FrameStatus::kMalformed);
  EXPECT_EQ(splitStartupFrame(asBytes(int32Bytes(INT32_MAX))).status, FrameStatus::kMalformed);
}

}  // namespace
}  // namespace pgswarm::protocol
