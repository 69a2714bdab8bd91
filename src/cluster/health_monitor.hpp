// Watches the pool's nodes over libpq control connections (never the data
// path): every `period` each node is asked its role, timeline and WAL
// positions, with connect and query timeouts in milliseconds, and a new
// immutable Topology is published. One thread per node, so a hung or
// unreachable node never delays what the others report. Readers on the hot
// path compare version() (one atomic load) and take current() only when it
// changed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/topology.hpp"

namespace pgswarm::cluster {

struct HealthMonitorOptions {
  std::vector<MonitoredNode> nodes;
  std::string user = "postgres";
  std::string password;  // empty: libpq's own sources (PGPASSFILE, ~/.pgpass)
  std::string dbname = "postgres";
  std::string applicationName = "pgswarm health check";
  std::chrono::milliseconds period{1000};  // health_check_period, at least 100 ms
  std::chrono::milliseconds connectTimeout{2000};
  std::chrono::milliseconds queryTimeout{2000};
};

class HealthMonitor {
 public:
  explicit HealthMonitor(HealthMonitorOptions options);
  ~HealthMonitor();  // stop()
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Starts one probing thread per node; the first probes run at once.
  void start();
  // Stops and joins the threads (a probe in flight is abandoned within its timeouts).
  void stop();

  // The latest snapshot: every node kUnknown until its first probe ends.
  [[nodiscard]] std::shared_ptr<const Topology> current() const;
  // Equals current()->version; cheap enough to check per transaction.
  [[nodiscard]] std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // Called on a probing thread after each publish (SHOW NODES counters, logs).
  void setListener(std::function<void(const Topology&)> listener);
  [[nodiscard]] const HealthMonitorOptions& options() const { return options_; }

 private:
  void probeLoop(std::size_t index);
  void publish(std::size_t index, NodeObservation observation);

  const HealthMonitorOptions options_;
  mutable std::mutex mutex_;  // guards current_, listener_ and the stop flag's condition
  std::shared_ptr<const Topology> current_;
  std::function<void(const Topology&)> listener_;
  std::atomic<std::uint64_t> version_{0};
  std::atomic<bool> stopping_{false};
  std::condition_variable wake_;
  std::vector<std::thread> threads_;
};

}  // namespace pgswarm::cluster
