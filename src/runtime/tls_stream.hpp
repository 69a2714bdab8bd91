// A connection that is plain or, after PostgreSQL's SSLRequest, TLS over
// that same socket: the common part of ClientStream (clients of the pool)
// and ServerStream (the pool's connections to PostgreSQL). It is an asio
// AsyncReadStream/AsyncWriteStream, so the readSome/readSomeWithin/writeAll
// overloads (stream.hpp) and asio's composed writes work on either kind; a
// plain connection pays one branch per operation, no virtual call and no
// allocation.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <system_error>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "runtime/reactor_wait.hpp"

namespace pgswarm::runtime {

template <typename Socket>
class TlsStream {
 public:
  using executor_type = typename Socket::executor_type;

  explicit TlsStream(Socket socket) : socket_(std::move(socket)) {}
  // Never moved: the TLS layer refers to socket_.
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }  // NOLINT: asio's name
  // The socket underneath (options, endpoints, cancel, shutdown, close).
  Socket& socket() { return socket_; }
  [[nodiscard]] const Socket& socket() const { return socket_; }

  [[nodiscard]] bool tls() const { return tls_ != nullptr; }
  // "TLSv1.3/TLS_AES_256_GCM_SHA384" once the handshake is done, else empty.
  [[nodiscard]] const std::string& tlsDescription() const {
    static const std::string kPlain;
    return tls_ ? tls_->description : kPlain;
  }

  // A plain connection read by recvNow (reactor_wait.hpp): its last read
  // filled the chunk, so bytes may wait that no new edge will announce.
  [[nodiscard]] bool maybeUnread() const { return maybeUnread_; }
  void setMaybeUnread(bool value) { maybeUnread_ = value; }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {  // NOLINT: asio's name
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->stream.async_read_some(b, std::move(handler));
          } else {
            socket_.async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {  // NOLINT: asio's name
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tls_) {
            tls_->stream.async_write_some(b, std::move(handler));
          } else {
            socket_.async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

 protected:
  using Tls = asio::ssl::stream<Socket&>;

  // Wraps the socket in TLS with `context`; the caller may then set up the
  // SSL object (tlsHandle) before handshake().
  void wrap(std::shared_ptr<asio::ssl::context> context) {
    tls_ = std::make_unique<TlsLayer>(socket_, std::move(context));
  }
  [[nodiscard]] SSL* tlsHandle() const { return tls_ ? tls_->stream.native_handle() : nullptr; }
  // asio::error::timed_out after `timeout`. Call once, after wrap(), with
  // nothing unread in the caller's buffers: bytes that came before are plain.
  [[nodiscard]] asio::awaitable<std::error_code> handshake(
      asio::ssl::stream_base::handshake_type side, std::chrono::milliseconds timeout);
  [[nodiscard]] Tls& tlsLayer() { return tls_->stream; }

 private:
  // Everything TLS needs, allocated only for a TLS connection (a plain
  // idle client holds one null pointer for it).
  struct TlsLayer {
    TlsLayer(Socket& socket, std::shared_ptr<asio::ssl::context> ctx)
        : context(std::move(ctx)), stream(socket, *context) {}
    // Kept alive for the connection's life even if RELOAD replaces it.
    std::shared_ptr<asio::ssl::context> context;
    Tls stream;
    std::string description;
  };

  Socket socket_;
  std::unique_ptr<TlsLayer> tls_;
  bool maybeUnread_ = false;
};

// The socket kinds used, instantiated in tls_stream.cpp.
extern template class TlsStream<Socket>;
extern template class TlsStream<asio::generic::stream_protocol::socket>;

}  // namespace pgswarm::runtime
