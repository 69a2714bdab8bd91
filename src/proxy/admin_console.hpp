// The admin console: a client that logged in to the virtual database
// `pgswarm` talks to the pool itself, never to a server. Admin users only;
// simple query protocol only; reads operator views from every worker
// through snapshots, so it never touches another thread's state directly.
#pragma once

#include <string>
#include <string_view>

#include <asio.hpp>

#include "runtime/byte_buffer.hpp"
#include "runtime/client_stream.hpp"
#include "runtime/stream.hpp"

namespace pgswarm::proxy {

class Worker;

// The virtual database that reaches the console instead of a server.
inline constexpr std::string_view kAdminDatabase = "pgswarm";

// Runs after the client authenticated: sends the welcome, then serves
// commands until Terminate or the connection ends. A user not in
// pool.admin_users gets FATAL 42501 instead.
asio::awaitable<void> runAdminConsole(Worker& worker, runtime::ClientStream& client,
                                      runtime::ByteBuffer& input, const std::string& user);

}  // namespace pgswarm::proxy
