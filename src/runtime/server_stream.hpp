// A connection of the pool to a PostgreSQL server (TCP, or the server's
// unix socket): plain, or TLS after the server answered the pool's
// SSLRequest with 'S', the pool being the TLS client (tls_stream.hpp).
#pragma once

#include <string>

#include "runtime/byte_buffer.hpp"
#include "runtime/stream.hpp"
#include "runtime/tls_stream.hpp"

namespace pgswarm::runtime {

class ServerStream : public TlsStream<ServerSocket> {
 public:
  using TlsStream::TlsStream;

  // Wraps the socket in TLS with `context` (made by makeTlsClientContext)
  // and runs the client handshake; asio::error::timed_out after `timeout`.
  // `host` goes out as SNI when it is a name, and with `verifyHost` the
  // certificate must be for it (a DNS name in its SAN, or its CN when it
  // has none; an IP address in its SAN), as libpq's verify-full checks.
  [[nodiscard]] asio::awaitable<std::error_code> startTls(
      std::shared_ptr<asio::ssl::context> context, const std::string& host, bool verifyHost,
      std::chrono::milliseconds timeout);

  // After a failed startTls: why the server's certificate was refused
  // ("unable to get local issuer certificate", "hostname mismatch"), or
  // empty when the certificate was not the problem.
  [[nodiscard]] std::string verifyFailure() const;

  // For an idle connection, where the server has nothing to say: true when
  // it said nothing and did not hang up. Never waits. A plain connection
  // peeks at the socket; a TLS one reads what is there (in OpenSSL, in
  // asio's TLS buffers or on the socket) into `buffer`, as a record the
  // server sent could hide there behind a quiet socket.
  [[nodiscard]] bool quiet(ByteBuffer& buffer);
};

}  // namespace pgswarm::runtime
