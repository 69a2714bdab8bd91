// The local cluster behind `pgswarm up/status/down`: see local_cluster.hpp.
#include "agent/local_cluster.hpp"

#include "agent/agent_state.hpp"
#include "agent/node_config.hpp"
#include "agent/pg_files.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "cluster/node_status.hpp"
#include "cluster/pg_client.hpp"
#include "common/files.hpp"
#include "common/settings.hpp"
#include "runtime/ports.hpp"
#include "runtime/process.hpp"

namespace pgswarm::agent {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr int kApiPortOffset = 1000;  // node port 54320 -> agent API 55320
constexpr int kMaxReplicas = 32;
constexpr auto kPrimaryTimeout = 90s;
constexpr auto kReplicaTimeout = 180s;
constexpr auto kAgentStopGrace = 70s;  // the agent itself waits 60 s for postgres
constexpr const char* kRunAsUser = "postgres";

std::string selfExecutable() {
  std::error_code ec;
  auto path = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("pgswarm") : path.string();
}

nlohmann::json manifestJson(const LocalCluster& cluster) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& node : cluster.nodes) {
    nodes.push_back({{"name", node.name},
                     {"group", node.group},
                     {"created_as_primary", node.createdAsPrimary},
                     {"port", node.port},
                     {"api_port", node.apiPort},
                     {"node_dir", node.nodeDir}});
  }
  return {{"format", 1},
          {"pool_port", cluster.poolPort},
          {"http_port", cluster.httpPort},
          {"failover", cluster.failover},
          {"synchronous_mode", cluster.sync},
          {"pool_mode", cluster.poolMode},
          {"nodes", nodes}};
}

Status saveManifest(const LocalCluster& cluster) {
  return writeFileAtomic(cluster.manifestPath(), manifestJson(cluster).dump(2) + "\n", 0644);
}

std::optional<pid_t> readPidFile(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

// The agent PID, only while that PID really is this node's agent (PIDs get
// reused; we never signal a process we cannot name).
std::optional<pid_t> runningAgent(const LocalNode& node) {
  auto pid = readPidFile(node.agentPidPath());
  if (!pid || !runtime::processAlive(*pid)) return std::nullopt;
  auto cmdline = runtime::processCommandLine(*pid);
  if (cmdline.find(" node ") == std::string::npos ||
      cmdline.find(node.dataDir()) == std::string::npos) {
    return std::nullopt;
  }
  return pid;
}

// The postmaster PID from postmaster.pid, while it is alive and serves this data dir.
std::optional<pid_t> runningPostmaster(const LocalNode& node) {
  auto pid = readPidFile(node.dataDir() + "/postmaster.pid");
  if (!pid || !runtime::processAlive(*pid)) return std::nullopt;
  if (runtime::processCommandLine(*pid).find(node.dataDir()) == std::string::npos) {
    return std::nullopt;
  }
  return pid;
}

std::string logTail(const std::string& path, std::size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string text;
  for (const auto& l : tail) text += "    " + l + "\n";
  return text;
}

// Postgres never runs as root; as root the folder must be reachable by the
// unprivileged user the agents run postgres as.
Status checkReachableByRunAsUser(const std::string& dir) {
  auto runAs = runtime::runAsWhenRoot(kRunAsUser);
  if (!runAs) return runAs.error();
  if (!*runAs) return Ok{};
  runtime::SpawnOptions probe{.argv = {"/usr/bin/test", "-x", dir}, .runAs = *runAs};
  auto result = runtime::runProcess(probe, [](std::string_view) {});
  if (!result) return result.error();
  if (!result->success()) {
    return makeError(
        "'{}' is not reachable by the OS user '{}' that runs postgres (a parent folder such as a "
        "home directory is probably mode 0700); choose a folder under /var/lib or /srv with --dir",
        dir, kRunAsUser);
  }
  return Ok{};
}

Status checkPortsFree(const LocalCluster& cluster) {
  for (int port : {cluster.poolPort, cluster.httpPort}) {
    if (auto free = runtime::checkPortFree("127.0.0.1", port); !free) {
      return makeError("the pool needs port {}: {}", port, free.error().message);
    }
  }
  for (const auto& node : cluster.nodes) {
    for (int port : {node.port, node.apiPort}) {
      if (auto free = runtime::checkPortFree("127.0.0.1", port); !free) {
        return makeError("{} needs port {}: {}", node.name, port, free.error().message);
      }
    }
  }
  return Ok{};
}

Result<std::string> chooseSecret(const std::string& given) {
  if (!given.empty()) return given;
  return randomToken(24);
}

Status checkCounts(const LocalClusterSpec& spec) {
  for (auto [flag, value] :
       {std::pair{"--replicas", spec.replicas}, std::pair{"--shards", spec.shards},
        std::pair{"--shard-replicas", spec.shardReplicas}}) {
    if (value < 0 || value > kMaxReplicas) {
      return makeError("{} must be between 0 and {}, not {}", flag, kMaxReplicas, value);
    }
  }
  return Ok{};
}

// Ports in creation order: node0, its replicas, shard1, its replicas, shard2...
Result<LocalCluster> planCluster(const LocalClusterSpec& spec) {
  if (auto counts = checkCounts(spec); !counts) return counts.error();
  int nodeCount = spec.replicas + 1 + spec.shards * (spec.shardReplicas + 1);
  int lastApiPort = spec.portBase + nodeCount - 1 + kApiPortOffset;
  if (spec.portBase < 1024 || lastApiPort > 65535) {
    return makeError("--port-base {} leaves no room for {} nodes and their agent ports (+{})",
                     spec.portBase, nodeCount, kApiPortOffset);
  }
  LocalCluster cluster{.dir = spec.dir,
                       .poolPort = spec.poolPort,
                       .httpPort = spec.httpPort,
                       .failover = spec.failover,
                       .sync = spec.sync,
                       .poolMode = spec.poolMode};
  auto add = [&](const std::string& name, const std::string& group, bool primary) {
    int port = spec.portBase + static_cast<int>(cluster.nodes.size());
    cluster.nodes.push_back(LocalNode{.name = name,
                                      .group = group,
                                      .createdAsPrimary = primary,
                                      .port = port,
                                      .apiPort = port + kApiPortOffset,
                                      .nodeDir = spec.dir + "/" + name});
  };
  for (int i = 0; i <= spec.replicas; ++i) add("node" + std::to_string(i), "", i == 0);
  for (int shard = 1; shard <= spec.shards; ++shard) {
    auto group = "shard" + std::to_string(shard);
    add(group, group, true);
    for (int i = 1; i <= spec.shardReplicas; ++i)
      add(group + "r" + std::to_string(i), group, false);
  }
  return cluster;
}

// One line of a PgBouncer-format user list; '"' inside is doubled.
std::string userlistLine(const std::string& user, const std::string& password) {
  auto quoted = [](const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
      if (c == '"') out += '"';
      out += c;
    }
    return out + "\"";
  };
  return quoted(user) + " " + quoted(password) + "\n";
}

