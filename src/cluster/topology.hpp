// What the pool knows about its nodes: one observation per configured node
// (health, role, timeline, WAL positions, lag), gathered by HealthMonitor and
// published as an immutable Topology. Readers hold a shared_ptr to one
// snapshot; an update builds a new one and swaps it (DESIGN.md: control flows
// to the proxy as immutable snapshots, never shared mutable state).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/node_status.hpp"

namespace pgswarm::cluster {

// A WAL position as a number ("16/B374D848" is 0x16B374D848).
using Lsn = std::uint64_t;
[[nodiscard]] std::optional<Lsn> parseLsn(std::string_view text);
[[nodiscard]] std::string formatLsn(Lsn lsn);

enum class NodeHealth : unsigned char {
  kUnknown,  // not probed yet
  kUp,       // the last probe answered
  kDown,     // the last probe failed (connect, query or timeout)
};
[[nodiscard]] const char* toString(NodeHealth health);

// A node as configured: where it is and its share of reads.
struct MonitoredNode {
  std::string name;  // "host:port" unless configured otherwise
  std::string host;
  int port = 5432;
  int weight = 1;  // read weight as a replica; 0 keeps it out of reads
};

struct NodeObservation {
  MonitoredNode node;
  NodeHealth health = NodeHealth::kUnknown;
  NodeRole role = NodeRole::kUnknown;  // as of the last successful probe
  std::int64_t timeline = 0;
  std::optional<Lsn> currentLsn;  // primary: pg_current_wal_lsn()
  // Primary: pg_current_wal_insert_lsn(), at or past every commit made
  // before the probe, asynchronous ones included (their WAL may not be
  // written yet, so currentLsn can be behind them): the read-your-writes bound.
  std::optional<Lsn> insertLsn;
  std::optional<Lsn> receiveLsn;  // replica: pg_last_wal_receive_lsn()
  std::optional<Lsn> replayLsn;   // replica: pg_last_wal_replay_lsn()
  bool replayPaused = false;      // replica: pg_is_wal_replay_paused()
  // Replica: 0 when everything received is replayed, else seconds since the
  // last replayed commit (an idle primary does not make a replica "late").
  std::optional<double> replayDelaySeconds;
  // Replica: the primary's latest currentLsn minus replayLsn, at least 0;
  // absent while there is no single primary or this replica is down.
  std::optional<std::uint64_t> lagBytes;
  // Replica: its WAL receiver's status ("streaming", "waiting", ...; empty
  // while none runs), seconds since it last heard its upstream, and that
  // upstream as "host:port" (shown only to superusers and pg_read_all_stats).
  std::string receiverStatus;
  std::optional<double> receiverSilenceSeconds;
  std::string upstream;
  // Its cluster_name: the name a replica of `pgswarm node` gives the primary
  // as application_name, so synchronous mode lists it under that name.
  std::string clusterName;
  // default_transaction_read_only is on: a primary an agent fenced, or one
  // an operator made read-only.
  bool readOnly = false;
  // Set by the failover coordinator: this node never takes writes (a lost
  // primary, or a stale one after a failover), whatever it reports.
  bool fenced = false;
  // When the last successful probe's query was sent: every value above was
  // true at or after this instant (replay only moves forward).
  std::chrono::steady_clock::time_point observedAt{};
  std::chrono::steady_clock::time_point healthSince{};  // last change of health
  std::string lastError;                                // of the last failed probe; empty while up
  std::uint64_t probes = 0;
  std::uint64_t failures = 0;
  std::uint64_t consecutiveFailures = 0;  // failed probes since the last good one
};

struct Topology {
  std::uint64_t version = 0;           // grows with every published snapshot
  std::vector<NodeObservation> nodes;  // configuration order, always all of them
  // The failover coordinator lost the primary and has not settled on one:
  // writes wait for a primary rather than fail.
  bool awaitingPrimary = false;

  // The node that is up, not fenced, says it is primary and has the highest
  // timeline among those that do (an old primary that comes back after a
  // failover is on an older timeline); -1 when none is, or when two share
  // the highest timeline (split brain: the caller decides what to do).
  [[nodiscard]] int primaryIndex() const;
};

// Fills lagBytes of every replica from the primary's currentLsn (none when
// there is no single primary). HealthMonitor calls it before publishing.
void computeLag(Topology& topology);

}  // namespace pgswarm::cluster
