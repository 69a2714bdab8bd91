// userlist.txt parsing: PgBouncer's quoting, comments and blank lines, and an
// error naming the line (and column) for everything malformed.
#include "auth/userlist.hpp"

#include <gtest/gtest.h>

namespace pgswarm::auth {
namespace {

constexpr std::string_view kScram =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

std::string errorOf(std::string_view text) {
  auto users = parseUserList(text, "userlist.txt");
  return users.ok() ? std::string("(no error)") : users.error().message;
}

TEST(UserList, ParsesAllSecretFormsCommentsAndBlankLines) {
  std::string text = std::string(
                         "; PgBouncer style comment\n"
                         "# hash comment\n"
                         "\n"
                         "   \t\n"
                         "\"alice\" \"secret\"\n"
                         "\"bob\"\t\"md520c46e3762c864548e296b33c3406aa9\"  ; trailing comment\n"
                         "  \"carol\"   \"") +
                     std::string(kScram) + "\"\r\n\"dave\" \"\"";
  auto users = parseUserList(text);
  ASSERT_TRUE(users.ok()) << users.error().message;
  ASSERT_EQ(users->size(), 4u);
  EXPECT_EQ(std::get<PlainSecret>(users->at("alice")).password, "secret");
  EXPECT_EQ(kindOf(users->at("bob")), SecretKind::kMd5);
  EXPECT_EQ(kindOf(users->at("carol")), SecretKind::kScram);
  EXPECT_EQ(std::get<PlainSecret>(users->at("dave")).password, "");
}

TEST(UserList, DoubledQuoteEscapesAQuote) {
  auto users = parseUserList("\"we\"\"ird\" \"pa\"\"ss;#word\"\n");
  ASSERT_TRUE(users.ok()) << users.error().message;
  EXPECT_EQ(std::get<PlainSecret>(users->at("we\"ird")).password, "pa\"ss;#word");
}

TEST(UserList, EmptyTextIsAnEmptyList) {
  auto users = parseUserList("");
  ASSERT_TRUE(users.ok());
  EXPECT_TRUE(users->empty());
}

TEST(UserList, MalformedLinesNameLineAndColumn) {
  EXPECT_EQ(errorOf("\"a\" \"x\"\nalice \"x\"\n"),
            "userlist.txt:2: column 1: expected the user name as a double-quoted string");
  EXPECT_EQ(errorOf("\"alice\"\n"),
            "userlist.txt:1: column 8: expected the password as a double-quoted string");
  EXPECT_EQ(errorOf("\"alice\" \"secret\n"),
            "userlist.txt:1: column 9: unterminated password (a closing \" is missing)");
  EXPECT_EQ(errorOf("\"alice\n"),
            "userlist.txt:1: column 1: unterminated user name (a closing \" is missing)");
  EXPECT_EQ(errorOf("\"alice\" \"secret\" extra\n"),
            "userlist.txt:1: column 18: unexpected text after the password");
  EXPECT_EQ(errorOf("\"alice\"x\"secret\"\n"),
            "userlist.txt:1: column 8: expected blank space after the user name");
  EXPECT_EQ(errorOf("\n  \"\" \"secret\"\n"), "userlist.txt:2: column 3: empty user name");
}

TEST(UserList, DuplicateUserIsAnError) {
  EXPECT_EQ(errorOf("\"alice\" \"a\"\n\"bob\" \"b\"\n\"alice\" \"c\"\n"),
            "userlist.txt:3: user \"alice\" already defined on line 1");
}

TEST(UserList, MalformedScramSecretIsAnError) {
  std::string message = errorOf("\"alice\" \"SCRAM-SHA-256$4096:abc\"\n");
  EXPECT_TRUE(message.starts_with("userlist.txt:1: user \"alice\": invalid SCRAM secret"))
      << message;
}

}  // namespace
}  // namespace pgswarm::auth