// Creates DIR with its manifest and secrets. DIR must be absent or empty.
Status createLayout(const LocalCluster& cluster, const std::string& password) {
  std::error_code ec;
  fs::create_directories(cluster.dir, ec);
  if (ec) return makeError("cannot create '{}': {}", cluster.dir, ec.message());
  ::chmod(cluster.dir.c_str(), 0755);
  if (auto reachable = checkReachableByRunAsUser(cluster.dir); !reachable) return reachable;
  auto superPassword = chooseSecret(password);
  auto replicationPassword = chooseSecret("");
  if (!superPassword) return superPassword.error();
  if (!replicationPassword) return replicationPassword.error();
  for (const auto& [path, secret] :
       {std::pair{cluster.passwordPath(), *superPassword},
        std::pair{cluster.replicationPasswordPath(), *replicationPassword}}) {
    if (auto written = writeFileAtomic(path, secret + "\n", 0600); !written) return written;
  }
  // A passfile for the user's psql: 127.0.0.1, any port of ours, user postgres.
  std::string passfile = "127.0.0.1:*:*:postgres:" + *superPassword + "\n" +
                         "localhost:*:*:postgres:" + *superPassword + "\n";
  if (auto written = writeFileAtomic(cluster.passfilePath(), passfile, 0600); !written)
    return written;
  auto userlist = userlistLine("postgres", *superPassword);
  if (auto written = writeFileAtomic(cluster.userlistPath(), userlist, 0600); !written) {
    return written;
  }
  for (const auto& node : cluster.nodes) {
    fs::create_directories(node.nodeDir, ec);
    if (ec) return makeError("cannot create '{}': {}", node.nodeDir, ec.message());
    ::chmod(node.nodeDir.c_str(), 0755);
  }
  return saveManifest(cluster);
}

// Also for clusters made before agents had a token: created when missing.
Status ensureApiToken(const LocalCluster& cluster) {
  if (fs::exists(cluster.apiTokenPath())) return Ok{};
  auto token = randomToken(32);
  if (!token) return token.error();
  return writeFileAtomic(cluster.apiTokenPath(), *token + "\n", 0600);
}

// The pool PID, only while that PID really is this cluster's pool.
std::optional<pid_t> runningPool(const LocalCluster& cluster) {
  auto pid = readPidFile(cluster.poolPidPath());
  if (!pid || !runtime::processAlive(*pid)) return std::nullopt;
  auto cmdline = runtime::processCommandLine(*pid);
  if (cmdline.find(" pool ") == std::string::npos ||
      cmdline.find(cluster.userlistPath()) == std::string::npos) {
    return std::nullopt;
  }
  return pid;
}

