// The agent's REST API (cpp-httplib on its own threads): GET /health,
// /primary, /replica, /status for load balancers and Swarm health checks,
// answered from AgentState copies; and, behind a bearer token, POST
// /promote and /rejoin for failover, which act through FailoverActions, and
// POST /unfence, the pool's word that a fenced primary may lift its fence.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/agent_state.hpp"
#include "agent/failover_api.hpp"
#include "common/result.hpp"

namespace httplib {
class Server;
struct Request;
}  // namespace httplib

namespace pgswarm::agent {

// What the POST endpoints do once their checks have passed and the
// operation slot is held. Empty until the supervisor runs (the endpoints
// answer 503 meanwhile).
struct FailoverActions {
  // Both release the operation slot when what they run ends.
  std::function<ApiAnswer()> promote;               // runs it; answers when done
  std::function<void(const RejoinTarget&)> rejoin;  // starts it; answers at once
};

class RestApi {
 public:
  // Binds now (so a taken port fails before postgres is started) and serves
  // on a background thread until destroyed. An empty apiToken disables the
  // POST endpoints.
  [[nodiscard]] static Result<std::unique_ptr<RestApi>> start(const std::string& host, int port,
                                                              AgentState& state,
                                                              std::string apiToken);

  // Installs (or, with {}, removes) the actions. Removing waits for a
  // running action, so what the actions point at may go afterwards.
  void setActions(FailoverActions actions);
  RestApi(const RestApi&) = delete;
  RestApi& operator=(const RestApi&) = delete;
  ~RestApi();

 private:
  RestApi(AgentState& state, std::string apiToken);
  void routeFailover();
  ApiAnswer promote(const httplib::Request& request);
  ApiAnswer rejoin(const httplib::Request& request);
  ApiAnswer unfence(const httplib::Request& request);

  AgentState& state_;
  const std::string apiToken_;
  std::mutex actionsMutex_;  // held while an action runs
  FailoverActions actions_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace pgswarm::agent
