// Pool sizes as PgBouncer has them: default_pool_size, min_pool_size and
// reserve_pool_size for every (user, database), overridden per database and
// per user, and caps over all pools of one database or one user. Pure data
// and the precedence rule; no I/O, no atomics (see pool_slots.hpp for those).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace pgswarm::pool {

// [pool.databases.<name>]: unset fields fall back to the defaults.
struct DatabaseSizes {
  std::optional<int> poolSize;
  std::optional<int> minPoolSize;
  std::optional<int> reservePoolSize;
  int maxConnections = 0;  // max_db_connections; 0: no cap
  bool operator==(const DatabaseSizes&) const = default;
};

// [pool.users.<name>]
struct UserSizes {
  std::optional<int> poolSize;
  int maxConnections = 0;  // max_user_connections; 0: no cap
  bool operator==(const UserSizes&) const = default;
};

struct PoolSizes {
  int defaultPoolSize = 20;  // per (user, database), for the whole process
  int minPoolSize = 0;
  int reservePoolSize = 0;
  std::map<std::string, DatabaseSizes, std::less<>> databases;
  std::map<std::string, UserSizes, std::less<>> users;

  // What one (user, database) pool gets.
  struct Effective {
    int limit = 0;  // the user's pool_size, else the database's, else default_pool_size
    int reserve = 0;
    int min = 0;  // never above limit
    bool operator==(const Effective&) const = default;
  };
  [[nodiscard]] Effective of(const std::string& user, const std::string& database) const;
  [[nodiscard]] int maxDbConnections(const std::string& database) const;
  [[nodiscard]] int maxUserConnections(const std::string& user) const;
  bool operator==(const PoolSizes&) const = default;
};

}  // namespace pgswarm::pool
