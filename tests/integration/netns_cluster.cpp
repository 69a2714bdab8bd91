// The chaos tier's cluster in network namespaces: see netns_cluster.hpp.
#include "netns_cluster.hpp"

#include <unistd.h>

#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "runtime/ports.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string& ipProgram() {
  static const std::string path = [] {
    for (const char* candidate : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
      if (::access(candidate, X_OK) == 0) return std::string(candidate);
    }
    return std::string("/usr/sbin/ip");
  }();
  return path;
}

CommandOutput ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{ipProgram()};
  argv.insert(argv.end(), args.begin(), args.end());
  return runProgram(argv);
}

void ipOrThrow(const std::vector<std::string>& args) {
  auto result = ip(args);
  if (result.exitCode == 0) return;
  std::string command = "ip";
  for (const auto& arg : args) command += " " + arg;
  throw std::runtime_error(command + " failed: " + result.output);
}

std::mt19937& random() {
  static std::mt19937 generator(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  return generator;
}

std::string randomSecret() {
  static constexpr std::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  std::string secret;
  for (int i = 0; i < 24; ++i) secret += kAlphabet[pick(random())];
  return secret;
}

void writeSecretFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
  ::chmod(path.c_str(), 0600);
}

}  // namespace

std::string NetnsCluster::unavailableReason() {
  if (::geteuid() != 0) return "the chaos tier needs root (network namespaces)";
  std::string probe = fmt::format("pgswprobe{}", ::getpid());
  auto added = ip({"netns", "add", probe});
  if (added.exitCode != 0) return "`ip netns add` failed: " + added.output;
  (void)ip({"netns", "del", probe});
  return "";
}

NetnsCluster::NetnsCluster(int nodes, const std::vector<std::string>& poolArgs) : nodes_(nodes) {
  try {
    password_ = randomSecret();
    writeSecretFile(temp_.path() + "/password", password_ + "\n");
    writeSecretFile(temp_.path() + "/replication-password", randomSecret() + "\n");
    writeSecretFile(temp_.path() + "/api-token", randomSecret() + "\n");
    // PgBouncer format, as `pgswarm up` writes it.
    writeSecretFile(temp_.path() + "/userlist.txt", "\"postgres\" \"" + password_ + "\"\n");
    createNetwork();
    agents_.assign(static_cast<std::size_t>(nodes_), -1);
    startAgent(0);
    if (!waitUntil([&] { return httpGet(address(0), kApiPort, "/primary").status == 200; }, 90s)) {
      throw std::runtime_error("node 0 never answered as the primary:\n" + agentLog(0));
    }
    for (int i = 1; i < nodes_; ++i) startAgent(i);
    for (int i = 1; i < nodes_; ++i) {
      if (!waitUntil([&] { return httpGet(address(i), kApiPort, "/replica").status == 200; },
                     120s)) {
        throw std::runtime_error(fmt::format("node {} never streamed:\n{}", i, agentLog(i)));
      }
    }
    // `ip netns exec` execs the command, so our child is the agent itself.
    for (int i = 0; i < nodes_; ++i) {
      auto command = runtime::processCommandLine(agents_[static_cast<std::size_t>(i)]);
      if (command.rfind(pgswarmBinary() + " node ", 0) != 0) {
        throw std::runtime_error(fmt::format("node {}'s child is not the agent: {}", i, command));
      }
    }
    startPool(poolArgs);
  } catch (...) {
    teardown();
    throw;
  }
}

NetnsCluster::~NetnsCluster() {
  teardown();
}

void NetnsCluster::createNetwork() {
  // Names: "pgsw" + 5 hex digits for the bridge, +"h<i>"/"n<i>" for the two
  // ends of node i's veth pair (at most 15 characters), +"-n<i>" for its
  // namespace. The subnet 10.x.y.0/24 (x in 200..249) must be unused here.
  std::uniform_int_distribution<unsigned> hex(0, 0xfffff);
  for (int attempt = 0; attempt < 20 && bridge_.empty(); ++attempt) {
    auto name =
        fmt::format("pgsw{:05x}", (hex(random()) ^ static_cast<unsigned>(::getpid())) & 0xfffffU);
    if (ip({"link", "show", "dev", name}).exitCode != 0) bridge_ = name;
  }
  if (bridge_.empty()) throw std::runtime_error("no free bridge name");
  auto inUse = ip({"-4", "-o", "addr", "show"}).output + ip({"-4", "route", "show"}).output;
  std::uniform_int_distribution<int> second(200, 249);
  std::uniform_int_distribution<int> third(0, 255);
  std::minstd_rand fromPid(static_cast<unsigned>(::getpid()));
  for (int attempt = 0; attempt < 50 && subnet_.empty(); ++attempt) {
    auto candidate = fmt::format("10.{}.{}", second(fromPid), third(random()));
    if (!contains(inUse, candidate + ".")) subnet_ = candidate;
  }
  if (subnet_.empty()) throw std::runtime_error("no free 10.x.y.0/24 subnet");

  ipOrThrow({"link", "add", bridge_, "type", "bridge"});
  bridgeMade_ = true;
  ipOrThrow({"addr", "add", subnet_ + ".1/24", "dev", bridge_});
  ipOrThrow({"link", "set", bridge_, "up"});
  for (int i = 0; i < nodes_; ++i) {
    auto ns = bridge_ + "-n" + std::to_string(i);
    ipOrThrow({"netns", "add", ns});
    namespaces_.push_back(ns);
    // The peer is born in the namespace; deleting the namespace deletes the pair.
    ipOrThrow({"link", "add", hostVeth(i), "type", "veth", "peer", "name", nsVeth(i), "netns", ns});
    ipOrThrow({"link", "set", hostVeth(i), "master", bridge_});
    ipOrThrow({"link", "set", hostVeth(i), "up"});
    ipOrThrow({"-n", ns, "addr", "add", address(i) + "/24", "dev", nsVeth(i)});
    ipOrThrow({"-n", ns, "link", "set", nsVeth(i), "up"});
    ipOrThrow({"-n", ns, "link", "set", "lo", "up"});
  }
}

