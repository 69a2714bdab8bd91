// Names of the auth failure kinds, for logs and test messages.
#include "auth/auth_error.hpp"

namespace pgswarm::auth {

const char* toString(AuthErrorCode code) {
  switch (code) {
    case AuthErrorCode::kNone:
      return "none";
    case AuthErrorCode::kMalformedMessage:
      return "malformed message";
    case AuthErrorCode::kUnsupported:
      return "unsupported";
    case AuthErrorCode::kOutOfOrder:
      return "out of order";
    case AuthErrorCode::kServerError:
      return "server error";
    case AuthErrorCode::kServerSignatureMismatch:
      return "server signature mismatch";
    case AuthErrorCode::kSecretMismatch:
      return "secret mismatch";
    case AuthErrorCode::kCrypto:
      return "crypto failure";
  }
  return "unknown";
}

}  // namespace pgswarm::auth
