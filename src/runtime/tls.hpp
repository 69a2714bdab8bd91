// OpenSSL contexts from PEM files (certificate chain, private key, CA) with
// a protocol floor of TLS 1.2 and the key-file permission rule PostgreSQL
// applies: the server side for the pool's clients, the client side for its
// connections to PostgreSQL. Knows nothing about PostgreSQL's SSLRequest;
// that is proxy/ and pool/.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include <asio/ssl.hpp>

#include "common/result.hpp"

namespace pgswarm::runtime {

// The protocol versions a context accepts; never below TLS 1.2.
struct TlsVersions {
  int min = 0;  // TLS1_2_VERSION or TLS1_3_VERSION
  int max = 0;  // TLS1_2_VERSION or TLS1_3_VERSION
};
// "secure" / "all" (TLS 1.2 and 1.3), or a comma list of "tlsv1.2", "tlsv1.3".
// Older versions are refused by name, so a config asking for them fails loudly.
[[nodiscard]] Result<TlsVersions> parseTlsProtocols(const std::string& text);

// OpenSSL's TLS 1.2 cipher list when tls_ciphers says "default": forward
// secret AEAD suites first, nothing anonymous, export, RC4, 3DES or MD5.
inline constexpr const char* kDefaultTlsCiphers = "HIGH:!aNULL:!eNULL:!MD5:!3DES:!RC4:!CAMELLIA";

struct TlsServerFiles {
  std::string certFile;  // PEM chain, leaf first
  std::string keyFile;   // PEM private key, not encrypted
  std::string caFile;    // PEM CA bundle: client certificates are asked for and checked; optional
  std::string crlFile;   // PEM revocation lists of caFile's CAs; optional, with caFile only
  std::string protocols = "secure";
  std::string ciphers = "default";
};

// PostgreSQL's rule for a private key file: no world access at all, and no
// group access unless root owns it (then group read only, 0640).
[[nodiscard]] Status checkKeyFileMode(const std::string& path, mode_t mode, uid_t owner,
                                      uid_t self);

// Reads and checks every file now; any problem is an error naming the file
// and OpenSSL's reason, and no context is made.
[[nodiscard]] Result<std::shared_ptr<asio::ssl::context>> makeTlsServerContext(
    const TlsServerFiles& files);

// The pool as a TLS client of PostgreSQL (server_tls_*): root certificates
// to check the server's with, and a certificate of its own to present.
struct TlsClientFiles {
  std::string caFile;    // PEM root certificates; needed for verifyPeer
  std::string crlFile;   // PEM revocation lists of caFile's CAs; optional
  std::string certFile;  // PEM chain presented to the server; optional
  std::string keyFile;   // its private key (required with certFile)
  std::string protocols = "secure";
  std::string ciphers = "default";
  // The server's chain must lead to a root of caFile (verify-ca and
  // verify-full); the host name is checked per connection (ServerStream).
  bool verifyPeer = false;
};

// Reads and checks every file now, as makeTlsServerContext does.
[[nodiscard]] Result<std::shared_ptr<asio::ssl::context>> makeTlsClientContext(
    const TlsClientFiles& files);

}  // namespace pgswarm::runtime
