// Host names resolved for a loop that takes no locks.
//
// asio's asynchronous resolver works only under a locking scheduler (it
// completes from a thread of its own), and the pool's workers run loops
// that take none (runtime/mailbox.hpp). Their names resolve on one shared
// loop of their own instead, and the answer comes back through the worker's
// mailbox. On any other loop asio's resolver is used as it is.
#pragma once

#include <chrono>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

namespace pgswarm::runtime {

struct Resolved {
  std::error_code ec;  // asio::error::timed_out when `deadline` came first
  asio::ip::tcp::resolver::results_type endpoints;
};

[[nodiscard]] asio::awaitable<Resolved> resolveHost(std::string host, std::string service,
                                                    std::chrono::steady_clock::time_point deadline);

}  // namespace pgswarm::runtime
