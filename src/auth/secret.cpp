// Classification and verification over the three secret forms; every
// comparison of something secret-derived is constant-time.
#include "auth/secret.hpp"

#include "auth/crypto.hpp"

namespace pgswarm::auth {
namespace {

Result<Verdict> compareResponse(const Result<std::string>& expected, std::string_view response) {
  if (!expected) return expected.error();
  return constantTimeEqual(asBytes(*expected), asBytes(response)) ? Verdict::kAuthenticated
                                                                  : Verdict::kRejected;
}

}  // namespace

SecretKind kindOf(const Secret& secret) {
  return static_cast<SecretKind>(secret.index());
}

const char* toString(SecretKind kind) {
  switch (kind) {
    case SecretKind::kPlain:
      return "plaintext";
    case SecretKind::kMd5:
      return "md5";
    case SecretKind::kScram:
      return "SCRAM-SHA-256";
  }
  return "unknown";
}

Result<Secret> parseSecret(std::string_view text) {
  if (looksLikeMd5Secret(text)) return Secret{Md5Secret{std::string(text)}};
  if (looksLikeScramSecret(text)) {
    auto scram = parseScramSecret(text);
    if (!scram) return scram.error();
    return Secret{std::move(*scram)};
  }
  return Secret{PlainSecret{std::string(text)}};
}

std::string formatSecret(const Secret& secret) {
  if (const auto* plain = std::get_if<PlainSecret>(&secret)) return plain->password;
  if (const auto* md5 = std::get_if<Md5Secret>(&secret)) return md5->digest;
  return formatScramSecret(std::get<ScramSecret>(secret));
}

Result<Verdict> verifyCleartextPassword(const Secret& secret, std::string_view user,
                                        std::string_view password) {
  if (password.empty()) return Verdict::kRejected;
  if (const auto* plain = std::get_if<PlainSecret>(&secret)) {
    return compareResponse(plain->password, password);
  }
  if (const auto* md5 = std::get_if<Md5Secret>(&secret)) {
    return compareResponse(md5Secret(password, user), md5->digest);
  }
  return verifyScramPassword(std::get<ScramSecret>(secret), password);
}

Result<Verdict> verifyMd5Response(const Secret& secret, std::string_view user, const Md5Salt& salt,
                                  std::string_view response) {
  if (const auto* plain = std::get_if<PlainSecret>(&secret)) {
    if (plain->password.empty()) return Verdict::kRejected;
    return compareResponse(md5ResponseFromPassword(plain->password, user, salt), response);
  }
  if (const auto* md5 = std::get_if<Md5Secret>(&secret)) {
    return compareResponse(md5Response(md5->digest, salt), response);
  }
  return makeError("cannot check an md5 response against a SCRAM-SHA-256 secret; use SCRAM");
}

}  // namespace pgswarm::auth
