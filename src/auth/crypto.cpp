// OpenSSL wrappers: each call checks the return code and never lets an
// OpenSSL error escape as anything but an Error. Sizes are checked before they
// are narrowed to the int lengths OpenSSL's older interfaces take.
#include "auth/crypto.hpp"

#include <algorithm>
#include <climits>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace pgswarm::auth {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

Result<Ok> digest(ByteSpan data, const EVP_MD* md, unsigned char* out) {
  unsigned int length = 0;
  if (md == nullptr || EVP_Digest(data.data(), data.size(), out, &length, md, nullptr) != 1) {
    return makeError("digest {} failed in OpenSSL", md == nullptr ? "?" : EVP_MD_get0_name(md));
  }
  return Ok{};
}

// Counts trailing '=' and checks that padding only appears where RFC 4648 allows it.
Result<std::size_t> base64Padding(std::string_view text) {
  std::size_t padding = 0;
  while (padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  if (padding > 2) return makeError("invalid base64: too much padding");
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    if (kBase64Alphabet.find(text[i]) == std::string_view::npos) {
      return makeError("invalid base64: unexpected character at offset {}", i);
    }
  }
  return padding;
}

}  // namespace

Result<Sha256Digest> sha256(ByteSpan data) {
  Sha256Digest out{};
  if (auto ok = digest(data, EVP_sha256(), out.data()); !ok) return ok.error();
  return out;
}

Result<Sha256Digest> hmacSha256(ByteSpan key, ByteSpan data) {
  Sha256Digest out{};
  std::size_t length = 0;
  // A non-null key pointer even for an empty key: OpenSSL rejects a null one.
  static constexpr std::uint8_t kEmpty = 0;
  const void* key_data = key.empty() ? &kEmpty : key.data();
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key_data, key.size(), data.data(),
                data.size(), out.data(), out.size(), &length) == nullptr ||
      length != out.size()) {
    return makeError("HMAC-SHA-256 failed in OpenSSL");
  }
  return out;
}

Result<Sha256Digest> pbkdf2Sha256(ByteSpan password, ByteSpan salt, int iterations) {
  if (iterations < 1) return makeError("PBKDF2 iteration count must be positive");
  if (password.size() > INT_MAX || salt.size() > INT_MAX) {
    return makeError("PBKDF2 input too long");
  }
  Sha256Digest out{};
  static constexpr char kEmpty = 0;
  const char* pass = password.empty() ? &kEmpty : reinterpret_cast<const char*>(password.data());
  if (PKCS5_PBKDF2_HMAC(pass, static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    return makeError("PBKDF2-HMAC-SHA-256 failed in OpenSSL");
  }
  return out;
}

Result<std::string> md5Hex(ByteSpan data) {
  std::array<unsigned char, 16> raw{};
  if (auto ok = digest(data, EVP_md5(), raw.data()); !ok) return ok.error();
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string hex;
  hex.reserve(raw.size() * 2);
  for (unsigned char byte : raw) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0xF];
  }
  return hex;
}

std::string base64Encode(ByteSpan data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');  // +1: EVP writes a NUL
  int written = 0;
  // EVP_EncodeBlock takes an int length; feed it in chunks that are a multiple of 3.
  constexpr std::size_t kChunk = std::size_t{3} << 20;
  for (std::size_t offset = 0; offset < data.size(); offset += kChunk) {
    std::size_t length = std::min(kChunk, data.size() - offset);
    written += EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()) + written,
                               data.data() + offset, static_cast<int>(length));
  }
  out.resize(static_cast<std::size_t>(written));
  return out;
}

Result<Bytes> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return makeError("invalid base64: length is not a multiple of 4");
  if (text.size() > INT_MAX) return makeError("invalid base64: too long");
  auto padding = base64Padding(text);
  if (!padding) return padding.error();
  Bytes out(text.size() / 4 * 3);
  // EVP_DecodeBlock ignores padding and returns whole 3-byte groups.
  int decoded = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (decoded < 0 || static_cast<std::size_t>(decoded) != out.size()) {
    return makeError("invalid base64");
  }
  out.resize(out.size() - *padding);
  return out;
}

Result<Bytes> randomBytes(std::size_t count) {
  Bytes out(count);
  if (count > INT_MAX || RAND_bytes(out.data(), static_cast<int>(count)) != 1) {
    return makeError("could not generate {} random bytes", count);
  }
  return out;
}

bool constantTimeEqual(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace pgswarm::auth
