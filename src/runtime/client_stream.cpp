// Plain-or-TLS client connections: see client_stream.hpp.
#include "runtime/client_stream.hpp"

#include <openssl/x509.h>

#include <cstring>

namespace pgswarm::runtime {

asio::awaitable<std::error_code> ClientStream::startTls(std::shared_ptr<asio::ssl::context> context,
                                                        std::chrono::milliseconds timeout) {
  wrap(std::move(context));
  co_return co_await handshake(asio::ssl::stream_base::server, timeout);
}

namespace {

// The client's certificate when the handshake verified it, else null.
X509* verifiedPeer(SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return nullptr;
  return SSL_get0_peer_certificate(ssl);
}

}  // namespace

bool ClientStream::hasVerifiedCertificate() const {
  return verifiedPeer(tlsHandle()) != nullptr;
}

std::string ClientStream::certificateCommonName() const {
  X509* peer = verifiedPeer(tlsHandle());
  if (peer == nullptr) return {};
  char name[256] = {};
  int length =
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, sizeof(name));
  // A name that does not fit, or holds a NUL, is no name (PostgreSQL's rule).
  if (length <= 0 || static_cast<std::size_t>(length) >= sizeof(name) ||
      std::strlen(name) != static_cast<std::size_t>(length)) {
    return {};
  }
  return {name, static_cast<std::size_t>(length)};
}

}  // namespace pgswarm::runtime