// Each node's unix socket, for the pool's server connections: cheaper per
// message than TCP loopback; the pool still names every node 127.0.0.1:port.
std::string serverSocketDirs(const LocalCluster& cluster) {
  std::string routes;
  for (const auto& node : cluster.nodes) {
    auto dir = node.socketDir();
    if (dir.empty()) continue;
    routes += fmt::format("{}127.0.0.1:{}={}", routes.empty() ? "" : ",", node.port, dir);
  }
  return routes;
}

// The local pool shares the machine's cores with every node. Where they are
// all busy, each event loop past the first costs CPU per transaction (a
// second one on two cores: 5-13 % more, and 6-9 % fewer transactions;
// benchmarks.md, "Workers on a shared host"): one loop per two cores.
std::string localPoolWorkers() {
  return std::to_string(std::max(1U, std::thread::hardware_concurrency() / 2));
}

Result<pid_t> startPool(const LocalCluster& cluster) {
  // Every node, the primary first: the pool learns the roles itself.
  std::string hosts;
  std::string agents;
  for (const auto* node : cluster.groupNodes("")) {
    hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(node->port);
    agents +=
        (agents.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(node->apiPort);
  }
  // Each shard group by the name `shard create` records, its primary first,
  // and the group's agents in the same order (the group's failover).
  std::string shardHosts;
  std::string shardAgents;
  for (const auto& group : cluster.groups()) {
    if (group.empty()) continue;
    std::string members;
    std::string memberAgents;
    for (const auto* node : cluster.groupNodes(group)) {
      members +=
          (members.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(node->port);
      memberAgents += (memberAgents.empty() ? "" : ",") + std::string("127.0.0.1:") +
                      std::to_string(node->apiPort);
    }
    shardHosts += (shardHosts.empty() ? "" : ";") + group + "=" + members;
    shardAgents += (shardAgents.empty() ? "" : ";") + group + "=" + memberAgents;
  }
  std::vector<std::string> argv{selfExecutable(),
                                "pool",
                                "--shard-hosts",
                                shardHosts,
                                "--shard-agents",
                                shardAgents,
                                "--listen",
                                "127.0.0.1",
                                "--port",
                                std::to_string(cluster.poolPort),
                                "--hosts",
                                hosts,
                                "--auth-file",
                                cluster.userlistPath(),
                                "--health-check-user",
                                "postgres",
                                "--health-check-password-file",
                                cluster.passwordPath(),
                                "--http-port",
                                std::to_string(cluster.httpPort),
                                "--failover",
                                cluster.failover ? "on" : "off",
                                "--synchronous-mode",
                                cluster.sync ? "on" : "off",
                                "--pool-mode",
                                cluster.poolMode,
                                "--agents",
                                agents,
                                "--agent-token-file",
                                cluster.apiTokenPath(),
                                "--server-socket-dirs",
                                serverSocketDirs(cluster),
                                "--workers",
                                localPoolWorkers()};
  runtime::SpawnOptions options{
      .argv = argv,
      .unsetEnv = {"HOSTS", "SHARD_HOSTS", "USER", "PASSWORD", "PASSWORD_FILE"},
      .outputPath = cluster.poolLogPath(),
      .newSession = true};
  auto pid = runtime::spawnProcess(options);
  if (!pid) return pid.error();
  if (auto written = writeFileAtomic(cluster.poolPidPath(), std::to_string(*pid) + "\n");
      !written) {
    runtime::stopProcess(*pid, kAgentStopGrace);
    return written.error();
  }
  spdlog::info("started pool (pid {}, port {}, log {})", *pid, cluster.poolPort,
               cluster.poolLogPath());
  return *pid;
}

// The pool is ready when a query through it reaches the primary.
Status waitForPool(const LocalCluster& cluster, pid_t poolPid, const std::string& password) {
  cluster::ConnectTarget target{.host = "127.0.0.1",
                                .port = cluster.poolPort,
                                .password = password,
                                .applicationName = "pgswarm up",
                                .connectTimeoutSeconds = 2};
  auto deadline = std::chrono::steady_clock::now() + kPrimaryTimeout;
  std::string lastError;
  while (std::chrono::steady_clock::now() < deadline) {
    (void)runtime::reapChild(poolPid);
    if (!runtime::processAlive(poolPid)) {
      return makeError("the pool exited; last lines of {}:\n{}", cluster.poolLogPath(),
                       logTail(cluster.poolLogPath(), 15));
    }
    auto conn = cluster::PgConnection::connect(target);
    if (conn) {
      auto rows = conn->query("SELECT 1");
      if (rows) return Ok{};
      lastError = rows.error().message;
    } else {
      lastError = conn.error().message;
    }
    std::this_thread::sleep_for(200ms);
  }
  return makeError("the pool on port {} did not answer within {} s ({}); last lines of {}:\n{}",
                   cluster.poolPort, kPrimaryTimeout.count(), lastError, cluster.poolLogPath(),
                   logTail(cluster.poolLogPath(), 15));
}

// One look: does a node of `group` answer as a writable primary? `state`
// says why not.
bool groupPrimaryWritable(const LocalCluster& cluster, const std::string& group,
                          const std::string& password, std::string& state) {
  for (const auto* node : cluster.groupNodes(group)) {
    auto conn = cluster::PgConnection::connect({.host = "127.0.0.1",
                                                .port = node->port,
                                                .password = password,
                                                .applicationName = "pgswarm up",
                                                .connectTimeoutSeconds = 2});
    if (!conn) continue;
    auto rows = conn->query(
        "SELECT pg_is_in_recovery()::text AS standby, "
        "current_setting('default_transaction_read_only') AS read_only");
    if (!rows || rows->text(0, "standby") != "false") continue;
    if (rows->text(0, "read_only") == "off") return true;
    state = node->name + " is still read-only (fenced by its agent until it reaches a peer)";
  }
  return false;
}

// Every group's primary takes writes. Its agent fences it (read-only)
// while it reaches no peer, as while its replicas are cloned or the pool
// (started last) is not up yet; the pool's word, or for a group no pool
// fails over the first peer that answers, lifts that. So `up` waits here
// rather than return a read-only cluster.
Status waitForWritablePrimaries(const LocalCluster& cluster, const std::string& password) {
  auto deadline = std::chrono::steady_clock::now() + kPrimaryTimeout;
  for (const auto& group : cluster.groups()) {
    std::string state = "no primary answered";
    for (;;) {
      if (groupPrimaryWritable(cluster, group, password, state)) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        return makeError("the primary of {} did not take writes within {} s: {}",
                         group.empty() ? std::string("the cluster") : group,
                         kPrimaryTimeout.count(), state);
      }
      std::this_thread::sleep_for(200ms);
    }
  }
  return Ok{};
}

Result<pid_t> startAgent(const LocalCluster& cluster, const LocalNode& node,
                         const LocalNode& primary, const std::string& pgBin) {
  std::vector<std::string> argv{selfExecutable(),
                                "node",
                                "--name",
                                node.name,
                                "--data-dir",
                                node.dataDir(),
                                "--listen",
                                "127.0.0.1",
                                "--port",
                                std::to_string(node.port),
                                "--api-listen",
                                "127.0.0.1",
                                "--api-port",
                                std::to_string(node.apiPort),
                                "--password-file",
                                cluster.passwordPath(),
                                "--replication-password-file",
                                cluster.replicationPasswordPath(),
                                "--api-token-file",
                                cluster.apiTokenPath()};
  bool replica = node.name != primary.name;
  argv.insert(argv.end(), {"--mode", replica ? "replica" : "primary"});
  if (replica) {
    argv.insert(argv.end(), {"--primary-host", "127.0.0.1", "--primary-port",
                             std::to_string(primary.port), "--primary-wait", "30"});
  }
  if (!pgBin.empty()) argv.insert(argv.end(), {"--pg-bin", pgBin});
  // Fencing: the other nodes of its group and, for a group the pool fails
  // over (the coordinator's; a shard group of two nodes or more), the pool
  // are what this node must reach. Without the pool, a shard group of two
  // fenced its primary while the other node was down (about 1 s of failed
  // writes while a switchover's old primary was rewound). A lone shard node
  // keeps no peers: it never fences.
  std::string peers;
  const auto group = cluster.groupNodes(node.group);
  for (const auto* other : group) {
    if (other->name == node.name) continue;
    peers += fmt::format("{}127.0.0.1:{}", peers.empty() ? "" : ",", other->port);
  }
  if (cluster.poolPort != 0 && (node.group.empty() || group.size() > 1)) {
    peers += fmt::format("{}127.0.0.1:{}", peers.empty() ? "" : ",", cluster.poolPort);
  }
  if (!peers.empty()) argv.insert(argv.end(), {"--peers", peers});
  // No pool coordinator fails a group of one node over: no election to
  // wait out, so a fence lifts as soon as a peer answers.
  if (group.size() == 1) {
    argv.insert(argv.end(), {"--unfence-after-ms", "0"});
  }
  runtime::SpawnOptions options{.argv = argv,
                                .unsetEnv = {"PGPASSWORD", "PGDATA", "PGPORT"},
                                .outputPath = node.logPath(),
                                .newSession = true};
  auto pid = runtime::spawnProcess(options);
  if (!pid) return pid.error();
  if (auto written = writeFileAtomic(node.agentPidPath(), std::to_string(*pid) + "\n"); !written) {
    runtime::stopProcess(*pid, kAgentStopGrace);
    return written.error();
  }
  spdlog::info("started agent for {} (pid {}, port {}, log {})", node.name, *pid, node.port,
               node.logPath());
  return *pid;
}

// A new replica's pg_basebackup can take minutes: `up` shows it as its
// agent reports it (GET /status), redrawn in place on a terminal, or a
// line every 5 s into a file; the last figures stay on screen.
class ToolProgressDisplay {
 public:
  explicit ToolProgressDisplay(std::string name)
      : name_(std::move(name)), tty_(::isatty(STDERR_FILENO) != 0) {}
  ~ToolProgressDisplay() {
    if (!last_.empty() && tty_) std::cerr << "\n";
  }
  ToolProgressDisplay(const ToolProgressDisplay&) = delete;
  ToolProgressDisplay& operator=(const ToolProgressDisplay&) = delete;

  void poll(httplib::Client& client) {
    auto now = std::chrono::steady_clock::now();
    if (now - polled_ < 1s) return;
    polled_ = now;
    auto response = client.Get("/status");
    if (!response || response->status != 200) return;
    auto status = nlohmann::json::parse(response->body, nullptr, false);
    if (!status.is_object() || !status.contains("progress") || !status["progress"].is_object()) {
      return;
    }
    auto line = name_ + ": " + progressText(status["progress"]);
    if (line == last_) return;
    if (tty_) {
      std::cerr << "\r\x1b[K" << line << std::flush;
    } else if (now - printed_ >= 5s || status["progress"].value("finished", false)) {
      std::cerr << line << "\n";
      printed_ = now;
    } else {
      return;
    }
    last_ = std::move(line);
  }

 private:
  std::string name_;
  bool tty_;
  std::string last_;
  std::chrono::steady_clock::time_point polled_{};
  std::chrono::steady_clock::time_point printed_{};
};

// Polls the agent's REST endpoint until it answers 200, the agent dies, or
// time runs out; with `progress`, showing the agent's long operation meanwhile.
Status waitForEndpoint(const LocalNode& node, pid_t agentPid, const std::string& path,
                       std::chrono::seconds timeout, bool progress = false) {
  httplib::Client client("127.0.0.1", node.apiPort);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(2, 0);
  std::optional<ToolProgressDisplay> display;
  if (progress) display.emplace(node.name);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    (void)runtime::reapChild(agentPid);
    if (!runtime::processAlive(agentPid)) {
      return makeError("the agent of {} exited; last lines of {}:\n{}", node.name, node.logPath(),
                       logTail(node.logPath(), 15));
    }
    if (display) display->poll(client);
    if (auto response = client.Get(path.c_str()); response && response->status == 200) return Ok{};
    std::this_thread::sleep_for(200ms);
  }
  return makeError("{} did not report {} within {} s; last lines of {}:\n{}", node.name, path,
                   timeout.count(), node.logPath(), logTail(node.logPath(), 15));
}

