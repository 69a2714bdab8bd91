// The pool's side of the node agents' REST API (POST /promote, /rejoin,
// /unfence; GET /status):
// one blocking HTTP request with a bearer token and a timeout, for the
// failover coordinator's thread.
#pragma once

#include <chrono>
#include <string>

#include "common/result.hpp"

namespace pgswarm::cluster {

struct AgentEndpoint {
  std::string host;
  int port = 0;
};

struct AgentReply {
  int status = 0;
  std::string body;
};

// GET http://host:port/path; an error only when no HTTP answer came.
[[nodiscard]] Result<AgentReply> getFromAgent(const AgentEndpoint& agent, const std::string& path,
                                              std::chrono::milliseconds timeout);

// POSTs `json` to http://host:port/path. An error only when no HTTP answer
// came (connect, timeout); any status is a reply for the caller to judge.
[[nodiscard]] Result<AgentReply> postToAgent(const AgentEndpoint& agent, const std::string& path,
                                             const std::string& json, const std::string& token,
                                             std::chrono::milliseconds timeout);

}  // namespace pgswarm::cluster
