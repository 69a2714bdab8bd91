// auth_query without a server: the request binds the user name as a
// parameter (never spliced into SQL), the reply reader turns every answer a
// server can give into found / not found / failed, and the cache expires.
#include "proxy/auth_query.hpp"

#include <gtest/gtest.h>

#include "protocol/backend.hpp"
#include "protocol/frame.hpp"
#include "protocol/frontend.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/writer.hpp"

namespace pgswarm::proxy {
namespace {

using namespace std::chrono_literals;
constexpr std::string_view kScram =
    "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

template <typename Message>
void put(std::string& out, const Message& message) {
  protocol::Writer writer(out);
  ASSERT_EQ(message.encode(writer), protocol::EncodeStatus::kOk);
}

std::string row(std::optional<std::string_view> name, std::optional<std::string_view> secret) {
  std::string out;
  put(out, protocol::DataRow{{name, secret}});
  return out;
}

std::string ready(protocol::TransactionStatus status = protocol::TransactionStatus::kIdle) {
  std::string out;
  put(out, protocol::ReadyForQuery{status});
  return out;
}

std::string preamble() {
  std::string out;
  put(out, protocol::ParseComplete{});
  put(out, protocol::BindComplete{});
  return out;
}

std::string complete(std::string_view tag) {
  std::string out;
  put(out, protocol::CommandComplete{tag});
  return out;
}

struct Fed {
  AuthQueryReply::Step last = AuthQueryReply::Step::kContinue;
  AuthQueryResult result;
  bool reusable = false;
};

Fed feed(const std::string& user, const std::string& bytes) {
  AuthQueryReply reply(user);
  Fed fed;
  auto data = protocol::asBytes(bytes);
  while (!data.empty()) {
    auto frame = protocol::splitFrame(data);
    EXPECT_EQ(frame.status, protocol::FrameStatus::kReady);
    if (frame.status != protocol::FrameStatus::kReady) break;
    fed.last = reply.handle(frame.frame);
    data = data.subspan(frame.frame.length);
    if (fed.last != AuthQueryReply::Step::kContinue) break;
  }
  if (fed.last == AuthQueryReply::Step::kDone) {
    fed.result = reply.result();
    fed.reusable = reply.reusable();
  }
  return fed;
}

TEST(AuthQuery, RequestBindsTheUserAsAParameter) {
  auto bytes = encodeAuthQuery(
      "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1", "x' OR '1'='1");
  auto data = protocol::asBytes(bytes);
  std::vector<char> types;
  while (!data.empty()) {
    auto frame = protocol::splitFrame(data);
    ASSERT_EQ(frame.status, protocol::FrameStatus::kReady);
    types.push_back(frame.frame.type);
    if (frame.frame.type == protocol::kParse) {
      auto parse = protocol::Parse::parse(frame.frame.body);
      ASSERT_TRUE(parse);
      EXPECT_EQ(parse->statement, "");
      EXPECT_EQ(parse->sql, "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = $1");
    }
    if (frame.frame.type == protocol::kBind) {
      auto bind = protocol::Bind::parse(frame.frame.body);
      ASSERT_TRUE(bind);
      ASSERT_EQ(bind->parameters.size(), 1u);
      EXPECT_EQ(bind->parameters[0], "x' OR '1'='1");
    }
    data = data.subspan(frame.frame.length);
  }
  EXPECT_EQ(types, (std::vector<char>{protocol::kParse, protocol::kBind, protocol::kExecute,
                                      protocol::kSync}));
}

TEST(AuthQuery, FoundScramAndMd5Secrets) {
  auto scram = feed("alice", preamble() + row("alice", kScram) + complete("SELECT 1") + ready());
  EXPECT_EQ(scram.last, AuthQueryReply::Step::kDone);
  ASSERT_EQ(scram.result.kind, AuthQueryResult::Kind::kFound) << scram.result.error;
  EXPECT_EQ(auth::kindOf(*scram.result.secret), auth::SecretKind::kScram);
  EXPECT_TRUE(scram.reusable);

  auto md5 = feed("bob", preamble() + row("bob", "md5a3556571e93b0d20722ba62be61e8c2d") +
                             complete("SELECT 1") + ready());
  ASSERT_EQ(md5.result.kind, AuthQueryResult::Kind::kFound);
  EXPECT_EQ(auth::kindOf(*md5.result.secret), auth::SecretKind::kMd5);
}

TEST(AuthQuery, NoRowOrNoPasswordIsNotFound) {
  EXPECT_EQ(feed("ghost", preamble() + complete("SELECT 0") + ready()).result.kind,
            AuthQueryResult::Kind::kNotFound);
  EXPECT_EQ(feed("nopw", preamble() + row("nopw", std::nullopt) + complete("SELECT 1") + ready())
                .result.kind,
            AuthQueryResult::Kind::kNotFound);
  EXPECT_EQ(
      feed("empty", preamble() + row("empty", "") + complete("SELECT 1") + ready()).result.kind,
      AuthQueryResult::Kind::kNotFound);
}

TEST(AuthQuery, NonsenseAnswersFail) {
  // Another user's row (a query that ignores $1) must never log anyone in.
  auto other = feed("alice", preamble() + row("postgres", kScram) + complete("SELECT 1") + ready());
  EXPECT_EQ(other.result.kind, AuthQueryResult::Kind::kFailed);
  EXPECT_EQ(other.result.error, "auth_query returned a row for another user than \"alice\"");

  auto two = feed("alice", preamble() + row("alice", kScram) + row("alice", kScram) +
                               complete("SELECT 2") + ready());
  EXPECT_EQ(two.result.kind, AuthQueryResult::Kind::kFailed);

  std::string oneColumn;
  put(oneColumn, protocol::DataRow{{"alice"}});
  EXPECT_EQ(feed("alice", preamble() + oneColumn + complete("SELECT 1") + ready()).result.kind,
            AuthQueryResult::Kind::kFailed);

  auto malformed = feed(
      "alice", preamble() + row("alice", "SCRAM-SHA-256$broken") + complete("SELECT 1") + ready());
  EXPECT_EQ(malformed.result.kind, AuthQueryResult::Kind::kFailed);
}

TEST(AuthQuery, ServerErrorFailsAndLeavesTheConnectionUsable) {
  auto error = protocol::makeErrorResponse(protocol::Severity::kError, "42501",
                                           "permission denied for view pg_shadow");
  auto fed = feed("alice", error + ready());
  EXPECT_EQ(fed.last, AuthQueryReply::Step::kDone);
  EXPECT_EQ(fed.result.kind, AuthQueryResult::Kind::kFailed);
  EXPECT_EQ(fed.result.error, "auth_query failed: permission denied for view pg_shadow");
  EXPECT_TRUE(fed.reusable);
}

TEST(AuthQuery, ConnectionLeftInATransactionIsNotReused) {
  auto fed = feed("alice", preamble() + row("alice", kScram) + complete("SELECT 1") +
                               ready(protocol::TransactionStatus::kInTransaction));
  EXPECT_EQ(fed.result.kind, AuthQueryResult::Kind::kFound);
  EXPECT_FALSE(fed.reusable);
}

TEST(AuthQuery, UnexpectedMessageBreaksTheConnection) {
  std::string copy;
  copy += 'G';
  copy += std::string("\0\0\0\x07\0\0\0", 7);
  auto fed = feed("alice", preamble() + copy);
  EXPECT_EQ(fed.last, AuthQueryReply::Step::kBroken);
}

TEST(SecretCache, ExpiresAndCachesAbsence) {
  SecretCache cache(5s);
  auto now = SecretCache::Clock::now();
  EXPECT_FALSE(cache.find("alice", now).has_value());
  cache.store("alice", auth::Secret{auth::PlainSecret{"pw"}}, now);
  cache.store("ghost", std::nullopt, now);
  auto alice = cache.find("alice", now + 4s);
  ASSERT_TRUE(alice.has_value());
  ASSERT_TRUE(alice->has_value());
  auto ghost = cache.find("ghost", now + 4s);
  ASSERT_TRUE(ghost.has_value());
  EXPECT_FALSE(ghost->has_value());
  EXPECT_FALSE(cache.find("alice", now + 5s).has_value());
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
}

TEST(SecretCache, ZeroTtlCachesNothingAndSizeIsBounded) {
  SecretCache off(0s);
  auto now = SecretCache::Clock::now();
  off.store("alice", std::nullopt, now);
  EXPECT_EQ(off.size(), 0u);

  SecretCache cache(60s);
  for (std::size_t i = 0; i < SecretCache::kMaxEntries + 10; ++i) {
    cache.store("user" + std::to_string(i), std::nullopt, now);
  }
  EXPECT_LE(cache.size(), SecretCache::kMaxEntries);
}

}  // namespace
}  // namespace pgswarm::proxy