// Stops agents started by this `up` if it fails, so nothing half-made runs.
class StartedAgents {
 public:
  void add(pid_t pid) { pids_.push_back(pid); }
  void keep() { pids_.clear(); }
  void stopAll() {
    for (pid_t pid : pids_) runtime::stopProcess(pid, kAgentStopGrace);
    pids_.clear();
  }
  ~StartedAgents() { stopAll(); }
  StartedAgents() = default;
  StartedAgents(const StartedAgents&) = delete;
  StartedAgents& operator=(const StartedAgents&) = delete;

 private:
  std::vector<pid_t> pids_;
};

// One replication group: its primary first, then its replicas.
Status startMissingGroupAgents(const LocalCluster& cluster,
                               const std::vector<const LocalNode*>& group, const std::string& pgBin,
                               StartedAgents& started) {
  const LocalNode& primary = *group.front();
  auto ensure = [&](const LocalNode& node) -> Result<pid_t> {
    if (auto running = runningAgent(node)) return *running;
    if (auto postmaster = runningPostmaster(node)) {
      return makeError("{}: postgres (pid {}) runs on {} without its agent; stop it first",
                       node.name, *postmaster, node.dataDir());
    }
    auto pid = startAgent(cluster, node, primary, pgBin);
    if (pid) started.add(*pid);
    return pid;
  };
  auto primaryPid = ensure(primary);
  if (!primaryPid) return primaryPid.error();
  if (auto healthy = waitForEndpoint(primary, *primaryPid, "/primary", kPrimaryTimeout); !healthy) {
    return healthy;
  }
  std::vector<std::pair<const LocalNode*, pid_t>> replicas;
  for (std::size_t i = 1; i < group.size(); ++i) {
    auto pid = ensure(*group[i]);
    if (!pid) return pid.error();
    replicas.emplace_back(group[i], *pid);
  }
  for (const auto& [node, pid] : replicas) {
    if (auto streaming = waitForEndpoint(*node, pid, "/replica", kReplicaTimeout, true);
        !streaming) {
      return streaming;
    }
  }
  return Ok{};
}

