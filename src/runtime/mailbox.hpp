// Work handed to an event loop from other threads.
//
// A worker's io_context takes no locks at all (ASIO_CONCURRENCY_HINT_UNSAFE:
// no scheduler mutex around each completion, about a tenth of a relayed
// statement's instructions), so nothing may be posted to it from another
// thread. Other threads queue their tasks here instead, under this
// mailbox's own lock, and an eventfd wakes the loop, which runs them in the
// order they came. Cross-thread work is rare (a pool slot changing hands,
// an admin snapshot, a stop), so its lock costs nothing on the relay path.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

namespace pgswarm::runtime {

class Mailbox {
 public:
  explicit Mailbox(asio::io_context& io);
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Any thread: `task` runs on the loop's thread, after the tasks posted
  // before it; it is dropped (destroyed unrun) once the mailbox is closed.
  void post(std::function<void()> task);
  // Before the loop runs, or on its thread: start running what is posted.
  void open();
  // The loop's thread: stop; what is queued or posted later is dropped.
  // The loop no longer waits on the mailbox, so it can run out of work.
  void close();

  // The mailbox of the loop that runs on this thread, if any.
  [[nodiscard]] static Mailbox* current();
  // Called on the loop's thread before it runs the loop.
  static void bindToThisThread(Mailbox* mailbox);

 private:
  asio::awaitable<void> drain();
  std::vector<std::function<void()>> take();

  std::mutex mutex_;
  std::vector<std::function<void()>> tasks_;  // under mutex_
  bool closed_ = false;                       // under mutex_
  int eventFd_ = -1;                          // written under mutex_
  asio::posix::stream_descriptor wake_;
};

// Runs `task` on the loop behind `executor`, from any thread: through that
// loop's `mailbox` when it has one and this is another thread, otherwise
// with asio::post (a loop with locks, or the calling thread's own loop).
void postTo(Mailbox* mailbox, const asio::any_io_executor& executor, std::function<void()> task);

}  // namespace pgswarm::runtime
