// A client connection that is plain TCP or, after an SSLRequest, TLS over
// that same socket. It is an asio AsyncReadStream/AsyncWriteStream, so the
// readSome/readSomeWithin/writeAll overloads (stream.hpp) and asio's
// composed writes work on either kind; a plain connection pays one branch
// per operation, no virtual call and no allocation.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <system_error>

#include <asio.hpp>
#include <asio/ssl.hpp>

namespace pgswarm::runtime {

class ClientStream {
 public:
  using executor_type = asio::ip::tcp::socket::executor_type;

  explicit ClientStream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  // Never moved: the TLS layer refers to socket_.
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }  // NOLINT: asio's name
  // The TCP socket underneath (options, endpoints, shutdown, close).
  asio::ip::tcp::socket& socket() { return socket_; }
  [[nodiscard]] const asio::ip::tcp::socket& socket() const { return socket_; }

  [[nodiscard]] bool tls() const { return tls_ != nullptr; }
  // "TLSv1.3/TLS_AES_256_GCM_SHA384" once the handshake is done, else empty.
  [[nodiscard]] const std::string& tlsDescription() const { return tlsDescription_; }

  // Wraps the socket in TLS with `context` and runs the server handshake;
  // asio::error::timed_out after `timeout`. Call once, with nothing unread
  // in the caller's buffers: bytes that came before the handshake are plain.
  [[nodiscard]] asio::awaitable<std::error_code> startTls(
      std::shared_ptr<asio::ssl::context> context, std::chrono::milliseconds timeout);

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {  // NOLINT: asio's name
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
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
            tls_->async_write_some(b, std::move(handler));
          } else {
            socket_.async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

 private:
  asio::ip::tcp::socket socket_;
  // Kept alive for the connection's life even if RELOAD replaces it.
  std::shared_ptr<asio::ssl::context> context_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  std::string tlsDescription_;
};

}  // namespace pgswarm::runtime
