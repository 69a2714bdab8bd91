// The failover coordinator's thread and actions: see failover_coordinator.hpp.
#include "cluster/failover_coordinator.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cluster/pg_client.hpp"

namespace pgswarm::cluster {
namespace {

constexpr std::chrono::milliseconds kTick{100};
constexpr std::chrono::milliseconds kAgentAskEvery{500};
constexpr std::chrono::milliseconds kRefusedRetry{500};
constexpr std::chrono::milliseconds kAgentAskTimeout{1000};
// A reachable agent answers well within this; a cut one costs the
// coordinator's thread no more than this per ask.
constexpr std::chrono::milliseconds kAgentQuickAsk{300};
constexpr std::chrono::milliseconds kPromotionSeenWithin{10000};
// A replica re-pointed by a failover streams again within a few seconds;
// one still on the old timeline after this long never will.
constexpr std::chrono::milliseconds kStrandedGrace{10000};

std::string position(const NodeObservation& node) {
  auto lsn = walPosition(node);
  return lsn ? formatLsn(*lsn) : std::string("unknown");
}

}  // namespace

FailoverCoordinator::FailoverCoordinator(HealthMonitor& monitor, FailoverCoordinatorOptions options)
    : monitor_(monitor),
      options_(std::move(options)),
      tag_(options_.group.empty() ? "" : options_.group + " "),
      nextRejoin_(monitor_.options().nodes.size()) {
  status_.syncMode = options_.policy.syncMode;
}

FailoverCoordinator::~FailoverCoordinator() {
  stop();
}

void FailoverCoordinator::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  monitor_.setListener([this](const Topology&) { wake_.notify_all(); });
  thread_ = std::thread([this] { run(); });
}

void FailoverCoordinator::stop() {
  if (!thread_.joinable()) return;
  monitor_.setListener(nullptr);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

FailoverStatus FailoverCoordinator::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

Status FailoverCoordinator::promote(const std::string& name) {
  const auto& nodes = monitor_.options().nodes;
  std::optional<std::size_t> index;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name == name) index = i;
  }
  if (!index) return makeError("no node is named '{}'", name);
  std::lock_guard lock(mutex_);
  if (status_.state != FailoverState::kPrimaryLost && status_.state != FailoverState::kRefused) {
    return makeError("the cluster is {}: a manual promotion is only for a lost primary",
                     toString(status_.state));
  }
  manual_ = index;
  wake_.notify_all();
  return Ok{};
}

void FailoverCoordinator::run() {
  for (;;) {
    std::optional<std::size_t> manual;
    std::optional<SwitchoverRequest> switchover;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kTick, [this] {
        return stopping_ || manual_.has_value() || switchover_.has_value();
      });
      if (stopping_) {
        if (switchover_) switchover_->done.set_value(makeError("the pool is stopping"));
        return;
      }
      manual.swap(manual_);
      switchover.swap(switchover_);
    }
    if (switchover) {
      switchover->done.set_value(runSwitchover(*switchover));
      continue;
    }
    auto topology = monitor_.current();
    if (manual) {
      candidate_ = manual;
      fire(FailoverEvent::kManualPromotion, *topology,
           fmt::format("an operator chose {}", topology->nodes[*manual].node.name));
      continue;
    }
    step(*topology);
  }
}

void FailoverCoordinator::step(const Topology& topology) {
  switch (state_) {
    case FailoverState::kNoPrimary:
      if (topology.primaryIndex() >= 0) fire(FailoverEvent::kPrimaryUp, topology, "");
      break;
    case FailoverState::kHealthy:
      onHealthy(topology);
      break;
    case FailoverState::kPrimaryLost:
    case FailoverState::kRefused:
      onPrimaryMissing(topology);
      break;
    case FailoverState::kElecting:
    case FailoverState::kPromoting:
      break;  // carried out inside fire(); never waited in
  }
}

void FailoverCoordinator::onHealthy(const Topology& topology) {
  const auto& observed = topology.nodes[static_cast<std::size_t>(primary_)];
  if (observed.health == NodeHealth::kDown) {
    return fire(FailoverEvent::kPrimaryDown, topology, observed.lastError);
  }
  int primary = topology.primaryIndex();
  if (primary >= 0 && primary != primary_) {
    spdlog::warn("{}failover: {} is now the primary (timeline {}), promoted outside the pool", tag_,
                 topology.nodes[static_cast<std::size_t>(primary)].node.name,
                 topology.nodes[static_cast<std::size_t>(primary)].timeline);
    adopt(primary);
  }
  fenceStalePrimaries(topology);
  liftAgentFence(topology);
  reportStreaming(topology);
  rejoinStrandedReplicas(topology);
  maintainSync(topology);
}

