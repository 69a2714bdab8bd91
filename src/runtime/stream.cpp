// Awaitable socket I/O: see stream.hpp.
#include "runtime/stream.hpp"

#include <asio/experimental/awaitable_operators.hpp>

namespace pgswarm::runtime {

asio::awaitable<std::error_code> readSome(Socket& socket, ByteBuffer& buffer, std::size_t chunk) {
  auto room = buffer.prepare(chunk);
  std::error_code ec;
  std::size_t n = co_await socket.async_read_some(asio::buffer(room.data(), room.size()),
                                                  asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) buffer.commit(n);
  co_return ec;
}

asio::awaitable<std::error_code> readSomeWhenReady(Socket& socket, ByteBuffer& buffer) {
  if (buffer.empty()) {
    buffer.release();
    std::error_code ec;
    co_await socket.async_wait(Socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
  }
  co_return co_await readSome(socket, buffer, ByteBuffer::kChunk);
}

asio::awaitable<std::error_code> readSomeWithin(Socket& socket, ByteBuffer& buffer,
                                                std::chrono::milliseconds timeout,
                                                std::size_t chunk) {
  // The parallel group cancels whichever operation loses, so no handler can
  // outlive this frame. Only used outside the per-message path (logins).
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(timeout);
  std::error_code timerEc;
  auto winner = co_await (readSome(socket, buffer, chunk) ||
                          timer.async_wait(asio::redirect_error(asio::use_awaitable, timerEc)));
  if (winner.index() == 1) co_return make_error_code(asio::error::timed_out);
  co_return std::get<0>(winner);
}

asio::awaitable<std::error_code> writeAll(Socket& socket, std::span<const std::byte> bytes) {
  std::error_code ec;
  co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()),
                             asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

asio::awaitable<std::error_code> writeAll(Socket& socket, std::string_view bytes) {
  std::error_code ec;
  co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()),
                             asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

void tuneSocket(Socket& socket) {
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket.set_option(asio::socket_base::keep_alive(true), ignored);
}

}  // namespace pgswarm::runtime
