// The pool process: see pool_server.hpp.
#include "proxy/pool_server.hpp"

#include <csignal>

#include <spdlog/spdlog.h>

#include "proxy/dashboard.hpp"
#include "proxy/http_endpoint.hpp"
#include "proxy/server_tls.hpp"
#include "proxy/shared_state.hpp"
#include "proxy/size_reload.hpp"
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

// A monitor of `servers` (the coordinator's nodes or a shard group's).
std::unique_ptr<cluster::HealthMonitor> makeMonitor(const ProxyShared& shared,
                                                    const std::vector<pool::ServerAddress>& servers,
                                                    const std::vector<int>& weights) {
  const auto& config = shared.config;
  cluster::HealthMonitorOptions options{.user = config.healthCheckUser,
                                        .password = healthCheckPassword(shared),
                                        .dbname = config.healthCheckDbname,
                                        .period = config.healthCheckPeriod,
                                        .connectTimeout = config.healthCheckTimeout,
                                        .queryTimeout = config.healthCheckTimeout,
                                        .events = shared.events};
  options.tlsKeywords = libpqTlsKeywords(config);
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const auto& server = servers[i];
    options.nodes.push_back({.name = server.host + ":" + std::to_string(server.port),
                             .host = server.host,
                             .port = server.port,
                             .weight = weights[i]});
  }
  return std::make_unique<cluster::HealthMonitor>(std::move(options));
}

// The primary `monitor` sees now; nullopt while there is none.
std::optional<cluster::MonitoredNode> primaryOf(const cluster::HealthMonitor& monitor) {
  auto topology = monitor.current();
  int primary = topology->primaryIndex();
  if (primary < 0) return std::nullopt;
  return topology->nodes[static_cast<std::size_t>(primary)].node;
}

// Where the coordinator's primary is now (the first node when checks are
// off); nullopt while there is none.
std::optional<shard::CoordinatorAddress> coordinatorPrimary(const ProxyShared& shared) {
  if (!shared.monitor) {
    const auto& first = shared.config.servers.front();
    return shard::CoordinatorAddress{first.host, first.port};
  }
  auto primary = primaryOf(*shared.monitor);
  if (!primary) return std::nullopt;
  return shard::CoordinatorAddress{primary->host, primary->port};
}

// One coordinator per replication group, all with the pool's failover
// settings: the coordinator's nodes (`group` empty) or a shard group's.
// Priorities are per node of the coordinator's group, so shard groups go
// without them (every replica at 1).
std::unique_ptr<cluster::FailoverCoordinator> makeCoordinator(
    const ProxyShared& shared, cluster::HealthMonitor& monitor,
    const std::vector<pool::ServerAddress>& agents, const std::string& group) {
  const auto& config = shared.config;
  cluster::FailoverCoordinatorOptions options{
      .policy = {.enabled = config.failover,
                 .timeout = config.failoverTimeout,
                 .maximumLag = config.maximumLagOnFailover,
                 .priorities = group.empty() ? config.failoverPriorities : std::vector<int>{},
                 .syncMode = config.synchronousMode,
                 .restartGrace = config.primaryRestartGrace},
      .user = config.healthCheckUser,
      .password = healthCheckPassword(shared),
      .dbname = config.healthCheckDbname,
      .tls = libpqTlsKeywords(config),
      .agentToken = config.agentToken,
      .events = shared.events,
      .group = group};
  for (const auto& agent : agents) {
    options.agents.emplace_back(cluster::AgentEndpoint{agent.host, agent.port});
  }
  return std::make_unique<cluster::FailoverCoordinator>(monitor, std::move(options));
}

// Keeps the coordinator's postgres_fdw servers on each group's primary.
std::unique_ptr<shard::ForeignServerKeeper> makeForeignServerKeeper(ProxyShared& shared) {
  const auto& config = shared.config;
  shard::ForeignServerKeeperOptions options{
      .databases = config.shardDatabases,
      .coordinator = [&shared] { return coordinatorPrimary(shared); },
      .primaryOf = [&shared](std::size_t index) -> std::optional<shard::ShardNode> {
        const auto& group = shared.shardGroups[index];
        auto primary = primaryOf(*group.monitor);
        if (!primary) return std::nullopt;
        return shard::ShardNode{.name = group.name, .host = primary->host, .port = primary->port};
      },
      .user = config.healthCheckUser,
      .password = healthCheckPassword(shared),
      .tls = libpqTlsKeywords(config),
      .period = config.healthCheckPeriod,
      .connectTimeout = config.healthCheckTimeout,
      .events = shared.events};
  for (const auto& group : shared.shardGroups) options.groups.push_back(group.name);
  return std::make_unique<shard::ForeignServerKeeper>(std::move(options));
}

