// A user's stored credential in any of PostgreSQL's forms (plaintext, md5,
// SCRAM-SHA-256), classified as PostgreSQL's get_password_type() does, and
// the checks of a client's cleartext or md5 answer against it.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "auth/auth_error.hpp"
#include "auth/md5.hpp"
#include "auth/scram_secret.hpp"
#include "common/result.hpp"

namespace pgswarm::auth {

struct PlainSecret {
  std::string password;
  friend bool operator==(const PlainSecret&, const PlainSecret&) = default;
};

struct Md5Secret {
  std::string digest;  // "md5" + 32 lower-case hex digits
  friend bool operator==(const Md5Secret&, const Md5Secret&) = default;
};

using Secret = std::variant<PlainSecret, Md5Secret, ScramSecret>;

enum class SecretKind { kPlain, kMd5, kScram };
[[nodiscard]] SecretKind kindOf(const Secret& secret);
[[nodiscard]] const char* toString(SecretKind kind);

// md5 when it is "md5" + 32 lower-case hex digits, SCRAM when it starts with
// "SCRAM-SHA-256$", else plaintext. Unlike PostgreSQL, which silently treats a
// malformed SCRAM secret as a plaintext password, a malformed one is an error.
[[nodiscard]] Result<Secret> parseSecret(std::string_view text);
[[nodiscard]] std::string formatSecret(const Secret& secret);

// A password the client sent in clear (AuthenticationCleartextPassword)
// against any stored form. An empty password is always rejected, as
// PostgreSQL does ("empty password returned by client").
[[nodiscard]] Result<Verdict> verifyCleartextPassword(const Secret& secret, std::string_view user,
                                                      std::string_view password);

// A client's md5 response against a plaintext or md5 secret. A SCRAM secret
// cannot check an md5 response (the md5 hash is not derivable from it): that
// is an Error, the caller should have asked for SCRAM instead, as PostgreSQL does.
[[nodiscard]] Result<Verdict> verifyMd5Response(const Secret& secret, std::string_view user,
                                                const Md5Salt& salt, std::string_view response);

}  // namespace pgswarm::auth
