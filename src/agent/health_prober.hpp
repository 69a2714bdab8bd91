// Asks the agent's own postgres how it is (cluster::probeNode) on a worker
// thread, so a hung postgres or a slow connect never blocks the supervisor's
// event loop; results are posted back to that loop. On a primary it also
// makes sure the replication role exists. Never starts or stops postgres.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <asio.hpp>

#include "agent/bootstrap.hpp"
#include "cluster/node_status.hpp"

namespace pgswarm::agent {

struct ProbeResult {
  Result<cluster::NodeStatus> status = Error{"not probed"};
  bool roleEnsured = false;  // the replication role was created/updated this time
  std::string roleError;     // why ensuring it failed (retried next probe)
};

class HealthProber {
 public:
  explicit HealthProber(const NodeContext& node) : node_(node) {}
  HealthProber(const HealthProber&) = delete;
  HealthProber& operator=(const HealthProber&) = delete;
  ~HealthProber();

  // One probe on the worker thread; `done` runs on `loop` afterwards.
  // ensureRole: also CREATE/ALTER the replication role if the node is a primary.
  void probe(asio::io_context& loop, bool ensureRole, std::function<void(ProbeResult)> done);

 private:
  ProbeResult probeOnWorker(bool ensureRole);

  const NodeContext& node_;
  std::optional<cluster::PgConnection> conn_;  // touched only on the worker thread
  asio::thread_pool worker_{1};
};

}  // namespace pgswarm::agent
