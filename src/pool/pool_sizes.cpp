// Precedence of pool sizes: see pool_sizes.hpp.
#include "pool/pool_sizes.hpp"

#include <algorithm>

namespace pgswarm::pool {

PoolSizes::Effective PoolSizes::of(const std::string& user, const std::string& database) const {
  Effective effective{.limit = defaultPoolSize, .reserve = reservePoolSize, .min = minPoolSize};
  if (auto db = databases.find(database); db != databases.end()) {
    effective.limit = db->second.poolSize.value_or(effective.limit);
    effective.reserve = db->second.reservePoolSize.value_or(effective.reserve);
    effective.min = db->second.minPoolSize.value_or(effective.min);
  }
  // As in PgBouncer, a user's pool_size wins over the database's.
  if (auto u = users.find(user); u != users.end()) {
    effective.limit = u->second.poolSize.value_or(effective.limit);
  }
  effective.min = std::min(effective.min, effective.limit);
  return effective;
}

int PoolSizes::maxDbConnections(const std::string& database) const {
  auto db = databases.find(database);
  return db == databases.end() ? 0 : db->second.maxConnections;
}

int PoolSizes::maxUserConnections(const std::string& user) const {
  auto u = users.find(user);
  return u == users.end() ? 0 : u->second.maxConnections;
}

}  // namespace pgswarm::pool
