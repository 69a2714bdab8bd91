// SASLprep as PostgreSQL applies it: ASCII untouched, RFC 4013 mappings, and
// the raw bytes whenever the input is not UTF-8 or the profile rejects it.
#include "auth/saslprep.hpp"

#include <gtest/gtest.h>

namespace pgswarm::auth {
namespace {

TEST(SaslPrep, AsciiIsUsedUnchangedEvenWithControlCharacters) {
  EXPECT_EQ(saslPrep("pencil").outcome, SaslPrepOutcome::kAscii);
  auto control = saslPrep("a\x07z");  // prohibited by the RFC, but PostgreSQL's fast path keeps it
  EXPECT_EQ(control.outcome, SaslPrepOutcome::kAscii);
  EXPECT_EQ(control.password, "a\x07z");
}

TEST(SaslPrep, Rfc4013Examples) {
  EXPECT_EQ(saslPrepPassword("I\u00ADX"), "IX");   // soft hyphen maps to nothing
  EXPECT_EQ(saslPrepPassword("\u00AA"), "a");      // NFKC
  EXPECT_EQ(saslPrepPassword("\u2168"), "IX");     // NFKC
  EXPECT_EQ(saslPrepPassword("a\u00A0b"), "a b");  // non-ASCII space maps to space
  EXPECT_EQ(saslPrep("\u00AA").outcome, SaslPrepOutcome::kNormalized);
}

TEST(SaslPrep, ComposesDecomposedCharacters) {
  EXPECT_EQ(saslPrepPassword("pa\u0308ssword"), "p\u00e4ssword");
}

TEST(SaslPrep, InvalidUtf8KeepsRawBytes) {
  for (std::string_view raw : {std::string_view("\xff\xfe"), std::string_view("caf\xe9"),
                               std::string_view("\xc0\x80"), std::string_view("\xed\xa0\x80")}) {
    auto result = saslPrep(raw);
    EXPECT_EQ(result.outcome, SaslPrepOutcome::kInvalidUtf8);
    EXPECT_EQ(result.password, raw);
  }
}

TEST(SaslPrep, ProhibitedKeepsRawBytes) {
  std::string_view cases[] = {"\u00e9\x07",     // ASCII control in a non-ASCII string
                              "\u06271",        // RandALCat not last (bidi rule)
                              "\u0627a\u0627",  // RandALCat with LCat
                              "\u0221x",        // unassigned in Unicode 3.2
                              "\u00AD",         // empty after mapping
                              "\u0340x"};       // prohibited before NFKC, as PostgreSQL checks
  for (std::string_view raw : cases) {
    auto result = saslPrep(raw);
    EXPECT_EQ(result.outcome, SaslPrepOutcome::kProhibited) << raw;
    EXPECT_EQ(result.password, raw);
  }
}

TEST(SaslPrep, RightToLeftStringThatFollowsTheBidiRuleIsNormalized) {
  EXPECT_EQ(saslPrep("\u0627\u0628").outcome, SaslPrepOutcome::kNormalized);
}

}  // namespace
}  // namespace pgswarm::auth
