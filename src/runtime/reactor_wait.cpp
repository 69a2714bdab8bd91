// Edge waits on asio's epoll reactor: see reactor_wait.hpp.
#include "runtime/reactor_wait.hpp"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include <asio/recycling_allocator.hpp>

namespace pgswarm::runtime {
namespace {

// glibc's recv and sendmsg are cancellation points: each call switches
// asynchronous thread cancellation on and off around the system call, about
// sixty instructions a call (four calls a select, thirty a TPC-B
// transaction). No thread of the pool is ever cancelled, so the plain
// system call does the same work.
ssize_t plainRecv(int fd, void* data, std::size_t size, int flags) {
  return ::syscall(SYS_recvfrom, fd, data, size, flags, nullptr, nullptr);
}
ssize_t plainSendmsg(int fd, const msghdr* message, int flags) {
  return ::syscall(SYS_sendmsg, fd, message, flags);
}
ssize_t plainSend(int fd, const void* data, std::size_t size, int flags) {
  return ::syscall(SYS_sendto, fd, data, size, flags, nullptr, 0);
}

// A send() system call's outcome; EINTR is tried again.
template <typename Send>
SendResult sendRetrying(Send send) {
  for (;;) {
    auto n = send();
    if (n >= 0) return {.sent = static_cast<std::size_t>(n)};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
    return {.ec = std::error_code(errno, asio::error::get_system_category())};
  }
}

}  // namespace

RecvResult recvNow(int fd, ByteBuffer& buffer, std::size_t chunk) {
  auto room = buffer.prepare(chunk);
  for (;;) {
    auto n = plainRecv(fd, room.data(), room.size(), MSG_DONTWAIT);
    if (n > 0) {
      buffer.commit(static_cast<std::size_t>(n));
      return {.full = static_cast<std::size_t>(n) == room.size()};
    }
    if (n == 0) return {.ec = asio::error::eof};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {.wouldBlock = true};
    return {.ec = std::error_code(errno, asio::error::get_system_category())};
  }
}

SendResult sendNow(int fd, std::span<const asio::const_buffer> pieces) {
  constexpr int kFlags = MSG_DONTWAIT | MSG_NOSIGNAL;
  // One contiguous piece (most writes: a reply's run of bytes, a
  // statement) needs no message header: sendto() takes the buffer itself,
  // and the kernel copies no iovec array in.
  if (pieces.size() == 1) {
    return sendRetrying([&] { return plainSend(fd, pieces[0].data(), pieces[0].size(), kFlags); });
  }
  constexpr std::size_t kMaxPieces = 64;  // the rest goes in a later call
  // Not zeroed: only the first `count` are read (zeroing all 64 was a
  // kilobyte of stores per send).
  std::array<iovec, kMaxPieces> vectors;  // NOLINT(cppcoreguidelines-pro-type-member-init)
  std::size_t count = std::min(pieces.size(), kMaxPieces);
  for (std::size_t i = 0; i < count; ++i) {
    vectors[i] = {const_cast<void*>(pieces[i].data()), pieces[i].size()};
  }
  msghdr message{};
  message.msg_iov = vectors.data();
  message.msg_iovlen = count;
  return sendRetrying([&] { return plainSendmsg(fd, &message, kFlags); });
}

namespace {

using AwaitableThread = asio::detail::awaitable_thread<asio::any_io_executor>;
using AwaitableFrame = asio::detail::awaitable_frame_base<asio::any_io_executor>;

// Holds a suspended coroutine's thread of execution while its wait is
// pending and resumes the coroutine where it stopped. asio's own handler
// (awaitable_handler) also pops the frame its initiation pushed, which
// ReadableInto never makes.
class ResumeWaiter final : public AwaitableThread {
 public:
  ResumeWaiter(AwaitableFrame* frame, std::error_code* ec)
      : AwaitableThread(std::move(*frame->detach_thread())), frame_(frame), ec_(ec) {}

  void operator()(std::error_code ec) {
    *ec_ = ec;
    frame_->attach_thread(this);
    frame_->clear_cancellation_slot();
    pump();
  }

 private:
  AwaitableFrame* frame_;  // the waiting coroutine's, which stays where it is
  std::error_code* ec_;    // in that coroutine's frame
};

}  // namespace

#if ASIO_VERSION == 102201 && defined(ASIO_HAS_EPOLL) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT)
namespace {

// The socket's reactor registration, which asio keeps in a protected
// member: a pointer to it formed through a derived class is a pointer to
// the base's member, usable on any socket.
template <typename Protocol, typename Executor>
struct SocketInternals : asio::basic_socket<Protocol, Executor> {
  static auto& of(asio::basic_socket<Protocol, Executor>& socket) {
    return (socket.*&SocketInternals::impl_).get_implementation();
  }
};

// A read-side reactor operation that does no I/O: "performed" means an edge
// came (or had come), and done_and_exhausted makes the reactor forget it,
// so the next wait waits for a new one. It comes from asio's per-thread
// recycling cache: it is freed before its handler runs, so the next wait
// takes the same block back.
template <typename Handler>
class EdgeWait final : public asio::detail::reactor_op {
 public:
  static EdgeWait* make(Handler handler) {
    void* block = asio::recycling_allocator<EdgeWait>().allocate(1);
    return ::new (block) EdgeWait(std::move(handler));
  }

 private:
  explicit EdgeWait(Handler handler)
      : reactor_op(noError(), &EdgeWait::perform, &EdgeWait::complete),
        handler_(std::move(handler)) {}
  static void destroy(EdgeWait* op) {
    op->~EdgeWait();
    asio::recycling_allocator<EdgeWait>().deallocate(op, 1);
  }

  static status perform(reactor_op* /*base*/) { return done_and_exhausted; }