// Found by the chaos tier's never-two-writable watch (sync mode, the
// primary's and the sync standby's links back at once): the standby answered
// the pool first and a retry promoted it while the old primary's agent,
// reaching its peers again, lifted its fence on its own. An agent now lifts
// an isolation fence on this word (or after node.unfence_after_ms), and the
// coordinator gives it only here: healthy, its primary answering as one,
// from the thread that would otherwise be electing.
void FailoverCoordinator::liftAgentFence(const Topology& topology) {
  auto index = static_cast<std::size_t>(primary_);
  const auto& observed = topology.nodes[index];
  const auto* agent = agentOf(index);
  auto now = Clock::now();
  if (agent == nullptr || !observed.readOnly || observed.fenced ||
      observed.health != NodeHealth::kUp || observed.role != NodeRole::kPrimary ||
      now < nextFenceAsk_) {
    return;
  }
  nextFenceAsk_ = now + kAgentAskEvery;
  auto status = getFromAgent(*agent, "/status", kAgentQuickAsk);
  if (!status || status->status != 200) return;
  auto json = nlohmann::json::parse(status->body, nullptr, false);
  if (json.is_discarded() || !json.value("fenced", false)) return;
  auto reply = postToAgent(*agent, "/unfence", "{}", options_.agentToken, kAgentQuickAsk);
  bool accepted = reply && reply->status / 100 == 2;
  if (accepted && now - lastFenceLift_ > std::chrono::seconds(5)) {
    spdlog::warn(
        "{}failover: {}'s agent fenced postgres (it was cut off); the pool reaches it as its "
        "primary and elects nobody: asked the agent to lift the fence",
        tag_, observed.node.name);
    if (options_.events) {
      options_.events->add("fencing", observed.node.name,
                           tag_ + "the pool asked the agent to lift its isolation fence");
    }
  } else if (!accepted) {
    spdlog::warn(
        "{}failover: {}'s agent keeps postgres fenced and refused to lift it: {}", tag_,
        observed.node.name,
        reply ? fmt::format("HTTP {} {}", reply->status, reply->body) : reply.error().message);
  }
  if (accepted) lastFenceLift_ = now;
}

// A replica that is up but stopped streaming takes no part in a failover
// (and none in synchronous mode): say so once per change.
void FailoverCoordinator::reportStreaming(const Topology& topology) {
  streaming_.resize(topology.nodes.size(), true);
  stoppedStreaming_.resize(topology.nodes.size());
  for (std::size_t i = 0; i < topology.nodes.size(); ++i) {
    const auto& observed = topology.nodes[i];
    if (observed.health != NodeHealth::kUp || observed.role != NodeRole::kReplica) continue;
    bool streaming = observed.receiverStatus == "streaming";
    if (streaming == streaming_[i]) continue;
    streaming_[i] = streaming;
    stoppedStreaming_[i] = Clock::now();
    if (streaming) {
      spdlog::info("{}failover: {} streams again (from {})", tag_, observed.node.name,
                   observed.upstream);
    } else {
      spdlog::warn("{}failover: replica {} stopped streaming (WAL receiver: {})", tag_,
                   observed.node.name,
                   observed.receiverStatus.empty() ? "none" : observed.receiverStatus);
    }
  }
}

// Found by the chaos tier (a flapping primary link): a replica that took
// WAL from the fenced old primary after the election cannot stream from the
// new one ("new timeline forked off ... before current recovery point") and
// would stay behind for good. Its agent rewinds it, as for an old primary.
void FailoverCoordinator::rejoinStrandedReplicas(const Topology& topology) {
  auto primaryTimeline = topology.nodes[static_cast<std::size_t>(primary_)].timeline;
  for (std::size_t i = 0; i < topology.nodes.size() && i < streaming_.size(); ++i) {
    if (static_cast<int>(i) == primary_ || streaming_[i]) continue;
    const auto& observed = topology.nodes[i];
    if (!replicaStrandedOnOldTimeline(observed, primaryTimeline,
                                      Clock::now() - stoppedStreaming_[i], kStrandedGrace)) {
      continue;
    }
    if (Clock::now() >= nextRejoin_[i]) {
      spdlog::warn(
          "{}failover: replica {} does not stream and is on timeline {}, behind the primary's "
          "{}: it holds WAL the new timeline does not have; rewinding it",
          tag_, observed.node.name, observed.timeline, primaryTimeline);
    }
    requestRejoin(i);
  }
}

