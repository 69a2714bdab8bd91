// OpenSSL wrappers against published vectors, and base64 padding edge cases
// (EVP_DecodeBlock alone would return padding bytes as zeros).
#include "auth/crypto.hpp"

#include <gtest/gtest.h>

namespace pgswarm::auth {
namespace {

std::string hex(ByteSpan bytes) {
  std::string out;
  for (auto b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

TEST(Crypto, Sha256MatchesFips180Vector) {
  auto digest = sha256(asBytes("abc"));
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(hex(*digest), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, HmacSha256MatchesKnownVector) {
  auto mac = hmacSha256(asBytes("key"), asBytes("The quick brown fox jumps over the lazy dog"));
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(hex(*mac), "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST(Crypto, Pbkdf2MatchesRfc7914Vector) {
  auto derived = pbkdf2Sha256(asBytes("passwd"), asBytes("salt"), 1);
  ASSERT_TRUE(derived.ok());
  EXPECT_EQ(hex(*derived), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
  EXPECT_FALSE(pbkdf2Sha256(asBytes("passwd"), asBytes("salt"), 0).ok());
}

TEST(Crypto, Md5HexIsLowerCase) {
  auto digest = md5Hex(asBytes(""));
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(*digest, "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(Crypto, Base64RoundTripsEveryPaddingLength) {
  EXPECT_EQ(base64Encode(asBytes("")), "");
  EXPECT_EQ(base64Encode(asBytes("f")), "Zg==");
  EXPECT_EQ(base64Encode(asBytes("fo")), "Zm8=");
  EXPECT_EQ(base64Encode(asBytes("foo")), "Zm9v");
  for (std::string_view text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto decoded = base64Decode(base64Encode(asBytes(text)));
    ASSERT_TRUE(decoded.ok()) << text;
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), text);
  }
}

TEST(Crypto, Base64RejectsMalformedInput) {
  for (std::string_view bad : {"Zg", "Zg=", "Z===", "====", "Zg=a", "Z*==", "Zm9v\n", " Zm9v"}) {
    EXPECT_FALSE(base64Decode(bad).ok()) << bad;
  }
}

TEST(Crypto, RandomBytesHaveTheRequestedLengthAndDiffer) {
  auto a = randomBytes(18);
  auto b = randomBytes(18);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 18u);
  EXPECT_NE(*a, *b);
}

TEST(Crypto, ConstantTimeEqualComparesContentAndLength) {
  EXPECT_TRUE(constantTimeEqual(asBytes("abc"), asBytes("abc")));
  EXPECT_FALSE(constantTimeEqual(asBytes("abc"), asBytes("abd")));
  EXPECT_FALSE(constantTimeEqual(asBytes("abc"), asBytes("ab")));
  EXPECT_TRUE(constantTimeEqual(asBytes(""), asBytes("")));
}

}  // namespace
}  // namespace pgswarm::auth
