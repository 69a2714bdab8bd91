// Plain-or-TLS client connections: see client_stream.hpp.
#include "runtime/client_stream.hpp"

#include <asio/experimental/awaitable_operators.hpp>

namespace pgswarm::runtime {

asio::awaitable<std::error_code> ClientStream::startTls(std::shared_ptr<asio::ssl::context> context,
                                                        std::chrono::milliseconds timeout) {
  context_ = std::move(context);
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *context_);
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket_.get_executor());
  timer.expires_after(timeout);
  std::error_code handshakeEc;
  std::error_code timerEc;
  auto winner =
      co_await (tls_->async_handshake(asio::ssl::stream_base::server,
                                      asio::redirect_error(asio::use_awaitable, handshakeEc)) ||
                timer.async_wait(asio::redirect_error(asio::use_awaitable, timerEc)));
  if (winner.index() == 1) co_return make_error_code(asio::error::timed_out);
  if (handshakeEc) co_return handshakeEc;
  const SSL* ssl = tls_->native_handle();
  tlsDescription_ = std::string(SSL_get_version(ssl)) + "/" + SSL_get_cipher_name(ssl);
  co_return std::error_code{};
}

}  // namespace pgswarm::runtime
