// RELOAD and SIGHUP for pool sizes: the config is read again (file,
// environment, flags) and its default_pool_size, min_pool_size,
// reserve_pool_size, pool.databases and pool.users go to every pool, old
// and new; server_tls_* are reloadServerTls's. Other settings apply only on
// restart; changed ones are named.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace pgswarm::proxy {

struct PoolConfig;
struct ProxyShared;

// Keys (without "pool.") whose value differs between `running` and `fresh`,
// other than the pool sizes: what a RELOAD cannot apply.
[[nodiscard]] std::vector<std::string> settingsNeedingRestart(const PoolConfig& running,
                                                              const PoolConfig& fresh);

// A config that does not read or validate changes nothing and says why.
// Sets *changed when the sizes differ from those in effect.
[[nodiscard]] Status reloadPoolSizes(ProxyShared& shared, bool* changed = nullptr);

}  // namespace pgswarm::proxy
