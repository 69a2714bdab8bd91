// Readiness from asio's epoll reactor without a system call per wait.
//
// asio 1.22 keeps every socket in its epoll set, edge-triggered, and marks a
// socket "maybe readable" whenever an edge arrives. But its own operations
// pay a system call per wait on the relay path: a read first tries recv()
// (EAGAIN when the reply cannot have come yet: asio clears the mark only at
// end of stream), and async_wait re-arms the socket with epoll_ctl. The
// operation here is the wait PgBouncer gets from level-triggered libevent:
// it completes at once when an edge came since the last wait ended, else
// it waits in asio's queue for the next edge, and it clears the mark when
// it completes. The caller then reads with recvNow() until a short read.
//
// It is built on asio's reactor internals (reactor_op, start_op), which
// change between asio releases: with any asio but the one this was written
// against (Debian 12's 1.22.1), or another reactor than epoll, kEdgeWaits is
// false and callers keep asio's own read path.
#pragma once

#include <cstddef>
#include <span>
#include <system_error>
#include <tuple>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "runtime/byte_buffer.hpp"

namespace pgswarm::runtime {

#if ASIO_VERSION == 102201 && defined(ASIO_HAS_EPOLL) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT)
inline constexpr bool kEdgeWaits = true;
#else
inline constexpr bool kEdgeWaits = false;
#endif

// Completes when the reactor has seen `socket` readable or hung up since the
// last wait on it ended (at once when it already has). Ends with
// operation_aborted on socket.cancel() or close(); does not take part in
// asio's per-operation cancellation (no parallel groups, no timeouts: use
// asio's reads there). One wait at a time per socket.
// The error code comes in a tuple (`auto [ec] = co_await ...`): that is
// asio's own awaitable, with no coroutine frame of ours around it.
using ReadableWait = asio::awaitable<std::tuple<std::error_code>>;
// A pool client's socket. Typed on the io_context's own executor (8 bytes)
// rather than any_io_executor (56): every idle client holds one.
using Socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;
[[nodiscard]] ReadableWait awaitReadable(Socket& socket);
[[nodiscard]] ReadableWait awaitReadable(asio::generic::stream_protocol::socket& socket);

// awaitReadable's wait without the coroutine frame asio's use_awaitable
// makes around every operation (a malloc and a free per wait, twice a
// transaction on the relay path). Inside an asio::awaitable coroutine on
// any_io_executor, `co_await ReadableInto<S>{&socket, &ec}` suspends until
// the wait ends and leaves its outcome in ec. asio takes a callable of this
// shape as an operation to start once the coroutine is suspended (the hook
// its own use_awaitable initiation goes through); the coroutine's thread of
// execution is then handed to the wait and resumed where it stopped, with
// no frame pushed or popped. Built on asio's awaitable internals, written
// against 1.22.1 like the edge wait.
template <typename SocketType>
struct ReadableInto {
  SocketType* socket;
  std::error_code* ec;
  asio::detail::awaitable_thread<asio::any_io_executor>* operator()(
      asio::detail::awaitable_frame_base<asio::any_io_executor>* frame) const;
};
extern template struct ReadableInto<Socket>;
extern template struct ReadableInto<asio::generic::stream_protocol::socket>;

// True when the reactor has seen nothing arrive on `socket` (no bytes, no
// hang-up) since the last awaitReadable ended: the socket is quiet as far
// as the last epoll poll knows, learnt without a system call. False means
// "maybe not": the caller looks at the socket itself (so does a socket
// with a read pending, or one that never waited here since it opened).
// Reads the reactor's mark only: the socket and its operations are left
// as they were.
[[nodiscard]] bool reactorSawNothing(Socket& socket);
[[nodiscard]] bool reactorSawNothing(asio::generic::stream_protocol::socket& socket);

// A std::error_code saying "no error". The default constructor calls
// std::system_category(), an out-of-line libstdc++ function: about 85 calls
// per TPC-B transaction on the relay path, which builds its codes from
// this one reference to the category instead.
inline const std::error_category& systemCategory = std::system_category();
[[nodiscard]] inline std::error_code noError() noexcept {
  return {0, systemCategory};
}

// One non-blocking recv() into `buffer` (at most `chunk` bytes).
struct RecvResult {
  std::error_code ec = noError();  // asio::error::eof at end of stream
  bool wouldBlock = false;         // nothing there: wait again
  bool full = false;               // the chunk was filled: more may be waiting
};
[[nodiscard]] RecvResult recvNow(int fd, ByteBuffer& buffer, std::size_t chunk);

// One non-blocking sendmsg() of as much of `pieces` as the socket takes now.
struct SendResult {
  std::error_code ec = noError();  // not set when the socket took nothing (EAGAIN)
  std::size_t sent = 0;
};
[[nodiscard]] SendResult sendNow(int fd, std::span<const asio::const_buffer> pieces);

}  // namespace pgswarm::runtime