void NetnsCluster::startAgent(int node) {
  auto dir = nodeDir(node);
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0755);
  std::vector<std::string> argv{ipProgram(),
                                "netns",
                                "exec",
                                namespaceName(node),
                                pgswarmBinary(),
                                "node",
                                "--name",
                                "node" + std::to_string(node),
                                "--data-dir",
                                dir + "/data",
                                "--listen",
                                address(node),
                                "--port",
                                std::to_string(kPgPort),
                                "--api-listen",
                                address(node),
                                "--api-port",
                                std::to_string(kApiPort),
                                "--password-file",
                                temp_.path() + "/password",
                                "--replication-password-file",
                                temp_.path() + "/replication-password",
                                "--api-token-file",
                                temp_.path() + "/api-token",
                                "--mode",
                                node == 0 ? "primary" : "replica"};
  // The other nodes: a primary that reaches none of them fences itself.
  std::string peers;
  for (int other = 0; other < nodeCount(); ++other) {
    if (other == node) continue;
    peers += (peers.empty() ? "" : ",") + address(other) + ":" + std::to_string(kPgPort);
  }
  argv.insert(argv.end(), {"--peers", peers});
  if (node != 0) {
    argv.insert(argv.end(), {"--primary-host", address(0), "--primary-port",
                             std::to_string(kPgPort), "--primary-wait", "60"});
  }
  runtime::SpawnOptions options{.argv = argv,
                                .unsetEnv = {"PGPASSWORD", "PGDATA", "PGPORT"},
                                .outputPath = dir + "/agent.log",
                                .dieWithParent = true,
                                .closeInheritedFds = true};
  auto pid = runtime::spawnProcess(options);
  if (!pid) throw std::runtime_error("cannot start node " + std::to_string(node) + "'s agent");
  agents_[static_cast<std::size_t>(node)] = *pid;
}

void NetnsCluster::startPool(const std::vector<std::string>& poolArgs) {
  auto port = runtime::pickFreePort();
  if (!port) throw std::runtime_error(port.error().message);
  poolPort_ = *port;
  std::string hosts;
  std::string agents;
  for (int i = 0; i < nodes_; ++i) {
    hosts += (i == 0 ? "" : ",") + hostPort(i);
    agents += (i == 0 ? "" : ",") + address(i) + ":" + std::to_string(kApiPort);
  }
  std::vector<std::string> argv{pgswarmBinary(),
                                "pool",
                                "--listen",
                                "127.0.0.1",
                                "--port",
                                std::to_string(poolPort_),
                                "--http-port",
                                "0",
                                "--hosts",
                                hosts,
                                "--agents",
                                agents,
                                "--agent-token-file",
                                temp_.path() + "/api-token",
                                "--auth-file",
                                temp_.path() + "/userlist.txt",
                                "--health-check-user",
                                "postgres",
                                "--health-check-password-file",
                                temp_.path() + "/password",
                                "--pool-mode",
                                "transaction",
                                "--failover",
                                "on",
                                "--log-level",
                                "debug"};
  argv.insert(argv.end(), poolArgs.begin(), poolArgs.end());
  runtime::SpawnOptions options{.argv = argv,
                                .outputPath = temp_.path() + "/pool.log",
                                .dieWithParent = true,
                                .closeInheritedFds = true};
  auto pid = runtime::spawnProcess(options);
  if (!pid) throw std::runtime_error("cannot start the pool: " + pid.error().message);
  pool_ = *pid;
  bool ready = waitUntil(
      [&] {
        if (!poolRunning()) return false;
        auto conn = connectPool();
        return scalar(conn.get(), "SELECT pg_is_in_recovery()") == "f";
      },
      30s);
  if (!ready) throw std::runtime_error("the pool did not start:\n" + poolLog());
}

