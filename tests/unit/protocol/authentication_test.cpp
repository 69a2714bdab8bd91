// Authentication exchange: every 'R' request and every 'p' answer round
// trips; request codes are checked, so a parser never misreads another
// request; SASL data is taken as opaque bytes.
#include "protocol/authentication.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace pgswarm::protocol {
namespace {

using namespace std::literals;
using test::Body;
using test::expectRoundTrip;
using test::int32Bytes;
using test::rawMessage;

TEST(Authentication, OkAndCleartextRoundTrip) {
  expectRoundTrip(AuthenticationOk{});
  expectRoundTrip(AuthenticationCleartextPassword{});
  EXPECT_EQ(test::encoded(AuthenticationOk{}), rawMessage('R', int32Bytes(0)));
  EXPECT_EQ(test::encoded(AuthenticationCleartextPassword{}), rawMessage('R', int32Bytes(3)));
}

TEST(Authentication, Md5CarriesItsSalt) {
  AuthenticationMd5Password request;
  request.salt = {std::byte{0x01}, std::byte{0xff}, std::byte{0x00}, std::byte{0x7a}};
  expectRoundTrip(request);
  EXPECT_EQ(test::encoded(request), rawMessage('R', int32Bytes(5) + "\x01\xff\x00\x7a"s));
}

TEST(Authentication, SaslListsMechanisms) {
  expectRoundTrip(AuthenticationSasl{.mechanisms = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}});
  EXPECT_EQ(test::encoded(AuthenticationSasl{.mechanisms = {"SCRAM-SHA-256"}}),
            rawMessage('R', int32Bytes(10) + "SCRAM-SHA-256\0\0"s));
  std::string out;
  Writer writer(out);
  EXPECT_EQ((AuthenticationSasl{.mechanisms = {""}}.encode(writer)), EncodeStatus::kInvalidValue);
}

TEST(Authentication, SaslContinueAndFinalRoundTrip) {
  expectRoundTrip(AuthenticationSaslContinue{.data = "r=abc,s=c2FsdA==,i=4096"}, Body::kOpaque);
  expectRoundTrip(AuthenticationSaslFinal{.data = "v=c2lnbmF0dXJl"}, Body::kOpaque);
}

TEST(Authentication, RequestCodesAreChecked) {
  std::string sasl_final = int32Bytes(12) + "v=x";
  EXPECT_TRUE(AuthenticationSaslContinue::parse(asBytes(sasl_final)).malformed());
  EXPECT_TRUE(AuthenticationSaslFinal::parse(asBytes(sasl_final)).ok());
  EXPECT_TRUE(AuthenticationOk::parse(asBytes(int32Bytes(3))).malformed());
  EXPECT_TRUE(AuthenticationOk::parse(asBytes(int32Bytes(0) + "x")).malformed());
  auto code = authenticationCode(asBytes(sasl_final));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, kAuthSaslFinal);
  EXPECT_TRUE(authenticationCode(asBytes("\0\0"sv)).malformed());
}

TEST(Authentication, FrontendAnswersRoundTrip) {
  expectRoundTrip(PasswordMessage{.password = "md5a3556571e93b0d20722ba62be61e8c2d"});
  expectRoundTrip(
      SaslInitialResponse{.mechanism = "SCRAM-SHA-256", .data = "n,,n=,r=rOprNGfwEbeRWgbNEkqO"sv});
  expectRoundTrip(SaslInitialResponse{.mechanism = "SCRAM-SHA-256", .data = std::nullopt});
  expectRoundTrip(SaslInitialResponse{.mechanism = "X", .data = ""sv});
  expectRoundTrip(SaslResponse{.data = "c=biws,r=abc,p=proof"}, Body::kOpaque);
}

TEST(Authentication, SaslInitialResponseRefusesBadLength) {
  std::string body = "SCRAM-SHA-256\0"s + int32Bytes(-7);
  EXPECT_TRUE(SaslInitialResponse::parse(asBytes(body)).malformed());
  std::string longer = "SCRAM-SHA-256\0"s + int32Bytes(10) + "short";
  EXPECT_TRUE(SaslInitialResponse::parse(asBytes(longer)).malformed());
}

}  // namespace
}  // namespace pgswarm::protocol
