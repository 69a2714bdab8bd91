// SCRAM-SHA-256 exchanges: RFC 7677's transcript byte for byte on both sides,
// our client against our server, and every way a login must fail.
#include <gtest/gtest.h>

#include "auth/scram_client.hpp"
#include "auth/scram_server.hpp"

namespace pgswarm::auth {
namespace {

// RFC 7677 section 3.
constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

ScramSecret rfcSecret() {
  auto salt = base64Decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  auto secret = buildScramSecret("pencil", *salt, 4096);
  EXPECT_TRUE(secret.ok());
  return *secret;
}

Bytes mockKey() {
  return Bytes(32, 0x5a);
}

// Runs our client against our server; returns the server's verdict (or the
// first error's message).
struct Exchange {
  Result<ScramServerFinal> final{ScramServerFinal{Verdict::kRejected, {}}};
  Status clientDone{Ok{}};
};

Exchange run(ScramServer& server, ScramClient& client) {
  Exchange out;
  auto server_first = server.handleClientFirst(client.clientFirst());
  if (!server_first) return {server_first.error(), Ok{}};
  auto client_final = client.handleServerFirst(*server_first);
  if (!client_final) return {client_final.error(), Ok{}};
  out.final = server.handleClientFinal(*client_final);
  if (out.final && out.final->verdict == Verdict::kAuthenticated) {
    out.clientDone = client.handleServerFinal(out.final->message);
  }
  return out;
}

TEST(ScramExchange, ClientReproducesRfc7677Transcript) {
  auto client = ScramClient::fromPassword(
      "pencil", {.username = "user", .clientNonce = std::string(kClientNonce)});
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client->clientFirst(), kClientFirst);
  auto client_final = client->handleServerFirst(kServerFirst);
  ASSERT_TRUE(client_final.ok()) << client_final.error().message;
  EXPECT_EQ(*client_final, kClientFinal);
  auto done = client->handleServerFinal(kServerFinal);
  EXPECT_TRUE(done.ok()) << done.error().message;
}

TEST(ScramExchange, ServerReproducesRfc7677Transcript) {
  auto server = ScramServer::forSecret(rfcSecret());
  auto server_first = server.handleClientFirst(kClientFirst, kServerNonce);
  ASSERT_TRUE(server_first.ok()) << server_first.error().message;
  EXPECT_EQ(*server_first, kServerFirst);
  auto final = server.handleClientFinal(kClientFinal);
  ASSERT_TRUE(final.ok()) << final.error().message;
  EXPECT_EQ(final->verdict, Verdict::kAuthenticated);
  EXPECT_EQ(final->message, kServerFinal);
}

TEST(ScramExchange, OurClientLogsInToOurServer) {
  auto secret = buildScramSecret("correct horse");
  ASSERT_TRUE(secret.ok());
  auto server = ScramServer::forSecret(*secret);
  auto client = ScramClient::fromPassword("correct horse");
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(client->clientFirst().starts_with("n,,n=,r="));  // libpq's form
  auto result = run(server, *client);
  ASSERT_TRUE(result.final.ok()) << result.final.error().message;
  EXPECT_EQ(result.final->verdict, Verdict::kAuthenticated);
  EXPECT_TRUE(result.clientDone.ok());
}

TEST(ScramExchange, ServerFromPlaintextPasswordAcceptsNormalisedEquivalent) {
  auto server = ScramServer::forPassword("p\u00e4ssword");
  ASSERT_TRUE(server.ok());
  auto client = ScramClient::fromPassword("pa\u0308ssword");
  ASSERT_TRUE(client.ok());
  auto result = run(*server, *client);
  ASSERT_TRUE(result.final.ok());
  EXPECT_EQ(result.final->verdict, Verdict::kAuthenticated);
}

TEST(ScramExchange, WrongPasswordIsRejectedWithoutServerFinal) {
  auto server = ScramServer::forSecret(rfcSecret());
  auto client = ScramClient::fromPassword("pencil2");
  ASSERT_TRUE(client.ok());
  auto result = run(server, *client);
  ASSERT_TRUE(result.final.ok()) << result.final.error().message;
  EXPECT_EQ(result.final->verdict, Verdict::kRejected);
  EXPECT_TRUE(result.final->message.empty());
  EXPECT_FALSE(server.recoveredClientKeys().has_value());
}

TEST(ScramExchange, EmptyPlaintextPasswordNeverAuthenticates) {
  auto server = ScramServer::forPassword("");
  ASSERT_TRUE(server.ok());
  auto client = ScramClient::fromPassword("");
  ASSERT_TRUE(client.ok());
  auto result = run(*server, *client);
  ASSERT_TRUE(result.final.ok());
  EXPECT_EQ(result.final->verdict, Verdict::kRejected);
}

TEST(ScramExchange, TamperedNonceIsAnError) {
  auto server = ScramServer::forSecret(rfcSecret());
  ASSERT_TRUE(server.handleClientFirst(kClientFirst, kServerNonce).ok());
  std::string tampered(kClientFinal);
  tampered.replace(tampered.find("k0,p="), 2, "k1");
  auto final = server.handleClientFinal(tampered);
  ASSERT_FALSE(final.ok());
  EXPECT_NE(final.error().message.find("nonce"), std::string::npos);
  EXPECT_EQ(server.lastError(), AuthErrorCode::kMalformedMessage);
}

TEST(ScramExchange, TamperedProofIsRejected) {
  auto server = ScramServer::forSecret(rfcSecret());
  ASSERT_TRUE(server.handleClientFirst(kClientFirst, kServerNonce).ok());
  std::string tampered(kClientFinal);
  tampered.replace(tampered.find("p=d"), 3, "p=e");
  auto final = server.handleClientFinal(tampered);
  ASSERT_TRUE(final.ok()) << final.error().message;
  EXPECT_EQ(final->verdict, Verdict::kRejected);
}

TEST(ScramExchange, ChannelBindingMustEchoTheGs2Header) {
  auto server = ScramServer::forSecret(rfcSecret());
  // The client said "y,," (supports binding, thinks we do not) but echoes "biws" ("n,,").
  ASSERT_TRUE(server.handleClientFirst("y,,n=user,r=rOprNGfwEbeRWgbNEkqO", kServerNonce).ok());
  auto final = server.handleClientFinal(kClientFinal);
  ASSERT_FALSE(final.ok());
  EXPECT_NE(final.error().message.find("channel-binding"), std::string::npos);
  EXPECT_EQ(server.lastError(), AuthErrorCode::kMalformedMessage);
}

TEST(ScramExchange, YFlagWithMatchingEchoIsAccepted) {
  auto server = ScramServer::forSecret(rfcSecret());
  auto first = server.handleClientFirst("y,,n=,r=abc", "def");
  ASSERT_TRUE(first.ok()) << first.error().message;
  // A wrong proof, but the channel-binding check passes and the proof is judged.
  auto final = server.handleClientFinal("c=eSws,r=abcdef,p=" + base64Encode(ScramKey{}));
  ASSERT_TRUE(final.ok()) << final.error().message;
  EXPECT_EQ(final->verdict, Verdict::kRejected);
}

TEST(ScramExchange, ChannelBindingRequestIsRefusedClearly) {
  auto server = ScramServer::forSecret(rfcSecret());
  auto first = server.handleClientFirst("p=tls-server-end-point,,n=,r=abc");
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.error().message.find("SCRAM-SHA-256-PLUS"), std::string::npos);
  EXPECT_EQ(server.lastError(), AuthErrorCode::kUnsupported);
}

