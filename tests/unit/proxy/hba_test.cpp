// Access rules without sockets: PostgreSQL's tokenising (lists, quotes,
// comments), every address form, first match wins, hostssl never matches
// without TLS, and a precise file:line error for each kind of bad line.
#include "proxy/hba.hpp"

#include <gtest/gtest.h>

namespace pgswarm::proxy {
namespace {

HbaRules parsed(std::string_view text) {
  auto rules = parseHba(text, "hba.conf");
  EXPECT_TRUE(rules.ok()) << (rules.ok() ? "" : rules.error().message);
  return rules.ok() ? *rules : HbaRules{};
}

std::string errorOf(std::string_view text) {
  auto rules = parseHba(text, "hba.conf");
  return rules.ok() ? "(parsed)" : rules.error().message;
}

HbaClient client(std::string_view address, std::string_view database, std::string_view user) {
  auto ip = IpAddress::parse(address);
  EXPECT_TRUE(ip.has_value()) << address;
  return HbaClient{.address = ip.value_or(IpAddress{}), .database = database, .user = user};
}

// The method of the matching rule, "none" when nothing matched.
std::string methodFor(const HbaRules& rules, const HbaClient& who) {
  const auto* rule = findHbaRule(rules, who);
  return rule != nullptr ? toString(rule->method) : "none";
}

TEST(Hba, ParsesLinesCommentsAndBlanks) {
  auto rules = parsed(
      "# TYPE DATABASE USER ADDRESS METHOD\n"
      "\n"
      "   \t\n"
      "host  all  all  127.0.0.1/32  trust   # loopback\n"
      "hostnossl  db1,db2  alice,\"Bob Smith\"  10.0.0.0  255.0.0.0  md5\n"
      "hostssl all all ::1/128 scram-sha-256\r\n"
      "host all all samehost reject");
  ASSERT_EQ(rules.rules.size(), 4u);
  EXPECT_EQ(rules.rules[0].line, 4);
  EXPECT_EQ(rules.rules[0].method, HbaMethod::kTrust);
  EXPECT_EQ(rules.rules[1].line, 5);
  EXPECT_EQ(rules.rules[1].type, HbaConnectionType::kHostNoSsl);
  ASSERT_EQ(rules.rules[1].databases.size(), 2u);
  EXPECT_EQ(rules.rules[1].databases[1].name, "db2");
  ASSERT_EQ(rules.rules[1].users.size(), 2u);
  EXPECT_EQ(rules.rules[1].users[1].name, "Bob Smith");
  EXPECT_EQ(rules.rules[1].method, HbaMethod::kMd5);
  EXPECT_EQ(rules.rules[2].type, HbaConnectionType::kHostSsl);
  EXPECT_EQ(rules.rules[3].address.kind, HbaAddress::Kind::kSameHost);
  EXPECT_TRUE(rules.usesSameHost());
}

TEST(Hba, QuotesMakeKeywordsNamesAndDoubleQuotesEscape) {
  auto rules = parsed("host \"all\" \"a\"\"b\",\"x, #y\" all trust\n");
  ASSERT_EQ(rules.rules.size(), 1u);
  EXPECT_EQ(rules.rules[0].databases[0].keyword, HbaName::Keyword::kNone);
  EXPECT_EQ(rules.rules[0].databases[0].name, "all");
  EXPECT_EQ(rules.rules[0].users[0].name, "a\"b");
  EXPECT_EQ(rules.rules[0].users[1].name, "x, #y");
  EXPECT_EQ(methodFor(rules, client("1.2.3.4", "all", "a\"b")), "trust");
  EXPECT_EQ(methodFor(rules, client("1.2.3.4", "postgres", "a\"b")), "none");
}

TEST(Hba, ListsMayHaveBlanksAfterCommas) {
  auto rules = parsed("host db1, db2 alice all md5\n");
  ASSERT_EQ(rules.rules.size(), 1u);
  EXPECT_EQ(rules.rules[0].databases.size(), 2u);
  EXPECT_EQ(methodFor(rules, client("1.2.3.4", "db2", "alice")), "md5");
}

TEST(Hba, FirstMatchWins) {
  auto rules = parsed(
      "host secret all all reject\n"
      "host all alice 10.1.0.0/16 md5\n"
      "host all all 10.0.0.0/8 scram-sha-256\n");
  EXPECT_EQ(methodFor(rules, client("10.1.2.3", "secret", "alice")), "reject");
  EXPECT_EQ(methodFor(rules, client("10.1.2.3", "app", "alice")), "md5");
  EXPECT_EQ(methodFor(rules, client("10.2.2.3", "app", "alice")), "scram-sha-256");
  EXPECT_EQ(methodFor(rules, client("10.1.2.3", "app", "bob")), "scram-sha-256");
  EXPECT_EQ(methodFor(rules, client("192.168.0.1", "app", "bob")), "none");
}

TEST(Hba, AddressForms) {
  auto rules = parsed(
      "host a all 192.168.1.77/24 trust\n"         // host bits are ignored, as in PostgreSQL
      "host b all 172.16.0.0 255.240.0.0 trust\n"  // address plus mask column
      "host c all fe80::/10 trust\n"
      "host d all 0.0.0.0/0 trust\n"
      "host e all ::/0 trust\n"
      "host f all 10.0.0.5/32 trust\n");
  EXPECT_EQ(methodFor(rules, client("192.168.1.3", "a", "u")), "trust");
  EXPECT_EQ(methodFor(rules, client("192.168.2.3", "a", "u")), "none");
  EXPECT_EQ(methodFor(rules, client("172.31.255.1", "b", "u")), "trust");
  EXPECT_EQ(methodFor(rules, client("172.32.0.1", "b", "u")), "none");
  EXPECT_EQ(methodFor(rules, client("fe80::1", "c", "u")), "trust");
  EXPECT_EQ(methodFor(rules, client("fec0::1", "c", "u")), "none");
  // Families never match each other.
  EXPECT_EQ(methodFor(rules, client("::1", "d", "u")), "none");
  EXPECT_EQ(methodFor(rules, client("8.8.8.8", "d", "u")), "trust");
  EXPECT_EQ(methodFor(rules, client("8.8.8.8", "e", "u")), "none");
  EXPECT_EQ(methodFor(rules, client("::1", "e", "u")), "trust");
  EXPECT_EQ(methodFor(rules, client("10.0.0.5", "f", "u")), "trust");
  EXPECT_EQ(methodFor(rules, client("10.0.0.6", "f", "u")), "none");
}

TEST(Hba, SameHostUsesTheCallersAnswer) {
  auto rules = parsed("host all all samehost trust\n");
  auto who = client("192.168.5.5", "db", "u");
  EXPECT_EQ(methodFor(rules, who), "none");
  who.sameHost = true;
  EXPECT_EQ(methodFor(rules, who), "trust");
}

TEST(Hba, HostSslNeverMatchesWithoutTls) {
  auto rules = parsed(
      "hostssl all all all trust\n"
      "hostnossl all all all md5\n");
  auto who = client("127.0.0.1", "db", "u");
  EXPECT_EQ(methodFor(rules, who), "md5");
  who.ssl = true;
  EXPECT_EQ(methodFor(rules, who), "trust");
}

TEST(Hba, DatabaseKeywords) {
  auto rules = parsed(
      "host replication all all trust\n"
      "host sameuser all all md5\n");
  EXPECT_EQ(methodFor(rules, client("127.0.0.1", "alice", "alice")), "md5");
  EXPECT_EQ(methodFor(rules, client("127.0.0.1", "replication", "alice")), "none");
  EXPECT_EQ(methodFor(rules, client("127.0.0.1", "bob", "alice")), "none");
}

TEST(Hba, RefusalMessagesUsePostgresWording) {
  auto who = client("10.0.0.7", "app", "alice");
  EXPECT_EQ(hbaNoEntryMessage(who),
            "no pg_hba.conf entry for host \"10.0.0.7\", user \"alice\", database \"app\", "
            "no encryption");
  EXPECT_EQ(hbaRejectMessage(who),
            "pg_hba.conf rejects connection for host \"10.0.0.7\", user \"alice\", database "
            "\"app\", no encryption");
}

TEST(Hba, EmptyFileRejectsEveryone) {
  auto rules = parsed("# nothing allowed\n");
  EXPECT_TRUE(rules.rules.empty());
  EXPECT_EQ(methodFor(rules, client("127.0.0.1", "db", "u")), "none");
}

TEST(Hba, ErrorsNameFileLineAndReason) {
  EXPECT_EQ(errorOf("host all all all trust\nhots all all all trust\n"),
            "hba.conf:2: invalid connection type \"hots\"");
  EXPECT_EQ(errorOf("host\n"), "hba.conf:1: end-of-line before database specification");
  EXPECT_EQ(errorOf("host all\n"), "hba.conf:1: end-of-line before role specification");
  EXPECT_EQ(errorOf("host all all\n"), "hba.conf:1: end-of-line before IP address specification");
  EXPECT_EQ(errorOf("host all all 10.0.0.0/8\n"),
            "hba.conf:1: end-of-line before authentication method");
  EXPECT_EQ(errorOf("host all all 10.0.0.0 md5\n"), "hba.conf:1: invalid IP mask \"md5\"");
  EXPECT_EQ(errorOf("host all all 10.0.0.0\n"),
            "hba.conf:1: end-of-line before netmask specification");
  EXPECT_EQ(errorOf("host all all 10.0.0.0 ffff:: md5\n"),
            "hba.conf:1: IP address and mask do not match");
  EXPECT_EQ(errorOf("host all all 10.0.0.0/33 md5\n"),
            "hba.conf:1: invalid CIDR mask in address \"10.0.0.0/33\"");
  EXPECT_EQ(errorOf("host all all 10.0.0.0/x md5\n"),
            "hba.conf:1: invalid CIDR mask in address \"10.0.0.0/x\"");
  EXPECT_EQ(errorOf("host all all db.example.com md5\n"),
            "hba.conf:1: invalid IP address \"db.example.com\" (host names are not supported)");
  EXPECT_EQ(errorOf("host all all all md4\n"), "hba.conf:1: invalid authentication method \"md4\"");
  EXPECT_EQ(errorOf("host all all all peer\n"),
            "hba.conf:1: authentication method \"peer\" is not supported by the pool "
            "(scram-sha-256, md5, trust, reject, cert)");
  EXPECT_EQ(errorOf("host all all all md5 map=certmap\n"),
            "hba.conf:1: authentication option \"map\" is not supported (clientcert)");
  EXPECT_EQ(errorOf("hostssl all all all md5 clientcert\n"),
            "hba.conf:1: authentication option not in name=value format: clientcert");
  EXPECT_EQ(errorOf("host all \"alice all all md5\n"), "hba.conf:1: unterminated quoted string");
  EXPECT_EQ(errorOf("host db1,,db2 all all md5\n"), "hba.conf:1: empty name in a list");
  EXPECT_EQ(errorOf("host all all all,10.0.0.1/32 md5\n"),
            "hba.conf:1: multiple values specified for host address");
  EXPECT_EQ(errorOf("host all all all md5,trust\n"),
            "hba.conf:1: multiple values specified for authentication type");
}

TEST(Hba, CertIsForHostsslLinesOnly) {
  EXPECT_EQ(errorOf("hostssl all all all cert\n"), "(parsed)");
  EXPECT_EQ(errorOf("host all all all cert\n"),
            "hba.conf:1: cert authentication is only supported on hostssl connections");
  EXPECT_EQ(errorOf("hostnossl all all all cert\n"),
            "hba.conf:1: cert authentication is only supported on hostssl connections");
  EXPECT_STREQ(toString(HbaMethod::kCert), "cert");
}

// PostgreSQL 15's rules for the option: hostssl rows only, verify-ca or
// verify-full, and cert takes verify-full only (it implies it).
TEST(Hba, ClientcertAddsACertificateCheckOnHostsslLines) {
  auto parsed = parseHba(
      "hostssl all alice all scram-sha-256 clientcert=verify-full\n"
      "hostssl all bob all md5 clientcert=verify-ca\n"
      "hostssl all carol all cert clientcert=verify-full\n"
      "hostssl all dave all trust\n",
      "hba.conf");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->rules.size(), 4U);
  EXPECT_EQ(parsed->rules[0].clientCert, HbaClientCert::kVerifyFull);
  EXPECT_EQ(parsed->rules[0].method, HbaMethod::kScramSha256);
  EXPECT_EQ(parsed->rules[1].clientCert, HbaClientCert::kVerifyCa);
  EXPECT_EQ(parsed->rules[1].method, HbaMethod::kMd5);
  EXPECT_EQ(parsed->rules[2].clientCert, HbaClientCert::kVerifyFull);
  EXPECT_EQ(parsed->rules[3].clientCert, HbaClientCert::kNone);
  EXPECT_EQ(errorOf("host all all all md5 clientcert=verify-full\n"),
            "hba.conf:1: clientcert can only be configured for \"hostssl\" rows");
  EXPECT_EQ(errorOf("hostnossl all all all md5 clientcert=verify-ca\n"),
            "hba.conf:1: clientcert can only be configured for \"hostssl\" rows");
  EXPECT_EQ(errorOf("hostssl all all all cert clientcert=verify-ca\n"),
            "hba.conf:1: clientcert only accepts \"verify-full\" when using \"cert\" "
            "authentication");
  EXPECT_EQ(errorOf("hostssl all all all md5 clientcert=1\n"),
            "hba.conf:1: invalid value for clientcert: \"1\"");
}

TEST(Hba, UnsupportedFeaturesAreErrorsNotSkippedLines) {
  EXPECT_EQ(errorOf("local all all trust\n"),
            "hba.conf:1: local (Unix-domain socket) lines are not supported: the pool listens "
            "on TCP");
  EXPECT_EQ(errorOf("hostgssenc all all all md5\n"),
            "hba.conf:1: connection type \"hostgssenc\" is not supported: the pool has no GSSAPI");
  EXPECT_EQ(errorOf("host all all samenet md5\n"),
            "hba.conf:1: samenet is not supported: list the networks as addresses");
  EXPECT_EQ(errorOf("host all +admins all md5\n"),
            "hba.conf:1: role membership (\"+admins\") is not supported: the pool does not know "
            "roles");
  EXPECT_EQ(errorOf("host all @users.txt all md5\n"),
            "hba.conf:1: file inclusion (\"@users.txt\") is not supported");
  EXPECT_EQ(errorOf("host samerole all all md5\n"),
            "hba.conf:1: \"samerole\" is not supported: the pool does not know role memberships");
}

TEST(IpAddress, ParsesAndPrints) {
  EXPECT_EQ(IpAddress::parse("127.0.0.1")->toString(), "127.0.0.1");
  EXPECT_EQ(IpAddress::parse("::1")->toString(), "::1");
  EXPECT_EQ(IpAddress::parse("::1")->family, IpAddress::Family::kV6);
  EXPECT_FALSE(IpAddress::parse("localhost").has_value());
  EXPECT_FALSE(IpAddress::parse("").has_value());
  EXPECT_FALSE(IpAddress::parse("1.2.3").has_value());
}

}  // namespace
}  // namespace pgswarm::proxy
