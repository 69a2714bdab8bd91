// The shared slot counter of one (user, database): the limit holds under
// threads racing for slots, the reserve and min_pool_size ceilings, and the
// published demand and idle counts that decide where a freed slot goes.
#include "pool/pool_slots.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace pgswarm::pool {
namespace {

using namespace std::chrono_literals;
using Clock = PoolSlots::Clock;

TEST(PoolSlots, TakesUpToTheLimitAndGivesBack) {
  PoolSlots slots(3, 0, 2);
  EXPECT_TRUE(slots.tryTake());
  EXPECT_TRUE(slots.tryTake());
  EXPECT_TRUE(slots.tryTake());
  EXPECT_FALSE(slots.tryTake());
  EXPECT_EQ(slots.used(), 3);
  slots.give();
  EXPECT_EQ(slots.used(), 2);
  EXPECT_TRUE(slots.tryTake());
  EXPECT_FALSE(slots.tryTake());
}

TEST(PoolSlots, ReserveOnlyThroughTryTakeReserve) {
  PoolSlots slots(1, 2, 1);
  EXPECT_TRUE(slots.tryTake());
  EXPECT_FALSE(slots.tryTake());
  EXPECT_TRUE(slots.tryTakeReserve());
  EXPECT_TRUE(slots.tryTakeReserve());
  EXPECT_FALSE(slots.tryTakeReserve());
  EXPECT_EQ(slots.used(), 3);
  // Giving a reserve slot back does not make room for a normal take while
  // the pool is still at or above its limit.
  slots.give();
  EXPECT_FALSE(slots.tryTake());
  slots.give();
  slots.give();
  EXPECT_TRUE(slots.tryTake());
}

TEST(PoolSlots, TakeBelowStopsAtTheTargetAndAtTheLimit) {
  PoolSlots slots(3, 0, 1);
  EXPECT_TRUE(slots.tryTakeBelow(2));
  EXPECT_TRUE(slots.tryTakeBelow(2));
  EXPECT_FALSE(slots.tryTakeBelow(2));
  EXPECT_TRUE(slots.tryTake());
  EXPECT_FALSE(slots.tryTakeBelow(10));  // min_pool_size above the limit is capped
}

TEST(PoolSlots, ThreadsRacingNeverExceedTheLimit) {
  PoolSlots slots(5, 0, 4);
  std::atomic<int> inUse{0};
  std::atomic<int> highest{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!slots.tryTake()) continue;
        int now = ++inUse;
        int seen = highest.load();
        while (now > seen && !highest.compare_exchange_weak(seen, now)) {
        }
        --inUse;
        slots.give();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(highest.load(), 5);
  EXPECT_GE(highest.load(), 1);
  EXPECT_EQ(slots.used(), 0);
}

TEST(PoolSlots, OldestDemandSkipsTheAskerAndPicksTheLongestWait) {
  PoolSlots slots(2, 0, 3);
  EXPECT_FALSE(slots.oldestDemand(0));
  auto now = Clock::now();
  slots.setDemand(1, now - 100ms);
  slots.setDemand(2, now - 300ms);
  auto oldest = slots.oldestDemand(0);
  ASSERT_TRUE(oldest);
  EXPECT_EQ(oldest->worker, 2);
  EXPECT_EQ(oldest->since, now - 300ms);
  oldest = slots.oldestDemand(2);
  ASSERT_TRUE(oldest);
  EXPECT_EQ(oldest->worker, 1);
  slots.setDemand(1, std::nullopt);
  EXPECT_FALSE(slots.oldestDemand(2));
  EXPECT_EQ(slots.demandOf(2), now - 300ms);
}

TEST(PoolSlots, WorkerWithIdleSkipsTheAskerAndPicksTheMost) {
  PoolSlots slots(10, 0, 3);
  EXPECT_FALSE(slots.workerWithIdle(0));
  slots.setIdle(0, 5);
  slots.setIdle(1, 1);
  slots.setIdle(2, 2);
  EXPECT_EQ(slots.workerWithIdle(0), 2);
  EXPECT_EQ(slots.workerWithIdle(2), 0);
  slots.setIdle(0, 0);
  slots.setIdle(1, 0);
  EXPECT_FALSE(slots.workerWithIdle(2));
}

TEST(PoolSlotRegistry, OneCounterPerUserAndDatabase) {
  PoolSlotRegistry registry(4, 1, 2);
  auto& a = registry.slotsFor("alice", "app");
  auto& again = registry.slotsFor("alice", "app");
  auto& other = registry.slotsFor("bob", "app");
  EXPECT_EQ(&a, &again);
  EXPECT_NE(&a, &other);
  EXPECT_EQ(a.limit(), 4);
  EXPECT_EQ(a.reserve(), 1);
  EXPECT_EQ(a.workers(), 2);
}

}  // namespace
}  // namespace pgswarm::pool