Status startMissingAgents(const LocalCluster& cluster, const std::string& pgBin,
                          StartedAgents& started) {
  for (const auto& group : cluster.groups()) {
    if (auto up = startMissingGroupAgents(cluster, cluster.groupNodes(group), pgBin, started);
        !up) {
      return up;
    }
  }
  return Ok{};
}

bool isEmptyOrAbsent(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
}

// Starts the pool in front of the primary unless it already runs.
Status ensurePool(const LocalCluster& cluster, StartedAgents& started) {
  if (cluster.poolPort == 0 || !fs::exists(cluster.userlistPath())) return Ok{};  // older layout
  if (runningPool(cluster)) return Ok{};
  auto password = readSecretFile(cluster.passwordPath());
  if (!password) return password.error();
  auto pid = startPool(cluster);
  if (!pid) return pid.error();
  started.add(*pid);
  return waitForPool(cluster, *pid, *password);
}

}  // namespace

std::string LocalNode::socketDir() const {
  return socketDirectoryFor(socketFolderIn(nodeDir), port);
}

std::vector<const LocalNode*> LocalCluster::groupNodes(const std::string& group) const {
  std::vector<const LocalNode*> members;
  for (const auto& node : nodes) {
    if (node.group == group) members.push_back(&node);
  }
  return members;
}