void NetnsCluster::teardown() {
  if (pool_ > 0) runtime::stopProcess(pool_, 10s);
  pool_ = -1;
  // Restored first, so nothing waits on a peer it cannot reach while stopping.
  for (int i = 0; i < static_cast<int>(namespaces_.size()); ++i) (void)restore(i);
  for (pid_t& agent : agents_) {
    if (agent > 0) runtime::stopProcess(agent, 30s);
    agent = -1;
  }
  // Safety net: nothing this cluster started may outlive it. Only processes
  // whose command line names our own temp folder are candidates.
  for (pid_t pid : processesMentioning(temp_.path())) {
    ADD_FAILURE() << "process " << pid
                  << " survived teardown: " << runtime::processCommandLine(pid);
    runtime::stopProcess(pid, 5s, SIGKILL);
  }
  for (const auto& ns : namespaces_) {
    auto removed = ip({"netns", "del", ns});
    if (removed.exitCode != 0) ADD_FAILURE() << "ip netns del " << ns << ": " << removed.output;
  }
  namespaces_.clear();
  if (bridgeMade_) {
    auto removed = ip({"link", "del", bridge_});
    if (removed.exitCode != 0) ADD_FAILURE() << "ip link del " << bridge_ << ": " << removed.output;
    bridgeMade_ = false;
  }
}

std::string NetnsCluster::address(int node) const {
  return subnet_ + "." + std::to_string(10 + node);
}

std::string NetnsCluster::hostPort(int node) const {
  return address(node) + ":" + std::to_string(kPgPort);
}

int NetnsCluster::nodeNamed(const std::string& name) const {
  for (int i = 0; i < nodes_; ++i) {
    if (hostPort(i) == name) return i;
  }
  return -1;
}

std::string NetnsCluster::nodeDir(int node) const {
  return temp_.path() + "/node" + std::to_string(node);
}

bool NetnsCluster::cut(int node) {
  return ip({"link", "set", hostVeth(node), "down"}).exitCode == 0;
}

bool NetnsCluster::restore(int node) {
  return ip({"link", "set", hostVeth(node), "up"}).exitCode == 0;
}

RawConn NetnsCluster::connectPool(const std::string& dbname) const {
  return rawConnect(poolPort_, "postgres", password_, "connect_timeout=5 dbname=" + dbname);
}

RawConn NetnsCluster::connectNode(int node) const {
  auto info = fmt::format(
      "host={} port={} user=postgres dbname=postgres connect_timeout=3 "
      "password={}",
      address(node), kPgPort, password_);
  return RawConn(PQconnectdb(info.c_str()));
}

RawConn NetnsCluster::connectNodeSocket(int node) const {
  auto info = fmt::format(
      "host={}/pgswarm-socket port={} user=postgres dbname=postgres connect_timeout=3 "
      "options='-c statement_timeout=2000' password={}",
      nodeDir(node), kPgPort, password_);
  return RawConn(PQconnectdb(info.c_str()));
}

CommandOutput NetnsCluster::runInNamespace(int node, const std::vector<std::string>& argv,
                                           const std::map<std::string, std::string>& env) const {
  std::vector<std::string> all{ipProgram(), "netns", "exec", namespaceName(node)};
  all.insert(all.end(), argv.begin(), argv.end());
  return runProgram(all, env);
}

std::string NetnsCluster::killNode(int node) {
  pid_t& agent = agents_.at(static_cast<std::size_t>(node));
  std::ifstream pidFile(nodeDir(node) + "/data/postmaster.pid");
  pid_t postmaster = 0;
  if (!(pidFile >> postmaster) ||
      runtime::processCommandLine(postmaster).find(nodeDir(node)) == std::string::npos) {
    return fmt::format("node {}: no postmaster of this cluster in its postmaster.pid", node);
  }
  if (agent <= 0) return fmt::format("node {}: its agent is not running", node);
  // The agent first, so that nothing restarts postgres.
  runtime::stopProcess(agent, 0ms, SIGKILL);
  agent = -1;
  if (::kill(postmaster, SIGKILL) != 0) return fmt::format("node {}: kill failed", node);
  return "";
}

void NetnsCluster::killPool() {
  if (pool_ > 0) runtime::stopProcess(pool_, 0ms, SIGKILL);
}

bool NetnsCluster::poolRunning() const {
  if (pool_ <= 0) return false;
  (void)runtime::reapChild(pool_);
  return runtime::processAlive(pool_);
}

bool NetnsCluster::agentRunning(int node) const {
  pid_t pid = agents_.at(static_cast<std::size_t>(node));
  if (pid <= 0) return false;
  (void)runtime::reapChild(pid);
  return runtime::processAlive(pid);
}

std::string NetnsCluster::poolLog() const {
  std::ifstream in(temp_.path() + "/pool.log");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string NetnsCluster::agentLog(int node, int lines) const {
  return runProgram({"/usr/bin/tail", "-n", std::to_string(lines), nodeDir(node) + "/agent.log"})
      .output;
}

}  // namespace pgswarm::test
