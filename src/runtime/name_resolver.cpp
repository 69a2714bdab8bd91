// Host names resolved for a loop that takes no locks: see name_resolver.hpp.
#include "runtime/name_resolver.hpp"

#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "runtime/mailbox.hpp"

namespace pgswarm::runtime {
namespace {

// The shared loop: started on first use, stopped at exit.
class ResolverLoop {
 public:
  ResolverLoop() : thread_([this] { io_.run(); }) {}
  ~ResolverLoop() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  ResolverLoop(const ResolverLoop&) = delete;
  ResolverLoop& operator=(const ResolverLoop&) = delete;
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::thread thread_;
};

ResolverLoop& resolverLoop() {
  static ResolverLoop loop;
  return loop;
}

// What the resolver's thread hands back. Plain data, so that it may be
// dropped on any thread (a mailbox closed meanwhile drops its task there).
struct Answer {
  std::optional<Resolved> resolved;
  asio::steady_timer* wake = nullptr;  // the waiting coroutine's; cleared when it leaves
};

}  // namespace

asio::awaitable<Resolved> resolveHost(std::string host, std::string service,
                                      std::chrono::steady_clock::time_point deadline) {
  auto executor = co_await asio::this_coro::executor;
  Mailbox* mailbox = Mailbox::current();
  if (mailbox == nullptr) {  // a locking loop: asio's resolver as it is
    Resolved resolved;
    asio::ip::tcp::resolver resolver(executor);
    resolved.endpoints = co_await resolver.async_resolve(
        host, service, asio::redirect_error(asio::use_awaitable, resolved.ec));
    co_return resolved;
  }
  auto answer = std::make_shared<Answer>();
  asio::steady_timer wake(executor, deadline);
  answer->wake = &wake;
  // Runs when the coroutine leaves, and also when its frame is destroyed
  // unfinished (the worker stopping): the answer must not reach a timer
  // that is gone. Both on the worker's thread, where the answer lands too.
  struct Leave {
    Answer& answer;
    ~Leave() { answer.wake = nullptr; }
  } leave{*answer};
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(resolverLoop().io());
  resolver->async_resolve(
      host, service,
      [resolver, answer, mailbox](const std::error_code& ec,
                                  asio::ip::tcp::resolver::results_type endpoints) {
        mailbox->post([answer, resolved = Resolved{ec, std::move(endpoints)}] {
          answer->resolved = resolved;
          if (answer->wake != nullptr) answer->wake->cancel();
        });
      });
  std::error_code ignored;
  co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  if (!answer->resolved) co_return Resolved{.ec = asio::error::timed_out};
  co_return std::move(*answer->resolved);
}

}  // namespace pgswarm::runtime