std::vector<std::string> LocalCluster::groups() const {
  std::vector<std::string> names;
  for (const auto& node : nodes) {
    if (std::find(names.begin(), names.end(), node.group) == names.end()) {
      names.push_back(node.group);
    }
  }
  return names;
}

std::vector<const LocalNode*> LocalCluster::shardPrimaries() const {
  std::vector<const LocalNode*> primaries;
  for (const auto& node : nodes) {
    if (!node.group.empty() && node.createdAsPrimary) primaries.push_back(&node);
  }
  return primaries;
}

Result<LocalCluster> loadLocalCluster(const std::string& dir) {
  LocalCluster cluster{.dir = dir};
  auto text = readFile(cluster.manifestPath());
  if (!text) return makeError("no pgswarm cluster in '{}' (no {})", dir, cluster.manifestPath());
  auto json = nlohmann::json::parse(*text, nullptr, false);
  if (json.is_discarded() || !json.contains("nodes")) {
    return makeError("'{}' is not a valid pgswarm manifest", cluster.manifestPath());
  }
  cluster.poolPort = json.value("pool_port", 0);
  cluster.httpPort = json.value("http_port", 0);
  cluster.failover = json.value("failover", true);
  cluster.sync = json.value("synchronous_mode", false);
  // Manifests written before pool_mode existed had a session-mode pool.
  cluster.poolMode = json.value("pool_mode", std::string("session"));
  for (const auto& entry : json["nodes"]) {
    cluster.nodes.push_back(LocalNode{.name = entry.value("name", ""),
                                      .group = entry.value("group", ""),
                                      .createdAsPrimary = entry.value("created_as_primary", false),
                                      .port = entry.value("port", 0),
                                      .apiPort = entry.value("api_port", 0),
                                      .nodeDir = entry.value("node_dir", "")});
  }
  if (cluster.nodes.empty()) return makeError("'{}' lists no nodes", cluster.manifestPath());
  return cluster;
}

Result<LocalCluster> upLocalCluster(const LocalClusterSpec& spec) {
  bool creating = !fs::exists(spec.dir + "/pgswarm-cluster.json");
  if (creating && !isEmptyOrAbsent(spec.dir)) {
    return makeError(
        "'{}' exists and holds something else than a pgswarm cluster; "
        "choose an empty or new folder with --dir",
        spec.dir);
  }
  Result<LocalCluster> cluster = creating ? planCluster(spec) : loadLocalCluster(spec.dir);
  if (!cluster) return cluster;
  if (!creating && static_cast<int>(cluster->nodes.size()) !=
                       spec.replicas + 1 + spec.shards * (spec.shardReplicas + 1)) {
    spdlog::info(
        "'{}' holds an existing cluster of {} nodes; --replicas, --shards and --shard-replicas "
        "apply only to a new one",
        spec.dir, cluster->nodes.size());
  }
  // Missing PostgreSQL binaries are an error here, before anything is made.
  NodeConfig binaries{.pgBin = spec.pgBin};
  if (auto located = locatePgBin(binaries); !located) return located.error();
  if (creating) {
    if (auto free = checkPortsFree(*cluster); !free) return free.error();
    if (auto made = createLayout(*cluster, spec.password); !made) {
      std::error_code ec;
      fs::remove_all(spec.dir, ec);
      return made.error();
    }
  }
  if (auto token = ensureApiToken(*cluster); !token) {
    std::error_code ec;
    if (creating) fs::remove_all(spec.dir, ec);
    return token.error();
  }
  StartedAgents started;
  auto up = startMissingAgents(*cluster, spec.pgBin, started);
  if (up) up = ensurePool(*cluster, started);
  if (up) {
    auto password = readSecretFile(cluster->passwordPath());
    up = password ? waitForWritablePrimaries(*cluster, *password) : Status(password.error());
  }
  if (!up) {
    if (creating) {
      started.stopAll();  // before removing the folder they run in
      std::error_code ec;
      fs::remove_all(spec.dir, ec);
    }
    return up.error();
  }
  started.keep();
  return cluster;
}

