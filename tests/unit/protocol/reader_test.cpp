// Reader: big-endian integers, C strings, byte runs, the tentative cursor,
// and the difference between a short stream (NeedMore) and a short body (Malformed).
#include "protocol/reader.hpp"

#include <gtest/gtest.h>

namespace pgswarm::protocol {
namespace {

using namespace std::string_view_literals;

TEST(Reader, ReadsBigEndianIntegers) {
  Reader reader("\x12\x34\xff\xfe\x80\x00\x00\x01\xff"sv);
  EXPECT_EQ(*reader.int16(), 0x1234);
  EXPECT_EQ(*reader.int16(), -2);
  EXPECT_EQ(*reader.int32(), static_cast<std::int32_t>(0x80000001U));
  EXPECT_EQ(*reader.byte(), 0xff);
  EXPECT_TRUE(reader.atEnd());
}

TEST(Reader, ReadsCStringsAndByteRuns) {
  constexpr auto kInput = "abc\0\0xyz"sv;
  Reader reader(kInput);
  EXPECT_EQ(*reader.cstring(), "abc");
  // An empty string still points at its place in the input (statement
  // renaming locates a name by its view).
  auto empty = *reader.cstring();
  EXPECT_EQ(empty, "");
  EXPECT_EQ(empty.data(), kInput.data() + 4);
  EXPECT_EQ(asText(*reader.bytes(2)), "xy");
  EXPECT_EQ(reader.rest(), "z");
  EXPECT_TRUE(reader.atEnd());
  EXPECT_TRUE(reader.expectEnd().ok());
}

TEST(Reader, ShortStreamNeedsMoreAndLeavesTheCursor) {
  Reader reader("\x00\x01\x02"sv);
  EXPECT_TRUE(reader.int32().needsMore());
  EXPECT_EQ(reader.position(), 0U);
  EXPECT_TRUE(Reader("abc"sv).cstring().needsMore());
  EXPECT_TRUE(Reader(""sv).cstring().needsMore());
  EXPECT_TRUE(Reader(""sv).byte().needsMore());
  EXPECT_TRUE(Reader("\x01"sv).int16().needsMore());
  EXPECT_TRUE(Reader("ab"sv).bytes(3).needsMore());
}

TEST(Reader, ShortBodyIsMalformed) {
  auto body = asBytes("\x00\x01\x02"sv);
  EXPECT_TRUE(Reader::forBody(body).int32().malformed());
  EXPECT_TRUE(Reader::forBody(asBytes("abc"sv)).cstring().malformed());
  EXPECT_TRUE(Reader::forBody(body).bytes(4).malformed());
}

TEST(Reader, HugeLengthIsRefusedWithoutAllocating) {
  Reader reader = Reader::forBody(asBytes("abc"sv));
  EXPECT_TRUE(reader.bytes(std::size_t{1} << 40).malformed());
  EXPECT_TRUE(reader.bytes(SIZE_MAX).malformed());
  EXPECT_EQ(reader.position(), 0U);
}

TEST(Reader, TrailingBytesAreMalformed) {
  Reader reader("ab"sv);
  ASSERT_TRUE(reader.byte().ok());
  EXPECT_TRUE(reader.expectEnd().malformed());
}

TEST(Reader, TentativeCursorCommitsAndRollsBack) {
  Reader reader("\x00\x05hello\x00\x09"sv);
  ASSERT_EQ(*reader.int16(), 5);
  ASSERT_EQ(asText(*reader.bytes(5)), "hello");
  reader.commit();
  EXPECT_EQ(reader.committed(), 7U);
  ASSERT_EQ(*reader.int16(), 9);
  EXPECT_TRUE(reader.bytes(9).needsMore());
  reader.rollback();
  EXPECT_EQ(reader.position(), 7U);
  EXPECT_EQ(reader.remaining(), 2U);
}

TEST(Reader, Count16RefusesNegativeAndImpossibleCounts) {
  EXPECT_TRUE(Reader::forBody(asBytes("\xff\xff"sv)).count16(2).malformed());
  // 3 elements of 4 bytes cannot fit in 8 remaining bytes.
  EXPECT_TRUE(Reader::forBody(asBytes("\x00\x03"
                                      "12345678"sv))
                  .count16(4)
                  .malformed());
  auto fits = Reader::forBody(asBytes("\x00\x02"
                                      "12345678"sv))
                  .count16(4);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(*fits, 2U);
}

}  // namespace
}  // namespace pgswarm::protocol
