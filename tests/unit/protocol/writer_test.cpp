// Writer: length back-patching, several messages in one buffer, both buffer
// types, and failed messages leaving no partial bytes behind.
#include "protocol/writer.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace pgswarm::protocol {
namespace {

using namespace std::string_view_literals;
using test::rawMessage;

TEST(Writer, BackPatchesTheLength) {
  std::string out;
  Writer writer(out);
  writer.begin('Q');
  writer.putCString("select 1");
  ASSERT_EQ(writer.finish(), EncodeStatus::kOk);
  EXPECT_EQ(out, rawMessage('Q', "select 1\0"sv));
}

TEST(Writer, AppendsManyMessagesToOneBuffer) {
  std::string out = "prefix";
  Writer writer(out);
  writer.begin('1');
  ASSERT_EQ(writer.finish(), EncodeStatus::kOk);
  writer.begin('Z');
  writer.putByte('I');
  ASSERT_EQ(writer.finish(), EncodeStatus::kOk);
  EXPECT_EQ(out, "prefix" + rawMessage('1', "") + rawMessage('Z', "I"));
}

TEST(Writer, WritesIntoAByteVector) {
  std::vector<std::byte> out;
  Writer writer(out);
  writer.begin('D');
  writer.putInt16(-2);
  writer.putInt32(0x01020304);
  writer.putBytes(asBytes("ab"sv));
  ASSERT_EQ(writer.finish(), EncodeStatus::kOk);
  std::string expected = rawMessage('D',
                                    "\xff\xfe\x01\x02\x03\x04"
                                    "ab"sv);
  EXPECT_EQ(asText(out), expected);
}

TEST(Writer, UntypedPacketCountsOnlyItsLengthWord) {
  std::string out;
  Writer writer(out);
  writer.beginUntyped();
  writer.putInt32(80877103);
  ASSERT_EQ(writer.finish(), EncodeStatus::kOk);
  EXPECT_EQ(out, "\x00\x00\x00\x08\x04\xd2\x16\x2f"sv);
}

TEST(Writer, EmbeddedNulDropsTheMessage) {
  std::string out = "keep";
  Writer writer(out);
  writer.begin('Q');
  writer.putCString("select 1\0; drop table x"sv);
  EXPECT_EQ(writer.finish(), EncodeStatus::kEmbeddedNul);
  EXPECT_EQ(out, "keep");
}

TEST(Writer, CountOverInt16DropsTheMessage) {
  std::vector<std::byte> out;
  Writer writer(out);
  writer.begin('t');
  writer.putCount16(40000);
  EXPECT_EQ(writer.finish(), EncodeStatus::kTooMany);
  EXPECT_TRUE(out.empty());
}

TEST(Writer, ExplicitFailureKeepsTheFirstReason) {
  std::string out;
  Writer writer(out);
  writer.begin('X');
  writer.fail(EncodeStatus::kInvalidValue);
  writer.fail(EncodeStatus::kTooLong);
  EXPECT_EQ(writer.finish(), EncodeStatus::kInvalidValue);
  EXPECT_TRUE(out.empty());
  writer.begin('X');
  EXPECT_EQ(writer.finish(), EncodeStatus::kOk);
  EXPECT_EQ(out, rawMessage('X', ""));
}

}  // namespace
}  // namespace pgswarm::protocol
