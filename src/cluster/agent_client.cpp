// HTTP to the node agents over cpp-httplib: see agent_client.hpp.
#include "cluster/agent_client.hpp"

#include <httplib.h>

namespace pgswarm::cluster {

Result<AgentReply> getFromAgent(const AgentEndpoint& agent, const std::string& path,
                                std::chrono::milliseconds timeout) {
  httplib::Client client(agent.host, agent.port);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  auto result = client.Get(path);
  if (!result) {
    return makeError("agent {}:{}: GET {} got no answer ({})", agent.host, agent.port, path,
                     httplib::to_string(result.error()));
  }
  return AgentReply{result->status, result->body};
}

Result<AgentReply> postToAgent(const AgentEndpoint& agent, const std::string& path,
                               const std::string& json, const std::string& token,
                               std::chrono::milliseconds timeout) {
  httplib::Client client(agent.host, agent.port);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  httplib::Headers headers{{"Authorization", "Bearer " + token}};
  auto result = client.Post(path, headers, json, "application/json");
  if (!result) {
    return makeError("agent {}:{}: POST {} got no answer ({})", agent.host, agent.port, path,
                     httplib::to_string(result.error()));
  }
  return AgentReply{result->status, result->body};
}

}  // namespace pgswarm::cluster
