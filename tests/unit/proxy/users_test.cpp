// The users' server credentials: one shared object per user (every idle
// client of a user holds the same one), replaced only when what a server
// login would use changes.
#include "proxy/users.hpp"

#include <gtest/gtest.h>

#include "proxy/pool_config.hpp"

namespace pgswarm::proxy {
namespace {

PoolConfig seeded(const std::string& password) {
  PoolConfig config;
  config.seedUser = "alice";
  config.seedPassword = password;
  return config;
}

auth::ScramClientKeys keys(std::uint8_t fill) {
  auth::ScramClientKeys keys;
  keys.clientKey.fill(fill);
  keys.serverKey.fill(static_cast<std::uint8_t>(fill + 1));
  keys.iterations = 4096;
  return keys;
}

TEST(Users, ClientsOfOneUserShareItsCredentials) {
  Users users;
  ASSERT_TRUE(users.load(seeded("secret")));
  auto first = users.credentials("alice");
  EXPECT_EQ(first->password, "secret");
  EXPECT_EQ(users.credentials("alice").get(), first.get());
  // A plain password makes SCRAM keys useless: a login's keys change nothing.
  users.rememberScramKeys("alice", keys(1));
  EXPECT_EQ(users.credentials("alice").get(), first.get());
  EXPECT_FALSE(first->scramKeys);
}

TEST(Users, NewKeysMakeNewCredentialsAndLeaveHeldOnesAlone) {
  Users users;
  ASSERT_TRUE(users.load(seeded("secret")));
  users.rememberScramKeys("bob", keys(1));  // an auth_query user, known by its keys only
  auto first = users.credentials("bob");
  ASSERT_TRUE(first->scramKeys);
  users.rememberScramKeys("bob", keys(1));
  EXPECT_EQ(users.credentials("bob").get(), first.get());
  users.rememberScramKeys("bob", keys(7));
  auto second = users.credentials("bob");
  EXPECT_NE(second.get(), first.get());
  EXPECT_EQ(second->scramKeys->clientKey, keys(7).clientKey);
  EXPECT_EQ(first->scramKeys->clientKey, keys(1).clientKey);
}

TEST(Users, AReloadRereadsCredentials) {
  Users users;
  ASSERT_TRUE(users.load(seeded("secret")));
  auto before = users.credentials("alice");
  ASSERT_TRUE(users.load(seeded("changed")));
  auto after = users.credentials("alice");
  EXPECT_EQ(after->password, "changed");
  EXPECT_EQ(before->password, "secret");
}

}  // namespace
}  // namespace pgswarm::proxy
