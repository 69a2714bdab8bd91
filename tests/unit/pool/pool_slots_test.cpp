// The shared slot counter of one (user, database): the limit holds under
// threads racing for slots, the reserve and min_pool_size ceilings, and the
// published demand and idle counts that decide where a freed slot goes;
// per-database and per-user sizes, the caps over pools, and RELOAD.
#include "pool/pool_slots.hpp"

#include <gtest/gtest.h>

#include <atomic>
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
  PoolSlotRegistry registry(PoolSizes{.defaultPoolSize = 4, .reservePoolSize = 1}, 2);
  auto& a = registry.slotsFor("alice", "app");
  auto& again = registry.slotsFor("alice", "app");
  auto& other = registry.slotsFor("bob", "app");
  EXPECT_EQ(&a, &again);
  EXPECT_NE(&a, &other);
  EXPECT_EQ(a.limit(), 4);
  EXPECT_EQ(a.reserve(), 1);
  EXPECT_EQ(a.workers(), 2);
}

TEST(PoolSlotRegistry, EachPoolGetsItsEffectiveSize) {
  PoolSizes sizes{.defaultPoolSize = 5, .minPoolSize = 1, .reservePoolSize = 1};
  sizes.databases["app"] = DatabaseSizes{.poolSize = 2, .minPoolSize = 2};
  sizes.users["alice"] = UserSizes{.poolSize = 3};
  PoolSlotRegistry registry(sizes, 1);
  EXPECT_EQ(registry.slotsFor("bob", "other").limit(), 5);
  EXPECT_EQ(registry.slotsFor("bob", "app").limit(), 2);
  EXPECT_EQ(registry.slotsFor("bob", "app").minServers(), 2);
  EXPECT_EQ(registry.slotsFor("alice", "app").limit(), 3);
  EXPECT_EQ(registry.slotsFor("alice", "app").reserve(), 1);
}

// max_db_connections holds over the pools of every user of the database,
// and a refused take leaves nothing counted anywhere.
TEST(PoolSlotRegistry, DatabaseCapHoldsAcrossUsers) {
  PoolSizes sizes{.defaultPoolSize = 5, .reservePoolSize = 2};
  sizes.databases["app"] = DatabaseSizes{.maxConnections = 3};
  PoolSlotRegistry registry(sizes, 1);
  auto& alice = registry.slotsFor("alice", "app");
  auto& bob = registry.slotsFor("bob", "app");
  auto& elsewhere = registry.slotsFor("bob", "other");
  EXPECT_TRUE(alice.tryTake());
  EXPECT_TRUE(alice.tryTake());
  EXPECT_TRUE(bob.tryTake());
  EXPECT_TRUE(bob.capFull());
  EXPECT_FALSE(bob.tryTake());
  EXPECT_FALSE(alice.tryTakeReserve()) << "the cap holds over the reserve too";
  EXPECT_EQ(alice.used(), 2);
  EXPECT_EQ(bob.used(), 1);
  EXPECT_TRUE(elsewhere.tryTake()) << "another database is not capped";
  alice.give();
  EXPECT_FALSE(bob.capFull());
  EXPECT_TRUE(bob.tryTake());
}

TEST(PoolSlotRegistry, UserCapHoldsAcrossDatabases) {
  PoolSizes sizes{.defaultPoolSize = 5};
  sizes.users["alice"] = UserSizes{.maxConnections = 2};
  PoolSlotRegistry registry(sizes, 1);
  auto& one = registry.slotsFor("alice", "one");
  auto& two = registry.slotsFor("alice", "two");
  EXPECT_TRUE(one.tryTake());
  EXPECT_TRUE(two.tryTake());
  EXPECT_FALSE(one.tryTake());
  EXPECT_FALSE(two.tryTake());
  EXPECT_TRUE(registry.slotsFor("bob", "one").tryTake());
}

// A pool whose own size is full waits for itself, not for the cap: another
// pool must not give up a connection for it.
TEST(PoolSlotRegistry, CapDemandSkipsPoolsHeldByTheirOwnSize) {
  PoolSizes sizes{.defaultPoolSize = 1};
  sizes.databases["app"] = DatabaseSizes{.maxConnections = 2};
  PoolSlotRegistry registry(sizes, 2);
  auto& alice = registry.slotsFor("alice", "app");
  auto& bob = registry.slotsFor("bob", "app");
  auto& carol = registry.slotsFor("carol", "app");
  ASSERT_TRUE(alice.tryTake());
  ASSERT_TRUE(bob.tryTake());
  auto now = Clock::now();
  bob.setDemand(1, now - std::chrono::seconds(2));  // bob waits, but bob's pool is full
  EXPECT_FALSE(alice.oldestCapDemand(true));
  carol.setDemand(0, now - std::chrono::seconds(1));  // carol waits on the cap
  auto demand = alice.oldestCapDemand(true);
  ASSERT_TRUE(demand);
  EXPECT_EQ(demand->slots, &carol);
  EXPECT_EQ(demand->worker, 0);
}

// RELOAD: the new sizes and caps apply to pools made before it; slots
// taken beyond them show as excess until given back.
TEST(PoolSlotRegistry, ResizeAppliesToExistingPools) {
  PoolSizes sizes{.defaultPoolSize = 4};
  PoolSlotRegistry registry(sizes, 1);
  auto& app = registry.slotsFor("alice", "app");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(app.tryTake());
  sizes.databases["app"] = DatabaseSizes{.poolSize = 2, .minPoolSize = 1};
  sizes.users["alice"] = UserSizes{.maxConnections = 3};
  registry.resize(sizes);
  EXPECT_EQ(app.limit(), 2);
  EXPECT_EQ(app.minServers(), 1);
  EXPECT_EQ(app.excess(), 2);
  app.give();
  app.give();
  EXPECT_EQ(app.excess(), 0);
  EXPECT_FALSE(app.tryTake());
  EXPECT_EQ(registry.sizes(), sizes);
  // A pool made after the RELOAD counts under the same user cap.
  auto& other = registry.slotsFor("alice", "other");
  EXPECT_TRUE(other.tryTake());
  EXPECT_FALSE(other.tryTake()) << "max_user_connections = 3 with 2 + 1 taken";
}

TEST(PoolSlotRegistry, ThreadsRacingNeverExceedACap) {
  PoolSizes sizes{.defaultPoolSize = 100};
  sizes.databases["app"] = DatabaseSizes{.maxConnections = 5};
  PoolSlotRegistry registry(sizes, 4);
  std::vector<PoolSlots*> pools;
  for (const char* user : {"a", "b", "c", "d"}) pools.push_back(&registry.slotsFor(user, "app"));
  std::atomic<int> held{0};
  std::atomic<int> highest{0};
  std::vector<std::thread> threads;
  for (auto* slots : pools) {
    threads.emplace_back([&, slots] {
      for (int i = 0; i < 20000; ++i) {
        if (!slots->tryTake()) continue;
        int now = ++held;
        int seen = highest.load();
        while (now > seen && !highest.compare_exchange_weak(seen, now)) {
        }
        --held;
        slots->give();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_LE(highest.load(), 5);
  EXPECT_GE(highest.load(), 1);
  for (auto* slots : pools) EXPECT_EQ(slots->used(), 0);
}

}  // namespace
}  // namespace pgswarm::pool