void FailoverCoordinator::onPrimaryMissing(const Topology& topology) {
  if (topology.primaryIndex() >= 0) return fire(FailoverEvent::kPrimaryUp, topology, "");
  // The lost primary answers again and nobody was promoted: it is the
  // primary still, fenced or not.
  const auto& lost = topology.nodes[static_cast<std::size_t>(primary_)];
  if (lost.fenced && lost.health == NodeHealth::kUp && lost.role == NodeRole::kPrimary) {
    spdlog::info("{}failover: {} answers as primary again and no replica was promoted; unfencing",
                 tag_, lost.node.name);
    monitor_.setFenced(static_cast<std::size_t>(primary_), false);
    return;
  }
  auto now = Clock::now();
  if (state_ == FailoverState::kPrimaryLost &&
      isPrimaryLost(topology, primary_, options_.policy, now) && !agentKeepsPrimary(lost, now)) {
    return fire(
        FailoverEvent::kTimeoutElapsed, topology,
        fmt::format("{} failed {} checks in a row", lost.node.name, lost.consecutiveFailures));
  }
  // Often, and quietly while nothing changes: a veto such as "a replica
  // still hears the primary" lifts within a second of the silence growing.
  if (state_ == FailoverState::kRefused && now - refusedAt_ >= kRefusedRetry) {
    retrying_ = true;
    fire(FailoverEvent::kTimeoutElapsed, topology, "trying again");
    retrying_ = false;
  }
}

// A refusal such as "a replica still hears the primary" lifts as soon as a
// check sees the replica's silence grow past the failover timeout; probing
// the replicas at each refusal, rather than at their period, has the next
// retry decide on what they say now (up to a period sooner).
void FailoverCoordinator::probeReplicas() {
  const auto& nodes = monitor_.options().nodes;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (static_cast<int>(i) != primary_) monitor_.requestProbe(i);
  }
}

// Asks the lost primary's agent (at most twice a second) whether it is
// bringing postgres back; says so once while it holds the failover.
bool FailoverCoordinator::agentKeepsPrimary(const NodeObservation& lost, Clock::time_point now) {
  const auto* agent = agentOf(static_cast<std::size_t>(primary_));
  if (agent == nullptr) return false;
  if (now < nextAgentAsk_) return agentVouches_;
  nextAgentAsk_ = now + kAgentAskEvery;
  std::string state;
  if (auto reply = getFromAgent(*agent, "/status", kAgentAskTimeout);
      reply && reply->status == 200) {
    auto json = nlohmann::json::parse(reply->body, nullptr, false);
    if (!json.is_discarded()) state = json.value("state", "");
  }
  auto lostFor =
      now - (lost.observedAt != Clock::time_point{} ? lost.observedAt : lost.healthSince);
  bool vouches = agentVouchesForPrimary(state, lostFor, options_.policy.restartGrace);
  if (vouches && !agentVouches_) {
    spdlog::warn(
        "{}failover: {} does not answer but its agent says postgres is {}: waiting up to "
        "{} ms for it rather than failing over",
        tag_, lost.node.name, state, options_.policy.restartGrace.count());
  } else if (!vouches && agentVouches_) {
    spdlog::warn("{}failover: {}'s agent no longer vouches for it ({})", tag_, lost.node.name,
                 state.empty() ? "no answer" : state);
  }
  agentVouches_ = vouches;
  return vouches;
}

void FailoverCoordinator::fire(FailoverEvent event, const Topology& topology,
                               const std::string& detail) {
  auto transition = nextTransition(state_, event);
  if (!transition) return;
  auto line =
      fmt::format("{} -> {} on {}{}{}", toString(transition->from), toString(transition->to),
                  toString(event), detail.empty() ? "" : ": ", detail);
  bool sameRefusal = event == FailoverEvent::kNoCandidate && detail == lastRefusal_;
  bool repeated = retrying_ && (event == FailoverEvent::kTimeoutElapsed || sameRefusal);
  if (!repeated && options_.events) options_.events->add("failover", "", tag_ + line);
  if (repeated) {
    spdlog::debug("{}failover: {}", tag_, line);
  } else if (transition->to == FailoverState::kHealthy && event == FailoverEvent::kPrimaryUp &&
             transition->from == FailoverState::kNoPrimary) {
    spdlog::info("{}failover: {}", tag_, line);
  } else {
    spdlog::warn("{}failover: {}", tag_, line);
  }
  state_ = transition->to;
  {
    std::lock_guard lock(mutex_);
    status_.state = state_;
    status_.lastEvent = line;
    status_.lastEventAt = std::chrono::system_clock::now();
  }
  perform(transition->action, topology);
}