// Shard groups take the node indices after the coordinator's. Their reads
// follow the coordinator's routing policy, each replica at weight 1; with
// health checks, each group fails over on its own and the coordinator's
// foreign servers follow its primary.
void makeShardGroups(ProxyShared& shared) {
  const auto& config = shared.config;
  if (config.shardGroups.empty()) return;
  // Session mode watches the groups, fails them over and shows them and the
  // map; statements still go through the coordinator (Session::routingActive).
  if (config.mode != PoolMode::kTransaction) {
    spdlog::info(
        "shard_hosts in session mode: shard groups are checked and fail over, statements go "
        "through the coordinator (direct shard routing needs pool_mode = transaction)");
  }
  int base = static_cast<int>(config.servers.size());
  for (const auto& configured : config.shardGroups) {
    ShardGroup group{.name = configured.name,
                     .base = base,
                     .servers = configured.servers,
                     .routing = shared.routing};
    std::vector<int> weights(group.servers.size(), 1);
    group.routing.weights = weights;
    if (config.healthCheckPeriod.count() > 0) {
      group.monitor = makeMonitor(shared, group.servers, weights);
      group.monitor->start();
      if (group.servers.size() > 1) {
        group.failover = makeCoordinator(shared, *group.monitor, configured.agents, group.name);
        group.failover->start();
      }
    }
    base += static_cast<int>(group.servers.size());
    shared.shardGroups.push_back(std::move(group));
  }
  if (config.healthCheckPeriod.count() > 0) {
    shared.foreignServers = makeForeignServerKeeper(shared);
    shared.foreignServers->start();
  }
  if (config.shardMapRefresh.count() == 0) return;
  shard::MapWatcherOptions options{.databases = config.shardDatabases,
                                   .user = config.healthCheckUser,
                                   .password = healthCheckPassword(shared),
                                   .tls = libpqTlsKeywords(config),
                                   .period = config.shardMapRefresh,
                                   .connectTimeout = config.healthCheckTimeout};
  for (const auto& group : shared.shardGroups) options.groups.push_back(group.name);
  // The catalog lives on the coordinator's primary (replicas have it too,
  // but may lag behind a `shard move`).
  options.coordinator = [&shared] { return coordinatorPrimary(shared); };
  shared.shardMap = std::make_unique<shard::MapWatcher>(std::move(options));
  shared.shardMap->start();
}

// Which nodes the data plane reaches over a unix socket, said once at start.
void logSocketRoutes(const PoolConfig& config) {
  auto log = [](const pool::ServerAddress& node) {
    if (node.socketDir.empty()) return;
    spdlog::info("server connections to {}:{} go through the unix socket in {} (TCP when it fails)",
                 node.host, node.port, node.socketDir);
  };
  for (const auto& server : config.servers) log(server);
  for (const auto& group : config.shardGroups) {
    for (const auto& server : group.servers) log(server);
  }
}

}  // namespace

int runPool(const PoolConfig& config, std::function<Result<PoolConfig>()> rereadConfig) {
  ProxyShared shared(config);
  shared.rereadConfig = std::move(rereadConfig);
  if (auto loaded = reloadAuthentication(shared); !loaded) {
    spdlog::error("{}", loaded.error().message);
    return 2;
  }
  if (auto tls = shared.tls.reload(config); !tls) {
    spdlog::error("TLS: {}", tls.error().message);
    return 2;
  }
  if (auto serverTls = shared.serverTlsLoader.load(config, shared.serverTls); !serverTls) {
    spdlog::error("server TLS: {}", serverTls.error().message);
    return 2;
  }
  auto endpoint = listenEndpoint(config);
  if (!endpoint) {
    spdlog::error("{}", endpoint.error().message);
    return 2;
  }
  if (config.healthCheckPeriod.count() > 0) {
    shared.monitor = makeMonitor(shared, config.servers, config.weights);
    shared.monitor->start();
    if (config.servers.size() > 1) {
      shared.failover = makeCoordinator(shared, *shared.monitor, config.agents, "");
      shared.failover->start();
    }
  }
  makeShardGroups(shared);
  logSocketRoutes(config);
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
      "pool listening on {}:{} ({} mode, {} workers, {} node(s), first {}:{}, {} shard "
      "group(s), {} users, TLS {}, server TLS {})",
      config.listenAddress, config.listenPort, toString(config.mode), config.workers,
      config.servers.size(), config.servers.front().host, config.servers.front().port,
      shared.shardGroups.size(), shared.users.size(), toString(config.tlsMode),
      pool::toString(config.serverTlsMode));

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
      if (auto sizes = reloadPoolSizes(shared); !sizes) {
        spdlog::error("reload: keeping the old pool sizes: {}", sizes.error().message);
      }
      bool tlsChanged = false;
      if (auto tls = shared.tls.reload(shared.config, &tlsChanged); !tls) {
        spdlog::error("reload: keeping the old TLS certificate: {}", tls.error().message);
      } else if (tlsChanged) {
        spdlog::info("reloaded the TLS certificate and key");
      }
      bool serverTlsChanged = false;
      if (auto serverTls = reloadServerTls(shared, &serverTlsChanged); !serverTls) {
        spdlog::error("reload: keeping the old server TLS settings: {}", serverTls.error().message);
      } else if (serverTlsChanged) {
        spdlog::info("reloaded the server TLS settings and files");
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
  if (shared.shardMap) shared.shardMap->stop();
  if (shared.foreignServers) shared.foreignServers->stop();
  for (auto& group : shared.shardGroups) {
    if (group.failover) group.failover->stop();
    if (group.monitor) group.monitor->stop();
  }
  if (shared.monitor) shared.monitor->stop();
  signals_loop.stop();
  signalThread.join();
  spdlog::info("pool stopped");
  return 0;
}

}  // namespace pgswarm::proxy
