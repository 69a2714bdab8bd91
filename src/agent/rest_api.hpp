// The agent's REST API (cpp-httplib on its own threads): GET /health,
// /primary, /replica, /status for load balancers and Swarm health checks.
// Read-only: it answers from AgentState copies and never touches postgres.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "agent/agent_state.hpp"
#include "common/result.hpp"

namespace httplib {
class Server;
}

namespace pgswarm::agent {

class RestApi {
 public:
  // Binds now (so a taken port fails before postgres is started) and serves
  // on a background thread until destroyed.
  [[nodiscard]] static Result<std::unique_ptr<RestApi>> start(const std::string& host, int port,
                                                              const AgentState& state);
  RestApi(const RestApi&) = delete;
  RestApi& operator=(const RestApi&) = delete;
  ~RestApi();

 private:
  RestApi();
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace pgswarm::agent
