// The users the pool knows: the auth file plus the seed's USER/PASSWORD,
// reloadable, and the SCRAM keys recovered from clients' logins (so a user
// known only by a SCRAM secret can still be logged in to servers).
// Read at login only, never per message.
#pragma once

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
  // What the pool can log in to servers with for this user.
  [[nodiscard]] pool::ServerCredentials credentials(const std::string& user) const;
  void rememberScramKeys(const std::string& user, auth::ScramClientKeys keys);
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const auth::UserList> users_ = std::make_shared<auth::UserList>();
  std::map<std::string, auth::ScramClientKeys> scramKeys_;
};

}  // namespace pgswarm::proxy
