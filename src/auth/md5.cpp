// md5 is kept for old clients and servers only; SCRAM is the default. The
// hex digits of the stored form are hashed as ASCII text, as PostgreSQL does.
#include "auth/md5.hpp"

#include "auth/crypto.hpp"

namespace pgswarm::auth {

bool looksLikeMd5Secret(std::string_view text) {
  if (text.size() != kMd5SecretLength || !text.starts_with(kMd5Prefix)) return false;
  return text.find_first_not_of("0123456789abcdef", kMd5Prefix.size()) == std::string_view::npos;
}

Result<std::string> md5Secret(std::string_view password, std::string_view user) {
  std::string input;
  input.reserve(password.size() + user.size());
  input.append(password).append(user);
  auto hex = md5Hex(asBytes(input));
  if (!hex) return hex.error();
  return std::string(kMd5Prefix) + *hex;
}

Result<std::string> md5Response(std::string_view md5_secret, const Md5Salt& salt) {
  if (!looksLikeMd5Secret(md5_secret)) {
    return makeError("not an md5 secret: expected \"md5\" followed by 32 lower-case hex digits");
  }
  std::string input(md5_secret.substr(kMd5Prefix.size()));
  input.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  auto hex = md5Hex(asBytes(input));
  if (!hex) return hex.error();
  return std::string(kMd5Prefix) + *hex;
}

Result<std::string> md5ResponseFromPassword(std::string_view password, std::string_view user,
                                            const Md5Salt& salt) {
  auto stored = md5Secret(password, user);
  if (!stored) return stored.error();
  return md5Response(*stored, salt);
}

}  // namespace pgswarm::auth
