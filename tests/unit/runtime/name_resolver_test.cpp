// Names resolve for a lock-free loop (a pool worker's, where asio's own
// asynchronous resolver fails with operation_not_supported) and for an
// ordinary one alike.
#include "runtime/name_resolver.hpp"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include "runtime/mailbox.hpp"

namespace pgswarm::runtime {
namespace {

using namespace std::chrono_literals;

// Resolves "localhost" on `io` (its thread bound to `mailbox`, if any) and
// returns what came back.
Resolved resolveLocalhost(asio::io_context& io, Mailbox* mailbox) {
  Resolved result;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await resolveHost("localhost", "5432", std::chrono::steady_clock::now() + 10s);
        done = true;
        if (mailbox != nullptr) mailbox->close();
      },
      asio::detached);
  std::thread loop([&] {
    Mailbox::bindToThisThread(mailbox);
    io.run();
  });
  loop.join();
  EXPECT_TRUE(done);
  return result;
}

TEST(NameResolver, ALockFreeLoopResolvesThroughItsMailbox) {
  asio::io_context io{ASIO_CONCURRENCY_HINT_UNSAFE};
  Mailbox mailbox(io);
  mailbox.open();
  auto resolved = resolveLocalhost(io, &mailbox);
  ASSERT_FALSE(resolved.ec) << resolved.ec.message();
  ASSERT_FALSE(resolved.endpoints.empty());
  EXPECT_TRUE(resolved.endpoints.begin()->endpoint().address().is_loopback());
  EXPECT_EQ(resolved.endpoints.begin()->endpoint().port(), 5432);
}

TEST(NameResolver, AnOrdinaryLoopUsesAsiosResolver) {
  asio::io_context io;
  auto resolved = resolveLocalhost(io, nullptr);
  ASSERT_FALSE(resolved.ec) << resolved.ec.message();
  ASSERT_FALSE(resolved.endpoints.empty());
  EXPECT_TRUE(resolved.endpoints.begin()->endpoint().address().is_loopback());
}

}  // namespace
}  // namespace pgswarm::runtime
