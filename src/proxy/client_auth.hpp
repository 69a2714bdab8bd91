// The pool authenticating a client, as PostgreSQL would: SCRAM-SHA-256 (with
// a mock exchange for unknown users so they cannot be told apart), md5 when
// configured, or trust when configured. Sends every message of the exchange
// except AuthenticationOk, which the session sends with the rest of the
// welcome. Failures answer 28P01 as PostgreSQL does.
#pragma once

#include <chrono>
#include <string>

#include <asio.hpp>

#include "proxy/pool_config.hpp"
#include "proxy/users.hpp"
#include "runtime/byte_buffer.hpp"
#include "runtime/stream.hpp"

namespace pgswarm::proxy {

enum class AuthOutcome {
  kAuthenticated,
  kRejected,      // an ErrorResponse was sent; close the connection
  kDisconnected,  // the client went away or timed out
};

[[nodiscard]] asio::awaitable<AuthOutcome> authenticateClient(
    runtime::Socket& socket, runtime::ByteBuffer& input, const std::string& user,
    ClientAuthMethod method, Users& users, std::chrono::steady_clock::time_point deadline);

// An owned copy of one client message (login phase only, where messages are small).
struct OwnedMessage {
  char type = '\0';
  std::string body;
};
// Reads one whole message; nullopt on EOF, timeout or a malformed length
// (for which an 08P01 ErrorResponse has been sent).
[[nodiscard]] asio::awaitable<std::optional<OwnedMessage>> readLoginMessage(
    runtime::Socket& socket, runtime::ByteBuffer& input,
    std::chrono::steady_clock::time_point deadline);

// Sends an ErrorResponse (severity FATAL) and nothing else.
asio::awaitable<void> sendFatal(runtime::Socket& socket, std::string_view sqlState,
                                std::string_view message, std::string_view detail = {});

}  // namespace pgswarm::proxy
