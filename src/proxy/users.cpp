// Users of the pool: see users.hpp.
#include "proxy/users.hpp"

#include "common/files.hpp"
#include "proxy/pool_config.hpp"

namespace pgswarm::proxy {

Status Users::load(const PoolConfig& config) {
  auto list = std::make_shared<auth::UserList>();
  if (!config.authFile.empty()) {
    auto text = readFile(config.authFile);
    if (!text) return text.error();
    auto parsed = auth::parseUserList(*text, config.authFile);
    if (!parsed) return parsed.error();
    *list = std::move(*parsed);
  }
  if (!config.seedUser.empty() && !config.seedPassword.empty()) {
    auto secret = auth::parseSecret(config.seedPassword);
    if (!secret) return secret.error();
    (*list)[config.seedUser] = *secret;
  }
  if (!config.authUser.empty() && !list->contains(config.authUser)) {
    return makeError(
        "auth_user \"{}\" is not in the auth file: the pool logs in as it to run auth_query",
        config.authUser);
  }
  std::lock_guard lock(mutex_);
  users_ = std::move(list);
  return Ok{};
}

std::optional<auth::Secret> Users::find(const std::string& user) const {
  std::lock_guard lock(mutex_);
  auto it = users_->find(user);
  if (it == users_->end()) return std::nullopt;
  return it->second;
}

pool::ServerCredentials Users::credentials(const std::string& user) const {
  std::lock_guard lock(mutex_);
  pool::ServerCredentials credentials;
  if (auto it = users_->find(user); it != users_->end()) {
    if (const auto* plain = std::get_if<auth::PlainSecret>(&it->second)) {
      credentials.password = plain->password;
    } else if (const auto* md5 = std::get_if<auth::Md5Secret>(&it->second)) {
      credentials.md5Secret = md5->digest;
    }
  } else if (auto remembered = md5Secrets_.find(user); remembered != md5Secrets_.end()) {
    credentials.md5Secret = remembered->second;
  }
  if (auto it = scramKeys_.find(user); it != scramKeys_.end()) credentials.scramKeys = it->second;
  return credentials;
}

void Users::rememberScramKeys(const std::string& user, auth::ScramClientKeys keys) {
  std::lock_guard lock(mutex_);
  scramKeys_[user] = std::move(keys);
}

void Users::rememberMd5Secret(const std::string& user, std::string md5Secret) {
  std::lock_guard lock(mutex_);
  md5Secrets_[user] = std::move(md5Secret);
}

std::size_t Users::size() const {
  std::lock_guard lock(mutex_);
  return users_->size();
}

}  // namespace pgswarm::proxy
