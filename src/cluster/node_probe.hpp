// One node's control connection and its lightweight probe, for
// HealthMonitor's probing threads: a non-blocking libpq connect and one query,
// each against a deadline in milliseconds, abandoned at once when a wake
// descriptor becomes readable. Blocks only its caller; never publishes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cluster/health_monitor.hpp"
#include "cluster/topology.hpp"

struct pg_conn;

namespace pgswarm::cluster {

// What one successful probe saw (the measured fields of a NodeObservation).
struct ProbeReading {
  NodeRole role = NodeRole::kUnknown;
  std::int64_t timeline = 0;
  std::optional<Lsn> currentLsn;
  std::optional<Lsn> insertLsn;
  std::optional<Lsn> receiveLsn;
  std::optional<Lsn> replayLsn;
  bool replayPaused = false;
  std::optional<double> replayDelaySeconds;
  std::string receiverStatus;  // replica: pg_stat_wal_receiver.status, "" without a receiver
  std::optional<double> receiverSilenceSeconds;    // since the receiver's last message
  std::string upstream;                            // "host:port" the receiver streams from
  std::string clusterName;                         // its cluster_name setting
  bool readOnly = false;                           // default_transaction_read_only
  std::chrono::steady_clock::time_point sentAt{};  // when the query left
};

enum class ProbeFailure : unsigned char {
  kNone,            // the probe answered: ProbeOutcome::reading is set
  kConnect,         // libpq gave up connecting (refused, unreachable, shutting down)
  kLogin,           // the server answered and refused the login (SQLSTATE 28xxx, 3D000)
  kConnectTimeout,  // not connected within connectTimeout
  kQuery,           // the query failed or the connection broke under it
  kQueryTimeout,    // no answer within queryTimeout: cancel sent, connection dropped
  kBadAnswer,       // an answer of the wrong shape (not one row, an unreadable LSN)
  kStopped,         // the wake descriptor fired: nothing to report
};
[[nodiscard]] const char* toString(ProbeFailure failure);

struct ProbeOutcome {
  ProbeFailure failure = ProbeFailure::kNone;
  std::optional<ProbeReading> reading;  // set exactly when failure is kNone
  std::string error;                    // which node, what failed, libpq's words
};

class NodeProbe {
 public:
  // `wakeFd` stays owned by the caller; once readable, probe() returns kStopped.
  NodeProbe(MonitoredNode node, const HealthMonitorOptions& options, int wakeFd);
  ~NodeProbe();
  NodeProbe(const NodeProbe&) = delete;
  NodeProbe& operator=(const NodeProbe&) = delete;

  // Connects when there is no connection and runs the probe query. A
  // connection that broke while idle (the server restarted since the last
  // probe) is replaced and the query retried once, so only a fresh
  // connection's failure counts against the node.
  [[nodiscard]] ProbeOutcome probe();

 private:
  [[nodiscard]] ProbeOutcome connect();
  [[nodiscard]] ProbeOutcome query();
  void drop();
  [[nodiscard]] std::string label() const;

  const MonitoredNode node_;
  const HealthMonitorOptions& options_;
  const int wakeFd_;
  pg_conn* conn_ = nullptr;
  // Set while a cancel request for this node is still on its way (see
  // cancelDetached in node_probe.cpp); shared with that helper thread.
  std::shared_ptr<std::atomic<bool>> cancelInFlight_;
};

// Folds one probe's outcome into the node's observation at `now`: health,
// healthSince (only when health changes), lastError, counters, and on
// success the reading. A failure keeps the last reading (role, LSNs,
// observedAt) so they stay "as of the last successful probe". A refused
// login leaves the node's health unknown, never down: the server answered,
// so failing it over (or closing its connections) would punish the node
// for the pool's own credentials.
void applyOutcome(NodeObservation& observation, const ProbeOutcome& outcome,
                  std::chrono::steady_clock::time_point now);

}  // namespace pgswarm::cluster
