// The client side of SCRAM-SHA-256 (the proxy logging in to a PostgreSQL
// server), as libpq's fe-auth-scram.c behaves, from a password or from keys
// recovered by ScramServer. No framing, no I/O; the caller moves the strings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "auth/auth_error.hpp"
#include "auth/scram_secret.hpp"
#include "common/result.hpp"

namespace pgswarm::auth {

struct ScramClientOptions {
  // Sent as "n=" (escaped); PostgreSQL ignores it and libpq sends it empty.
  std::string username;
  // Empty: 18 random bytes in base64, as libpq. Set only for test vectors.
  std::string clientNonce;
};

class ScramClient {
 public:
  [[nodiscard]] static Result<ScramClient> fromPassword(std::string_view password,
                                                        ScramClientOptions options = {});
  // Without the password: the proof needs only ClientKey, the server check
  // only ServerKey. When keys.salt is not empty, a server announcing another
  // salt or iteration count fails early with kSecretMismatch (its secret is
  // not the one the keys came from, so the proof could not match).
  [[nodiscard]] static Result<ScramClient> fromKeys(ScramClientKeys keys,
                                                    ScramClientOptions options = {});

  // The client-first-message: "n,,n=<user>,r=<nonce>" (no channel binding).
  [[nodiscard]] const std::string& clientFirst() const { return clientFirst_; }
  // server-first-message -> client-final-message.
  [[nodiscard]] Result<std::string> handleServerFirst(std::string_view message);
  // server-final-message: Ok when the server proved it knows the secret.
  [[nodiscard]] Status handleServerFinal(std::string_view message);

  [[nodiscard]] AuthErrorCode lastError() const { return lastError_; }

 private:
  enum class State { kExpectServerFirst, kExpectServerFinal, kFinished, kFailed };
  struct ServerFirst {
    std::string_view nonce;
    Bytes salt;
    int iterations = 0;
  };

  ScramClient(std::string client_nonce, std::string_view username);

  Result<ServerFirst> readServerFirst(std::string_view message) const;
  Status deriveKeys(const ServerFirst& server_first);
  Result<std::string> buildClientFinal(std::string_view nonce, std::string_view server_first);
  Error fail(AuthErrorCode code, Error error);

  std::optional<std::string> password_;  // set: keys come from the password
  std::optional<ScramClientKeys> keys_;  // set: keys given (or derived below)
  std::string clientNonce_;
  std::string clientFirst_;
  std::string authMessage_;
  State state_ = State::kExpectServerFirst;
  AuthErrorCode lastError_ = AuthErrorCode::kNone;
};

}  // namespace pgswarm::auth
