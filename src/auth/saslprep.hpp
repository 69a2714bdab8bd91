// Password normalisation exactly as PostgreSQL's pg_saslprep() is used by
// SCRAM: SASLprep (RFC 4013) when the password is valid UTF-8 and passes the
// profile, else the raw bytes. Unicode tables come from libidn, not from here.
#pragma once

#include <string>
#include <string_view>

namespace pgswarm::auth {

enum class SaslPrepOutcome {
  kAscii,        // pure ASCII: used unchanged (PostgreSQL's fast path)
  kNormalized,   // SASLprep succeeded; the output is the normalised form
  kInvalidUtf8,  // not UTF-8: PostgreSQL assumes another encoding, raw bytes
  kProhibited,   // prohibited, unassigned, bidi-invalid or empty after mapping: raw bytes
};

struct SaslPrepResult {
  std::string password;  // what goes into PBKDF2
  SaslPrepOutcome outcome;
};

// Never fails: every failure of SASLprep means "use the raw bytes", which is
// what both PostgreSQL's server and libpq do, so the two sides agree.
[[nodiscard]] SaslPrepResult saslPrep(std::string_view password);

// Shorthand for the password only.
[[nodiscard]] std::string saslPrepPassword(std::string_view password);

}  // namespace pgswarm::auth
