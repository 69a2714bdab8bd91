// The users the pool knows: the auth file plus the seed's USER/PASSWORD,
// reloadable, and the SCRAM keys recovered from clients' logins (so a user
// known only by a SCRAM secret can still be logged in to servers).
// Read at login only, never per message.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/scram_secret.hpp"
#include "auth/userlist.hpp"
#include "common/result.hpp"
#include "pool/server_connection.hpp"

namespace pgswarm::proxy {

struct PoolConfig;

class Users {
 public:
  // Reads the auth file (if any) and adds the seed user.
  [[nodiscard]] Status load(const PoolConfig& config);
  // The user's secret; nullopt for an unknown user.
  [[nodiscard]] std::optional<auth::Secret> find(const std::string& user) const;
  // What the pool can log in to servers with for this user: one shared
  // object per user until a login or a reload changes it (every idle client
  // of a user holds the same one).
  [[nodiscard]] std::shared_ptr<const pool::ServerCredentials> credentials(
      const std::string& user) const;
  void rememberScramKeys(const std::string& user, auth::ScramClientKeys keys);
  // An md5 secret that authenticated a client of a user missing from the
  // auth file (auth_query): enough to answer a server's md5 request.
  void rememberMd5Secret(const std::string& user, std::string md5Secret);
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const auth::UserList> users_ = std::make_shared<auth::UserList>();
  std::map<std::string, auth::ScramClientKeys> scramKeys_;
  std::map<std::string, std::string> md5Secrets_;
  mutable std::map<std::string, std::shared_ptr<const pool::ServerCredentials>, std::less<>>
      credentials_;
};

}  // namespace pgswarm::proxy
