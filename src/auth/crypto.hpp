// The cryptographic primitives SCRAM and md5 need, as thin wrappers over
// OpenSSL (EVP digests and MACs, PKCS5_PBKDF2_HMAC, RAND_bytes, base64).
// No protocol knowledge here; every OpenSSL failure becomes an Error.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace pgswarm::auth {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

inline constexpr std::size_t kSha256Length = 32;
using Sha256Digest = std::array<std::uint8_t, kSha256Length>;

[[nodiscard]] inline ByteSpan asBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

[[nodiscard]] Result<Sha256Digest> sha256(ByteSpan data);
[[nodiscard]] Result<Sha256Digest> hmacSha256(ByteSpan key, ByteSpan data);
// SCRAM's Hi(): PBKDF2-HMAC-SHA-256 with a 32-byte output.
[[nodiscard]] Result<Sha256Digest> pbkdf2Sha256(ByteSpan password, ByteSpan salt, int iterations);
// Lower-case hex MD5, as PostgreSQL's pg_md5_hash writes it. Fails when the
// OpenSSL provider forbids MD5 (FIPS mode).
[[nodiscard]] Result<std::string> md5Hex(ByteSpan data);

// Standard base64 with padding (RFC 4648 section 4), as SCRAM and pg_authid use.
[[nodiscard]] std::string base64Encode(ByteSpan data);
// Strict: length a multiple of 4, only the alphabet, '=' only as final padding.
[[nodiscard]] Result<Bytes> base64Decode(std::string_view text);

[[nodiscard]] Result<Bytes> randomBytes(std::size_t count);

// Compares the contents in constant time for equal lengths (CRYPTO_memcmp);
// different lengths compare unequal at once, lengths are not secret here.
[[nodiscard]] bool constantTimeEqual(ByteSpan a, ByteSpan b);

}  // namespace pgswarm::auth
