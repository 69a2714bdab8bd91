// The TLS handshake of a plain-or-TLS stream: see tls_stream.hpp.
#include "runtime/tls_stream.hpp"

#include <asio/experimental/awaitable_operators.hpp>

namespace pgswarm::runtime {

template <typename Socket>
asio::awaitable<std::error_code> TlsStream<Socket>::handshake(
    asio::ssl::stream_base::handshake_type side, std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket_.get_executor());
  timer.expires_after(timeout);
  std::error_code handshakeEc;
  std::error_code timerEc;
  auto winner = co_await (
      tls_->stream.async_handshake(side, asio::redirect_error(asio::use_awaitable, handshakeEc)) ||
      timer.async_wait(asio::redirect_error(asio::use_awaitable, timerEc)));
  if (winner.index() == 1) co_return make_error_code(asio::error::timed_out);
  if (handshakeEc) co_return handshakeEc;
  const SSL* ssl = tls_->stream.native_handle();
  tls_->description = std::string(SSL_get_version(ssl)) + "/" + SSL_get_cipher_name(ssl);
  co_return std::error_code{};
}

template class TlsStream<Socket>;
template class TlsStream<asio::generic::stream_protocol::socket>;

}  // namespace pgswarm::runtime
