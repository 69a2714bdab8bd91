// The receive buffer: bytes keep their order through compaction, growth,
// prepend and shrink; an empty buffer gives its storage up, and chunk-sized
// storage comes back from the thread's cache.
#include "runtime/byte_buffer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>

namespace pgswarm::runtime {
namespace {

std::span<const std::byte> bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

std::string text(const ByteBuffer& buffer) {
  auto data = buffer.data();
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

TEST(ByteBuffer, AppendsAndConsumesInOrder) {
  ByteBuffer buffer(8);
  buffer.append(bytes("hello"));
  buffer.append(bytes(" world"));  // grows past 8
  EXPECT_EQ(text(buffer), "hello world");
  buffer.consume(6);
  EXPECT_EQ(text(buffer), "world");
  buffer.consume(5);
  EXPECT_TRUE(buffer.empty());
}

TEST(ByteBuffer, CompactsBeforeGrowing) {
  ByteBuffer buffer(16);
  buffer.append(bytes("0123456789abcdef"));
  buffer.consume(10);
  auto room = buffer.prepare(8);  // 6 unread + 8 fit in 16 once moved down
  EXPECT_GE(room.size(), 8U);
  EXPECT_EQ(buffer.capacity(), 16U);
  EXPECT_EQ(text(buffer), "abcdef");
  std::memcpy(room.data(), "ghijklmn", 8);
  buffer.commit(8);
  EXPECT_EQ(text(buffer), "abcdefghijklmn");
}

TEST(ByteBuffer, GrowsKeepingUnreadBytes) {
  ByteBuffer buffer(4);
  std::string big(100000, 'x');
  big[0] = 'a';
  big.back() = 'z';
  buffer.append(bytes("ab"));
  buffer.consume(1);
  buffer.append(bytes(big));
  EXPECT_EQ(text(buffer), "b" + big);
}

TEST(ByteBuffer, PrependsInFrontOfUnreadBytes) {
  ByteBuffer buffer(8);
  buffer.append(bytes("abcdef"));
  buffer.consume(4);
  buffer.prepend(bytes("XY"));  // fits in the consumed room
  EXPECT_EQ(text(buffer), "XYef");
  buffer.prepend(bytes("0123456789"));  // does not: new storage
  EXPECT_EQ(text(buffer), "0123456789XYef");
}

TEST(ByteBuffer, ShrinksAfterABurstKeepingWhatIsUnread) {
  ByteBuffer buffer(8);
  buffer.append(bytes(std::string(50000, 'q')));
  buffer.consume(49990);
  buffer.shrinkTo(ByteBuffer::kChunk);
  EXPECT_EQ(buffer.capacity(), ByteBuffer::kChunk);
  EXPECT_EQ(text(buffer), std::string(10, 'q'));
  buffer.shrinkTo(4);  // would not hold the unread bytes: unchanged
  EXPECT_EQ(buffer.capacity(), ByteBuffer::kChunk);
}

TEST(ByteBuffer, AnEmptyBufferGivesItsStorageUpAndTheCacheHandsItOn) {
  ByteBuffer first(ByteBuffer::kChunk);
  first.append(bytes("x"));
  first.release();  // not empty: kept
  EXPECT_EQ(first.capacity(), ByteBuffer::kChunk);
  first.consume(1);
  auto* block = first.prepare(1).data();
  first.release();
  EXPECT_EQ(first.capacity(), 0U);
  ByteBuffer second(0);
  EXPECT_EQ(second.prepare(100).data(), block);  // this thread's spare
  EXPECT_EQ(second.capacity(), ByteBuffer::kChunk);
  second.append(bytes("after"));
  EXPECT_EQ(text(second), "after");
}

}  // namespace
}  // namespace pgswarm::runtime
