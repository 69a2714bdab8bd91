// The dashboard's server side: a sampler thread that gathers a ProxySnapshot
// every `interval` (the same snapshots /metrics and the admin console use,
// posted to the workers' loops) into the StatusHistory, and the /api/status
// document built from the latest sample, so any number of viewers cost the
// workers one snapshot a second. Also the page's embedded files and the
// HTTP basic-auth check for a non-loopback HTTP port.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "proxy/pool_snapshot.hpp"
#include "proxy/shared_state.hpp"
#include "proxy/status_history.hpp"

namespace pgswarm::proxy {

class StatusService {
 public:
  explicit StatusService(ProxyShared& shared,
                         std::chrono::milliseconds interval = std::chrono::seconds(1),
                         std::size_t historyCapacity = 300);
  ~StatusService();  // stop()
  StatusService(const StatusService&) = delete;
  StatusService& operator=(const StatusService&) = delete;

  // Samples once at once, then every interval on a thread of its own.
  void start();
  void stop();
  // The /api/status document; `sinceMillis` keeps only history samples taken
  // after it (a polling page asks for what it has not seen).
  [[nodiscard]] nlohmann::json status(std::optional<std::int64_t> sinceMillis);
  // The agents' progress as of the last sample (for /metrics).
  [[nodiscard]] nlohmann::json agentProgress();

 private:
  void run();
  void sampleOnce();
  // The agents' /status "progress", by node name; agents that do not
  // answer within a short timeout are left out of this sample.
  [[nodiscard]] nlohmann::json pollAgentProgress() const;

  ProxyShared& shared_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;  // guards everything below but thread_
  std::condition_variable wake_;
  bool stopping_ = false;
  StatusHistory history_;
  std::optional<ProxySnapshot> latest_;
  WallClock::time_point latestAt_{};
  nlohmann::json agentProgress_ = nlohmann::json::object();
  std::thread thread_;
};

// One file of web/, embedded at build time (generated web_assets.cpp).
struct WebAsset {
  std::string_view path;  // "/index.html"
  std::string_view contentType;
  std::string_view body;
};
[[nodiscard]] std::span<const WebAsset> webAssets();
// "/" is "/index.html"; null for anything else that is not embedded.
[[nodiscard]] const WebAsset* findWebAsset(std::string_view path);

// True for 127.0.0.0/8, ::1 and "localhost": only this machine can connect.
[[nodiscard]] bool isLoopbackListen(std::string_view host);
// An "Authorization" header's "Basic ..." credentials checked against the
// users (admin_users only, any stored secret form).
[[nodiscard]] bool basicAuthAllows(const ProxyShared& shared, std::string_view authorization);

}  // namespace pgswarm::proxy
