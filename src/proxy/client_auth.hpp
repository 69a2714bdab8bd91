// The pool authenticating a client, as PostgreSQL would: the method comes
// from the first matching hba_file rule (no rule or a reject rule: 28000),
// else from auth_type; then SCRAM-SHA-256 (with a mock exchange for unknown
// users so they cannot be told apart), md5 (SCRAM instead when the secret is
// a SCRAM one, as PostgreSQL does), or trust. A user missing from the auth
// file is looked up with auth_query when auth_user is set. Sends every
// message of the exchange except AuthenticationOk, which the session sends
// with the rest of the welcome. Wrong passwords answer 28P01.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <asio.hpp>

#include "proxy/hba.hpp"
#include "runtime/byte_buffer.hpp"
#include "runtime/client_stream.hpp"
#include "runtime/stream.hpp"

namespace pgswarm::proxy {

enum class AuthOutcome {
  kAuthenticated,
  kRejected,      // an ErrorResponse was sent; close the connection
  kDisconnected,  // the client went away or timed out
};

class Worker;

// Runs on `worker`'s loop (auth_query uses its connections).
[[nodiscard]] asio::awaitable<AuthOutcome> authenticateClient(
    Worker& worker, runtime::ClientStream& socket, runtime::ByteBuffer& input,
    const std::string& user, const std::string& database,
    std::chrono::steady_clock::time_point deadline);

// An owned copy of one client message (login phase only, where messages are small).
struct OwnedMessage {
  char type = '\0';
  std::string body;
};
// Reads one whole message; nullopt on EOF, timeout or a malformed length
// (for which an 08P01 ErrorResponse has been sent).
[[nodiscard]] asio::awaitable<std::optional<OwnedMessage>> readLoginMessage(
    runtime::ClientStream& socket, runtime::ByteBuffer& input,
    std::chrono::steady_clock::time_point deadline);

// The client's address as access rules name it (IPv4-mapped IPv6 as IPv4);
// nullopt once the client is gone.
[[nodiscard]] std::optional<IpAddress> clientAddress(const runtime::ClientStream& socket);

// Sends an ErrorResponse (severity FATAL) and nothing else.
asio::awaitable<void> sendFatal(runtime::ClientStream& socket, std::string_view sqlState,
                                std::string_view message, std::string_view detail = {});

}  // namespace pgswarm::proxy
