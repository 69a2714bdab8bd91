// The background loop of the shard map watcher and the foreign server
// keeper: a run at once, one per nudge without waiting out the period, and
// a stop that does not wait for the period either. The period here is an
// hour, so any second run within the test came from a nudge.
#include "common/periodic_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace pgswarm::common {
namespace {

using namespace std::chrono_literals;

constexpr auto kLongPeriod = std::chrono::milliseconds(std::chrono::hours(1));

// Polls `runs` until it reaches `count`; false after 10 s.
bool waitForRuns(const std::atomic<int>& runs, int count) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (runs.load() < count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(PeriodicThread, RunsAtOnceThenOncePerNudge) {
  std::atomic<int> runs{0};
  PeriodicThread thread;
  thread.start(kLongPeriod, [&] { ++runs; });
  ASSERT_TRUE(waitForRuns(runs, 1));
  thread.nudge();
  ASSERT_TRUE(waitForRuns(runs, 2));
  thread.nudge();
  ASSERT_TRUE(waitForRuns(runs, 3));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runs.load(), 3) << "a run without a nudge inside the hour";
}

TEST(PeriodicThread, ANudgeDuringARunRunsItOnceMore) {
  std::atomic<int> runs{0};
  std::atomic<bool> release{false};
  PeriodicThread thread;
  thread.start(kLongPeriod, [&] {
    ++runs;
    while (runs.load() == 1 && !release.load()) std::this_thread::sleep_for(1ms);
  });
  ASSERT_TRUE(waitForRuns(runs, 1));
  thread.nudge();  // while the first run is still going
  release = true;
  EXPECT_TRUE(waitForRuns(runs, 2)) << "the nudge was lost";
}

TEST(PeriodicThread, StopsWhileSleepingAndStartsAgain) {
  std::atomic<int> runs{0};
  PeriodicThread thread;
  thread.start(kLongPeriod, [&] { ++runs; });
  ASSERT_TRUE(waitForRuns(runs, 1));
  auto before = std::chrono::steady_clock::now();
  thread.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s) << "stop waited for the period";
  EXPECT_TRUE(thread.stopping());
  thread.start(kLongPeriod, [&] { ++runs; });
  EXPECT_FALSE(thread.stopping());
  EXPECT_TRUE(waitForRuns(runs, 2)) << "no run after a restart";
}

TEST(PeriodicThread, WorkSeesStoppingAndAStartWhileRunningIsIgnored) {
  std::atomic<int> runs{0};
  std::atomic<bool> sawStopping{false};
  PeriodicThread thread;
  thread.start(kLongPeriod, [&] {
    ++runs;
    while (!thread.stopping()) std::this_thread::sleep_for(1ms);
    sawStopping = true;
  });
  ASSERT_TRUE(waitForRuns(runs, 1));
  thread.start(kLongPeriod, [&] { runs += 100; });  // already running: ignored
  thread.stop();                                    // returns once the work saw the flag
  EXPECT_TRUE(sawStopping.load());
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace
}  // namespace pgswarm::common
