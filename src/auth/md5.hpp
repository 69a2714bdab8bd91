// PostgreSQL's md5 password method: the stored form "md5" + md5(password +
// username) and the wire response "md5" + md5(stored hex + 4-byte salt).
// Pure math; which secret to check against is secret.hpp's business.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace pgswarm::auth {

inline constexpr std::string_view kMd5Prefix = "md5";
inline constexpr std::size_t kMd5SecretLength = 35;  // "md5" + 32 hex digits (MD5_PASSWD_LEN)

using Md5Salt = std::array<std::uint8_t, 4>;

// PostgreSQL's test (get_password_type): "md5" + exactly 32 lower-case hex digits.
[[nodiscard]] bool looksLikeMd5Secret(std::string_view text);

// The stored form, what CREATE ROLE ... PASSWORD writes with password_encryption = md5.
[[nodiscard]] Result<std::string> md5Secret(std::string_view password, std::string_view user);

// The PasswordMessage payload a client sends for AuthenticationMD5Password,
// from the stored form (which must satisfy looksLikeMd5Secret).
[[nodiscard]] Result<std::string> md5Response(std::string_view md5_secret, const Md5Salt& salt);

// The same, from the password (what a client computes; our side towards servers).
[[nodiscard]] Result<std::string> md5ResponseFromPassword(std::string_view password,
                                                          std::string_view user,
                                                          const Md5Salt& salt);

}  // namespace pgswarm::auth