void FailoverCoordinator::perform(FailoverAction action, const Topology& topology) {
  switch (action) {
    case FailoverAction::kNone:
      break;
    case FailoverAction::kAdoptPrimary:
      adopt(topology.primaryIndex());
      break;
    case FailoverAction::kHoldWrites:
      monitor_.setAwaitingPrimary(options_.policy.enabled);
      if (options_.policy.enabled) {
        spdlog::warn("{}failover: holding writes; {} fails over after {} ms without a good check",
                     tag_, topology.nodes[static_cast<std::size_t>(primary_)].node.name,
                     options_.policy.timeout.count());
      }
      break;
    case FailoverAction::kFenceAndElect:
      fenceAndElect(topology);
      break;
    case FailoverAction::kPromote:
      promoteCandidate();
      break;
    case FailoverAction::kRepoint:
      repointReplicas(topology);
      break;
    case FailoverAction::kRefuse:
      refusedAt_ = Clock::now();
      monitor_.setAwaitingPrimary(false);
      probeReplicas();
      break;
  }
}

void FailoverCoordinator::adopt(int primary) {
  if (primary < 0) return;
  primary_ = primary;
  lastRefusal_.clear();
  agentVouches_ = false;
  nextAgentAsk_ = {};
  monitor_.setAwaitingPrimary(false);
  std::lock_guard lock(mutex_);
  status_.primary = monitor_.options().nodes[static_cast<std::size_t>(primary)].name;
  status_.refusal.clear();
}

void FailoverCoordinator::fenceAndElect(const Topology& topology) {
  if (!options_.policy.enabled) {
    spdlog::error("{}failover: failover is off; {} stays the primary until it answers", tag_,
                  topology.nodes[static_cast<std::size_t>(primary_)].node.name);
    return fire(FailoverEvent::kNoCandidate, topology, "failover = off");
  }
  // First, so no new transaction reaches the old primary whatever follows.
  monitor_.setFenced(static_cast<std::size_t>(primary_), true);
  auto election = pickCandidate(topology, primary_, options_.policy, sync_);
  bool repeated = retrying_ && election.refusal == lastRefusal_ && !election.refusal.empty();
  for (const auto& verdict : election.verdicts) {
    const auto& node = topology.nodes[verdict.node];
    spdlog::log(repeated ? spdlog::level::debug : spdlog::level::info,
                "{}failover: candidate {} at {}: {}", tag_, node.node.name, position(node),
                verdict.excluded.empty() ? "eligible" : verdict.excluded);
  }
  if (!election.winner) {
    {
      std::lock_guard lock(mutex_);
      status_.refusal = election.refusal;
    }
    if (!repeated) {
      spdlog::error(
          "{}failover: REFUSED: {}; writes fail until the primary returns or an operator "
          "promotes a node (admin console: PROMOTE 'node')",
          tag_, election.refusal);
    }
    fire(FailoverEvent::kNoCandidate, topology, election.refusal);
    lastRefusal_ = election.refusal;
    return;
  }
  candidate_ = election.winner;
  const auto& winner = topology.nodes[*election.winner];
  fire(FailoverEvent::kCandidateFound, topology,
       fmt::format("{} has the most WAL ({})", winner.node.name, position(winner)));
}

void FailoverCoordinator::promoteCandidate() {
  auto lost = static_cast<std::size_t>(primary_);
  if (!monitor_.current()->nodes[lost].fenced) monitor_.setFenced(lost, true);
  const auto& node = monitor_.options().nodes[*candidate_];
  monitor_.setFenced(*candidate_, false);
  auto promoted = promoteOnce(*candidate_);
  if (!promoted) {
    spdlog::error("{}failover: promoting {} failed: {}", tag_, node.name, promoted.error().message);
    return fire(FailoverEvent::kPromoteFailed, *monitor_.current(), promoted.error().message);
  }
  auto seen = waitForRole(*candidate_, NodeRole::kPrimary, kPromotionSeenWithin);
  if (!seen) {
    return fire(FailoverEvent::kPromoteFailed, *monitor_.current(),
                fmt::format("{} was promoted but no check saw it as primary", node.name));
  }
  const auto& observed = seen->nodes[*candidate_];
  fire(FailoverEvent::kPromoted, *seen,
       fmt::format("{} is primary on timeline {}", node.name, observed.timeline));
}

std::shared_ptr<const Topology> FailoverCoordinator::waitForRole(
    std::size_t node, NodeRole role, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    monitor_.requestProbe(node);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto topology = monitor_.current();
    const auto& observed = topology->nodes[node];
    if (observed.health == NodeHealth::kUp && observed.role == role) return topology;
    std::lock_guard lock(mutex_);
    if (stopping_ || Clock::now() >= deadline) return nullptr;
  }
}

