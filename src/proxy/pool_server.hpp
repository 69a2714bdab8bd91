// The `pgswarm pool` process: loads users, starts one Worker per thread on
// the listen address, and runs until SIGTERM/SIGINT (stop) with SIGHUP
// reloading the auth file and the pool sizes.
#pragma once

#include <functional>

#include "proxy/pool_config.hpp"

namespace pgswarm::proxy {

// Runs the pool in the foreground; returns the process exit code.
// `rereadConfig` reads the config again for RELOAD / SIGHUP (pool sizes);
// without it they keep the sizes.
[[nodiscard]] int runPool(const PoolConfig& config,
                          std::function<Result<PoolConfig>()> rereadConfig = {});

}  // namespace pgswarm::proxy
