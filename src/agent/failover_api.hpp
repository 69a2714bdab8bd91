// The pure half of the agent's mutating endpoints (POST /promote, /rejoin,
// /unfence):
// bearer-token checks, request bodies, and the answers that need no action.
// No I/O and no HTTP types, so every rule here is unit-tested directly.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agent/agent_state.hpp"
#include "common/result.hpp"

namespace pgswarm::agent {

// An HTTP status with its JSON body.
struct ApiAnswer {
  int status = 200;
  nlohmann::json body;
};

// Where POST /rejoin points this node: the new primary.
struct RejoinTarget {
  std::string host;
  int port = 0;
};

// {"host": "...", "port": N}; the host goes into conninfo and passfile
// lines, so quotes, spaces and control characters are refused outright.
[[nodiscard]] Result<RejoinTarget> parseRejoinBody(std::string_view body);

// nullopt when `authorization` is "Bearer <configuredToken>"; else the 403
// to send (no token, a wrong one, or none configured: the endpoints are off).
[[nodiscard]] std::optional<ApiAnswer> checkBearer(const std::string& configuredToken,
                                                   const std::string& authorization);

// Equal in time that depends only on `expected`'s length, so a caller
// cannot find the token byte by byte from response times.
[[nodiscard]] bool constantTimeEquals(std::string_view expected, std::string_view given);

// Why POST /promote must not run now (409 primary or busy, 503 not running).
[[nodiscard]] std::optional<ApiAnswer> promoteRefusal(const AgentSnapshot& snapshot);

// 409 while another operation runs; 200 {"rejoining": false} when the node
// already streams from `target`, or was rejoined to it less than
// kRejoinSettle before `now` (a second caller acting on a view taken before
// that rejoin must not restart it); nullopt when the rejoin should start.
inline constexpr std::chrono::seconds kRejoinSettle{15};
[[nodiscard]] std::optional<ApiAnswer> rejoinShortcut(
    const AgentSnapshot& snapshot, const RejoinTarget& target,
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

// POST /unfence, the pool's word that this primary may lift its isolation
// fence: 200 {"fenced": false} when there is none; nullopt when the word is
// to be recorded (the fencer acts on it at its next check).
[[nodiscard]] std::optional<ApiAnswer> unfenceShortcut(const AgentSnapshot& snapshot);
// The answer once the word is recorded.
[[nodiscard]] ApiAnswer unfenceAccepted();

[[nodiscard]] ApiAnswer errorAnswer(int status, const std::string& message);

}  // namespace pgswarm::agent
