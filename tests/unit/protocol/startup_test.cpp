// Startup phase: classifying the first packet, StartupMessage acceptance
// rules (protocol 3.x, user required, unique names, terminator last, size
// cap) and the fixed-size SSLRequest, GSSENCRequest and CancelRequest.
#include "protocol/startup.hpp"

#include <gtest/gtest.h>

#include "protocol/frame.hpp"
#include "test_util.hpp"

namespace pgswarm::protocol {
namespace {

using namespace std::literals;
using test::encoded;
using test::int32Bytes;

std::string packet(std::string_view payload) {
  return int32Bytes(static_cast<std::int32_t>(payload.size() + 4)) + std::string(payload);
}

ParseResult<StartupMessage> parseStartup(std::string_view payload) {
  return StartupMessage::parse(asBytes(payload));
}

template <typename M>
void expectStartupRoundTrip(const M& message) {
  std::string wire = encoded(message);
  auto split = splitStartupFrame(asBytes(wire));
  ASSERT_EQ(split.status, FrameStatus::kReady);
  EXPECT_EQ(split.frame.length, wire.size());
  auto parsed = M::parse(split.frame.body);
  ASSERT_TRUE(parsed.ok()) << parsed.error().reason;
  EXPECT_EQ(*parsed, message);
  EXPECT_EQ(encoded(*parsed), wire);
  std::string_view payload = std::string_view(wire).substr(4);
  for (std::size_t size = 0; size < payload.size(); ++size) {
    ASSERT_TRUE(M::parse(asBytes(payload.substr(0, size))).malformed()) << size;
  }
  std::string longer = std::string(payload) + '\0';
  EXPECT_TRUE(M::parse(asBytes(longer)).malformed());
}

TEST(Startup, ClassifiesTheFirstPacket) {
  auto kind = [](std::int32_t code) {
    std::string payload = int32Bytes(code) + int32Bytes(0) + int32Bytes(0);
    return *classifyStartupPacket(asBytes(payload));
  };
  EXPECT_EQ(kind(196608), StartupPacketKind::kStartupMessage);
  EXPECT_EQ(kind(protocolVersion(3, 2)), StartupPacketKind::kStartupMessage);
  EXPECT_EQ(kind(80877103), StartupPacketKind::kSslRequest);
  EXPECT_EQ(kind(80877104), StartupPacketKind::kGssEncRequest);
  EXPECT_EQ(kind(80877102), StartupPacketKind::kCancelRequest);
  EXPECT_EQ(kind(protocolVersion(2, 0)), StartupPacketKind::kUnsupportedProtocol);
  EXPECT_EQ(kind(protocolVersion(4, 0)), StartupPacketKind::kUnsupportedProtocol);
  EXPECT_TRUE(classifyStartupPacket(asBytes("\x00\x03"sv)).malformed());
  EXPECT_EQ(toString(StartupPacketKind::kSslRequest), "SSLRequest");
}

TEST(Startup, StartupMessageRoundTrips) {
  StartupMessage message;
  message.parameters = {{"user", "alice"},
                        {"database", "app"},
                        {"application_name", "psql"},
                        {"options", "-c search_path=x"}};
  expectStartupRoundTrip(message);
  EXPECT_EQ(message.user(), "alice");
  EXPECT_EQ(message.database(), "app");
  ASSERT_NE(message.find("options"), nullptr);
  EXPECT_EQ(*message.find("options"), "-c search_path=x");
  EXPECT_EQ(message.find("missing"), nullptr);
}

TEST(Startup, DatabaseDefaultsToUser) {
  auto message = parseStartup(int32Bytes(196608) + "user\0bob\0\0"s);
  ASSERT_TRUE(message.ok()) << message.error().reason;
  EXPECT_EQ(message->database(), "bob");
}

TEST(Startup, AcceptsNewerMinorVersionAndProtocolOptions) {
  auto message = parseStartup(int32Bytes(protocolVersion(3, 2)) + "user\0u\0_pq_.test\0on\0\0"s);
  ASSERT_TRUE(message.ok()) << message.error().reason;
  EXPECT_EQ(protocolMinor(message->protocolVersion), 2);
  EXPECT_EQ(*message->find("_pq_.test"), "on");
}

TEST(Startup, RefusesBadStartupMessages) {
  std::string v3 = int32Bytes(196608);
  EXPECT_TRUE(parseStartup(v3 + "database\0x\0\0"s).malformed()) << "no user";
  EXPECT_TRUE(parseStartup(v3 + "user\0a\0user\0b\0\0"s).malformed()) << "duplicate";
  EXPECT_TRUE(parseStartup(v3 + "user\0a\0"s).malformed()) << "no terminator";
  EXPECT_TRUE(parseStartup(v3 + "user\0a"s).malformed()) << "unterminated value";
  EXPECT_TRUE(parseStartup(v3 + "user\0a\0database"s).malformed()) << "unterminated name";
  EXPECT_TRUE(parseStartup(v3 + "user\0a\0\0x"s).malformed()) << "trailing bytes";
  EXPECT_TRUE(parseStartup(v3).malformed()) << "version only";
  EXPECT_TRUE(parseStartup(int32Bytes(protocolVersion(2, 0)) + "user\0a\0\0"s).malformed());
  EXPECT_TRUE(parseStartup("\x00\x03"sv).malformed());
}

TEST(Startup, RefusesPacketsOver10000Bytes) {
  std::string big_value(9990, 'x');
  std::string payload = int32Bytes(196608) + "user\0"s + big_value + "\0\0"s;
  ASSERT_GT(payload.size(), 10000U);
  EXPECT_TRUE(parseStartup(payload).malformed());
  EXPECT_EQ(splitStartupFrame(asBytes(packet(payload))).status, FrameStatus::kMalformed);
}

TEST(Startup, EncodeRefusesWhatTheWireCannotCarry) {
  std::string out;
  Writer writer(out);
  StartupMessage with_nul{.parameters = {{"user", "a\0b"s}}};
  EXPECT_EQ(with_nul.encode(writer), EncodeStatus::kEmbeddedNul);
  EXPECT_TRUE(out.empty());
}

TEST(Startup, SslAndGssRequestsRoundTrip) {
  expectStartupRoundTrip(SslRequest{});
  expectStartupRoundTrip(GssEncRequest{});
  EXPECT_EQ(encoded(SslRequest{}), "\x00\x00\x00\x08\x04\xd2\x16\x2f"sv);
  EXPECT_EQ(encoded(GssEncRequest{}), "\x00\x00\x00\x08\x04\xd2\x16\x30"sv);
  EXPECT_TRUE(SslRequest::parse(asBytes(int32Bytes(80877104))).malformed());
}

TEST(Startup, CancelRequestRoundTrips) {
  expectStartupRoundTrip(CancelRequest{.processId = 4242, .secretKey = -17});
  std::string payload = int32Bytes(80877102) + int32Bytes(1) + int32Bytes(2);
  auto parsed = CancelRequest::parse(asBytes(payload));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->processId, 1);
  EXPECT_EQ(parsed->secretKey, 2);
  EXPECT_TRUE(CancelRequest::parse(asBytes(int32Bytes(196608) + int32Bytes(1) + int32Bytes(2)))
                  .malformed());
}

}  // namespace
}  // namespace pgswarm::protocol
