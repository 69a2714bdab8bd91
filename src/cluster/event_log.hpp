// What happened to the cluster, for operators: node up/down, role changes,
// fencing and the failover state machine's transitions, each with its time,
// in a bounded list (the oldest are dropped). Written by the health monitor
// and the failover coordinator on their threads, read by the dashboard; a
// mutex guards it, never held while calling out. Logs stay the full record.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/topology.hpp"

namespace pgswarm::cluster {

struct ClusterEvent {
  std::uint64_t sequence = 0;  // 1, 2, ... in the order added
  std::chrono::system_clock::time_point at{};
  std::string kind;  // "node_up", "node_down", "fenced", "unfenced", "role", "failover"
  std::string node;  // the node's name; empty for cluster-wide events
  std::string message;
};

class EventLog {
 public:
  explicit EventLog(std::size_t capacity = 200) : capacity_(capacity) {}

  void add(std::string kind, std::string node, std::string message);
  // The events kept, oldest first.
  [[nodiscard]] std::vector<ClusterEvent> events() const;
  // Events added since the log was made, per kind (dropped ones included).
  [[nodiscard]] std::map<std::string, std::uint64_t> countsByKind() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<ClusterEvent> events_;
  std::map<std::string, std::uint64_t> counts_;
  std::uint64_t sequence_ = 0;
};

// Adds an event for each node whose health, role, timeline or fence differs
// between two consecutive snapshots (the health monitor's publishes).
void recordTopologyChanges(EventLog& log, const Topology& before, const Topology& after);

}  // namespace pgswarm::cluster
