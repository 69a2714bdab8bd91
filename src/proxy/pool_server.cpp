// The pool process: see pool_server.hpp.
#include "proxy/pool_server.hpp"

#include <csignal>

#include <spdlog/spdlog.h>

#include "proxy/dashboard.hpp"
#include "proxy/http_endpoint.hpp"
#include "proxy/shared_state.hpp"
#include "proxy/worker.hpp"

namespace pgswarm::proxy {
namespace {

Result<asio::ip::tcp::endpoint> listenEndpoint(const PoolConfig& config) {
  std::error_code ec;
  std::string host = config.listenAddress == "*" ? "0.0.0.0" : config.listenAddress;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return makeError("pool.listen_addr '{}' is not an IP address", config.listenAddress);
  return asio::ip::tcp::endpoint(address, static_cast<unsigned short>(config.listenPort));
}

// The health checks log in with health_check_password, else the user's
// plain password from the auth file, else whatever libpq finds (PGPASSFILE).
std::string healthCheckPassword(const ProxyShared& shared) {
  const auto& config = shared.config;
  if (!config.healthCheckPassword.empty()) return config.healthCheckPassword;
  auto secret = shared.users.find(config.healthCheckUser);
  if (const auto* plain = secret ? std::get_if<auth::PlainSecret>(&*secret) : nullptr) {
    return plain->password;
  }
  return {};
}

std::unique_ptr<cluster::HealthMonitor> makeMonitor(const ProxyShared& shared) {
  const auto& config = shared.config;
  cluster::HealthMonitorOptions options{.user = config.healthCheckUser,
                                        .password = healthCheckPassword(shared),
                                        .dbname = config.healthCheckDbname,
                                        .period = config.healthCheckPeriod,
                                        .connectTimeout = config.healthCheckTimeout,
                                        .queryTimeout = config.healthCheckTimeout,
                                        .events = shared.events};
  for (std::size_t i = 0; i < config.servers.size(); ++i) {
    const auto& server = config.servers[i];
    options.nodes.push_back({.name = server.host + ":" + std::to_string(server.port),
                             .host = server.host,
                             .port = server.port,
                             .weight = config.weights[i]});
  }
  return std::make_unique<cluster::HealthMonitor>(std::move(options));
}

std::unique_ptr<cluster::FailoverCoordinator> makeCoordinator(ProxyShared& shared) {
  const auto& config = shared.config;
  cluster::FailoverCoordinatorOptions options{
      .policy = {.enabled = config.failover,
                 .timeout = config.failoverTimeout,
                 .maximumLag = config.maximumLagOnFailover,
                 .priorities = config.failoverPriorities,
                 .syncMode = config.synchronousMode,
                 .restartGrace = config.primaryRestartGrace},
      .user = config.healthCheckUser,
      .password = healthCheckPassword(shared),
      .dbname = config.healthCheckDbname,
      .agentToken = config.agentToken,
      .events = shared.events};
  for (const auto& agent : config.agents) {
    options.agents.emplace_back(cluster::AgentEndpoint{agent.host, agent.port});
  }
  return std::make_unique<cluster::FailoverCoordinator>(*shared.monitor, std::move(options));
}

}  // namespace

int runPool(const PoolConfig& config) {
  ProxyShared shared(config);
  if (auto loaded = reloadAuthentication(shared); !loaded) {
    spdlog::error("{}", loaded.error().message);
    return 2;
  }
  if (auto tls = shared.tls.reload(config); !tls) {
    spdlog::error("TLS: {}", tls.error().message);
    return 2;
  }
  auto endpoint = listenEndpoint(config);
  if (!endpoint) {
    spdlog::error("{}", endpoint.error().message);
    return 2;
  }
  if (config.healthCheckPeriod.count() > 0) {
    shared.monitor = makeMonitor(shared);
    shared.monitor->start();
    if (config.servers.size() > 1) {
      shared.failover = makeCoordinator(shared);
      shared.failover->start();
    }
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < config.workers; ++i) {
    workers.push_back(std::make_unique<Worker>(shared, i));
    auto listening = i == 0 ? workers.back()->listen(*endpoint)
                            : workers.back()->shareListener(*workers.front());
    if (!listening) {
      spdlog::error("{}", listening.error().message);
      return 1;
    }
  }
  for (auto& worker : workers) shared.workers.push_back(worker.get());
  for (auto& worker : workers) worker->start();
  // Declared after the workers so it is gone before they are: a scrape in
  // flight only ever posts to a worker that still exists.
  HttpEndpoint http(shared);
  if (config.httpPort != 0) {
    // The data plane does not depend on the metrics port: a taken port is
    // reported loudly and the pool serves on without /metrics.
    bool dashboardAuth = !isLoopbackListen(config.httpListen);
    if (auto serving = http.start(config.httpListen, config.httpPort, dashboardAuth); !serving) {
      spdlog::error("{}; /metrics, /health and the dashboard are off", serving.error().message);
    } else {
      spdlog::info("metrics on http://{}:{}/metrics, dashboard on http://{}:{}/{}",
                   config.httpListen, config.httpPort, config.httpListen, config.httpPort,
                   dashboardAuth ? " (admin_users, HTTP basic auth)" : "");
    }
  }
  spdlog::info(
      "pool listening on {}:{} ({} mode, {} workers, {} node(s), first {}:{}, {} users, "
      "TLS {})",
      config.listenAddress, config.listenPort, toString(config.mode), config.workers,
      config.servers.size(), config.servers.front().host, config.servers.front().port,
      shared.users.size(), toString(config.tlsMode));

  asio::io_context signals_loop;
  asio::signal_set signals(signals_loop, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const std::error_code&, int)> onSignal = [&](const std::error_code& ec,
                                                                  int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      auto reloaded = reloadAuthentication(shared);
      if (reloaded) {
        spdlog::info("reloaded users ({} users) and access rules", shared.users.size());
      } else {
        spdlog::error("reload failed, keeping the old users and access rules: {}",
                      reloaded.error().message);
      }
      bool tlsChanged = false;
      if (auto tls = shared.tls.reload(shared.config, &tlsChanged); !tls) {
        spdlog::error("reload: keeping the old TLS certificate: {}", tls.error().message);
      } else if (tlsChanged) {
        spdlog::info("reloaded the TLS certificate and key");
      }
      signals.async_wait(onSignal);
      return;
    }
    spdlog::info("stopping on signal {}", signal);
    for (auto& worker : workers) worker->requestStop();
  };
  signals.async_wait(onSignal);
  std::thread signalThread([&] { signals_loop.run(); });
  for (auto& worker : workers) worker->join();
  http.stop();
  if (shared.failover) shared.failover->stop();
  if (shared.monitor) shared.monitor->stop();
  signals_loop.stop();
  signalThread.join();
  spdlog::info("pool stopped");
  return 0;
}

}  // namespace pgswarm::proxy
