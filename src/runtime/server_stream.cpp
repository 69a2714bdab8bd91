// Plain-or-TLS server connections: see server_stream.hpp.
#include "runtime/server_stream.hpp"

#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>

#include "runtime/reactor_wait.hpp"

namespace pgswarm::runtime {

asio::awaitable<std::error_code> ServerStream::startTls(std::shared_ptr<asio::ssl::context> context,
                                                        const std::string& host, bool verifyHost,
                                                        std::chrono::milliseconds timeout) {
  wrap(std::move(context));
  SSL* ssl = tlsHandle();
  std::error_code notAnAddress;
  (void)asio::ip::make_address(host, notAnAddress);
  // SNI carries names only (RFC 6066), as libpq sends it.
  if (notAnAddress) SSL_set_tlsext_host_name(ssl, host.c_str());
  if (verifyHost) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (notAnAddress) {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    }
  }
  auto ec = co_await handshake(asio::ssl::stream_base::client, timeout);
  if (ec) co_return ec;
  // Only the sync read of readAnythingPending sees this flag (asio's async
  // operations never block either way); set once here, not per check.
  socket().non_blocking(true, ec);
  co_return ec;
}

std::string ServerStream::verifyFailure() const {
  const SSL* ssl = tlsHandle();
  // Without SSL_VERIFY_PEER (require) the result is computed but never
  // refuses anything: not a reason.
  if (ssl == nullptr || SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE) return {};
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

bool ServerStream::quiet(ByteBuffer& buffer) {
  if (!tls()) {
    if (!maybeUnread() && reactorSawNothing(socket())) return true;
    char byte = 0;
    auto n = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0) return false;  // bytes while idle, or end of stream
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
  std::array<std::byte, 256> bytes{};
  std::error_code ec;
  std::size_t n = tlsLayer().read_some(asio::buffer(bytes), ec);
  if (n > 0) buffer.append(std::span<const std::byte>(bytes.data(), n));
  return n == 0 && ec == asio::error::would_block;
}

}  // namespace pgswarm::runtime