  // owner is null when the io_context is destroyed with the wait pending:
  // the handler is destroyed, never called.
  static void complete(void* owner, asio::detail::operation* base, const asio::error_code& /*ec*/,
                       std::size_t /*bytes*/) {
    auto* op = static_cast<EdgeWait*>(base);
    Handler handler(std::move(op->handler_));
    std::error_code ec = op->ec_;
    destroy(op);  // first: the handler may start the next wait
    if (owner != nullptr) std::move(handler)(ec);
  }

  Handler handler_;
};

// The reactor's per-socket state keeps what the idle check needs in
// private members. An explicit instantiation may name private members
// ([temp.spec.general]): Expose hands out pointers to them, so the check
// reads the edge mark instead of queueing and cancelling an operation
// (about 720 instructions per acquire, and a pass of the event loop).
using DescriptorState = asio::detail::epoll_reactor::descriptor_state;
constexpr int kReadOp = asio::detail::epoll_reactor::read_op;
constexpr int kMaxOps = asio::detail::epoll_reactor::max_ops;

template <typename Tag, typename Tag::Type Member>
struct Expose {
  friend typename Tag::Type memberOf(Tag /*tag*/) { return Member; }
};
struct EdgeMarks {
  using Type = bool (DescriptorState::*)[kMaxOps];
  friend Type memberOf(EdgeMarks);
};
struct OpQueues {
  using Type = asio::detail::op_queue<asio::detail::reactor_op> (DescriptorState::*)[kMaxOps];
  friend Type memberOf(OpQueues);
};
struct DescriptorMutex {
  using Type = asio::detail::conditionally_enabled_mutex DescriptorState::*;
  friend Type memberOf(DescriptorMutex);
};
template struct Expose<EdgeMarks, &DescriptorState::try_speculative_>;
template struct Expose<OpQueues, &DescriptorState::op_queue_>;
template struct Expose<DescriptorMutex, &DescriptorState::mutex_>;
struct DescriptorReactor {
  using Type = asio::detail::epoll_reactor* DescriptorState::*;
  friend Type memberOf(DescriptorReactor);
};
template struct Expose<DescriptorReactor, &DescriptorState::reactor_>;

// The registration names its reactor; use_service would look it up by type
// name under the service registry's lock (about 400 instructions a wait).
// A closed socket has no registration: start_op then fails the wait.
template <typename Socket>
void startEdgeWait(Socket& socket, asio::detail::reactor_op* op) {
  auto& impl =
      SocketInternals<typename Socket::protocol_type, typename Socket::executor_type>::of(socket);
  DescriptorState* state = impl.reactor_data_;
  auto& reactor = state != nullptr ? *(state->*memberOf(DescriptorReactor{}))
                                   : asio::use_service<asio::detail::epoll_reactor>(asio::query(
                                         socket.get_executor(), asio::execution::context));
  reactor.start_op(asio::detail::epoll_reactor::read_op, impl.socket_, impl.reactor_data_, op,
                   /*is_continuation=*/false, /*allow_speculative=*/true);
}

template <typename Socket>
ReadableWait awaitReadableOn(Socket& socket) {
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  return asio::async_initiate<decltype(token), void(std::error_code)>(
      [&socket](auto handler) {
        startEdgeWait(socket, EdgeWait<decltype(handler)>::make(std::move(handler)));
      },
      token);
}

template <typename Socket>
void startResumingWait(Socket& socket, AwaitableFrame* frame, std::error_code* ec) {
  startEdgeWait(socket, EdgeWait<ResumeWaiter>::make(ResumeWaiter(frame, ec)));
}

template <typename Socket>
bool sawNothingOn(Socket& socket) {
  if (!socket.is_open()) return false;
  auto& impl =
      SocketInternals<typename Socket::protocol_type, typename Socket::executor_type>::of(socket);
  DescriptorState* state = impl.reactor_data_;
  if (state == nullptr) return false;
  asio::detail::conditionally_enabled_mutex::scoped_lock lock(state->*memberOf(DescriptorMutex{}));
  // An edge (bytes, hang-up, error) since the last wait ended sets the mark;
  // a pending read would be someone else's: "maybe not" either way.
  bool edge = (state->*memberOf(EdgeMarks{}))[kReadOp];
  bool pending = !(state->*memberOf(OpQueues{}))[kReadOp].empty();
  return !edge && !pending;
}

}  // namespace

#else  // asio's own wait (a re-arm per wait) where its internals differ
namespace {

template <typename Socket>
ReadableWait awaitReadableOn(Socket& socket) {
  return socket.async_wait(Socket::wait_read, asio::experimental::as_tuple(asio::use_awaitable));
}

template <typename Socket>
void startResumingWait(Socket& socket, AwaitableFrame* frame, std::error_code* ec) {
  socket.async_wait(Socket::wait_read, ResumeWaiter(frame, ec));
}

template <typename Socket>
bool sawNothingOn(Socket& /*socket*/) {
  return false;
}

}  // namespace
#endif

template <typename SocketType>
AwaitableThread* ReadableInto<SocketType>::operator()(AwaitableFrame* frame) const {
  startResumingWait(*socket, frame, ec);
  return nullptr;  // the thread now belongs to the wait
}
template struct ReadableInto<Socket>;
template struct ReadableInto<asio::generic::stream_protocol::socket>;

ReadableWait awaitReadable(Socket& socket) {
  return awaitReadableOn(socket);
}
ReadableWait awaitReadable(asio::generic::stream_protocol::socket& socket) {
  return awaitReadableOn(socket);
}
bool reactorSawNothing(Socket& socket) {
  return sawNothingOn(socket);
}
bool reactorSawNothing(asio::generic::stream_protocol::socket& socket) {
  return sawNothingOn(socket);
}

}  // namespace pgswarm::runtime
