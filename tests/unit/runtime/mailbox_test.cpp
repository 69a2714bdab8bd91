// The mailbox of a lock-free loop (ASIO_CONCURRENCY_HINT_UNSAFE, as the
// pool's workers run): tasks posted from other threads run on the loop's
// thread, each poster's in order, none lost or run twice; a closed mailbox
// drops what it holds and lets the loop run out of work.
#include "runtime/mailbox.hpp"

#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace pgswarm::runtime {
namespace {

TEST(Mailbox, TasksFromManyThreadsRunOnTheLoopInTheirPostersOrder) {
  asio::io_context io{ASIO_CONCURRENCY_HINT_UNSAFE};
  Mailbox mailbox(io);
  mailbox.open();
  constexpr int kPosters = 4;
  constexpr int kTasks = 5000;
  std::vector<int> next(kPosters, 0);  // touched on the loop's thread only
  int ran = 0;
  int outOfOrder = 0;
  int offThread = 0;
  std::thread::id loopThread;
  std::vector<std::thread> posters;
  for (int p = 0; p < kPosters; ++p) {
    posters.emplace_back([&, p] {
      for (int i = 0; i < kTasks; ++i) {
        mailbox.post([&, p, i] {
          if (std::this_thread::get_id() != loopThread) ++offThread;
          if (next[static_cast<std::size_t>(p)] != i) ++outOfOrder;
          next[static_cast<std::size_t>(p)] = i + 1;
          if (++ran == kPosters * kTasks) mailbox.close();
        });
      }
    });
  }
  std::thread loop([&] {
    loopThread = std::this_thread::get_id();
    Mailbox::bindToThisThread(&mailbox);
    io.run();  // returns once close() ended the mailbox's wait
  });
  for (auto& poster : posters) poster.join();
  loop.join();
  EXPECT_EQ(ran, kPosters * kTasks);
  EXPECT_EQ(outOfOrder, 0);
  EXPECT_EQ(offThread, 0);
}

TEST(Mailbox, AClosedMailboxDropsItsTasksAndLetsTheLoopEnd) {
  asio::io_context io{ASIO_CONCURRENCY_HINT_UNSAFE};
  Mailbox mailbox(io);
  auto token = std::make_shared<int>(0);
  mailbox.post([token] { ++*token; });  // queued before open: runs once open
  mailbox.open();
  while (*token == 0 && io.run_one() > 0) {
  }  // the drain starts, wakes and runs it
  EXPECT_EQ(*token, 1);
  mailbox.post([token] { ++*token; });
  mailbox.close();
  mailbox.post([token] { ++*token; });  // after close: dropped
  io.run();                             // nothing waits any more: returns
  EXPECT_EQ(*token, 1);
  EXPECT_EQ(token.use_count(), 1);  // the dropped tasks were destroyed
}

TEST(Mailbox, PostToRunsOnTheCallersOwnLoopWithoutTheMailbox) {
  asio::io_context io{ASIO_CONCURRENCY_HINT_UNSAFE};
  Mailbox mailbox(io);
  mailbox.open();
  Mailbox::bindToThisThread(&mailbox);
  bool ran = false;
  postTo(&mailbox, io.get_executor(), [&] {
    ran = true;
    mailbox.close();
  });
  io.run();
  Mailbox::bindToThisThread(nullptr);
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace pgswarm::runtime
