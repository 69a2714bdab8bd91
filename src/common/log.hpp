// Logging setup: spdlog to stderr with one pattern for every subcommand, so
// agent, pool and CLI logs read the same in a terminal and in `docker logs`.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

#include "common/result.hpp"

namespace pgswarm {

// level: trace, debug, info, warn, error, off. `component` prefixes every line.
[[nodiscard]] Status setupLogging(std::string_view level, std::string_view component);

}  // namespace pgswarm