namespace {

ConnectTarget targetFor(const MonitoredNode& node, const FailoverCoordinatorOptions& options) {
  return {.host = node.host,
          .port = node.port,
          .user = options.user,
          .password = options.password,
          .dbname = options.dbname,
          .applicationName = "pgswarm failover",
          .tls = options.tls};
}

// The replica's slot on the new primary, so it keeps the WAL the replica
// still needs from the moment the replica is pointed there.
Status ensureSlot(PgConnection& primary, const std::string& slot) {
  return primary.execute(
      "SELECT pg_create_physical_replication_slot($1, true) "
      "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
      {slot});
}

Status repoint(const MonitoredNode& replica, const MonitoredNode& primary,
               const FailoverCoordinatorOptions& options) {
  auto conn = PgConnection::connect(targetFor(replica, options));
  if (!conn) return conn.error();
  auto settings = conn->query(
      "SELECT current_setting('primary_conninfo') AS conninfo, "
      "current_setting('primary_slot_name') AS slot");
  if (!settings) return settings.error();
  auto conninfo = retargetConninfo(settings->text(0, "conninfo"), primary.host, primary.port);
  if (!conninfo) return conninfo.error();
  if (auto slot = settings->text(0, "slot"); !slot.empty()) {
    auto primaryConn = PgConnection::connect(targetFor(primary, options));
    if (!primaryConn) return primaryConn.error();
    if (auto made = ensureSlot(*primaryConn, slot); !made) return made;
  }
  if (auto set = conn->execute("ALTER SYSTEM SET primary_conninfo = " + quoteLiteral(*conninfo));
      !set) {
    return set;
  }
  return conn->execute("SELECT pg_reload_conf()");
}

}  // namespace

void FailoverCoordinator::repointReplicas(const Topology& topology) {
  auto lost = primary_;
  adopt(static_cast<int>(*candidate_));
  {
    std::lock_guard lock(mutex_);
    ++(planned_ ? status_.switchovers : status_.failovers);
  }
  // A new primary starts a new synchronous regime: it holds every commit
  // the old members acknowledged, and its own setting is set afresh.
  sync_.nodes.clear();
  leavers_.clear();
  applied_.reset();
  const auto& nodes = monitor_.options().nodes;
  const auto& primary = nodes[*candidate_];
  for (std::size_t i = 0; i < topology.nodes.size(); ++i) {
    const auto& observed = topology.nodes[i];
    if (i == *candidate_ || static_cast<int>(i) == lost) continue;
    if (observed.health != NodeHealth::kUp || observed.role != NodeRole::kReplica) {
      spdlog::warn("{}failover: {} is {}; point it at {} when it returns", tag_, observed.node.name,
                   toString(observed.health), primary.name);
      continue;
    }
    if (auto done = repoint(nodes[i], primary, options_); !done) {
      spdlog::error("{}failover: cannot point {} at {}: {}", tag_, nodes[i].name, primary.name,
                    done.error().message);
    } else {
      spdlog::info("{}failover: {} now streams from {}", tag_, nodes[i].name, primary.name);
    }
  }
  spdlog::warn("{}failover: done, {} is the primary; {} stays fenced until it rejoins as a replica",
               tag_, primary.name, nodes[static_cast<std::size_t>(lost)].name);
}

void FailoverCoordinator::fenceStalePrimaries(const Topology& topology) {
  const auto& current = topology.nodes[static_cast<std::size_t>(primary_)];
  for (std::size_t i = 0; i < topology.nodes.size(); ++i) {
    const auto& observed = topology.nodes[i];
    if (static_cast<int>(i) == primary_ || observed.health != NodeHealth::kUp) continue;
    if (observed.role == NodeRole::kPrimary && !observed.fenced) {
      spdlog::error(
          "{}failover: {} says it is a primary (timeline {}) but {} is (timeline {}); fenced: "
          "rejoin it as a replica of {}",
          tag_, observed.node.name, observed.timeline, current.node.name, current.timeline,
          current.node.name);
      monitor_.setFenced(i, true);
      requestRejoin(i);
    } else if (observed.role == NodeRole::kPrimary && observed.fenced) {
      requestRejoin(i);
    } else if (observed.role == NodeRole::kReplica && observed.fenced) {
      spdlog::info("{}failover: {} is a replica again; unfenced", tag_, observed.node.name);
      monitor_.setFenced(i, false);
    }
  }
}

