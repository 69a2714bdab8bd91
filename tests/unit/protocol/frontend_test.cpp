// Frontend query-protocol messages: round trip of each type (with NeedMore at
// every cut and Malformed for every short or long body), plus the checks
// specific to Bind, Describe and Close.
#include "protocol/frontend.hpp"

#include <gtest/gtest.h>

#include "protocol/copy.hpp"
#include "test_util.hpp"

namespace pgswarm::protocol {
namespace {

using namespace std::literals;
using test::Body;
using test::expectRoundTrip;
using test::int16Bytes;
using test::int32Bytes;
using test::rawMessage;

TEST(Frontend, QueryRoundTrips) {
  expectRoundTrip(Query{.sql = "select 1; select 'two'"});
  expectRoundTrip(Query{.sql = ""});
  EXPECT_EQ(test::encoded(Query{.sql = "select 1"}), rawMessage('Q', "select 1\0"sv));
}

TEST(Frontend, ParseRoundTrips) {
  expectRoundTrip(
      Parse{.statement = "s1", .sql = "select $1::int + $2", .parameterTypes = {23, 0}});
  expectRoundTrip(Parse{.statement = "", .sql = "select 1", .parameterTypes = {}});
}

TEST(Frontend, BindRoundTrips) {
  expectRoundTrip(Bind{.portal = "p1",
                       .statement = "s1",
                       .parameterFormats = {0, 1},
                       .parameters = {"42"sv, std::nullopt},
                       .resultFormats = {1}});
  expectRoundTrip(Bind{.parameterFormats = {1},
                       .parameters = {"\0\x01\xff"sv, ""sv, std::nullopt},
                       .resultFormats = {}});
  expectRoundTrip(Bind{});
}

TEST(Frontend, BindDistinguishesNullFromEmpty) {
  std::string body =
      "\0\0"s + int16Bytes(0) + int16Bytes(2) + int32Bytes(-1) + int32Bytes(0) + int16Bytes(0);
  auto bind = Bind::parse(asBytes(body));
  ASSERT_TRUE(bind.ok()) << bind.error().reason;
  ASSERT_EQ(bind->parameters.size(), 2U);
  EXPECT_FALSE(bind->parameters[0].has_value());
  ASSERT_TRUE(bind->parameters[1].has_value());
  EXPECT_EQ(*bind->parameters[1], "");
}

TEST(Frontend, BindRefusesBadLengthsAndCounts) {
  std::string names = "\0\0"s;
  auto parse = [](const std::string& body) { return Bind::parse(asBytes(body)); };
  // A value length of -2 is neither NULL nor a length.
  EXPECT_TRUE(
      parse(names + int16Bytes(0) + int16Bytes(1) + int32Bytes(-2) + int16Bytes(0)).malformed());
  // A value longer than the message.
  EXPECT_TRUE(parse(names + int16Bytes(0) + int16Bytes(1) + int32Bytes(1000) + "ab" + int16Bytes(0))
                  .malformed());
  // A parameter count the body cannot hold (must not allocate 32767 slots first).
  EXPECT_TRUE(parse(names + int16Bytes(0) + int16Bytes(32767) + int16Bytes(0)).malformed());
  EXPECT_TRUE(parse(names + int16Bytes(-1)).malformed());
  // Two formats for three parameters.
  std::string three = int16Bytes(3) + int32Bytes(-1) + int32Bytes(-1) + int32Bytes(-1);
  EXPECT_TRUE(parse(names + int16Bytes(2) + int16Bytes(0) + int16Bytes(0) + three + int16Bytes(0))
                  .malformed());
  EXPECT_TRUE(parse(names + int16Bytes(1) + int16Bytes(1) + three + int16Bytes(0)).ok());
}

TEST(Frontend, DescribeAndCloseRoundTrip) {
  expectRoundTrip(Describe{.kind = ObjectKind::kStatement, .name = "s1"});
  expectRoundTrip(Describe{.kind = ObjectKind::kPortal, .name = ""});
  expectRoundTrip(Close{.kind = ObjectKind::kPortal, .name = "p"});
  expectRoundTrip(Close{.kind = ObjectKind::kStatement, .name = "s1"});
  EXPECT_TRUE(Describe::parse(asBytes("X\0"sv)).malformed());
  EXPECT_TRUE(Close::parse(asBytes("s\0"sv)).malformed());
  std::string out;
  Writer writer(out);
  EXPECT_EQ((Close{.kind = static_cast<ObjectKind>('Q')}.encode(writer)),
            EncodeStatus::kInvalidValue);
}

TEST(Frontend, ExecuteRoundTrips) {
  expectRoundTrip(Execute{.portal = "", .maxRows = 0});
  expectRoundTrip(Execute{.portal = "c1", .maxRows = 100});
}

TEST(Frontend, EmptyMessagesRoundTrip) {
  expectRoundTrip(Sync{});
  expectRoundTrip(Flush{});
  expectRoundTrip(Terminate{});
  EXPECT_EQ(test::encoded(Sync{}), "S\0\0\0\x04"sv);
  EXPECT_TRUE(Sync::parse(asBytes("x"sv)).malformed());
}

TEST(Frontend, CopyMessagesRoundTrip) {
  expectRoundTrip(CopyData{.data = "1\tone\n\0binary"sv}, Body::kOpaque);
  expectRoundTrip(CopyData{.data = ""}, Body::kOpaque);
  expectRoundTrip(CopyDone{});
  expectRoundTrip(CopyFail{.message = "canceled by user"});
}

TEST(Frontend, ParseMessageChecksTheType) {
  std::string wire = test::encoded(Query{.sql = "x"});
  auto split = splitFrame(asBytes(wire));
  ASSERT_EQ(split.status, FrameStatus::kReady);
  EXPECT_TRUE(parseMessage<Parse>(split.frame).malformed());
  EXPECT_TRUE(parseMessage<Query>(split.frame).ok());
}

}  // namespace
}  // namespace pgswarm::protocol
