// Runs the failover state machine (failover.hpp) on its own thread against
// the health monitor's snapshots, and carries out its actions over libpq
// control connections: fences the lost primary in the published topology
// (so the proxy stops routing to it at once), promotes the chosen replica
// with pg_promote(), creates its replication slots and points the other
// replicas at it (ALTER SYSTEM SET primary_conninfo, reload). A primary
// that comes back on an older timeline after a failover stays fenced.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cluster/agent_client.hpp"
#include "cluster/event_log.hpp"
#include "cluster/failover.hpp"
#include "cluster/health_monitor.hpp"
#include "common/result.hpp"

namespace pgswarm::cluster {

struct FailoverCoordinatorOptions {
  FailoverPolicy policy;
  // Promotion and re-pointing log in as this superuser (the health checks'
  // credentials; pg_promote() and ALTER SYSTEM need a superuser).
  std::string user = "postgres";
  std::string password;
  std::string dbname = "postgres";
  ConnectKeywords tls;  // as the health checks' (server_tls_* in libpq's words)
  std::chrono::seconds promoteTimeout{30};
  // Per node (configuration order): its agent, when it has one. Promotion
  // then goes through POST /promote, and a stale primary is rejoined as a
  // replica of the new one with POST /rejoin (pg_rewind).
  std::vector<std::optional<AgentEndpoint>> agents;
  std::string agentToken;
  // Each transition that is logged above debug level is added here too.
  std::shared_ptr<EventLog> events;
  // A shard group's name when it is that group's coordinator: it opens its
  // log lines and events ("shard1 failover: ..."); empty for the coordinator's.
  std::string group;
};

struct FailoverStatus {
  FailoverState state = FailoverState::kNoPrimary;
  SyncMode syncMode = SyncMode::kOff;
  std::string synchronousStandbyNames;  // as last set on the primary (sync mode)
  std::string primary;                  // the node writes go to; empty while there is none
  std::uint64_t failovers = 0;
  std::uint64_t switchovers = 0;
  std::string lastEvent;  // the last transition, as logged
  std::chrono::system_clock::time_point lastEventAt{};
  std::string refusal;  // while refused: why
};

class FailoverCoordinator {
 public:
  FailoverCoordinator(HealthMonitor& monitor, FailoverCoordinatorOptions options);
  ~FailoverCoordinator();  // stop()
  FailoverCoordinator(const FailoverCoordinator&) = delete;
  FailoverCoordinator& operator=(const FailoverCoordinator&) = delete;

  // Subscribes to the monitor (as its listener) and starts the thread.
  void start();
  void stop();

  [[nodiscard]] FailoverStatus status() const;
  // The operator's override while the primary is lost or a failover was
  // refused: promote `name` although the checks found it unsafe.
  [[nodiscard]] Status promote(const std::string& name);
  // A planned role change, run on the coordinator's thread: the primary is
  // frozen (its commits wait, its sessions end), `target` (or the best
  // replica) replays all of its WAL within `catchUp`, is promoted, the
  // others follow it and the old primary rejoins through its agent. The
  // caller pauses the pool around it. The future holds the new primary.
  [[nodiscard]] std::future<Result<std::string>> switchover(std::optional<std::string> target,
                                                            std::chrono::milliseconds catchUp);

 private:
  using Clock = std::chrono::steady_clock;
  struct SwitchoverRequest {
    std::optional<std::string> target;
    std::chrono::milliseconds catchUp;
    std::promise<Result<std::string>> done;
  };
  // The old primary's settings before a switchover froze it.
  struct Frozen {
    std::string synchronousStandbyNames;
    std::string defaultTransactionReadOnly;
    Lsn lsn = 0;
  };
  void run();
  [[nodiscard]] Result<std::string> runSwitchover(const SwitchoverRequest& request);
  [[nodiscard]] Result<Frozen> freeze(std::size_t node);
  void thaw(std::size_t node, const Frozen& frozen);
  [[nodiscard]] Status waitForReplay(std::size_t node, Lsn lsn, std::chrono::milliseconds timeout);
  void step(const Topology& topology);
  void onHealthy(const Topology& topology);
  void onPrimaryMissing(const Topology& topology);
  [[nodiscard]] bool agentKeepsPrimary(const NodeObservation& lost, Clock::time_point now);
  void liftAgentFence(const Topology& topology);
  void probeReplicas();
  void fire(FailoverEvent event, const Topology& topology, const std::string& detail);
  void perform(FailoverAction action, const Topology& topology);
  void fenceAndElect(const Topology& topology);
  void promoteCandidate();
  void repointReplicas(const Topology& topology);
  void fenceStalePrimaries(const Topology& topology);
  void reportStreaming(const Topology& topology);
  void rejoinStrandedReplicas(const Topology& topology);
  void requestRejoin(std::size_t node);
  [[nodiscard]] Status promoteOnce(std::size_t node);
  [[nodiscard]] const AgentEndpoint* agentOf(std::size_t node) const;
  void adopt(int primary);
  // Synchronous mode: keeps synchronous_standby_names on the primary at
  // ANY 1 of the streaming replicas, and sync_ at the replicas that may
  // hold a commit the others lack.
  void maintainSync(const Topology& topology);
  [[nodiscard]] std::vector<std::size_t> wantedSyncSet(const Topology& topology) const;
  [[nodiscard]] Status applySyncSet(const Topology& topology,
                                    const std::vector<std::size_t>& members);
  void confirmLeavers(const Topology& topology);
  std::shared_ptr<const Topology> waitForRole(std::size_t node, NodeRole role,
                                              std::chrono::milliseconds timeout);

  HealthMonitor& monitor_;
  const FailoverCoordinatorOptions options_;
  const std::string tag_;     // "shard1 " for a shard group's, else empty
  mutable std::mutex mutex_;  // guards status_, manual_ and stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::optional<std::size_t> manual_;            // an operator's promotion, not yet taken up
  std::optional<SwitchoverRequest> switchover_;  // not yet taken up
  bool planned_ = false;                         // the promotion under way is a switchover
  FailoverStatus status_;
  std::thread thread_;
  // Thread-owned.
  FailoverState state_ = FailoverState::kNoPrimary;
  int primary_ = -1;  // the adopted primary, or the lost one while failing over
  std::optional<std::size_t> candidate_;
  // Synchronous mode, thread-owned.
  SyncMembers sync_;                                 // who may be promoted
  std::optional<std::vector<std::size_t>> applied_;  // in force on the primary; unknown: nullopt
  std::vector<std::size_t> leavers_;  // still in sync_ until a remaining member passes leaveLsn_
  Lsn leaveLsn_ = 0;
  Clock::time_point nextSyncAttempt_{};
  std::vector<Clock::time_point> nextRejoin_;        // per node
  std::vector<bool> streaming_;                      // per replica, as last reported
  std::vector<Clock::time_point> stoppedStreaming_;  // per replica, while not streaming
  Clock::time_point nextAgentAsk_{};
  bool agentVouches_ = false;
  Clock::time_point nextFenceAsk_{};
  Clock::time_point lastFenceLift_{};  // the last word the primary's agent accepted
  Clock::time_point refusedAt_{};
  std::string lastRefusal_;  // logged once; retries that find it again stay quiet
  bool retrying_ = false;
};

}  // namespace pgswarm::cluster
