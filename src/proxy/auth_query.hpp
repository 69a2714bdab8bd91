// auth_query, as PgBouncer's: the secret of a user missing from the auth file
// is asked from the primary with the extended protocol (the user name is a
// bound parameter, never spliced into SQL), and kept briefly in a cache so a
// login storm does not hammer the primary. The request bytes and the reply
// reader are pure; runAuthQuery() is the only I/O, on a pool connection.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <asio.hpp>

#include "auth/secret.hpp"
#include "pool/server_connection.hpp"
#include "protocol/frame.hpp"

namespace pgswarm::proxy {

// What one lookup found. kNotFound covers "no such role" and "a role with no
// password" (PostgreSQL refuses password logins for it too).
struct AuthQueryResult {
  enum class Kind {
    kFound,     // `secret` holds the user's secret
    kNotFound,  // no row, or a NULL or empty secret
    kFailed,    // the query failed or answered nonsense: `error` says why
  };
  Kind kind = Kind::kFailed;
  std::optional<auth::Secret> secret;
  std::string error;
};

// Parse (unnamed), Bind ($1 = user, text), Execute, Sync.
[[nodiscard]] std::string encodeAuthQuery(std::string_view query, std::string_view user);

// Reads the server's answer to encodeAuthQuery(), one frame at a time.
class AuthQueryReply {
 public:
  enum class Step {
    kContinue,  // feed the next frame
    kDone,      // ReadyForQuery came: result() is final
    kBroken,    // the server sent something out of protocol: close the connection
  };
  explicit AuthQueryReply(std::string user) : user_(std::move(user)) {}
  [[nodiscard]] Step handle(const protocol::Frame& frame);
  [[nodiscard]] AuthQueryResult result() const;
  // After kDone: the connection is idle outside a transaction and may be reused.
  [[nodiscard]] bool reusable() const { return reusable_; }
  [[nodiscard]] const std::string& brokenReason() const { return broken_; }

 private:
  Step fail(std::string reason);

  std::string user_;
  int rows_ = 0;
  std::optional<std::string> secretText_;
  std::string serverError_;
  std::string badReply_;
  std::string broken_;
  bool reusable_ = false;
};

// Runs the query on `conn` (idle, logged in as auth_user). `reusable` tells
// whether the connection may go back to its pool.
[[nodiscard]] asio::awaitable<AuthQueryResult> runAuthQuery(
    pool::ServerConnection& conn, std::string_view query, std::string user,
    std::chrono::steady_clock::time_point deadline, bool& reusable);

// Recent auth_query answers per user, shared by every worker. A negative
// answer is cached too, so guessing names cannot turn into one query per
// attempt; failures (server down) are not cached.
class SecretCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxEntries = 10000;

  explicit SecretCache(std::chrono::milliseconds ttl) : ttl_(ttl) {}
  // nullopt: nothing fresh cached. Otherwise the cached answer, whose inner
  // nullopt means "no such user".
  [[nodiscard]] std::optional<std::optional<auth::Secret>> find(const std::string& user,
                                                                Clock::time_point now) const;
  void store(const std::string& user, std::optional<auth::Secret> secret, Clock::time_point now);
  void clear();
  [[nodiscard]] std::size_t size() const;

 private:
  struct Entry {
    std::optional<auth::Secret> secret;
    Clock::time_point expires;
  };
  std::chrono::milliseconds ttl_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace pgswarm::proxy
