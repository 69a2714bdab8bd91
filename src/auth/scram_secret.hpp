// SCRAM-SHA-256 secrets as PostgreSQL stores them in pg_authid.rolpassword:
// "SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>",
// and the key derivation of RFC 5802 section 3. No exchange state here.
#pragma once

#include <string>
#include <string_view>

#include "auth/auth_error.hpp"
#include "auth/crypto.hpp"
#include "common/result.hpp"

namespace pgswarm::auth {

inline constexpr int kScramDefaultIterations = 4096;        // PostgreSQL's scram_iterations default
inline constexpr std::size_t kScramDefaultSaltLength = 16;  // PostgreSQL's SCRAM_DEFAULT_SALT_LEN
inline constexpr std::string_view kScramSecretPrefix = "SCRAM-SHA-256$";

using ScramKey = Sha256Digest;

struct ScramSecret {
  int iterations = kScramDefaultIterations;
  Bytes salt;  // raw bytes; base64 only in the text form
  ScramKey storedKey{};
  ScramKey serverKey{};

  friend bool operator==(const ScramSecret&, const ScramSecret&) = default;
};

// Everything one password yields for a salt and iteration count.
struct ScramPasswordKeys {
  ScramKey clientKey{};
  ScramKey storedKey{};
  ScramKey serverKey{};
};

// What a proxy needs to log in to a server as a user without knowing the
// password (PgBouncer's approach): the ClientKey recovered from a client's
// successful proof, the ServerKey to check the server, and the salt and
// iteration count they belong to (the server's secret must be the same one).
struct ScramClientKeys {
  ScramKey clientKey{};
  ScramKey serverKey{};
  Bytes salt;
  int iterations = 0;

  friend bool operator==(const ScramClientKeys&, const ScramClientKeys&) = default;
};

// The password is SASLprep-normalised here (see saslprep.hpp); pass it raw.
[[nodiscard]] Result<ScramPasswordKeys> deriveScramKeys(std::string_view password, ByteSpan salt,
                                                        int iterations);

// True when the text claims to be a SCRAM secret (it may still be malformed).
[[nodiscard]] bool looksLikeScramSecret(std::string_view text);
[[nodiscard]] Result<ScramSecret> parseScramSecret(std::string_view text);
[[nodiscard]] std::string formatScramSecret(const ScramSecret& secret);

// A new secret with a random 16-byte salt, as CREATE ROLE ... PASSWORD does.
[[nodiscard]] Result<ScramSecret> buildScramSecret(std::string_view password,
                                                   int iterations = kScramDefaultIterations);
// Deterministic variant for a known salt (tests, and re-deriving a secret).
[[nodiscard]] Result<ScramSecret> buildScramSecret(std::string_view password, ByteSpan salt,
                                                   int iterations);

// Checks a cleartext password against a secret (PostgreSQL's
// scram_verify_plain_password): compares the ServerKey in constant time.
[[nodiscard]] Result<Verdict> verifyScramPassword(const ScramSecret& secret,
                                                  std::string_view password);

}  // namespace pgswarm::auth
