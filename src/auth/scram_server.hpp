// The server side of SCRAM-SHA-256 (the proxy authenticating a client), as
// PostgreSQL's auth-scram.c behaves: a three-state machine over the SASL
// payloads. No framing, no I/O; the caller moves the strings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "auth/auth_error.hpp"
#include "auth/crypto.hpp"
#include "auth/scram_secret.hpp"
#include "auth/secret.hpp"
#include "common/result.hpp"

namespace pgswarm::auth {

inline constexpr std::string_view kScramMechanism = "SCRAM-SHA-256";
// Bytes of randomness in our half of the nonce (PostgreSQL's SCRAM_RAW_NONCE_LEN).
inline constexpr std::size_t kScramRawNonceLength = 18;
// Minimum size of the key that makes mock salts unpredictable.
inline constexpr std::size_t kScramMockKeyMinLength = 16;

struct ScramServerFinal {
  Verdict verdict;
  // kAuthenticated: "v=<ServerSignature>", for AuthenticationSASLFinal.
  // kRejected: empty; PostgreSQL sends no SASL payload but an ErrorResponse
  // 28P01 "password authentication failed for user", and so should the caller.
  std::string message;
};

class ScramServer {
 public:
  // A real exchange against a stored SCRAM secret.
  [[nodiscard]] static ScramServer forSecret(ScramSecret secret);
  // A plaintext password: a fresh secret with a random salt per exchange, as
  // PostgreSQL does for a plaintext pg_authid entry.
  [[nodiscard]] static Result<ScramServer> forPassword(std::string_view password);
  // An exchange that looks real and always ends kRejected, so a client cannot
  // tell an unknown user from a wrong password. The salt is derived from the
  // username and mock_key (keep one random key per process), so it is stable
  // across attempts, like a real user's.
  [[nodiscard]] static Result<ScramServer> mock(std::string_view username, ByteSpan mock_key);
  // Picks one of the above: nullptr (unknown user) and md5 secrets (SCRAM
  // cannot use them) get the mock exchange.
  [[nodiscard]] static Result<ScramServer> forUser(const Secret* secret, std::string_view username,
                                                   ByteSpan mock_key);

  // client-first-message -> server-first-message.
  [[nodiscard]] Result<std::string> handleClientFirst(std::string_view message);
  // The same with our half of the nonce given (printable, no ','): test vectors only.
  [[nodiscard]] Result<std::string> handleClientFirst(std::string_view message,
                                                      std::string_view server_nonce);
  // client-final-message -> verdict (and server-final-message when authenticated).
  // Malformed input, a nonce mismatch or a channel-binding mismatch are Errors.
  [[nodiscard]] Result<ScramServerFinal> handleClientFinal(std::string_view message);

  // After kAuthenticated: the ClientKey recovered from the client's proof
  // (ClientProof XOR ClientSignature) with this secret's ServerKey, salt and
  // iterations, for logging in to servers that hold the same secret.
  [[nodiscard]] std::optional<ScramClientKeys> recoveredClientKeys() const;

  [[nodiscard]] AuthErrorCode lastError() const { return lastError_; }
  [[nodiscard]] bool isMock() const { return doomed_; }

 private:
  enum class State { kExpectClientFirst, kExpectClientFinal, kFinished, kFailed };
  struct ClientFinal {
    std::string_view channelBinding;
    std::string_view nonce;
    std::string_view withoutProof;
    ScramKey proof{};
  };

  ScramServer(ScramSecret secret, bool doomed) : secret_(std::move(secret)), doomed_(doomed) {}

  Status readClientFirst(std::string_view message);
  Status readGs2Header(std::string_view message, std::size_t& offset);
  Result<ClientFinal> readClientFinal(std::string_view message) const;
  Status checkChannelBinding(std::string_view value) const;
  Result<bool> verifyProof(const ClientFinal& final_message);
  Result<std::string> serverFinalMessage() const;
  Error fail(AuthErrorCode code, Error error);

  ScramSecret secret_;
  bool doomed_ = false;
  State state_ = State::kExpectClientFirst;
  AuthErrorCode lastError_ = AuthErrorCode::kNone;
  char cbindFlag_ = 'n';
  std::string clientFirstBare_;
  std::string clientNonce_;
  std::string serverNonce_;
  std::string serverFirst_;
  std::string authMessage_;
  std::optional<ScramKey> recoveredClientKey_;
};

// A random key for ScramServer::mock(), to make once per process.
[[nodiscard]] Result<Bytes> makeScramMockKey();

}  // namespace pgswarm::auth
