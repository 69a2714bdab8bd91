// `pgswarm node` from a validated NodeConfig to the exit code: lock, REST
// API, first-start initialisation (or reuse of the data folder), then the
// supervisor. Each step that fails leaves nothing running and nothing
// half-made behind.
#pragma once

#include "agent/node_config.hpp"

namespace pgswarm::agent {

// Exit codes: 0 stopped on request, 1 runtime failure, 2 bad configuration.
inline constexpr int kExitStopped = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadConfig = 2;

// Expects logging set up and config.pgBin located.
[[nodiscard]] int runNodeAgent(const NodeConfig& config);

}  // namespace pgswarm::agent