TEST(ScramExchange, ServerRejectsMalformedClientFirst) {
  struct Case {
    std::string_view message;
    AuthErrorCode code;
  };
  for (auto [message, code] : {
           Case{"", AuthErrorCode::kMalformedMessage},
           Case{"x,,n=,r=abc", AuthErrorCode::kMalformedMessage},
           Case{"n,n=,r=abc", AuthErrorCode::kMalformedMessage},
           Case{"n,a=admin,n=,r=abc", AuthErrorCode::kUnsupported},
           Case{"n,,m=ext,n=,r=abc", AuthErrorCode::kUnsupported},
           Case{"n,,r=abc", AuthErrorCode::kMalformedMessage},
           Case{"n,,n=", AuthErrorCode::kMalformedMessage},
           Case{"n,,n=,r=", AuthErrorCode::kMalformedMessage},
           Case{"n,,n=,r=a\x01", AuthErrorCode::kMalformedMessage},
           Case{"n,,n=,r=abc,1=x", AuthErrorCode::kMalformedMessage},
           Case{std::string_view("n,,n=,r=abc\0", 12), AuthErrorCode::kMalformedMessage},
       }) {
    auto server = ScramServer::forSecret(rfcSecret());
    auto first = server.handleClientFirst(message);
    EXPECT_FALSE(first.ok()) << message;
    EXPECT_EQ(server.lastError(), code) << message;
  }
}