namespace {

constexpr std::chrono::milliseconds kSyncRetry{1000};
// After a reload, until the backends have the new synchronous_standby_names.
constexpr std::chrono::milliseconds kSyncSettle{200};

std::vector<std::size_t> without(const std::vector<std::size_t>& from,
                                 const std::vector<std::size_t>& remove) {
  std::vector<std::size_t> out;
  for (auto node : from) {
    if (std::ranges::find(remove, node) == remove.end()) out.push_back(node);
  }
  return out;
}

}  // namespace

std::vector<std::size_t> FailoverCoordinator::wantedSyncSet(const Topology& topology) const {
  std::vector<std::size_t> streaming;
  std::vector<std::size_t> named;
  for (std::size_t i = 0; i < topology.nodes.size(); ++i) {
    const auto& observed = topology.nodes[i];
    if (static_cast<int>(i) == primary_ || observed.clusterName.empty()) continue;
    if (observed.role == NodeRole::kReplica || observed.health != NodeHealth::kUp) {
      named.push_back(i);
    }
    if (observed.health == NodeHealth::kUp && observed.role == NodeRole::kReplica &&
        observed.receiverStatus == "streaming") {
      streaming.push_back(i);
    }
  }
  if (!streaming.empty() || options_.policy.syncMode != SyncMode::kStrict) return streaming;
  // Strict: commits wait for a standby rather than go without one.
  if (applied_ && !applied_->empty()) return *applied_;
  return named;
}

void FailoverCoordinator::maintainSync(const Topology& topology) {
  if (options_.policy.syncMode == SyncMode::kOff) return;
  confirmLeavers(topology);
  auto wanted = wantedSyncSet(topology);
  if (applied_ && wanted == *applied_) return;
  if (Clock::now() < nextSyncAttempt_) return;
  nextSyncAttempt_ = Clock::now() + kSyncRetry;
  // A new member may acknowledge commits alone from the moment it is set:
  // it may be promoted from before then.
  for (auto node : without(wanted, sync_.nodes)) sync_.nodes.push_back(node);
  auto previous = applied_.value_or(std::vector<std::size_t>{});
  if (auto applied = applySyncSet(topology, wanted); !applied) {
    spdlog::error("{}failover: cannot set synchronous_standby_names on {}: {}", tag_,
                  topology.nodes[static_cast<std::size_t>(primary_)].node.name,
                  applied.error().message);
    return;
  }
  applied_ = wanted;
  if (wanted.empty()) {
    // Degraded: commits no longer wait for any standby, so no replica is
    // known to hold them all.
    sync_.nodes.clear();
    leavers_.clear();
    return;
  }
  for (auto node : without(previous, wanted)) {
    if (std::ranges::find(leavers_, node) == leavers_.end()) leavers_.push_back(node);
  }
}

Status FailoverCoordinator::applySyncSet(const Topology& topology,
                                         const std::vector<std::size_t>& members) {
  std::vector<std::string> names;
  for (auto node : members) names.push_back(topology.nodes[node].clusterName);
  auto setting = synchronousStandbyNames(names);
  const auto& primary = monitor_.options().nodes[static_cast<std::size_t>(primary_)];
  auto conn = PgConnection::connect(targetFor(primary, options_));
  if (!conn) return conn.error();
  if (auto set =
          conn->execute("ALTER SYSTEM SET synchronous_standby_names = " + quoteLiteral(setting));
      !set) {
    return set;
  }
  if (auto reloaded = conn->execute("SELECT pg_reload_conf()"); !reloaded) return reloaded;
  std::this_thread::sleep_for(kSyncSettle);
  auto lsn = conn->query("SELECT pg_current_wal_insert_lsn() AS lsn");
  if (!lsn) return lsn.error();
  leaveLsn_ = parseLsn(lsn->text(0, "lsn")).value_or(0);
  if (setting.empty()) {
    spdlog::error(
        "{}failover: synchronous replication DEGRADED to asynchronous: no replica streams; "
        "commits are acknowledged without a standby and no automatic failover is safe until "
        "one streams again",
        tag_);
  } else {
    spdlog::info("{}failover: synchronous_standby_names = '{}' on {}", tag_, setting, primary.name);
  }
  std::lock_guard lock(mutex_);
  status_.synchronousStandbyNames = setting;
  return Ok{};
}

// A member that left synchronous_standby_names may still be the only one
// with commits acknowledged before it left, until a remaining member has
// received past the moment it left.
void FailoverCoordinator::confirmLeavers(const Topology& topology) {
  if (leavers_.empty() || !applied_) return;
  for (auto node : *applied_) {
    const auto& observed = topology.nodes[node];
    if (observed.health == NodeHealth::kUp && observed.receiveLsn &&
        *observed.receiveLsn >= leaveLsn_) {
      sync_.nodes = without(sync_.nodes, leavers_);
      leavers_.clear();
      return;
    }
  }
}

