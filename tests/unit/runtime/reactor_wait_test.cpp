// Edge waits on asio's reactor over real loopback sockets: a wait ends when
// bytes or a hang-up arrive, never loses an edge that came before it, does
// not end again until new bytes come once the socket was drained, and the
// reads built on it (stream.hpp) take bursts larger than a chunk whole.
#include "runtime/reactor_wait.hpp"

#include <array>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "runtime/client_stream.hpp"
#include "runtime/stream.hpp"

namespace pgswarm::runtime {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

class ReactorWaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    peer_.connect(acceptor.local_endpoint());
    ours_ = acceptor.accept(io_);
  }

  // Starts a wait on ours_; `done` and `result` are set when it ends.
  void startWait() {
    done_ = false;
    asio::co_spawn(
        io_,
        [this]() -> asio::awaitable<void> {
          if (frameless_) {
            co_await ReadableInto<Socket>{&ours_, &result_};
          } else {
            std::tie(result_) = co_await awaitReadable(ours_);
          }
          done_ = true;
        },
        asio::detached);
  }
  // Runs the loop until the wait ended or `limit` passed.
  bool waitEnds(std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done_ && std::chrono::steady_clock::now() < until) io_.run_for(5ms);
    return done_;
  }
  void peerSends(const std::string& bytes) { asio::write(peer_, asio::buffer(bytes)); }
  // A new socket counts as maybe readable, and an edge the reactor has not
  // polled yet ends the next wait at once (the caller's recv then finds
  // nothing): two waits, each followed by a read, leave no edge behind.
  void prime() {
    peerSends("p");
    for (int i = 0; i < 2; ++i) {
      startWait();
      ASSERT_TRUE(waitEnds(2s));
      ByteBuffer buffer;
      (void)recvNow(ours_.native_handle(), buffer, ByteBuffer::kChunk);
      pollAWhile();
    }
  }
  // A wait that nothing ends, then cancelled: it ends with operation_aborted.
  void cancelAPendingWait() {
    prime();
    startWait();
    EXPECT_FALSE(waitEnds(20ms));
    ours_.cancel();
    ASSERT_TRUE(waitEnds(2s));
    EXPECT_EQ(result_, make_error_code(asio::error::operation_aborted));
  }
  // Lets the reactor poll, so edges are taken in with no wait queued.
  void pollAWhile() {
    for (int i = 0; i < 10; ++i) io_.run_for(2ms);
  }

  asio::io_context io_{1};
  // run_for must not stop the loop when no wait is pending.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  tcp::socket peer_{io_};
  Socket ours_{io_};
  bool done_ = false;
  bool frameless_ = false;  // startWait() uses ReadableInto, not awaitReadable
  std::error_code result_;
};

TEST_F(ReactorWaitTest, EndsWhenBytesArriveAndNotBefore) {
  if (!kEdgeWaits) GTEST_SKIP() << "asio's own waits in this build";
  prime();
  startWait();
  EXPECT_FALSE(waitEnds(50ms));
  peerSends("hello");
  ASSERT_TRUE(waitEnds(2s));
  EXPECT_FALSE(result_);
  ByteBuffer buffer;
  auto got = recvNow(ours_.native_handle(), buffer, ByteBuffer::kChunk);
  EXPECT_FALSE(got.ec);
  EXPECT_FALSE(got.wouldBlock);
  EXPECT_FALSE(got.full);
  EXPECT_EQ(buffer.size(), 5U);
}

TEST_F(ReactorWaitTest, AfterADrainedReadOnlyNewBytesEndTheNextWait) {
  if (!kEdgeWaits) GTEST_SKIP() << "asio's own waits in this build";
  prime();
  startWait();
  peerSends("a");
  ASSERT_TRUE(waitEnds(2s));
  ByteBuffer buffer;
  ASSERT_FALSE(recvNow(ours_.native_handle(), buffer, ByteBuffer::kChunk).wouldBlock);
  startWait();
  EXPECT_FALSE(waitEnds(50ms)) << "the spent edge ended a second wait";
  peerSends("b");
  ASSERT_TRUE(waitEnds(2s));
  ASSERT_FALSE(recvNow(ours_.native_handle(), buffer, ByteBuffer::kChunk).wouldBlock);
  EXPECT_EQ(buffer.size(), 2U);
}

TEST_F(ReactorWaitTest, AnEdgeTakenInBeforeTheWaitIsNotLost) {
  if (!kEdgeWaits) GTEST_SKIP() << "asio's own waits in this build";
  prime();
  peerSends("y");
  pollAWhile();  // the edge arrives while nobody waits
  startWait();
  EXPECT_TRUE(waitEnds(2s));
}

TEST_F(ReactorWaitTest, HangUpEndsTheWaitAndReadsAsEndOfStream) {
  if (!kEdgeWaits) GTEST_SKIP() << "asio's own waits in this build";
  prime();
  startWait();
  EXPECT_FALSE(waitEnds(20ms));
  peer_.close();
  ASSERT_TRUE(waitEnds(2s));
  ByteBuffer buffer;
  EXPECT_EQ(recvNow(ours_.native_handle(), buffer, ByteBuffer::kChunk).ec,
            make_error_code(asio::error::eof));
}