Status downLocalCluster(const std::string& dir, bool purge) {
  auto cluster = loadLocalCluster(dir);
  if (!cluster) return cluster.error();
  // The pool first, so clients see one clean shutdown instead of server errors.
  if (auto pool = runningPool(*cluster)) {
    spdlog::info("stopping pool (pid {})", *pool);
    if (!runtime::stopProcess(*pool, kAgentStopGrace)) {
      return makeError("pool (pid {}) did not stop", *pool);
    }
  }
  std::error_code poolEc;
  fs::remove(cluster->poolPidPath(), poolEc);
  // Every agent at once: a primary left alone for its fence timeout while the
  // others stop one by one would fence itself (node.peers), and start fenced.
  std::map<std::string, pid_t> agents;
  for (auto it = cluster->nodes.rbegin(); it != cluster->nodes.rend(); ++it) {
    if (auto pid = runningAgent(*it)) {
      spdlog::info("stopping {} (agent pid {})", it->name, *pid);
      ::kill(*pid, SIGTERM);
      agents[it->name] = *pid;
    }
  }
  for (auto it = cluster->nodes.rbegin(); it != cluster->nodes.rend(); ++it) {
    const auto& node = *it;
    if (auto found = agents.find(node.name); found != agents.end()) {
      pid_t pid = found->second;
      // Signal 0: SIGTERM went out above, and a second one would make the
      // agent shut postgres down immediately instead of fast.
      if (!runtime::stopProcess(pid, kAgentStopGrace, 0)) {
        return makeError("agent of {} (pid {}) did not stop", node.name, pid);
      }
    }
    // A postmaster left behind by an agent that was killed: stop it too (fast shutdown).
    if (auto postmaster = runningPostmaster(node)) {
      spdlog::info("stopping postgres of {} (pid {}) that runs without its agent", node.name,
                   *postmaster);
      if (!runtime::stopProcess(*postmaster, 60s, SIGINT)) {
        return makeError("postgres of {} (pid {}) did not stop", node.name, *postmaster);
      }
    }
    std::error_code ec;
    fs::remove(node.agentPidPath(), ec);
  }
  if (purge) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) return makeError("cannot remove '{}': {}", dir, ec.message());
  }
  return Ok{};
}

namespace {

nlohmann::json nodeJson(const LocalNode& node, const std::string& password,
                        std::optional<cluster::NodeStatus>& probed, std::string& probeError) {
  nlohmann::json out{
      {"name", node.name},     {"group", node.group},      {"host", "127.0.0.1"},
      {"port", node.port},     {"api_port", node.apiPort}, {"data_dir", node.dataDir()},
      {"log", node.logPath()}, {"pid", nullptr},           {"agent_pid", nullptr},
      {"role", "unknown"},     {"state", "stopped"},       {"timeline", nullptr},
      {"lag_bytes", nullptr},  {"lag_seconds", nullptr},   {"sync_state", nullptr}};
  auto agentPid = runningAgent(node);
  auto postmaster = runningPostmaster(node);
  if (agentPid) out["agent_pid"] = *agentPid;
  if (postmaster) out["pid"] = *postmaster;
  if (!postmaster) {
    out["state"] = agentPid ? "starting" : "stopped";
    return out;
  }
  cluster::ConnectTarget target{.host = "127.0.0.1",
                                .port = node.port,
                                .password = password,
                                .applicationName = "pgswarm status",
                                .connectTimeoutSeconds = 2};
  auto conn = cluster::PgConnection::connect(target);
  Result<cluster::NodeStatus> status =
      conn ? cluster::probeNode(*conn) : Result<cluster::NodeStatus>(conn.error());
  if (!status) {
    out["state"] = "unreachable";
    probeError = status.error().message;
    out["error"] = probeError;
    return out;
  }
  probed = *status;
  out["state"] = agentPid ? "running" : "running (no agent)";
  out["role"] = cluster::toString(status->role);
  out["timeline"] = status->timeline;
  const auto probedJson = cluster::toJson(*status);  // items() must not outlive it
  for (const auto& [key, value] : probedJson.items()) {
    if (key != "role" && key != "timeline") out[key] = value;
  }
  if (status->role == cluster::NodeRole::kPrimary) out["lag_bytes"] = 0;
  return out;
}

// Copies lag and sync state from the primary's view of each standby.
void addLagFromPrimary(nlohmann::json& nodes, const std::string& group,
                       const cluster::NodeStatus& primary) {
  for (auto& node : nodes) {
    if (node["role"] != "replica" || node["group"] != group) continue;
    for (const auto& standby : primary.standbys) {
      if (standby.applicationName != node["name"]) continue;
      if (standby.replayLagBytes) node["lag_bytes"] = *standby.replayLagBytes;
      if (standby.replayLagSeconds) node["lag_seconds"] = *standby.replayLagSeconds;
      node["sync_state"] = standby.syncState;
      node["replication_state"] = standby.state;
    }
  }
}

}  // namespace

