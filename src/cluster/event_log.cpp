// The cluster's event history: see event_log.hpp.
#include "cluster/event_log.hpp"

#include <fmt/format.h>

namespace pgswarm::cluster {

void EventLog::add(std::string kind, std::string node, std::string message) {
  std::lock_guard lock(mutex_);
  ++counts_[kind];
  events_.push_back({.sequence = ++sequence_,
                     .at = std::chrono::system_clock::now(),
                     .kind = std::move(kind),
                     .node = std::move(node),
                     .message = std::move(message)});
  while (events_.size() > capacity_) events_.pop_front();
}

std::vector<ClusterEvent> EventLog::events() const {
  std::lock_guard lock(mutex_);
  return {events_.begin(), events_.end()};
}

std::map<std::string, std::uint64_t> EventLog::countsByKind() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

void recordTopologyChanges(EventLog& log, const Topology& before, const Topology& after) {
  for (std::size_t i = 0; i < after.nodes.size() && i < before.nodes.size(); ++i) {
    const auto& was = before.nodes[i];
    const auto& now = after.nodes[i];
    const auto& name = now.node.name;
    if (now.health != was.health && now.health == NodeHealth::kUp) {
      log.add("node_up", name,
              fmt::format("{} is up as {} on timeline {}", name, toString(now.role), now.timeline));
    } else if (now.health != was.health && now.health == NodeHealth::kDown) {
      log.add("node_down", name, fmt::format("{} is down: {}", name, now.lastError));
    } else if (now.health == NodeHealth::kUp && was.health == NodeHealth::kUp &&
               (now.role != was.role || now.timeline != was.timeline)) {
      // A promotion (replica -> primary, new timeline) or a rejoin (an old
      // primary rewound into a replica).
      log.add("role", name,
              fmt::format("{} is now {} on timeline {} (was {} on timeline {})", name,
                          toString(now.role), now.timeline, toString(was.role), was.timeline));
    }
    if (now.fenced != was.fenced) {
      log.add(now.fenced ? "fenced" : "unfenced", name,
              fmt::format("{} {}", name,
                          now.fenced ? "is fenced: no writes go to it" : "is no longer fenced"));
    }
  }
}

}  // namespace pgswarm::cluster