TEST_F(ReactorWaitTest, CancelAbortsTheWait) {
  cancelAPendingWait();
}

TEST_F(ReactorWaitTest, SawNothingOnlyWhileNothingCame) {
  if (!kEdgeWaits) GTEST_SKIP() << "asio's own waits in this build";
  prime();
  ByteBuffer buffer;
  EXPECT_TRUE(reactorSawNothing(ours_));
  pollAWhile();
  // The check left nothing behind: a wait still ends on new bytes.
  startWait();
  EXPECT_FALSE(waitEnds(20ms));
  peerSends("2");
  ASSERT_TRUE(waitEnds(2s));
  ASSERT_FALSE(recvNow(ours_.native_handle(), buffer, ByteBuffer::kChunk).wouldBlock);
  peer_.close();
  pollAWhile();
  EXPECT_FALSE(reactorSawNothing(ours_)) << "a hang-up went unseen";
}

// A read already waiting is someone else's: the check answers "maybe not"
// and leaves it waiting; so does a socket that never waited here.
TEST_F(ReactorWaitTest, SawNothingIsMaybeNotWhileAReadWaits) {
  if (!kEdgeWaits) GTEST_SKIP() << "asio's own waits in this build";
  EXPECT_FALSE(reactorSawNothing(ours_)) << "a fresh socket carries asio's initial mark";
  prime();
  startWait();
  pollAWhile();
  EXPECT_FALSE(reactorSawNothing(ours_));
  EXPECT_FALSE(done_);
  peerSends("x");
  ASSERT_TRUE(waitEnds(2s));
  EXPECT_FALSE(result_);
}

// The caller must get control back after a wake-up whose bytes are gone:
// a socket.cancel() racing with it (relay's stop of an idle read) would
// otherwise be lost in a second wait that nothing ends.
TEST_F(ReactorWaitTest, ASpentWakeUpReturnsNoBytesRatherThanWaitingAgain) {
  if (!kEdgeWaits) GTEST_SKIP() << "asio's own waits in this build";
  prime();
  peerSends("gone");
  pollAWhile();  // the reactor marks the socket readable, nobody waits
  ByteBuffer taken;
  ASSERT_FALSE(recvNow(ours_.native_handle(), taken, ByteBuffer::kChunk).wouldBlock);
  ClientStream stream(std::move(ours_));
  ByteBuffer buffer;
  std::optional<std::error_code> result;
  asio::co_spawn(
      io_, [&]() -> asio::awaitable<void> { result = co_await readSome(stream, buffer); },
      asio::detached);
  auto until = std::chrono::steady_clock::now() + 2s;
  while (!result && std::chrono::steady_clock::now() < until) io_.run_for(5ms);
  ASSERT_TRUE(result.has_value()) << "the read waited again after a spent wake-up";
  EXPECT_FALSE(*result);
  EXPECT_TRUE(buffer.empty());
}

TEST_F(ReactorWaitTest, StreamReadsTakeABurstLargerThanAChunkWhole) {
  ClientStream stream(std::move(ours_));
  const std::string burst(3 * ByteBuffer::kChunk + 123, 'z');
  peerSends(burst);
  ByteBuffer buffer;
  std::size_t total = 0;
  bool failed = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        // Alternating the plain read and the timed (asio) read: neither may
        // wait for an edge that bytes already read past will not bring.
        for (int i = 0; total < burst.size() && !failed; ++i) {
          auto ec = i % 2 == 0 ? co_await readSome(stream, buffer, ByteBuffer::kChunk)
                               : co_await readSomeWithin(stream, buffer, 2s, ByteBuffer::kChunk);
          failed = static_cast<bool>(ec);
          total = buffer.size();
        }
      },
      asio::detached);
  auto until = std::chrono::steady_clock::now() + 5s;
  while (total < burst.size() && !failed && std::chrono::steady_clock::now() < until) {
    io_.run_for(5ms);
  }
  EXPECT_FALSE(failed);
  EXPECT_EQ(total, burst.size());
}

// The relay's inline reads (no frame of their own) see a burst larger than
// a chunk whole too: a full read skips the wait for the bytes behind it.
TEST_F(ReactorWaitTest, InlineReadsTakeABurstLargerThanAChunkWhole) {
  if (!kEdgeWaits) GTEST_SKIP() << "asio's own waits in this build";
  ClientStream stream(std::move(ours_));
  ASSERT_TRUE(inlineReads(stream));
  const std::string burst(3 * ByteBuffer::kChunk + 123, 'y');
  peerSends(burst);
  ByteBuffer buffer;
  bool failed = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        while (buffer.size() < burst.size() && !failed) {
          std::error_code ec;
          if (auto wait = readWait(stream, buffer, /*idle=*/false, ec)) co_await *wait;
          if (!ec) ec = readAfterWait(stream, buffer, ByteBuffer::kChunk, /*idle=*/false);
          failed = static_cast<bool>(ec);
        }
      },
      asio::detached);
  auto until = std::chrono::steady_clock::now() + 5s;
  while (buffer.size() < burst.size() && !failed && std::chrono::steady_clock::now() < until) {
    io_.run_for(5ms);
  }
  EXPECT_FALSE(failed);
  EXPECT_EQ(buffer.size(), burst.size());
}

