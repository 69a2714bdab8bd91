// md5 math against PostgreSQL's own output, secret classification as
// get_password_type() does it, and cleartext / md5 answers against each form.
#include "auth/secret.hpp"

#include <gtest/gtest.h>

namespace pgswarm::auth {
namespace {

constexpr Md5Salt kSalt{0x01, 0x02, 0x03, 0x04};
// md5("pencil" + "user"), computed independently (Python hashlib).
constexpr std::string_view kPencilUser = "md520c46e3762c864548e296b33c3406aa9";
// md5(hex of the above + 01 02 03 04).
constexpr std::string_view kPencilUserResponse = "md54376eb6913b38f9aaff38dc7cf19ca76";
// Written by PostgreSQL 15.20 for CREATE ROLE md5user PASSWORD 'pencil'
// with password_encryption = md5.
constexpr std::string_view kPgMd5User = "md50098e7fab7b4d8d091067152a80b3f12";

TEST(Md5, StoredFormMatchesPostgres) {
  EXPECT_EQ(*md5Secret("pencil", "user"), kPencilUser);
  EXPECT_EQ(*md5Secret("pencil", "md5user"), kPgMd5User);
}

TEST(Md5, WireResponseFromStoredFormOrPassword) {
  EXPECT_EQ(*md5Response(kPencilUser, kSalt), kPencilUserResponse);
  EXPECT_EQ(*md5ResponseFromPassword("pencil", "user", kSalt), kPencilUserResponse);
  EXPECT_FALSE(md5Response("md5short", kSalt).ok());
}

TEST(Md5, RecognisesOnlyPostgresMd5Form) {
  EXPECT_TRUE(looksLikeMd5Secret(kPencilUser));
  EXPECT_FALSE(looksLikeMd5Secret("md520C46E3762C864548E296B33C3406AA9"));   // upper case
  EXPECT_FALSE(looksLikeMd5Secret("md520c46e3762c864548e296b33c3406aa"));    // too short
  EXPECT_FALSE(looksLikeMd5Secret("md520c46e3762c864548e296b33c3406aa9f"));  // too long
  EXPECT_FALSE(looksLikeMd5Secret("xx520c46e3762c864548e296b33c3406aa9"));
}

TEST(Secret, ParseClassifiesEachForm) {
  auto md5 = parseSecret(kPencilUser);
  ASSERT_TRUE(md5.ok());
  EXPECT_EQ(kindOf(*md5), SecretKind::kMd5);
  auto plain = parseSecret("md5 is not a hash");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(kindOf(*plain), SecretKind::kPlain);
  auto scram = parseSecret(
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
  ASSERT_TRUE(scram.ok());
  EXPECT_EQ(kindOf(*scram), SecretKind::kScram);
  EXPECT_FALSE(parseSecret("SCRAM-SHA-256$4096:broken").ok());
  for (const Secret& secret : {*md5, *plain, *scram}) {
    EXPECT_EQ(*parseSecret(formatSecret(secret)), secret);
  }
}

TEST(Secret, CleartextPasswordAgainstEveryForm) {
  auto scram = buildScramSecret("pencil");
  ASSERT_TRUE(scram.ok());
  for (const Secret& secret : {Secret{PlainSecret{"pencil"}},
                               Secret{Md5Secret{std::string(kPencilUser)}}, Secret{*scram}}) {
    EXPECT_EQ(*verifyCleartextPassword(secret, "user", "pencil"), Verdict::kAuthenticated)
        << toString(kindOf(secret));
    EXPECT_EQ(*verifyCleartextPassword(secret, "user", "pencil!"), Verdict::kRejected);
    EXPECT_EQ(*verifyCleartextPassword(secret, "user", ""), Verdict::kRejected);
  }
  // The md5 form is salted with the user name.
  EXPECT_EQ(*verifyCleartextPassword(Md5Secret{std::string(kPencilUser)}, "other", "pencil"),
            Verdict::kRejected);
}

TEST(Secret, Md5ResponseAgainstPlainAndMd5Secrets) {
  Secret plain = PlainSecret{"pencil"};
  Secret md5 = Md5Secret{std::string(kPencilUser)};
  for (const Secret& secret : {plain, md5}) {
    EXPECT_EQ(*verifyMd5Response(secret, "user", kSalt, kPencilUserResponse),
              Verdict::kAuthenticated);
    EXPECT_EQ(*verifyMd5Response(secret, "user", {0, 0, 0, 0}, kPencilUserResponse),
              Verdict::kRejected);
    EXPECT_EQ(*verifyMd5Response(secret, "user", kSalt, "md5"), Verdict::kRejected);
  }
  EXPECT_EQ(*verifyMd5Response(PlainSecret{""}, "user", kSalt,
                               *md5ResponseFromPassword("", "user", kSalt)),
            Verdict::kRejected);
  auto scram = buildScramSecret("pencil");
  EXPECT_FALSE(verifyMd5Response(*scram, "user", kSalt, kPencilUserResponse).ok());
}

}  // namespace
}  // namespace pgswarm::auth