namespace {

constexpr std::chrono::seconds kAgentTimeout{10};
constexpr std::chrono::seconds kRejoinRetry{30};
constexpr std::chrono::seconds kAgentSettle{5};

}  // namespace

const AgentEndpoint* FailoverCoordinator::agentOf(std::size_t node) const {
  if (node >= options_.agents.size() || !options_.agents[node]) return nullptr;
  return &*options_.agents[node];
}

// Through the node's agent when it has one (it knows a promotion from a
// crash), else pg_promote() over SQL.
Status FailoverCoordinator::promoteOnce(std::size_t node) {
  if (const auto* agent = agentOf(node)) {
    auto reply = postToAgent(*agent, "/promote", "{}", options_.agentToken,
                             options_.promoteTimeout + kAgentTimeout);
    // 503: the agent's own check has not seen its (re)started postgres
    // answer yet, though ours did; it does within a second or two.
    for (auto until = Clock::now() + kAgentSettle;
         reply && reply->status == 503 && Clock::now() < until;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      reply = postToAgent(*agent, "/promote", "{}", options_.agentToken,
                          options_.promoteTimeout + kAgentTimeout);
    }
    if (!reply) return reply.error();
    if (reply->status != 200) {
      return makeError("agent {}:{} answered POST /promote with {}: {}", agent->host, agent->port,
                       reply->status, reply->body);
    }
    return Ok{};
  }
  auto conn = PgConnection::connect(targetFor(monitor_.options().nodes[node], options_));
  if (!conn) return conn.error();
  auto rows =
      conn->query("SELECT pg_promote(true, $1)", {std::to_string(options_.promoteTimeout.count())});
  if (!rows) return rows.error();
  if (rows->text(0, "pg_promote") != "t") {
    return makeError("pg_promote() did not finish within {} s", options_.promoteTimeout.count());
  }
  return Ok{};
}

// A fenced primary's agent makes it a replica of the current primary
// (pg_rewind, else a fresh clone); without an agent, an operator must.
void FailoverCoordinator::requestRejoin(std::size_t node) {
  const auto* agent = agentOf(node);
  // A watching pool (failover = off) acts on nothing.
  if (!options_.policy.enabled || agent == nullptr || Clock::now() < nextRejoin_[node]) return;
  nextRejoin_[node] = Clock::now() + kRejoinRetry;
  const auto& primary = monitor_.options().nodes[static_cast<std::size_t>(primary_)];
  const auto& name = monitor_.options().nodes[node].name;
  nlohmann::json body{{"host", primary.host}, {"port", primary.port}};
  auto reply = postToAgent(*agent, "/rejoin", body.dump(), options_.agentToken, kAgentTimeout);
  if (!reply) {
    spdlog::error("{}failover: cannot ask {} to rejoin: {}", tag_, name, reply.error().message);
  } else if (reply->status == 200 || reply->status == 202) {
    spdlog::warn("{}failover: {} rejoins as a replica of {} (its agent rewinds it)", tag_, name,
                 primary.name);
  } else {
    spdlog::error("{}failover: {}'s agent refused to rejoin it ({}): {}", tag_, name, reply->status,
                  reply->body);
  }
}

std::future<Result<std::string>> FailoverCoordinator::switchover(
    std::optional<std::string> target, std::chrono::milliseconds catchUp) {
  std::promise<Result<std::string>> done;
  auto future = done.get_future();
  std::lock_guard lock(mutex_);
  if (switchover_ || !thread_.joinable()) {
    std::string why = thread_.joinable() ? "a switchover is already under way"
                                         : "the failover coordinator is not running";
    done.set_value(makeError("{}", why));
    return future;
  }
  switchover_ = SwitchoverRequest{std::move(target), catchUp, std::move(done)};
  wake_.notify_all();
  return future;
}

