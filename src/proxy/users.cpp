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
  credentials_.clear();
  return Ok{};
}

std::optional<auth::Secret> Users::find(const std::string& user) const {
  std::lock_guard lock(mutex_);
  auto it = users_->find(user);
  if (it == users_->end()) return std::nullopt;
  return it->second;
}

std::shared_ptr<const pool::ServerCredentials> Users::credentials(const std::string& user) const {
  std::lock_guard lock(mutex_);
  auto& cached = credentials_[user];
  if (cached) return cached;
  auto credentials = std::make_shared<pool::ServerCredentials>();
  if (auto it = users_->find(user); it != users_->end()) {
    if (const auto* plain = std::get_if<auth::PlainSecret>(&it->second)) {
      credentials->password = plain->password;
    } else if (const auto* md5 = std::get_if<auth::Md5Secret>(&it->second)) {
      credentials->md5Secret = md5->digest;
    }
  } else if (auto remembered = md5Secrets_.find(user); remembered != md5Secrets_.end()) {
    credentials->md5Secret = remembered->second;
  }
  if (auto it = scramKeys_.find(user); it != scramKeys_.end()) credentials->scramKeys = it->second;
  cached = std::move(credentials);
  return cached;
}

void Users::rememberScramKeys(const std::string& user, auth::ScramClientKeys keys) {
  std::lock_guard lock(mutex_);
  // With the password known the keys are never used (servers get the
  // password), and each login's keys differ (a fresh salt for a plain secret).
  if (auto it = users_->find(user);
      it != users_->end() && std::holds_alternative<auth::PlainSecret>(it->second)) {
    return;
  }
  auto& remembered = scramKeys_[user];
  if (remembered == keys) return;  // the usual login: the cached credentials stand
  remembered = std::move(keys);
  credentials_.erase(user);
}

void Users::rememberMd5Secret(const std::string& user, std::string md5Secret) {
  std::lock_guard lock(mutex_);
  auto& remembered = md5Secrets_[user];
  if (remembered == md5Secret) return;
  remembered = std::move(md5Secret);
  credentials_.erase(user);
}

std::size_t Users::size() const {
  std::lock_guard lock(mutex_);
  return users_->size();
}

}  // namespace pgswarm::proxy
