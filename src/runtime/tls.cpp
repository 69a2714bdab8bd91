// TLS server contexts: see tls.hpp.
#include "runtime/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace pgswarm::runtime {
namespace {

// The oldest queued OpenSSL reason, and the queue emptied for the next call.
std::string openSslReason() {
  unsigned long code = ERR_get_error();
  std::string reason = code == 0                       ? "unknown OpenSSL error"
                       : ERR_reason_error_string(code) ? ERR_reason_error_string(code)
                                                       : "OpenSSL error";
  ERR_clear_error();
  return reason;
}

// A key that needs a passphrase must fail at once, never prompt on a terminal.
int noPassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return 0;
}

std::string trimmed(std::string text) {
  text.erase(0, text.find_first_not_of(" \t"));
  text.erase(text.find_last_not_of(" \t") + 1);
  return text;
}

Status checkReadable(const std::string& what, const std::string& path) {
  if (path.empty()) return makeError("{} is not set", what);
  if (::access(path.c_str(), R_OK) != 0) {
    return makeError("could not access {} \"{}\": {}", what, path, std::strerror(errno));
  }
  return Ok{};
}

}  // namespace

Result<TlsVersions> parseTlsProtocols(const std::string& text) {
  auto lowered = text;
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (trimmed(lowered) == "secure" || trimmed(lowered) == "all" || trimmed(lowered).empty()) {
    return TlsVersions{TLS1_2_VERSION, TLS1_3_VERSION};
  }
  TlsVersions versions{};
  std::stringstream in(lowered);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = trimmed(item);
    int version = 0;
    if (item == "tlsv1.2") {
      version = TLS1_2_VERSION;
    } else if (item == "tlsv1.3") {
      version = TLS1_3_VERSION;
    } else if (item == "tlsv1" || item == "tlsv1.0" || item == "tlsv1.1" || item == "legacy") {
      return makeError("tls_protocols: {} is not accepted; TLS 1.2 is the oldest version", item);
    } else {
      return makeError("tls_protocols: '{}' is not one of secure, all, tlsv1.2, tlsv1.3", item);
    }
    versions.min = versions.min == 0 ? version : std::min(versions.min, version);
    versions.max = std::max(versions.max, version);
  }
  if (versions.min == 0) return makeError("tls_protocols: '{}' names no version", text);
  return versions;
}