Result<std::string> FailoverCoordinator::runSwitchover(const SwitchoverRequest& request) {
  if (!options_.policy.enabled) return makeError("failover = off: this pool only watches");
  if (state_ != FailoverState::kHealthy) {
    return makeError("the cluster is {}: a switchover needs a healthy primary", toString(state_));
  }
  const auto& nodes = monitor_.options().nodes;
  std::optional<std::size_t> wanted;
  if (request.target) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].name == *request.target) wanted = i;
    }
    if (!wanted) return makeError("no node is named '{}'", *request.target);
  }
  auto topology = monitor_.current();
  auto target = pickSwitchoverTarget(*topology, primary_, wanted, options_.policy, sync_);
  if (!target) return target.error();
  auto old = static_cast<std::size_t>(primary_);
  spdlog::warn("{}switchover: {} -> {}: freezing {}", tag_, nodes[old].name, nodes[*target].name,
               nodes[old].name);
  auto frozen = freeze(old);
  if (!frozen) return frozen.error();
  if (auto caughtUp = waitForReplay(*target, frozen->lsn, request.catchUp); !caughtUp) {
    thaw(old, *frozen);
    return caughtUp.error();
  }
  candidate_ = *target;
  planned_ = true;
  fire(FailoverEvent::kSwitchover, *monitor_.current(),
       fmt::format("{} replayed {} of {}", nodes[*target].name, formatLsn(frozen->lsn),
                   nodes[old].name));
  planned_ = false;
  if (primary_ != static_cast<int>(*target)) {
    thaw(old, *frozen);
    return makeError("promoting {} failed; {} was thawed (see the log)", nodes[*target].name,
                     nodes[old].name);
  }
  if (agentOf(old) == nullptr) {
    spdlog::warn("{}switchover: {} is frozen and fenced; without its agent, rejoin it by hand",
                 tag_, nodes[old].name);
  }
  requestRejoin(old);
  return nodes[*target].name;
}

namespace {

constexpr const char* kFrozenStandby = "\"pgswarm-switchover\"";

}  // namespace

// No commit on the old primary can be acknowledged once a standby that
// does not exist must confirm it; its sessions end so none is in flight.
Result<FailoverCoordinator::Frozen> FailoverCoordinator::freeze(std::size_t node) {
  auto conn = PgConnection::connect(targetFor(monitor_.options().nodes[node], options_));
  if (!conn) return conn.error();
  auto before = conn->query(
      "SELECT current_setting('synchronous_standby_names') AS s, "
      "current_setting('default_transaction_read_only') AS r");
  if (!before) return before.error();
  Frozen frozen{before->text(0, "s"), before->text(0, "r")};
  for (const auto& sql :
       {"ALTER SYSTEM SET synchronous_standby_names = " + quoteLiteral(kFrozenStandby),
        std::string("ALTER SYSTEM SET default_transaction_read_only = on"),
        std::string("SELECT pg_reload_conf()")}) {
    if (auto done = conn->execute(sql); !done) return done.error();
  }
  std::this_thread::sleep_for(kSyncSettle);
  auto ended = conn->execute(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
  if (!ended) return ended.error();
  auto lsn = conn->query("SELECT pg_current_wal_insert_lsn() AS lsn");
  if (!lsn) return lsn.error();
  frozen.lsn = parseLsn(lsn->text(0, "lsn")).value_or(0);
  return frozen;
}

void FailoverCoordinator::thaw(std::size_t node, const Frozen& frozen) {
  auto set = [](const char* name, const std::string& value) {
    return value.empty() ? fmt::format("ALTER SYSTEM RESET {}", name)
                         : fmt::format("ALTER SYSTEM SET {} = {}", name, quoteLiteral(value));
  };
  const auto& name = monitor_.options().nodes[node].name;
  auto conn = PgConnection::connect(targetFor(monitor_.options().nodes[node], options_));
  Status done = conn ? Status(Ok{}) : Status(conn.error());
  for (const auto& sql : {set("synchronous_standby_names", frozen.synchronousStandbyNames),
                          set("default_transaction_read_only", frozen.defaultTransactionReadOnly),
                          std::string("SELECT pg_reload_conf()")}) {
    if (done) done = conn->execute(sql);
  }
  if (!done) {
    spdlog::error(
        "{}switchover: cannot thaw {}: {}; it refuses commits until its settings are "
        "restored by hand",
        tag_, name, done.error().message);
  } else {
    // Until every process has reloaded, a new session may still start read-only.
    std::this_thread::sleep_for(kSyncSettle);
    spdlog::warn("{}switchover: abandoned; {} takes writes again", tag_, name);
  }
  applied_.reset();  // synchronous mode: set its list again
}

Status FailoverCoordinator::waitForReplay(std::size_t node, Lsn lsn,
                                          std::chrono::milliseconds timeout) {
  const auto& name = monitor_.options().nodes[node].name;
  auto conn = PgConnection::connect(targetFor(monitor_.options().nodes[node], options_));
  if (!conn) return conn.error();
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto rows =
        conn->query("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done", {formatLsn(lsn)});
    if (!rows) return rows.error();
    if (rows->text(0, "done") == "t") return Ok{};
    if (Clock::now() >= deadline) {
      return makeError("{} did not replay up to {} within {} ms", name, formatLsn(lsn),
                       timeout.count());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace pgswarm::cluster
