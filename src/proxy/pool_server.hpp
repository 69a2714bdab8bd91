// The `pgswarm pool` process: loads users, starts one Worker per thread on
// the listen address, and runs until SIGTERM/SIGINT (stop) with SIGHUP
// reloading the auth file.
#pragma once

#include "proxy/pool_config.hpp"

namespace pgswarm::proxy {

// Runs the pool in the foreground; returns the process exit code.
[[nodiscard]] int runPool(const PoolConfig& config);

}  // namespace pgswarm::proxy