Status checkKeyFileMode(const std::string& path, mode_t mode, uid_t owner, uid_t self) {
  if (owner != self && owner != 0) {
    return makeError("private key file \"{}\" must be owned by this user or root", path);
  }
  bool tooOpen = owner == self ? (mode & (S_IRWXG | S_IRWXO)) != 0
                               : (mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0;
  if (tooOpen) {
    return makeError(
        "private key file \"{}\" has group or world access; it must have permissions u=rw "
        "(0600) or less if owned by this user, or u=rw,g=r (0640) or less if owned by root",
        path);
  }
  return Ok{};
}

namespace {

// The certificate chain and its key, the key file held to PostgreSQL's
// permission rule first.
Status loadKeyPair(SSL_CTX* native, const std::string& certFile, const std::string& keyFile) {
  if (auto ok = checkReadable("certificate file", certFile); !ok) return ok.error();
  if (auto ok = checkReadable("private key file", keyFile); !ok) return ok.error();
  struct stat keyStat {};
  if (::stat(keyFile.c_str(), &keyStat) != 0) {
    return makeError("could not access private key file \"{}\": {}", keyFile, std::strerror(errno));
  }
  if (!S_ISREG(keyStat.st_mode)) {
    return makeError("private key file \"{}\" is not a regular file", keyFile);
  }
  if (auto ok = checkKeyFileMode(keyFile, keyStat.st_mode, keyStat.st_uid, ::geteuid()); !ok) {
    return ok.error();
  }
  if (SSL_CTX_use_certificate_chain_file(native, certFile.c_str()) != 1) {
    return makeError("could not load certificate file \"{}\": {}", certFile, openSslReason());
  }
  if (SSL_CTX_use_PrivateKey_file(native, keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
    return makeError("could not load private key file \"{}\": {}", keyFile, openSslReason());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return makeError("private key file \"{}\" does not match certificate \"{}\": {}", keyFile,
                     certFile, openSslReason());
  }
  return Ok{};
}

Status loadRootCertificates(SSL_CTX* native, const std::string& caFile) {
  if (auto ok = checkReadable("CA file", caFile); !ok) return ok.error();
  if (SSL_CTX_load_verify_locations(native, caFile.c_str(), nullptr) != 1) {
    return makeError("could not load root certificate file \"{}\": {}", caFile, openSslReason());
  }
  return Ok{};
}

// As PostgreSQL's ssl_crl_file: a certificate a list revokes fails
// verification, and once lists are given every certificate of a chain
// needs its issuer's (X509_V_FLAG_CRL_CHECK_ALL, as PostgreSQL sets it).
Status loadRevocationLists(SSL_CTX* native, const std::string& crlFile) {
  if (crlFile.empty()) return Ok{};
  if (auto ok = checkReadable("CRL file", crlFile); !ok) return ok.error();
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  if (X509_STORE_load_file(store, crlFile.c_str()) != 1) {
    return makeError("could not load certificate revocation list file \"{}\": {}", crlFile,
                     openSslReason());
  }
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  return Ok{};
}

// TLS 1.2 at least, no compression (CRIME) or renegotiation, and the
// cipher list for TLS 1.2: what both sides of the pool share.
Status applyVersionsAndCiphers(SSL_CTX* native, const std::string& protocols,
                               const std::string& ciphers) {
  auto versions = parseTlsProtocols(protocols);
  if (!versions) return versions.error();
  SSL_CTX_set_default_passwd_cb(native, noPassphrase);
  SSL_CTX_set_min_proto_version(native, versions->min);
  SSL_CTX_set_max_proto_version(native, versions->max);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  const std::string list =
      ciphers == "default" || ciphers.empty() ? std::string(kDefaultTlsCiphers) : ciphers;
  if (SSL_CTX_set_cipher_list(native, list.c_str()) != 1) {
    return makeError("tls_ciphers '{}': {}", list, openSslReason());
  }
  return Ok{};
}

}  // namespace

Result<std::shared_ptr<asio::ssl::context>> makeTlsServerContext(const TlsServerFiles& files) {
  ERR_clear_error();
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  if (auto ok = applyVersionsAndCiphers(native, files.protocols, files.ciphers); !ok) {
    return ok.error();
  }
  // No session resumption: each connection is a full handshake, as
  // PostgreSQL does it.
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 0);
  if (auto ok = loadKeyPair(native, files.certFile, files.keyFile); !ok) return ok.error();
  if (files.caFile.empty()) {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
    return context;
  }
  if (auto ok = loadRootCertificates(native, files.caFile); !ok) return ok.error();
  if (auto ok = loadRevocationLists(native, files.crlFile); !ok) return ok.error();
  // As PostgreSQL with ssl_ca_file: clients are asked for a certificate
  // (its CAs named to them), need not send one, and one that does not
  // chain to the CA file fails the handshake. hba's cert method requires one.
  if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.caFile.c_str())) {
    SSL_CTX_set_client_CA_list(native, names);
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  return context;
}

Result<std::shared_ptr<asio::ssl::context>> makeTlsClientContext(const TlsClientFiles& files) {
  ERR_clear_error();
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  if (auto ok = applyVersionsAndCiphers(native, files.protocols, files.ciphers); !ok) {
    return ok.error();
  }
  if (!files.certFile.empty() || !files.keyFile.empty()) {
    if (auto ok = loadKeyPair(native, files.certFile, files.keyFile); !ok) return ok.error();
  }
  if (!files.caFile.empty()) {
    if (auto ok = loadRootCertificates(native, files.caFile); !ok) return ok.error();
  }
  if (auto ok = loadRevocationLists(native, files.crlFile); !ok) return ok.error();
  SSL_CTX_set_verify(native, files.verifyPeer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  return context;
}

}  // namespace pgswarm::runtime
