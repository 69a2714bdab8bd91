// SCRAM secrets: the pg_authid text form round-trips, and secrets written by a
// real PostgreSQL 15 (password_encryption = scram-sha-256) verify here with
// the same SASLprep decisions PostgreSQL made.
#include "auth/scram_secret.hpp"

#include <gtest/gtest.h>

namespace pgswarm::auth {
namespace {

// Produced by PostgreSQL 15.20 (postgres --single, CREATE ROLE ... PASSWORD).
constexpr std::string_view kPgPencil =
    "SCRAM-SHA-256$4096:9FlUoJcTNqG+rSy5G9w3Ew==$peZnToyDstt8Gwxo/qaIsMrXkwH4gS5O/MeZfFjcCg4=:"
    "DZO3LKxQeM7+LV97hlFoGcOtjQ0ObcWzfbtr7+BuKuI=";
// U&'I\00ADX': the soft hyphen maps to nothing, so "IX" is the same password.
constexpr std::string_view kPgSoftHyphen =
    "SCRAM-SHA-256$4096:z0xw+X8BmfiMchXQDVMAJw==$MuTiTkBhPpptTMkzhGHfJeNRx+vHYuYdrx90xIl+Zfk=:"
    "BSGb4exklR2PRHtqmw1EPAzYiq4x8ayRsPloAWo3V0w=";
// U&'pa\0308ssword': NFKC composes it to "pässword".
constexpr std::string_view kPgDecomposed =
    "SCRAM-SHA-256$4096:AusYJD9JNDILgZYpj1W4Zg==$YkF7C6QaqzAdU1md2oZxoiQP1Wsa+/D9i2Fqr6DlakM=:"
    "fGRWFlhJH1XGV2O02unB95XBZYw3ED8vKmrjaNYXdJ0=";
// U&'\00E9\0007': prohibited, PostgreSQL hashed the raw bytes.
constexpr std::string_view kPgProhibited =
    "SCRAM-SHA-256$4096:N1Cvvxcclxt+sLgMFo7QOQ==$8G+AksIcQSvsXqqX1Qg+88INo+GgIetGEUFUPWfLNWM=:"
    "SwjBZ77jGP/yalY3bS5jpAFRzaUJxl+zBzJnHjRxbK4=";
// U&'\0340x': U+0340 is prohibited before NFKC (PostgreSQL's order): raw bytes.
constexpr std::string_view kPgCombining =
    "SCRAM-SHA-256$4096:LfCDiZoP+wl1k1NAxO45XA==$ASnT34lqGYMwuMeOfa9svjPA0JEi1MrsQliHyzfw7ok=:"
    "bqcHnL8poDiwWfHh9lKh98A/PUijN2rCnkhzV44OXpc=";
// U&'\00AA\2168': NFKC gives "aIX".
constexpr std::string_view kPgNonAscii =
    "SCRAM-SHA-256$4096:qz9Zb/mYPlu0GOY63I2B9g==$E1U4NKnlVuq+s1wh4hoAxeTfqrFytiXA0eglzYbQ7vI=:"
    "nWd+9GiYw7gQv79xfM4df6tAOcqXv8W+iM3BJlOA+0k=";

// RFC 7677's salt and password, keys computed independently (Python hashlib).
constexpr std::string_view kRfcPencil =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

Verdict verify(std::string_view secret_text, std::string_view password) {
  auto secret = parseScramSecret(secret_text);
  EXPECT_TRUE(secret.ok()) << secret.error().message;
  auto verdict = verifyScramPassword(*secret, password);
  EXPECT_TRUE(verdict.ok());
  return *verdict;
}

TEST(ScramSecret, ParsesAndFormatsPostgresSecretUnchanged) {
  auto secret = parseScramSecret(kPgPencil);
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  EXPECT_EQ(secret->iterations, 4096);
  EXPECT_EQ(secret->salt.size(), 16u);
  EXPECT_EQ(formatScramSecret(*secret), kPgPencil);
}

TEST(ScramSecret, PostgresSecretVerifiesItsPasswordOnly) {
  EXPECT_EQ(verify(kPgPencil, "pencil"), Verdict::kAuthenticated);
  EXPECT_EQ(verify(kPgPencil, "Pencil"), Verdict::kRejected);
}

TEST(ScramSecret, PostgresSecretsAgreeWithOurSaslPrep) {
  EXPECT_EQ(verify(kPgSoftHyphen, "IX"), Verdict::kAuthenticated);
  EXPECT_EQ(verify(kPgSoftHyphen, "I\u00ADX"), Verdict::kAuthenticated);
  EXPECT_EQ(verify(kPgDecomposed, "p\u00e4ssword"), Verdict::kAuthenticated);
  EXPECT_EQ(verify(kPgProhibited, "\u00e9\x07"), Verdict::kAuthenticated);
  EXPECT_EQ(verify(kPgCombining, "\u0340x"), Verdict::kAuthenticated);
  EXPECT_EQ(verify(kPgCombining, "\u0300x"), Verdict::kRejected);
  EXPECT_EQ(verify(kPgNonAscii, "aIX"), Verdict::kAuthenticated);
}

TEST(ScramSecret, BuildWithKnownSaltMatchesIndependentComputation) {
  auto salt = base64Decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  ASSERT_TRUE(salt.ok());
  auto secret = buildScramSecret("pencil", *salt, 4096);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(formatScramSecret(*secret), kRfcPencil);
}

TEST(ScramSecret, BuildUsesRandomSaltAndDefaultIterations) {
  auto a = buildScramSecret("pencil");
  auto b = buildScramSecret("pencil");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->iterations, kScramDefaultIterations);
  EXPECT_EQ(a->salt.size(), kScramDefaultSaltLength);
  EXPECT_NE(a->salt, b->salt);
  auto round_trip = parseScramSecret(formatScramSecret(*a));
  ASSERT_TRUE(round_trip.ok());
  EXPECT_EQ(*round_trip, *a);
  EXPECT_EQ(*verifyScramPassword(*a, "pencil"), Verdict::kAuthenticated);
}

TEST(ScramSecret, RejectsMalformedSecrets) {
  const std::string_view keys =
      "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  auto with = [&](std::string_view head) { return std::string(head) + std::string(keys); };
  EXPECT_TRUE(parseScramSecret(with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==")).ok());
  for (const std::string& bad : {
           with("SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ=="),
           with("SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ=="),
           with("SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ=="),
           with("SCRAM-SHA-256$40x6:W22ZaJ0SNY7soEsUEjb6gQ=="),
           with("SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ=="),
           with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ="),
           std::string("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="),
           std::string("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA"),
           std::string("SCRAM-SHA-256$4096"),
       }) {
    auto parsed = parseScramSecret(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
}

TEST(ScramSecret, ErrorsSayWhatIsWrong) {
  auto parsed = parseScramSecret("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("StoredKey must be 32 bytes"), std::string::npos)
      << parsed.error().message;
}

}  // namespace
}  // namespace pgswarm::auth
