// The parking lot over real socket pairs: an owner is woken once when its
// socket is readable or hung up (also when the bytes came before it was
// parked), never after it left, not for another owner that a wake ended,
// and every owner of a burst larger than one epoll batch is woken. With
// nothing parked the lot leaves the loop free to end.
#include "runtime/parking_lot.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <vector>

#include <gtest/gtest.h>

namespace pgswarm::runtime {
namespace {

using namespace std::chrono_literals;

struct Pair {
  Pair() {
    std::array<int, 2> fds{};
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds.data()), 0);
    parked = fds[0];
    peer = fds[1];
  }
  ~Pair() {
    if (parked >= 0) ::close(parked);
    if (peer >= 0) ::close(peer);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  void send() const { ASSERT_EQ(::write(peer, "x", 1), 1); }
  void hangUp() { ::close(std::exchange(peer, -1)); }

  int parked = -1;
  int peer = -1;
};

// What a wake did, per owner.
struct Owner {
  int wakes = 0;
  ParkingLot* lot = nullptr;
  int fd = -1;
  Owner* alsoEnd = nullptr;  // a wake that ends another owner too
};

void wake(void* owner) {
  auto* self = static_cast<Owner*>(owner);
  ++self->wakes;
  if (self->alsoEnd != nullptr) self->lot->leave(self->alsoEnd->fd, self->alsoEnd);
}

class ParkingLotTest : public ::testing::Test {
 protected:
  void park(Owner& owner, const Pair& pair) {
    owner.lot = &lot_;
    owner.fd = pair.parked;
    ASSERT_FALSE(lot_.park(pair.parked, &owner));
  }
  void pollAWhile() {
    for (int i = 0; i < 10; ++i) io_.run_for(2ms);
  }
  bool wokenWithin(const Owner& owner, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (owner.wakes == 0 && std::chrono::steady_clock::now() < until) io_.run_for(5ms);
    return owner.wakes > 0;
  }

  asio::io_context io_{1};
  ParkingLot lot_{io_, &wake};
};

TEST_F(ParkingLotTest, WakesOnceWhenBytesComeAndNotBefore) {
  Pair pair;
  Owner owner;
  park(owner, pair);
  pollAWhile();
  EXPECT_EQ(owner.wakes, 0);
  pair.send();
  ASSERT_TRUE(wokenWithin(owner, 2s));
  pair.send();  // armed once: no second wake until it parks again
  pollAWhile();
  EXPECT_EQ(owner.wakes, 1);
  lot_.leave(pair.parked, &owner);
  EXPECT_EQ(lot_.size(), 0U);
  std::array<char, 8> bytes{};
  EXPECT_EQ(::recv(pair.parked, bytes.data(), bytes.size(), MSG_DONTWAIT), 2);
}

TEST_F(ParkingLotTest, BytesThatCameBeforeParkingWakeAtOnce) {
  Pair pair;
  pair.send();
  Owner owner;
  park(owner, pair);
  EXPECT_TRUE(wokenWithin(owner, 2s));
  lot_.leave(pair.parked, &owner);
}

TEST_F(ParkingLotTest, AHangUpWakes) {
  Pair pair;
  Owner owner;
  park(owner, pair);
  pollAWhile();
  pair.hangUp();
  EXPECT_TRUE(wokenWithin(owner, 2s));
  lot_.leave(pair.parked, &owner);
}

TEST_F(ParkingLotTest, AnOwnerThatLeftIsNotWokenAndTheLoopMayEnd) {
  Pair pair;
  Owner owner;
  park(owner, pair);
  pollAWhile();
  lot_.leave(pair.parked, &owner);
  pair.send();
  // No work guard: run() returns once the lot has stopped watching.
  io_.restart();
  auto started = std::chrono::steady_clock::now();
  io_.run_for(2s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s) << "the lot still holds the loop";
  EXPECT_EQ(owner.wakes, 0);
}

TEST_F(ParkingLotTest, AWakeThatEndsAnotherOwnerOfItsBatchSkipsIt) {
  Pair first;
  Pair second;
  Owner a;
  Owner b;
  park(a, first);
  park(b, second);
  a.alsoEnd = &b;
  b.alsoEnd = &a;
  pollAWhile();
  first.send();
  second.send();
  io_.restart();
  io_.run_for(200ms);
  EXPECT_EQ(a.wakes + b.wakes, 1)
      << "both were ready in one batch; the first woken ended the other";
  EXPECT_EQ(lot_.size(), 1U);
  Owner& woken = a.wakes == 1 ? a : b;
  lot_.leave(woken.fd, &woken);
}

TEST_F(ParkingLotTest, EveryOwnerOfABurstLargerThanABatchIsWoken) {
  constexpr std::size_t kCount = 200;  // more than three batches
  std::vector<Pair> pairs(kCount);
  std::vector<Owner> owners(kCount);
  for (std::size_t i = 0; i < kCount; ++i) park(owners[i], pairs[i]);
  pollAWhile();
  for (const auto& pair : pairs) pair.send();
  auto until = std::chrono::steady_clock::now() + 2s;
  auto allWoken = [&] {
    for (const auto& owner : owners) {
      if (owner.wakes == 0) return false;
    }
    return true;
  };
  while (!allWoken() && std::chrono::steady_clock::now() < until) io_.run_for(5ms);
  EXPECT_TRUE(allWoken());
  for (std::size_t i = 0; i < kCount; ++i) lot_.leave(pairs[i].parked, &owners[i]);
  EXPECT_EQ(lot_.size(), 0U);
}

}  // namespace
}  // namespace pgswarm::runtime
