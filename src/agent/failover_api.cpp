// Token checks, bodies and short answers of the mutating endpoints: see
// failover_api.hpp.
#include "agent/failover_api.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace pgswarm::agent {
namespace {

constexpr int kBadRequest = 400;
constexpr int kForbidden = 403;
constexpr int kConflict = 409;
constexpr int kUnavailable = 503;
constexpr std::string_view kBearer = "bearer ";

std::string_view trimmed(std::string_view text) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

bool validHost(const std::string& host) {
  return !host.empty() && host.size() <= 255 &&
         std::all_of(host.begin(), host.end(), [](unsigned char c) {
           return std::isgraph(c) != 0 && c != '\'' && c != '"' && c != '\\';
         });
}

std::optional<ApiAnswer> busy(const AgentSnapshot& snapshot) {
  if (snapshot.operation.empty()) return std::nullopt;
  return errorAnswer(kConflict, "another operation is running: " + snapshot.operation);
}

}  // namespace

ApiAnswer errorAnswer(int status, const std::string& message) {
  return {status, {{"error", message}}};
}

Result<RejoinTarget> parseRejoinBody(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return makeError("the body must be a JSON object {{\"host\": \"...\", \"port\": N}}");
  }
  auto host = json.find("host");
  if (host == json.end() || !host->is_string() || !validHost(host->get<std::string>())) {
    return makeError("\"host\" must be a host name or address without spaces or quotes");
  }
  auto port = json.find("port");
  if (port == json.end() || !port->is_number_integer() || *port < 1 || *port > 65535) {
    return makeError("\"port\" must be an integer from 1 to 65535");
  }
  return RejoinTarget{host->get<std::string>(), port->get<int>()};
}

bool constantTimeEquals(std::string_view expected, std::string_view given) {
  unsigned char diff = expected.size() == given.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    auto other = i < given.size() ? given[i] : '\0';
    diff |= static_cast<unsigned char>(expected[i] ^ other);
  }
  return diff == 0;
}

std::optional<ApiAnswer> checkBearer(const std::string& configuredToken,
                                     const std::string& authorization) {
  if (configuredToken.empty()) {
    return errorAnswer(kForbidden,
                       "this endpoint is disabled: set node.api_token_file (--api-token-file) "
                       "to a file holding the API token");
  }
  auto header = trimmed(authorization);
  bool bearer = header.size() > kBearer.size() &&
                std::equal(kBearer.begin(), kBearer.end(), header.begin(), [](char a, char b) {
                  return a == std::tolower(static_cast<unsigned char>(b));
                });
  if (!bearer) return errorAnswer(kForbidden, "missing 'Authorization: Bearer <token>'");
  if (!constantTimeEquals(configuredToken, trimmed(header.substr(kBearer.size())))) {
    return errorAnswer(kForbidden, "wrong API token");
  }
  return std::nullopt;
}

std::optional<ApiAnswer> promoteRefusal(const AgentSnapshot& snapshot) {
  if (auto refused = busy(snapshot)) return refused;
  if (!snapshot.healthy || !snapshot.status) {
    return errorAnswer(kUnavailable, "postgres is not running or not answering");
  }
  if (snapshot.status->role == cluster::NodeRole::kPrimary) {
    return errorAnswer(kConflict, "this node already is the primary");
  }
  if (snapshot.status->role != cluster::NodeRole::kReplica) {
    return errorAnswer(kUnavailable, "the node's role is not known yet");
  }
  return std::nullopt;
}

std::optional<ApiAnswer> rejoinShortcut(const AgentSnapshot& snapshot, const RejoinTarget& target,
                                        std::chrono::steady_clock::time_point now) {
  if (auto refused = busy(snapshot)) return refused;
  auto upstream = fmt::format("{}:{}", target.host, target.port);
  const auto& status = snapshot.status;
  bool following = snapshot.healthy && status && status->role == cluster::NodeRole::kReplica &&
                   status->streaming && status->upstream == upstream;
  // Until its first probe, a freshly rejoined replica still looks like what
  // it was before (a primary, say); the pool's coordinator may ask on such a
  // view, and a second rewind would restart a replica that just started.
  bool justRejoined = snapshot.phase != AgentPhase::kFailed && snapshot.rejoinedTo == upstream &&
                      now - snapshot.rejoinedAt < kRejoinSettle;
  if (following || justRejoined) return ApiAnswer{200, {{"rejoining", false}}};
  return std::nullopt;
}

std::optional<ApiAnswer> unfenceShortcut(const AgentSnapshot& snapshot) {
  if (!snapshot.fenced) return ApiAnswer{200, {{"fenced", false}}};
  return std::nullopt;
}

ApiAnswer unfenceAccepted() {
  return {202,
          {{"fenced", true},
           {"unfencing", true},
           {"when", "at the next check, if a peer is reachable and none is a newer primary"}}};
}

}  // namespace pgswarm::agent
