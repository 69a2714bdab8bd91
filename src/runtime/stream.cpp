// Awaitable socket I/O: see stream.hpp.
#include "runtime/stream.hpp"

#include <optional>
#include <vector>

#include <asio/experimental/awaitable_operators.hpp>

#include "runtime/client_stream.hpp"
#include "runtime/reactor_wait.hpp"
#include "runtime/server_stream.hpp"

namespace pgswarm::runtime {
namespace {

// A full read may have left bytes behind that no edge will announce.
template <typename Stream>
RecvResult recvAndRemember(Stream& stream, ByteBuffer& buffer, std::size_t chunk) {
  auto got = recvNow(stream.socket().native_handle(), buffer, chunk);
  stream.setMaybeUnread(got.full);
  return got;
}

// A plain connection: one recv() per wake-up, after a wait that costs no
// system call (reactor_wait.hpp); asio's read would add an EAGAIN recv or
// an epoll_ctl per message. An edge whose bytes an earlier recv() already
// took ends the wait with nothing to read: that returns no bytes and no
// error rather than waiting again here, so a socket.cancel() that came
// while the wake-up was queued still reaches the caller, who looks at its
// own state (why it cancelled) before reading again.
// `idle`: an empty buffer gives its memory up while waiting (ByteBuffer::release).
// Whether the read must wait first (no bytes left from a full read).
template <typename Stream>
bool prepareReadWait(Stream& stream, ByteBuffer& buffer, bool idle) {
  if (stream.maybeUnread()) return false;
  if (idle && buffer.empty()) buffer.release();
  return true;
}

template <typename Stream>
std::optional<ReadableWait> readWaitOn(Stream& stream, ByteBuffer& buffer, bool idle) {
  if (!prepareReadWait(stream, buffer, idle)) return std::nullopt;
  return awaitReadable(stream.socket());
}

template <typename Stream>
std::error_code readAfterWaitOn(Stream& stream, ByteBuffer& buffer, std::size_t chunk, bool idle) {
  auto got = recvAndRemember(stream, buffer, chunk);
  if (got.wouldBlock && idle && buffer.empty()) buffer.release();
  return got.ec;
}

template <typename Stream>
asio::awaitable<std::error_code> readPlainOn(Stream& stream, ByteBuffer& buffer, std::size_t chunk,
                                             bool idle = false) {
  if (auto wait = readWaitOn(stream, buffer, idle)) {
    auto [ec] = co_await std::move(*wait);
    if (ec) co_return ec;
  }
  co_return readAfterWaitOn(stream, buffer, chunk, idle);
}

// Bytes a full recvNow() left behind, taken before an asio read (which
// would wait for an edge that will not come); true when that ends the read.
template <typename Stream>
bool takeUnread(Stream& stream, ByteBuffer& buffer, std::size_t chunk, std::error_code& ec) {
  if constexpr (requires { stream.maybeUnread(); }) {
    if (stream.tls() || !stream.maybeUnread()) return false;
    auto got = recvAndRemember(stream, buffer, chunk);
    ec = got.ec;
    return !got.wouldBlock;
  } else {
    return false;  // a bare socket: asio reads only
  }
}

template <typename Stream>
asio::awaitable<std::error_code> readWithAsio(Stream& stream, ByteBuffer& buffer,
                                              std::size_t chunk) {
  auto room = buffer.prepare(chunk);
  std::error_code ec;
  std::size_t n = co_await stream.async_read_some(asio::buffer(room.data(), room.size()),
                                                  asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) buffer.commit(n);
  co_return ec;
}

// One body for both stream kinds; each public overload instantiates it.
template <typename Stream>
asio::awaitable<std::error_code> readSomeOn(Stream& stream, ByteBuffer& buffer, std::size_t chunk) {
  if (kEdgeWaits && !stream.tls()) return readPlainOn(stream, buffer, chunk);
  return readWithAsio(stream, buffer, chunk);
}

template <typename Stream>
asio::awaitable<std::error_code> readSomeWithinOn(Stream& stream, ByteBuffer& buffer,
                                                  std::chrono::milliseconds timeout,
                                                  std::size_t chunk) {
  // The parallel group cancels whichever operation loses, so no handler can
  // outlive this frame. Only used outside the per-message path (logins).
  using namespace asio::experimental::awaitable_operators;
  if (std::error_code ec; takeUnread(stream, buffer, chunk, ec)) co_return ec;
  asio::steady_timer timer(stream.get_executor());
  timer.expires_after(timeout);
  std::error_code timerEc;
  auto winner = co_await (readWithAsio(stream, buffer, chunk) ||
                          timer.async_wait(asio::redirect_error(asio::use_awaitable, timerEc)));
  if (winner.index() == 1) co_return make_error_code(asio::error::timed_out);
  co_return std::get<0>(winner);
}

// The descriptor to send on directly, or -1 (TLS encrypts first).
template <typename Stream>
int plainDescriptor(Stream& stream) {
  if constexpr (requires { stream.tls(); }) {
    return stream.tls() ? -1 : stream.socket().native_handle();
  } else {
    return stream.native_handle();
  }
}

// What `sent` bytes leave of `pieces`.
std::vector<asio::const_buffer> remainderOf(std::span<const asio::const_buffer> pieces,
                                            std::size_t sent) {
  std::vector<asio::const_buffer> rest;
  for (const auto& piece : pieces) {
    if (sent >= piece.size()) {
      sent -= piece.size();
      continue;
    }
    rest.push_back(piece + sent);
    sent = 0;
  }
  return rest;
}

std::span<const asio::const_buffer> asPieces(const asio::const_buffer& one) {
  return {&one, 1};
}
std::span<const asio::const_buffer> asPieces(std::span<const asio::const_buffer> many) {
  return many;
}

// A reply is almost always smaller than what the socket's send buffer has
// room for: one sendmsg() then ends the write here, with no trip through
// asio's handler queue (whose speculative write posts its completion, a
// pass of the event loop per message).
template <typename Stream>
WrittenNow writeNowOn(Stream& stream, std::span<const asio::const_buffer> pieces) {
  int fd = plainDescriptor(stream);
  if (fd < 0) return {};
  auto done = sendNow(fd, pieces);
  if (done.ec) return {.ec = done.ec, .done = true};
  return {.sent = done.sent, .done = done.sent == asio::buffer_size(pieces)};
}

// asio writes whatever writeNow left.
template <typename Stream>
asio::awaitable<std::error_code> writeRestOn(Stream& stream,
                                             std::span<const asio::const_buffer> pieces,
                                             std::size_t sent) {
  std::vector<asio::const_buffer> rest;
  if (sent > 0) {
    rest = remainderOf(pieces, sent);
    pieces = rest;
  }
  std::error_code ec;
  co_await asio::async_write(stream, pieces, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

// `buffers` (one const_buffer, or a span of them) is held in this frame.
template <typename Stream, typename Buffers>
asio::awaitable<std::error_code> writeAllOn(Stream& stream, Buffers buffers) {
  auto pieces = asPieces(buffers);
  auto now = writeNowOn(stream, pieces);
  if (now.done) co_return now.ec;
  co_return co_await writeRestOn(stream, pieces, now.sent);
}

}  // namespace

asio::awaitable<std::error_code> readSome(Socket& socket, ByteBuffer& buffer, std::size_t chunk) {
  return readWithAsio(socket, buffer, chunk);
}

asio::awaitable<std::error_code> readSome(ClientStream& stream, ByteBuffer& buffer,
                                          std::size_t chunk) {
  return readSomeOn(stream, buffer, chunk);
}

namespace {

asio::awaitable<std::error_code> readWhenReadyWithAsio(ClientStream& stream, ByteBuffer& buffer) {
  if (buffer.empty() && !stream.tls()) {
    buffer.release();
    std::error_code ec;
    co_await stream.socket().async_wait(Socket::wait_read,
                                        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
  }
  co_return co_await readSomeOn(stream, buffer, ByteBuffer::kChunk);
}

}  // namespace

// Not a coroutine itself: an idle client's wait holds one frame less.
asio::awaitable<std::error_code> readSomeWhenReady(ClientStream& stream, ByteBuffer& buffer) {
  // TLS may hold decrypted bytes the socket no longer shows as readable, so
  // only a plain connection waits on the socket itself.
  if (kEdgeWaits && !stream.tls()) {
    return readPlainOn(stream, buffer, ByteBuffer::kChunk, /*idle=*/true);
  }
  return readWhenReadyWithAsio(stream, buffer);
}

asio::awaitable<std::error_code> readSomeWithin(Socket& socket, ByteBuffer& buffer,
                                                std::chrono::milliseconds timeout,
                                                std::size_t chunk) {
  return readSomeWithinOn(socket, buffer, timeout, chunk);
}

bool inlineReads(const ClientStream& stream) {
  return kEdgeWaits && !stream.tls();
}
bool inlineReads(const ServerStream& stream) {
  return kEdgeWaits && !stream.tls();
}
std::optional<ReadableInto<Socket>> readWait(ClientStream& stream, ByteBuffer& buffer, bool idle,
                                             std::error_code& ec) {
  if (!prepareReadWait(stream, buffer, idle)) return std::nullopt;
  return ReadableInto<Socket>{&stream.socket(), &ec};
}
std::optional<ReadableInto<asio::generic::stream_protocol::socket>> readWait(ServerStream& stream,
                                                                             ByteBuffer& buffer,
                                                                             bool idle,
                                                                             std::error_code& ec) {
  if (!prepareReadWait(stream, buffer, idle)) return std::nullopt;
  return ReadableInto<asio::generic::stream_protocol::socket>{&stream.socket(), &ec};
}
std::error_code readAfterWait(ClientStream& stream, ByteBuffer& buffer, std::size_t chunk,
                              bool idle) {
  return readAfterWaitOn(stream, buffer, chunk, idle);
}
std::error_code readAfterWait(ServerStream& stream, ByteBuffer& buffer, std::size_t chunk,
                              bool idle) {
  return readAfterWaitOn(stream, buffer, chunk, idle);
}

asio::awaitable<std::error_code> readSomeWithin(ClientStream& stream, ByteBuffer& buffer,
                                                std::chrono::milliseconds timeout,
                                                std::size_t chunk) {
  return readSomeWithinOn(stream, buffer, timeout, chunk);
}

asio::awaitable<std::error_code> writeAll(Socket& socket, std::span<const std::byte> bytes) {
  return writeAllOn(socket, asio::buffer(bytes.data(), bytes.size()));
}

asio::awaitable<std::error_code> writeAll(Socket& socket, std::string_view bytes) {
  return writeAllOn(socket, asio::buffer(bytes.data(), bytes.size()));
}

asio::awaitable<std::error_code> readSome(ServerStream& stream, ByteBuffer& buffer,
                                          std::size_t chunk) {
  return readSomeOn(stream, buffer, chunk);
}

asio::awaitable<std::error_code> readSomeWithin(ServerStream& stream, ByteBuffer& buffer,
                                                std::chrono::milliseconds timeout,
                                                std::size_t chunk) {
  return readSomeWithinOn(stream, buffer, timeout, chunk);
}

asio::awaitable<std::error_code> writeAll(ServerStream& stream, std::span<const std::byte> bytes) {
  return writeAllOn(stream, asio::buffer(bytes.data(), bytes.size()));
}

asio::awaitable<std::error_code> writeAll(ServerStream& stream, std::string_view bytes) {
  return writeAllOn(stream, asio::buffer(bytes.data(), bytes.size()));
}

asio::awaitable<std::error_code> writeAll(ClientStream& stream, std::span<const std::byte> bytes) {
  return writeAllOn(stream, asio::buffer(bytes.data(), bytes.size()));
}

asio::awaitable<std::error_code> writeAll(ClientStream& stream, std::string_view bytes) {
  return writeAllOn(stream, asio::buffer(bytes.data(), bytes.size()));
}

asio::awaitable<std::error_code> writeAll(ClientStream& stream,
                                          std::span<const asio::const_buffer> pieces) {
  return writeAllOn(stream, pieces);
}

WrittenNow writeNow(ClientStream& stream, std::span<const asio::const_buffer> pieces) {
  return writeNowOn(stream, pieces);
}

WrittenNow writeNow(ServerStream& stream, std::span<const asio::const_buffer> pieces) {
  return writeNowOn(stream, pieces);
}

asio::awaitable<std::error_code> writeRest(ClientStream& stream,
                                           std::span<const asio::const_buffer> pieces,
                                           std::size_t sent) {
  return writeRestOn(stream, pieces, sent);
}

asio::awaitable<std::error_code> writeRest(ServerStream& stream,
                                           std::span<const asio::const_buffer> pieces,
                                           std::size_t sent) {
  return writeRestOn(stream, pieces, sent);
}

namespace {

template <typename AnySocket>
void setTcpOptions(AnySocket& socket) {
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket.set_option(asio::socket_base::keep_alive(true), ignored);
}

}  // namespace

void tuneSocket(Socket& socket) {
  setTcpOptions(socket);
}

void tuneSocket(ServerSocket& socket) {
  if (!overUnixSocket(socket)) setTcpOptions(socket);
}

bool overUnixSocket(const ServerSocket& socket) {
  std::error_code ec;
  auto endpoint = socket.local_endpoint(ec);
  return !ec && endpoint.protocol().family() == AF_UNIX;
}

}  // namespace pgswarm::runtime