// ReadableInto is the same wait without asio's frame: it ends on bytes,
// not before, and a cancel ends it with operation_aborted.
TEST_F(ReactorWaitTest, FramelessWaitEndsOnBytesAndOnCancel) {
  frameless_ = true;
  prime();
  startWait();
  EXPECT_FALSE(waitEnds(20ms));
  peerSends("x");
  ASSERT_TRUE(waitEnds(2s));
  EXPECT_FALSE(result_);
  ByteBuffer buffer;
  EXPECT_FALSE(recvNow(ours_.native_handle(), buffer, ByteBuffer::kChunk).wouldBlock);
  pollAWhile();
  startWait();
  EXPECT_FALSE(waitEnds(20ms));
  ours_.cancel();
  ASSERT_TRUE(waitEnds(2s));
  EXPECT_EQ(result_, make_error_code(asio::error::operation_aborted));
}

// The coroutine that waits may be one called by another (its frame is not
// the bottom of the stack) and return a value: it resumes where it stopped
// and its caller gets the value.
TEST_F(ReactorWaitTest, FramelessWaitResumesANestedCoroutine) {
  prime();
  auto inner = [this]() -> asio::awaitable<int> {
    std::error_code ec;
    co_await ReadableInto<Socket>{&ours_, &ec};
    co_return ec ? -1 : 42;
  };
  int got = 0;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        got = co_await inner();
        got += co_await inner();
      },
      asio::detached);
  pollAWhile();
  EXPECT_EQ(got, 0);
  peerSends("a");
  auto until = std::chrono::steady_clock::now() + 2s;
  while (got < 42 && std::chrono::steady_clock::now() < until) io_.run_for(5ms);
  ASSERT_EQ(got, 42);
  ByteBuffer buffer;
  (void)recvNow(ours_.native_handle(), buffer, ByteBuffer::kChunk);
  peerSends("b");
  until = std::chrono::steady_clock::now() + 2s;
  while (got < 84 && std::chrono::steady_clock::now() < until) io_.run_for(5ms);
  EXPECT_EQ(got, 84);
}

// An io_context destroyed with a frameless wait pending destroys the
// waiting coroutine without resuming it (AddressSanitizer checks nothing
// leaks).
TEST(ReactorWaitShutdown, APendingFramelessWaitIsDestroyedWithItsContext) {
  bool resumed = false;
  bool destroyed = false;
  {
    asio::io_context io{1};
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket peer(io);
    peer.connect(acceptor.local_endpoint());
    Socket ours(acceptor.accept(io));
    struct Flag {
      bool* set;
      ~Flag() { *set = true; }
    };
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          Flag flag{&destroyed};
          std::error_code ec;
          for (;;) {  // until no edge is left: then it truly waits
            co_await ReadableInto<Socket>{&ours, &ec};
            ByteBuffer buffer;
            if (recvNow(ours.native_handle(), buffer, ByteBuffer::kChunk).wouldBlock) break;
          }
          co_await ReadableInto<Socket>{&ours, &ec};
          resumed = true;
        },
        asio::detached);
    for (int i = 0; i < 10; ++i) io.run_for(2ms);
    EXPECT_FALSE(destroyed);
  }
  EXPECT_FALSE(resumed);
  EXPECT_TRUE(destroyed);
}

// More than the socket takes at once: writeNow() sends a part and says so,
// writeRest() sends the rest, and the peer gets every byte in order.
TEST_F(ReactorWaitTest, AWriteTheSocketCannotTakeAtOnceFinishesWithWriteRest) {
  ClientStream stream(std::move(ours_));
  std::string big(16 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  std::array<asio::const_buffer, 2> pieces{
      asio::buffer(big.data(), big.size() / 2),
      asio::buffer(big.data() + big.size() / 2, big.size() - big.size() / 2)};
  auto now = writeNow(stream, pieces);
  ASSERT_FALSE(now.ec);
  ASSERT_FALSE(now.done) << "the socket took 16 MiB at once";
  EXPECT_GT(now.sent, 0U);
  bool written = false;
  std::error_code result;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        result = co_await writeRest(stream, pieces, now.sent);
        written = true;
      },
      asio::detached);
  std::string received;
  received.reserve(big.size());
  std::array<char, 65536> chunk{};
  auto until = std::chrono::steady_clock::now() + 20s;
  while (received.size() < big.size() && std::chrono::steady_clock::now() < until) {
    io_.run_for(1ms);
    std::error_code ec;
    while (peer_.available(ec) > 0)
      received.append(chunk.data(), peer_.read_some(asio::buffer(chunk), ec));
  }
  while (!written && std::chrono::steady_clock::now() < until) io_.run_for(5ms);
  EXPECT_TRUE(written);
  EXPECT_FALSE(result);
  EXPECT_TRUE(received == big) << "received " << received.size() << " of " << big.size();
}

}  // namespace
}  // namespace pgswarm::runtime
