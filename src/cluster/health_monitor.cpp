// The health monitor's threads and publishing: see health_monitor.hpp. Each
// thread owns its node's NodeProbe (one libpq connection) and the node's
// observation; the only shared state is the snapshot pointer, swapped under
// mutex_, and the listener, called under its own lock.
#include "cluster/health_monitor.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cluster/node_probe.hpp"

namespace pgswarm::cluster {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kMinPeriod{100};
constexpr std::chrono::milliseconds kMinTimeout{10};

HealthMonitorOptions normalized(HealthMonitorOptions options) {
  options.period = std::max(options.period, kMinPeriod);
  options.connectTimeout = std::max(options.connectTimeout, kMinTimeout);
  options.queryTimeout = std::max(options.queryTimeout, kMinTimeout);
  for (auto& node : options.nodes) {
    if (node.name.empty()) node.name = fmt::format("{}:{}", node.host, node.port);
  }
  return options;
}

std::shared_ptr<const Topology> initialTopology(const HealthMonitorOptions& options) {
  auto topology = std::make_shared<Topology>();
  auto now = Clock::now();
  for (const auto& node : options.nodes) {
    NodeObservation observation;
    observation.node = node;
    observation.healthSince = now;
    topology->nodes.push_back(std::move(observation));
  }
  return topology;
}

void logHealthChange(const NodeObservation& observation) {
  const auto& name = observation.node.name;
  if (observation.health == NodeHealth::kUp) {
    spdlog::info("health: {} is up as {} on timeline {}", name, toString(observation.role),
                 observation.timeline);
  } else if (observation.health == NodeHealth::kUnknown) {
    spdlog::error(
        "health: {} answers but refuses the health check's login, so its role is unknown (it is "
        "not counted as down: no failover, its connections stay); check pool.health_check_user "
        "and health_check_password: {}",
        name, observation.lastError);
  } else {
    spdlog::warn("health: {} is down: {}", name, observation.lastError);
  }
}

}  // namespace

HealthMonitor::HealthMonitor(HealthMonitorOptions options)
    : options_(normalized(std::move(options))),
      current_(initialTopology(options_)),
      probeRequested_(new std::atomic<bool>[options_.nodes.size()]) {
  for (std::size_t i = 0; i < options_.nodes.size(); ++i) probeRequested_[i] = false;
  // Written once by stop() and never read until then, so it stays readable
  // and wakes every poll() of every probing thread, now and later.
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

HealthMonitor::~HealthMonitor() {
  stop();
  ::close(wakeFd_);
}

void HealthMonitor::start() {
  if (!threads_.empty()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_.store(false, std::memory_order_release);
  }
  threads_.reserve(options_.nodes.size());
  for (std::size_t i = 0; i < options_.nodes.size(); ++i) {
    threads_.emplace_back([this, i] { probeLoop(i); });
  }
}

void HealthMonitor::stop() {
  if (threads_.empty()) return;
  {
    // Under the lock, so a thread between its predicate check and its wait
    // cannot miss the notification.
    std::lock_guard lock(mutex_);
    stopping_.store(true, std::memory_order_release);
  }
  wake_.notify_all();
  std::uint64_t one = 1;
  (void)::write(wakeFd_, &one, sizeof(one));
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  std::uint64_t drained = 0;
  (void)::read(wakeFd_, &drained, sizeof(drained));  // ready for a later start()
}

std::shared_ptr<const Topology> HealthMonitor::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

void HealthMonitor::setListener(std::function<void(const Topology&)> listener) {
  std::lock_guard lock(listenerMutex_);
  listener_ = std::move(listener);
}

void HealthMonitor::probeLoop(std::size_t index) {
  NodeObservation observation;
  {
    std::lock_guard lock(mutex_);
    observation = current_->nodes[index];  // counters carry over a restart
  }
  NodeProbe probe(observation.node, options_, wakeFd_);
  auto nextProbe = Clock::now();
  while (!stopping_.load(std::memory_order_acquire)) {
    auto outcome = probe.probe();
    if (outcome.failure == ProbeFailure::kStopped) break;
    auto before = observation.health;
    applyOutcome(observation, outcome, Clock::now());
    // A refused login keeps health unknown: said once, when it starts.
    bool loginNewlyRefused =
        outcome.failure == ProbeFailure::kLogin && observation.consecutiveFailures == 1;
    if (observation.health != before || loginNewlyRefused) logHealthChange(observation);
    publish(index, observation);

    // Start to start, without a burst to catch up after a probe that took
    // longer than a period (timeouts): then the next one starts at once.
    nextProbe = std::max(nextProbe + options_.period, Clock::now());
    std::unique_lock lock(mutex_);
    wake_.wait_until(lock, nextProbe, [this, index] {
      return stopping_.load(std::memory_order_acquire) || probeRequested_[index].load();
    });
    if (probeRequested_[index].exchange(false)) nextProbe = Clock::now();
  }
}

template <typename Change>
void HealthMonitor::republish(Change&& change) {
  {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<Topology>(*current_);
    change(*next);
    computeLag(*next);
    next->version = current_->version + 1;
    if (options_.events) recordTopologyChanges(*options_.events, *current_, *next);
    version_.store(next->version, std::memory_order_release);
    current_ = std::move(next);
  }
  notifyListener();
}

void HealthMonitor::publish(std::size_t index, NodeObservation observation) {
  republish([&](Topology& topology) {
    auto& slot = topology.nodes[index];
    observation.fenced = slot.fenced;  // the coordinator's, not the probe's
    slot = std::move(observation);
  });
}

void HealthMonitor::setFenced(std::size_t index, bool fenced) {
  republish([&](Topology& topology) { topology.nodes.at(index).fenced = fenced; });
}

void HealthMonitor::setAwaitingPrimary(bool awaiting) {
  republish([&](Topology& topology) { topology.awaitingPrimary = awaiting; });
}

void HealthMonitor::requestProbe(std::size_t index) {
  {
    std::lock_guard lock(mutex_);
    probeRequested_[index].store(true);
  }
  wake_.notify_all();
}

void HealthMonitor::notifyListener() {
  std::lock_guard lock(listenerMutex_);
  if (!listener_) return;
  // The newest snapshot, not necessarily the one this thread published: two
  // threads racing here then report in version order, never backwards.
  auto snapshot = current();
  if (snapshot->version <= notifiedVersion_) return;
  notifiedVersion_ = snapshot->version;
  try {
    listener_(*snapshot);
  } catch (const std::exception& error) {
    // A probing thread must outlive a faulty listener (an escaping exception
    // would end the process).
    spdlog::error("health: topology listener failed: {}", error.what());
  }
}

}  // namespace pgswarm::cluster
