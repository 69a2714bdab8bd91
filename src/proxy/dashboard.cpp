// The dashboard's server side: see dashboard.hpp.
#include "proxy/dashboard.hpp"

#include <algorithm>
#include <cctype>

#include <asio/ip/address.hpp>

#include "auth/crypto.hpp"
#include "auth/secret.hpp"
#include "cluster/agent_client.hpp"
#include "proxy/status_api.hpp"
#include "proxy/worker.hpp"

namespace pgswarm::proxy {
namespace {

using namespace std::chrono_literals;

// As /metrics: a sample with a worker missing is kept, but its rates are
// left out (status_history.cpp), so a slow worker never fakes a drop.
constexpr std::chrono::milliseconds kGatherTimeout = 2s;
// Agents answer /status from memory: a slow one is skipped, not waited for.
constexpr std::chrono::milliseconds kAgentTimeout = 300ms;

}  // namespace

StatusService::StatusService(ProxyShared& shared, std::chrono::milliseconds interval,
                             std::size_t historyCapacity)
    : shared_(shared),
      interval_(std::max(interval, std::chrono::milliseconds(100))),
      history_(historyCapacity) {}

StatusService::~StatusService() {
  stop();
}

void StatusService::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void StatusService::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StatusService::run() {
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    sampleOnce();
    // Ticks on a fixed grid: a slow gather does not shift later samples.
    next += interval_;
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;
    std::unique_lock lock(mutex_);
    if (wake_.wait_until(lock, next, [this] { return stopping_; })) return;
  }
}

nlohmann::json StatusService::pollAgentProgress() const {
  auto progress = nlohmann::json::object();
  auto ask = [&](const pool::ServerAddress& agent, const pool::ServerAddress& node) {
    auto reply = cluster::getFromAgent(cluster::AgentEndpoint{agent.host, agent.port}, "/status",
                                       kAgentTimeout);
    if (!reply || reply->status != 200) return;
    auto status = nlohmann::json::parse(reply->body, nullptr, false);
    if (status.is_object() && status.contains("progress") && status["progress"].is_object()) {
      progress[node.host + ":" + std::to_string(node.port)] = status["progress"];
    }
  };
  const auto& config = shared_.config;
  for (std::size_t i = 0; i < config.agents.size() && i < config.servers.size(); ++i) {
    ask(config.agents[i], config.servers[i]);
  }
  for (const auto& group : config.shardGroups) {
    for (std::size_t i = 0; i < group.agents.size() && i < group.servers.size(); ++i) {
      ask(group.agents[i], group.servers[i]);
    }
  }
  return progress;
}

void StatusService::sampleOnce() {
  auto progress = pollAgentProgress();
  auto snapshot = gatherSnapshotBlocking(shared_, kGatherTimeout);
  // In whole milliseconds, as /api/status publishes it, so ?since= with a
  // published time never returns that sample again.
  auto at = std::chrono::floor<std::chrono::milliseconds>(WallClock::now());
  std::lock_guard lock(mutex_);
  history_.add(snapshot, shared_.config, at);
  latest_ = std::move(snapshot);
  latestAt_ = at;
  agentProgress_ = std::move(progress);
}

nlohmann::json StatusService::status(std::optional<std::int64_t> sinceMillis) {
  std::optional<WallClock::time_point> since;
  if (sinceMillis) since = WallClock::time_point(std::chrono::milliseconds(*sinceMillis));
  std::unique_lock lock(mutex_);
  if (!latest_) {
    // Asked before the first sample: gather one now, without the lock.
    lock.unlock();
    sampleOnce();
    lock.lock();
  }
  auto samples = history_.samples(since);
  return statusJson({.snapshot = *latest_,
                     .sampledAt = latestAt_,
                     .config = shared_.config,
                     .history = samples,
                     .historyCapacity = history_.capacity(),
                     .historyInterval = interval_,
                     .events = shared_.events->events(),
                     .agentProgress = &agentProgress_});
}

nlohmann::json StatusService::agentProgress() {
  std::lock_guard lock(mutex_);
  return agentProgress_;
}

const WebAsset* findWebAsset(std::string_view path) {
  if (path == "/") path = "/index.html";
  auto assets = webAssets();
  auto it = std::find_if(assets.begin(), assets.end(),
                         [&](const WebAsset& asset) { return asset.path == path; });
  return it == assets.end() ? nullptr : &*it;
}

bool isLoopbackListen(std::string_view host) {
  if (host == "localhost") return true;
  std::error_code ec;
  auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) return false;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
  }
  return address.is_loopback();
}

bool basicAuthAllows(const ProxyShared& shared, std::string_view authorization) {
  constexpr std::string_view kScheme = "Basic ";
  if (authorization.size() <= kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), authorization.begin(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    return false;
  }
  auto decoded = auth::base64Decode(authorization.substr(kScheme.size()));
  if (!decoded) return false;
  std::string credentials(decoded->begin(), decoded->end());
  auto colon = credentials.find(':');
  if (colon == std::string::npos) return false;
  auto user = credentials.substr(0, colon);
  auto password = std::string_view(credentials).substr(colon + 1);
  const auto& admins = shared.config.adminUsers;
  if (std::find(admins.begin(), admins.end(), user) == admins.end()) return false;
  auto secret = shared.users.find(user);
  if (!secret) return false;
  auto verdict = auth::verifyCleartextPassword(*secret, user, password);
  return verdict && *verdict == auth::Verdict::kAuthenticated;
}

}  // namespace pgswarm::proxy
