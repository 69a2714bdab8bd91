// TCP port checks for commands that must fail early and precisely when a
// port is taken, instead of leaving a half-started cluster behind.
#pragma once

#include <string>

#include "common/result.hpp"

namespace pgswarm::runtime {

// Ok when `port` can be bound on `host` right now (IPv4 dotted or "*").
[[nodiscard]] Status checkPortFree(const std::string& host, int port);
// A port the kernel considers free on 127.0.0.1 (for tests and defaults).
[[nodiscard]] Result<int> pickFreePort();

}  // namespace pgswarm::runtime