TEST(ScramExchange, ServerIgnoresUsernameAndExtensions) {
  auto server = ScramServer::forSecret(rfcSecret());
  auto first = server.handleClientFirst("n,,n=someone=2Celse,r=abc,x=ext", "def");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->starts_with("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
}

TEST(ScramExchange, ServerRejectsMalformedClientFinal) {
  for (std::string_view message : {
           "r=abcdef,p=AAAA",         // missing channel binding
           "c=biws,p=AAAA",           // missing nonce
           "c=biws,r=abcdef",         // missing proof
           "c=biws,r=abcdef,p=AAAA",  // proof too short
           "c=biws,r=abcdef,p=!!!!",  // proof not base64
       }) {
    auto server = ScramServer::forSecret(rfcSecret());
    ASSERT_TRUE(server.handleClientFirst("n,,n=,r=abc", "def").ok());
    EXPECT_FALSE(server.handleClientFinal(message).ok()) << message;
    EXPECT_EQ(server.lastError(), AuthErrorCode::kMalformedMessage) << message;
  }
  auto server = ScramServer::forSecret(rfcSecret());
  ASSERT_TRUE(server.handleClientFirst("n,,n=,r=abc", "def").ok());
  auto garbage = server.handleClientFinal("c=biws,r=abcdef,p=" + base64Encode(ScramKey{}) + ",x=1");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message.find("garbage"), std::string::npos);
}

TEST(ScramExchange, ServerSkipsExtensionsBeforeTheProof) {
  auto server = ScramServer::forSecret(rfcSecret());
  ASSERT_TRUE(server.handleClientFirst("n,,n=,r=abc", "def").ok());
  auto final = server.handleClientFinal("c=biws,r=abcdef,x=ext,p=" + base64Encode(ScramKey{}));
  ASSERT_TRUE(final.ok()) << final.error().message;
  EXPECT_EQ(final->verdict, Verdict::kRejected);
}

TEST(ScramExchange, StepsOutOfOrderFail) {
  auto server = ScramServer::forSecret(rfcSecret());
  EXPECT_FALSE(server.handleClientFinal(kClientFinal).ok());
  EXPECT_EQ(server.lastError(), AuthErrorCode::kOutOfOrder);
  auto again = ScramServer::forSecret(rfcSecret());
  ASSERT_TRUE(again.handleClientFirst(kClientFirst, kServerNonce).ok());
  EXPECT_FALSE(again.handleClientFirst(kClientFirst, kServerNonce).ok());
  EXPECT_EQ(again.lastError(), AuthErrorCode::kOutOfOrder);
}

TEST(ScramExchange, MockExchangeLooksRealAndAlwaysRejects) {
  auto mock = ScramServer::mock("nobody", mockKey());
  ASSERT_TRUE(mock.ok());
  EXPECT_TRUE(mock->isMock());
  auto client = ScramClient::fromPassword("anything");
  ASSERT_TRUE(client.ok());
  auto result = run(*mock, *client);
  ASSERT_TRUE(result.final.ok()) << result.final.error().message;
  EXPECT_EQ(result.final->verdict, Verdict::kRejected);
  EXPECT_TRUE(result.final->message.empty());
  EXPECT_FALSE(mock->recoveredClientKeys().has_value());
}

TEST(ScramExchange, MockSaltIsStablePerUserAndLooksLikeARealOne) {
  auto first_salt = [](std::string_view user, const Bytes& key) {
    auto mock = ScramServer::mock(user, key);
    auto server_first = mock->handleClientFirst("n,,n=,r=abc", "def");
    return server_first.ok() ? *server_first : std::string();
  };
  std::string a = first_salt("nobody", mockKey());
  EXPECT_EQ(a, first_salt("nobody", mockKey()));
  EXPECT_NE(a, first_salt("somebody", mockKey()));
  EXPECT_NE(a, first_salt("nobody", Bytes(32, 0x01)));
  EXPECT_EQ(a.size(), std::string("r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").size());
  EXPECT_FALSE(ScramServer::mock("nobody", Bytes(8, 0x01)).ok());
}