// What the pool says of each node (SHOW NODES on its admin console): its
// own view of the role and health, the node's read weight, whether it takes
// reads and the transactions routed there. Keyed by port; empty when the
// pool does not answer.
std::map<std::string, nlohmann::json> poolNodeView(const LocalCluster& cluster,
                                                   const std::string& password) {
  std::map<std::string, nlohmann::json> view;
  cluster::ConnectTarget target{.host = "127.0.0.1",
                                .port = cluster.poolPort,
                                .password = password,
                                .dbname = "pgswarm",
                                .applicationName = "pgswarm status",
                                .connectTimeoutSeconds = 2};
  auto conn = cluster::PgConnection::connect(target);
  if (!conn) return view;
  auto rows = conn->query("SHOW NODES");
  if (!rows) return view;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    auto number = [&](const char* column) -> nlohmann::json {
      auto text = rows->get(i, column);
      return text ? nlohmann::json(std::stoll(*text)) : nlohmann::json(nullptr);
    };
    view[rows->text(i, "port")] = {{"role", rows->text(i, "role")},
                                   {"health", rows->text(i, "health")},
                                   {"weight", number("weight")},
                                   {"reads", rows->text(i, "reads")},
                                   {"routed", number("transactions")}};
  }
  return view;
}

Result<nlohmann::json> localClusterStatus(const std::string& dir) {
  auto cluster = loadLocalCluster(dir);
  if (!cluster) return cluster.error();
  auto password = readSecretFile(cluster->passwordPath());
  if (!password) return password.error();
  nlohmann::json nodes = nlohmann::json::array();
  std::map<std::string, cluster::NodeStatus> primaries;  // by group
  for (const auto& node : cluster->nodes) {
    std::optional<cluster::NodeStatus> probed;
    std::string probeError;
    nodes.push_back(nodeJson(node, *password, probed, probeError));
    if (probed && probed->role == cluster::NodeRole::kPrimary) primaries[node.group] = *probed;
  }
  for (const auto& [group, primary] : primaries) addLagFromPrimary(nodes, group, primary);
  auto pool = runningPool(*cluster);
  if (pool) {
    auto view = poolNodeView(*cluster, *password);
    for (auto& node : nodes) {
      auto it = view.find(node.value("port", nlohmann::json(0)).dump());
      if (it != view.end()) node["pool"] = it->second;
    }
  }
  nlohmann::json poolJson{{"port", cluster->poolPort},
                          {"http_port", cluster->httpPort},
                          {"pid", pool ? nlohmann::json(*pool) : nlohmann::json(nullptr)},
                          {"state", pool ? "running" : "stopped"},
                          {"log", cluster->poolLogPath()}};
  return nlohmann::json{{"dir", cluster->dir},
                        {"pool", poolJson},
                        {"pool_port", cluster->poolPort},
                        {"http_port", cluster->httpPort},
                        {"nodes", nodes}};
}

std::string connectionHelp(const LocalCluster& cluster) {
  std::string text = "pgswarm cluster is up in " + cluster.dir + "\n\n";
  if (cluster.poolPort != 0) {
    text += fmt::format("  pool   PGPASSFILE={} psql -h 127.0.0.1 -p {} -U postgres  # {} mode\n",
                        cluster.passfilePath(), cluster.poolPort, cluster.poolMode);
  }
  for (const auto& node : cluster.nodes) {
    text += fmt::format("  {:<6} PGPASSFILE={} psql -h 127.0.0.1 -p {} -U postgres\n", node.name,
                        cluster.passfilePath(), node.port);
  }
  text += fmt::format(
      "\n  password: {}  (user postgres)\n  status:   pgswarm status --dir {}\n"
      "  stop:     pgswarm down --dir {}\n",
      cluster.passwordPath(), cluster.dir, cluster.dir);
  return text;
}

}  // namespace pgswarm::agent
