// Awaitable socket I/O without exceptions: read some bytes into a ByteBuffer,
// write a whole buffer, with an optional deadline. The data plane uses these
// so that a closed or failing peer is an error code, never a throw.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

#include <asio.hpp>

#include "runtime/byte_buffer.hpp"
#include "runtime/reactor_wait.hpp"

namespace pgswarm::runtime {

// A connection to a PostgreSQL server: TCP, or the server's unix socket
// when it runs on the same host (cheaper per message than TCP loopback).
using ServerSocket = asio::generic::stream_protocol::socket;
class ClientStream;  // client_stream.hpp: the same calls on a plain-or-TLS client connection
// server_stream.hpp: a plain-or-TLS server connection. Its bytes go through
// it, never through the ServerSocket underneath (no overloads for that).
class ServerStream;

// Reads what is available (at least one byte) into `buffer`; ec on EOF/error.
[[nodiscard]] asio::awaitable<std::error_code> readSome(Socket& socket, ByteBuffer& buffer,
                                                        std::size_t chunk = 16384);
// As readSome, but gives up with asio::error::timed_out after `timeout`.
[[nodiscard]] asio::awaitable<std::error_code> readSomeWithin(Socket& socket, ByteBuffer& buffer,
                                                              std::chrono::milliseconds timeout,
                                                              std::size_t chunk = 16384);
[[nodiscard]] asio::awaitable<std::error_code> writeAll(Socket& socket,
                                                        std::span<const std::byte> bytes);
[[nodiscard]] asio::awaitable<std::error_code> writeAll(Socket& socket, std::string_view bytes);

// On a plain ServerStream or ClientStream, readSome and readSomeWhenReady
// may also return no bytes and no error (a spent wake-up, stream.cpp):
// callers loop, checking their own state between reads.
[[nodiscard]] asio::awaitable<std::error_code> readSome(ServerStream& stream, ByteBuffer& buffer,
                                                        std::size_t chunk = 16384);
[[nodiscard]] asio::awaitable<std::error_code> readSomeWithin(ServerStream& stream,
                                                              ByteBuffer& buffer,
                                                              std::chrono::milliseconds timeout,
                                                              std::size_t chunk = 16384);
[[nodiscard]] asio::awaitable<std::error_code> writeAll(ServerStream& stream,
                                                        std::span<const std::byte> bytes);
[[nodiscard]] asio::awaitable<std::error_code> writeAll(ServerStream& stream,
                                                        std::string_view bytes);

[[nodiscard]] asio::awaitable<std::error_code> readSome(ClientStream& stream, ByteBuffer& buffer,
                                                        std::size_t chunk = 16384);
// As readSome, but while `buffer` is empty a plain connection waits for the
// socket to become readable holding no buffer memory (ByteBuffer::release):
// for connections that are idle most of the time, such as pooled clients.
[[nodiscard]] asio::awaitable<std::error_code> readSomeWhenReady(ClientStream& stream,
                                                                 ByteBuffer& buffer);
[[nodiscard]] asio::awaitable<std::error_code> readSomeWithin(ClientStream& stream,
                                                              ByteBuffer& buffer,
                                                              std::chrono::milliseconds timeout,
                                                              std::size_t chunk = 16384);
[[nodiscard]] asio::awaitable<std::error_code> writeAll(ClientStream& stream,
                                                        std::span<const std::byte> bytes);
[[nodiscard]] asio::awaitable<std::error_code> writeAll(ClientStream& stream,
                                                        std::string_view bytes);
// Gathered: `pieces` in order, as one write.
[[nodiscard]] asio::awaitable<std::error_code> writeAll(ClientStream& stream,
                                                        std::span<const asio::const_buffer> pieces);

// Reads with no coroutine frame of their own, for the relay's loops. On a
// plain connection (inlineReads() true): co_await the wait readWait()
// returns, if any (none when bytes may be left from a full read), then
// readAfterWait() takes what is there, exactly as readSome() would
// (`idle` as readSomeWhenReady). Otherwise co_await readSome().
[[nodiscard]] bool inlineReads(const ClientStream& stream);
[[nodiscard]] bool inlineReads(const ServerStream& stream);
// The wait sets `ec` when the coroutine resumes.
[[nodiscard]] std::optional<ReadableInto<Socket>> readWait(ClientStream& stream, ByteBuffer& buffer,
                                                           bool idle, std::error_code& ec);
[[nodiscard]] std::optional<ReadableInto<asio::generic::stream_protocol::socket>> readWait(
    ServerStream& stream, ByteBuffer& buffer, bool idle, std::error_code& ec);
[[nodiscard]] std::error_code readAfterWait(ClientStream& stream, ByteBuffer& buffer,
                                            std::size_t chunk, bool idle);
[[nodiscard]] std::error_code readAfterWait(ServerStream& stream, ByteBuffer& buffer,
                                            std::size_t chunk, bool idle);

// A write in two steps, so that the usual one costs no coroutine frame:
// writeNow() gives a plain connection what its socket takes at once (one
// sendmsg); when that is not all of it (a full send buffer, or TLS, which
// sends nothing here), co_await writeRest() for the rest. `pieces` must
// stay valid until then. writeAll() is the two steps in one call.
struct WrittenNow {
  std::error_code ec = noError();
  std::size_t sent = 0;  // bytes the socket took
  bool done = false;     // all of it was written, or ec says why not
};
[[nodiscard]] WrittenNow writeNow(ClientStream& stream, std::span<const asio::const_buffer> pieces);
[[nodiscard]] WrittenNow writeNow(ServerStream& stream, std::span<const asio::const_buffer> pieces);
[[nodiscard]] asio::awaitable<std::error_code> writeRest(ClientStream& stream,
                                                         std::span<const asio::const_buffer> pieces,
                                                         std::size_t sent);
[[nodiscard]] asio::awaitable<std::error_code> writeRest(ServerStream& stream,
                                                         std::span<const asio::const_buffer> pieces,
                                                         std::size_t sent);

// TCP_NODELAY and keepalive, as every PostgreSQL connection wants them
// (a unix socket has neither: nothing to set).
void tuneSocket(Socket& socket);
void tuneSocket(ServerSocket& socket);

// Whether a connected server socket is a unix socket (libpq's rules differ
// there: no TCP options, never TLS).
[[nodiscard]] bool overUnixSocket(const ServerSocket& socket);

}  // namespace pgswarm::runtime