TEST(ScramExchange, ForUserPicksRealPlaintextOrMockExchange) {
  Secret scram = rfcSecret();
  Secret plain = PlainSecret{"pencil"};
  Secret md5 = Md5Secret{"md520c46e3762c864548e296b33c3406aa9"};
  struct Case {
    const Secret* secret;
    Verdict expected;
  };
  for (auto [secret, expected] :
       {Case{&scram, Verdict::kAuthenticated}, Case{&plain, Verdict::kAuthenticated},
        Case{&md5, Verdict::kRejected}, Case{nullptr, Verdict::kRejected}}) {
    auto server = ScramServer::forUser(secret, "user", mockKey());
    ASSERT_TRUE(server.ok());
    auto client = ScramClient::fromPassword("pencil");
    ASSERT_TRUE(client.ok());
    auto result = run(*server, *client);
    ASSERT_TRUE(result.final.ok()) << result.final.error().message;
    EXPECT_EQ(result.final->verdict, expected);
  }
}

TEST(ScramExchange, RecoveredClientKeyLogsInToAServerWithTheSameSecret) {
  ScramSecret secret = rfcSecret();
  auto front = ScramServer::forSecret(secret);
  auto user_client = ScramClient::fromPassword("pencil");
  ASSERT_TRUE(user_client.ok());
  auto result = run(front, *user_client);
  ASSERT_TRUE(result.final.ok());
  ASSERT_EQ(result.final->verdict, Verdict::kAuthenticated);
  auto keys = front.recoveredClientKeys();
  ASSERT_TRUE(keys.has_value());
  EXPECT_EQ(base64Encode(keys->clientKey), "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos=");
  EXPECT_EQ(keys->iterations, 4096);

  auto backend = ScramServer::forSecret(secret);  // the postgres server's copy
  auto proxy_client = ScramClient::fromKeys(*keys);
  ASSERT_TRUE(proxy_client.ok());
  auto login = run(backend, *proxy_client);
  ASSERT_TRUE(login.final.ok()) << login.final.error().message;
  EXPECT_EQ(login.final->verdict, Verdict::kAuthenticated);
  EXPECT_TRUE(login.clientDone.ok());
}

TEST(ScramExchange, RecoveredClientKeyFailsEarlyAgainstAnotherSecret) {
  auto front = ScramServer::forSecret(rfcSecret());
  auto user_client = ScramClient::fromPassword("pencil");
  ASSERT_TRUE(run(front, *user_client).final.ok());
  auto keys = front.recoveredClientKeys();
  ASSERT_TRUE(keys.has_value());
  auto other = buildScramSecret("pencil");  // same password, new salt
  ASSERT_TRUE(other.ok());
  auto backend = ScramServer::forSecret(*other);
  auto proxy_client = ScramClient::fromKeys(*keys);
  auto server_first = backend.handleClientFirst(proxy_client->clientFirst());
  ASSERT_TRUE(server_first.ok());
  EXPECT_FALSE(proxy_client->handleServerFirst(*server_first).ok());
  EXPECT_EQ(proxy_client->lastError(), AuthErrorCode::kSecretMismatch);
}

TEST(ScramExchange, ClientRejectsBadServerMessages) {
  auto make = [] {
    return *ScramClient::fromPassword("pencil", {.clientNonce = std::string(kClientNonce)});
  };
  for (std::string_view bad : {
           "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=!!!,i=4096",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=1",
           "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
       }) {
    auto client = make();
    EXPECT_FALSE(client.handleServerFirst(bad).ok()) << bad;
    EXPECT_EQ(client.lastError(), AuthErrorCode::kMalformedMessage) << bad;
  }
}

TEST(ScramExchange, ClientChecksTheServerSignature) {
  auto client = ScramClient::fromPassword(
      "pencil", {.username = "user", .clientNonce = std::string(kClientNonce)});
  ASSERT_TRUE(client->handleServerFirst(kServerFirst).ok());
  EXPECT_FALSE(client->handleServerFinal("v=" + base64Encode(ScramKey{})).ok());
  EXPECT_EQ(client->lastError(), AuthErrorCode::kServerSignatureMismatch);

  auto refused = ScramClient::fromPassword("pencil", {.clientNonce = std::string(kClientNonce)});
  ASSERT_TRUE(refused->handleServerFirst(kServerFirst).ok());
  auto error = refused->handleServerFinal("e=invalid-proof");
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.error().message.find("invalid-proof"), std::string::npos);
  EXPECT_EQ(refused->lastError(), AuthErrorCode::kServerError);
}

TEST(ScramExchange, ClientEscapesTheUsername) {
  auto client = ScramClient::fromPassword("x", {.username = "a,b=c", .clientNonce = "n"});
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client->clientFirst(), "n,,n=a=2Cb=3Dc,r=n");
}

}  // namespace
}  // namespace pgswarm::auth
