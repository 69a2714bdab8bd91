// A client connection of the pool: plain TCP or, after an SSLRequest, TLS
// over that same socket, the pool being the TLS server (tls_stream.hpp).
#pragma once

#include "runtime/tls_stream.hpp"

namespace pgswarm::runtime {

class ClientStream : public TlsStream<Socket> {
 public:
  using TlsStream::TlsStream;

  // Wraps the socket in TLS with `context` and runs the server handshake;
  // asio::error::timed_out after `timeout`. Call once, with nothing unread
  // in the caller's buffers: bytes that came before the handshake are plain.
  [[nodiscard]] asio::awaitable<std::error_code> startTls(
      std::shared_ptr<asio::ssl::context> context, std::chrono::milliseconds timeout);

  // The client presented a certificate the handshake verified against
  // tls_ca_file (hba clientcert=verify-ca).
  [[nodiscard]] bool hasVerifiedCertificate() const;
  // The CN of the certificate the client presented, once the handshake
  // verified it against tls_ca_file; empty without one (or without TLS).
  [[nodiscard]] std::string certificateCommonName() const;
};

}  // namespace pgswarm::runtime
