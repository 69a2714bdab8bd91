// Watches the pool's nodes over libpq control connections (never the data
// path): every `period` each node is asked its role, timeline and WAL
// positions, with connect and query timeouts in milliseconds, and a new
// immutable Topology is published. One thread per node, so a hung or
// unreachable node never delays what the others report. Readers on the hot
// path compare version() (one atomic load) and take current() only when it
// changed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/event_log.hpp"
#include "cluster/pg_client.hpp"
#include "cluster/topology.hpp"

namespace pgswarm::cluster {

struct HealthMonitorOptions {
  std::vector<MonitoredNode> nodes;
  // Any role can probe. A replica's timeline is read live from the WAL
  // receiver only for superusers and members of pg_monitor (or
  // pg_read_all_stats); others get the last restartpoint's timeline, which
  // lags behind for a while after a failover.
  std::string user = "postgres";
  std::string password;  // empty: libpq's own sources (PGPASSFILE, ~/.pgpass)
  std::string dbname = "postgres";
  std::string applicationName = "pgswarm health check";
  // libpq's TLS keywords and values (sslmode, sslrootcert, sslcert, sslkey),
  // the same as the pool's data path uses (server_tls_*); none: libpq's defaults.
  ConnectKeywords tlsKeywords;
  std::chrono::milliseconds period{1000};  // health_check_period, at least 100 ms
  // TCP connect, SSL negotiation and authentication together. A host name is
  // resolved before the clock starts and libpq's lookup blocks: give
  // addresses where DNS may hang.
  std::chrono::milliseconds connectTimeout{2000};
  // The probe query; on expiry a cancel request goes out (in the background)
  // and the connection is dropped, so the next probe starts afresh.
  std::chrono::milliseconds queryTimeout{2000};
  // Where changes of health, role, timeline and fence are recorded (the
  // dashboard's history); none when null.
  std::shared_ptr<EventLog> events;
};

class HealthMonitor {
 public:
  // Periods under 100 ms are raised to 100 ms; an empty node name becomes
  // "host:port".
  explicit HealthMonitor(HealthMonitorOptions options);
  ~HealthMonitor();  // stop()
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Starts one probing thread per node; the first probes run at once. A
  // second start() while running does nothing; start() after stop() resumes
  // (versions keep growing). Call start() and stop() from one thread.
  void start();
  // Wakes every thread at once, sleeping or inside a connect or query (a
  // probe in flight is abandoned, not reported), and joins them: returns in
  // milliseconds whatever the nodes do. Never call it from the listener.
  void stop();

  // The latest snapshot: every node kUnknown until its first probe ends.
  [[nodiscard]] std::shared_ptr<const Topology> current() const;
  // Equals current()->version; cheap enough to check per transaction.
  [[nodiscard]] std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // Called on a probing thread after each publish (SHOW NODES counters,
  // logs), outside the snapshot lock so readers never wait for it. Calls are
  // serialized and never go back in version; under a burst several publishes
  // may be reported once, by the newest snapshot. A slow listener delays
  // probes, so keep it short. After setListener returns the previous listener
  // is no longer running and will not be called again; calling setListener or
  // stop() from inside the listener deadlocks.
  void setListener(std::function<void(const Topology&)> listener);

  // The failover coordinator's decisions, carried in every later snapshot
  // (each publishes one at once): a fenced node is never the primary; while
  // awaiting a primary, writes wait. Any thread but the listener's.
  void setFenced(std::size_t index, bool fenced);
  void setAwaitingPrimary(bool awaiting);
  // Probes the node now rather than at its next period (after a promotion).
  void requestProbe(std::size_t index);
  [[nodiscard]] const HealthMonitorOptions& options() const { return options_; }

 private:
  void probeLoop(std::size_t index);
  void publish(std::size_t index, NodeObservation observation);
  // Publishes current_ changed by `change`, under mutex_, then notifies.
  template <typename Change>
  void republish(Change&& change);
  void notifyListener();

  const HealthMonitorOptions options_;
  mutable std::mutex mutex_;  // guards current_ and the stop flag's condition
  std::shared_ptr<const Topology> current_;
  std::atomic<std::uint64_t> version_{0};
  std::atomic<bool> stopping_{false};
  std::condition_variable wake_;  // sleeping threads
  int wakeFd_ = -1;               // eventfd, readable once stop() begins: threads inside poll()
  std::mutex listenerMutex_;      // guards listener_ and notifiedVersion_; serializes calls
  std::function<void(const Topology&)> listener_;
  std::uint64_t notifiedVersion_ = 0;
  std::vector<std::thread> threads_;
  std::unique_ptr<std::atomic<bool>[]> probeRequested_;  // per node, guarded wakes by mutex_
};

}  // namespace pgswarm::cluster
