// Failure kinds of the auth module, for callers that must branch (the proxy
// maps them to SQLSTATEs at the edge). Result<T> still carries the message;
// the state machines expose the kind of their last failure through these.
#pragma once

namespace pgswarm::auth {

enum class AuthErrorCode {
  kNone,              // no failure recorded
  kMalformedMessage,  // the peer sent bytes that do not follow RFC 5802 (08P01)
  kUnsupported,       // valid SCRAM we do not offer: channel binding, authzid, extensions
  kOutOfOrder,        // a step called twice, after the end, or given a bad test nonce (our bug)
  kServerError,       // the server answered "e=..." in server-final-message
  kServerSignatureMismatch,  // the server could not prove it knows the secret
  kSecretMismatch,           // recovered keys do not fit the server's salt/iterations
  kCrypto,                   // OpenSSL failed (no randomness, digest unavailable)
};

[[nodiscard]] const char* toString(AuthErrorCode code);

// The outcome of checking a password proof: not an error, an answer.
enum class Verdict {
  kAuthenticated,  // the peer proved knowledge of the password
  kRejected,       // wrong password, or a mock exchange for an unknown user
};

}  // namespace pgswarm::auth
