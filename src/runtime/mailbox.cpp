// The cross-thread mailbox of an event loop: see mailbox.hpp.
#include "runtime/mailbox.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

namespace pgswarm::runtime {
namespace {

thread_local Mailbox* tCurrent = nullptr;

int makeEventFd() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  return fd;
}

}  // namespace

Mailbox::Mailbox(asio::io_context& io) : eventFd_(makeEventFd()), wake_(io, eventFd_) {}

Mailbox::~Mailbox() {
  close();
}

void Mailbox::post(std::function<void()> task) {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  bool wasEmpty = tasks_.empty();
  tasks_.push_back(std::move(task));
  if (!wasEmpty) return;  // a wake-up is on its way already
  std::uint64_t one = 1;
  // Cannot fail short of a counter at its maximum, which one wake-up per
  // drained queue never reaches.
  (void)!::write(eventFd_, &one, sizeof one);
}

void Mailbox::open() {
  asio::co_spawn(wake_.get_executor(), drain(), asio::detached);
}

void Mailbox::close() {
  std::vector<std::function<void()>> dropped;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    dropped.swap(tasks_);
    std::error_code ignored;
    wake_.close(ignored);  // ends drain()'s wait; the fd is gone with it
    eventFd_ = -1;
  }
  // `dropped` is destroyed here, outside the lock: a task's captures may
  // post again (and find the mailbox closed).
}

std::vector<std::function<void()>> Mailbox::take() {
  std::lock_guard lock(mutex_);
  std::uint64_t count = 0;
  (void)!::read(eventFd_, &count, sizeof count);  // reset the counter; EAGAIN is fine
  std::vector<std::function<void()>> tasks;
  tasks.swap(tasks_);
  return tasks;
}

asio::awaitable<void> Mailbox::drain() {
  for (;;) {
    std::error_code ec;
    co_await wake_.async_wait(asio::posix::stream_descriptor::wait_read,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // closed
    for (auto& task : take()) {
      task();
      if (!wake_.is_open()) co_return;  // a task closed the mailbox
    }
  }
}

Mailbox* Mailbox::current() {
  return tCurrent;
}

void Mailbox::bindToThisThread(Mailbox* mailbox) {
  tCurrent = mailbox;
}

void postTo(Mailbox* mailbox, const asio::any_io_executor& executor, std::function<void()> task) {
  if (mailbox != nullptr && mailbox != Mailbox::current()) {
    mailbox->post(std::move(task));
  } else {
    asio::post(executor, std::move(task));
  }
}

}  // namespace pgswarm::runtime
