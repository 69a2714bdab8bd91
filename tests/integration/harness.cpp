// Integration test harness: see harness.hpp.
#include "harness.hpp"

#include <unistd.h>

#include <sys/time.h>

#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "common/files.hpp"
#include "runtime/ports.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = "/tmp/pgswarm-it-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  ::chmod(pattern.c_str(), 0755);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string pgswarmBinary() {
  const char* env = std::getenv("PGSWARM_BIN");
  return (env != nullptr && *env != '\0') ? env : PGSWARM_BIN;
}

// Runs to completion, stdout and stderr merged; exit 128+N when killed by N.
CommandOutput captureRun(const runtime::SpawnOptions& options) {
  CommandOutput out;
  auto status = runtime::runProcess(options, [&out](std::string_view line) {
    out.output.append(line);
    out.output += '\n';
  });
  if (!status) {
    out.output += status.error().message;
    return out;
  }
  out.exitCode = status->signal != 0 ? 128 + status->signal : status->code;
  return out;
}

CommandOutput runPgswarm(const std::vector<std::string>& args) {
  runtime::SpawnOptions options{.argv = {pgswarmBinary()}};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  return captureRun(options);
}

int findPortBase(int count) {
  std::mt19937 random(std::random_device{}());
  // Below Linux's ephemeral ports (32768 and up by default): a client's
  // connection anywhere on the machine may hold one of those at any time,
  // and the agents' API ports sit 1000 above the nodes'.
  std::uniform_int_distribution<int> pick(10000, 31000);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int base = pick(random);
    bool free = true;
    free = runtime::checkPortFree("127.0.0.1", base + 500).ok() &&
           runtime::checkPortFree("127.0.0.1", base + 501).ok();
    for (int i = 0; i < count && free; ++i) {
      free = runtime::checkPortFree("127.0.0.1", base + i).ok() &&
             runtime::checkPortFree("127.0.0.1", base + 1000 + i).ok();
    }
    if (free) return base;
  }
  throw std::runtime_error("no free port range found");
}

bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

HttpReply httpGet(int port, const std::string& path) {
  return httpGet("127.0.0.1", port, path);
}

HttpReply httpGet(const std::string& host, int port, const std::string& path) {
  httplib::Client client(host, port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto response = client.Get(path.c_str());
  if (!response) return {};
  return {response->status, response->body};
}

HttpReply httpPost(int port, const std::string& path, const std::string& body,
                   const std::string& bearer) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(90, 0);
  httplib::Headers headers;
  if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
  auto response = client.Post(path.c_str(), headers, body, "application/json");
  if (!response) return {};
  return {response->status, response->body};
}

std::vector<pid_t> processesMentioning(const std::string& needle) {
  std::vector<pid_t> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    if (!runtime::processAlive(pid)) continue;
    if (runtime::processCommandLine(pid).find(needle) != std::string::npos) found.push_back(pid);
  }
  return found;
}

LocalCluster::LocalCluster(int replicas, int shards, int shardReplicas)
    : dir_(temp_.path() + "/cluster"),
      replicas_(replicas),
      shards_(shards),
      shardReplicas_(shardReplicas),
      portBase_(findPortBase(replicas + 1 + shards * (shardReplicas + 1))) {}

LocalCluster::~LocalCluster() {
  auto result = down(true);
  if (result.exitCode != 0) ADD_FAILURE() << "pgswarm down failed:\n" << result.output;
  // Safety net: nothing this test started may outlive it. Only processes
  // whose command line names our own temp folder are candidates.
  for (pid_t pid : processesMentioning(temp_.path())) {
    ADD_FAILURE() << "process " << pid
                  << " survived teardown: " << runtime::processCommandLine(pid);
    runtime::stopProcess(pid, std::chrono::seconds(5), SIGKILL);
  }
}

CommandOutput LocalCluster::up(const std::vector<std::string>& extra) {
  std::vector<std::string> args{"up",
                                "--dir",
                                dir_,
                                "--replicas",
                                std::to_string(replicas_),
                                "--port-base",
                                std::to_string(portBase_),
                                "--pool-port",
                                std::to_string(poolPort()),
                                "--http-port",
                                std::to_string(portBase_ + 501)};
  if (shards_ > 0) args.insert(args.end(), {"--shards", std::to_string(shards_)});
  if (shardReplicas_ > 0) {
    args.insert(args.end(), {"--shard-replicas", std::to_string(shardReplicas_)});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return runPgswarm(args);
}

CommandOutput LocalCluster::down(bool purge) {
  if (!fs::exists(dir_)) return {0, ""};
  std::vector<std::string> args{"down", "--dir", dir_};
  if (purge) args.emplace_back("--purge");
  return runPgswarm(args);
}

nlohmann::json LocalCluster::status() {
  auto result = runPgswarm({"status", "--dir", dir_, "--json"});
  if (result.exitCode != 0) return nlohmann::json{{"error", result.output}};
  auto json = nlohmann::json::parse(result.output, nullptr, false);
  return json.is_discarded() ? nlohmann::json{{"error", result.output}} : json;
}

std::string LocalCluster::password() const {
  std::ifstream in(passwordPath());
  std::string secret;
  std::getline(in, secret);
  return secret;
}

std::string LocalCluster::apiToken() const {
  std::ifstream in(dir_ + "/api-token");
  std::string token;
  std::getline(in, token);
  return token;
}

cluster::PgConnection LocalCluster::connectPool(const std::string& dbname) {
  cluster::ConnectTarget target{.host = "127.0.0.1",
                                .port = poolPort(),
                                .password = password(),
                                .dbname = dbname,
                                .applicationName = "pgswarm-test"};
  auto conn = cluster::PgConnection::connect(target);
  if (!conn) throw std::runtime_error(conn.error().message);
  return std::move(*conn);
}

cluster::PgConnection LocalCluster::connect(int index) const {
  cluster::ConnectTarget target{.host = "127.0.0.1",
                                .port = nodePort(index),
                                .password = password(),
                                .applicationName = "pgswarm-test"};
  auto conn = cluster::PgConnection::connect(target);
  if (!conn) throw std::runtime_error(conn.error().message);
  return std::move(*conn);
}

PoolProcess::PoolProcess(const LocalCluster& cluster, PoolNodes nodes,
                         const std::vector<std::string>& extraArgs) {
  auto port = runtime::pickFreePort();
  if (!port) throw std::runtime_error(port.error().message);
  port_ = *port;
  std::string hosts = "127.0.0.1:" + std::to_string(cluster.nodePort(0));
  if (nodes == PoolNodes::kPrimaryUnixSocket) {
    auto primary = cluster.connect(0);
    auto rows = primary.query("SHOW unix_socket_directories");
    if (!rows) throw std::runtime_error(rows.error().message);
    hosts = rows->text(0, "unix_socket_directories") + ":" + std::to_string(cluster.nodePort(0));
  }
  for (int i = 1; nodes == PoolNodes::kAll && i < cluster.nodeCount(); ++i) {
    hosts += ",127.0.0.1:" + std::to_string(cluster.nodePort(i));
  }
  runtime::SpawnOptions options{
      .argv = {pgswarmBinary(), "pool", "--listen", "127.0.0.1", "--port", std::to_string(port_),
               "--hosts", hosts, "--auth-file", cluster.dir() + "/userlist.txt", "--log-level",
               "debug", "--http-port", "0"},
      .outputPath = temp_.path() + "/pool.log"};
  if (nodes == PoolNodes::kAll) {
    std::string agents;
    for (int i = 0; i < cluster.nodeCount(); ++i) {
      agents +=
          (i == 0 ? "" : ",") + std::string("127.0.0.1:") + std::to_string(cluster.apiPort(i));
    }
    options.argv.insert(options.argv.end(),
                        {"--health-check-password-file", cluster.passwordPath(), "--agents", agents,
                         "--agent-token-file", cluster.dir() + "/api-token"});
  }
  options.argv.insert(options.argv.end(), extraArgs.begin(), extraArgs.end());
  auto pid = runtime::spawnProcess(options);
  if (!pid) throw std::runtime_error(pid.error().message);
  pid_ = *pid;
  bool exited = false;  // a refused configuration: no need to wait it out
  bool ready = waitUntil(
                   [&] {
                     cluster::ConnectTarget target{.host = "127.0.0.1",
                                                   .port = port_,
                                                   .password = cluster.password(),
                                                   .connectTimeoutSeconds = 1};
                     exited = !running();
                     return exited || cluster::PgConnection::connect(target).ok();
                   },
                   std::chrono::seconds(30)) &&
               !exited;
  if (!ready) {
    // The destructor does not run for a constructor that throws.
    auto why = "pool did not start:\n" + log();
    runtime::stopProcess(pid_, std::chrono::seconds(10));
    throw std::runtime_error(why);
  }
}

PoolProcess::~PoolProcess() {
  if (pid_ > 0) runtime::stopProcess(pid_, std::chrono::seconds(10));
}

bool PoolProcess::running() const {
  (void)runtime::reapChild(pid_);
  return runtime::processAlive(pid_);
}

std::string PoolProcess::log() const {
  std::ifstream in(temp_.path() + "/pool.log");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

namespace {
constexpr const char* kPostgresBin = "/usr/lib/postgresql/15/bin/";
}

PostgresServer::PostgresServer() {
  auto runAs = runtime::runAsWhenRoot("postgres");
  if (!runAs) throw std::runtime_error(runAs.error().message);
  if (*runAs && ::chown(temp_.path().c_str(), (*runAs)->uid, (*runAs)->gid) != 0) {
    throw std::runtime_error("cannot hand " + temp_.path() + " to the postgres user");
  }
  const std::string data = temp_.path() + "/data";
  auto initdb = captureRun({.argv = {std::string(kPostgresBin) + "initdb", "-D", data, "-U",
                                     "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"},
                            .runAs = *runAs});
  if (initdb.exitCode != 0) throw std::runtime_error("initdb failed:\n" + initdb.output);
  auto port = runtime::pickFreePort();
  if (!port) throw std::runtime_error(port.error().message);
  port_ = *port;
  auto pid = runtime::spawnProcess(
      {.argv = {std::string(kPostgresBin) + "postgres", "-D", data, "-p", std::to_string(port_),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + temp_.path(),
                "-c", "fsync=off"},
       .runAs = *runAs,
       .outputPath = temp_.path() + "/server.log",
       .dieWithParent = true,
       .closeInheritedFds = true});
  if (!pid) throw std::runtime_error(pid.error().message);
  pid_ = *pid;
  bool ready = waitUntil([&] { return PQstatus(connect().get()) == CONNECTION_OK; },
                         std::chrono::seconds(30));
  if (!ready) {
    // The destructor does not run for a constructor that throws.
    auto why = "postgres did not start:\n" + log();
    runtime::stopProcess(pid_, std::chrono::seconds(10), SIGINT);
    throw std::runtime_error(why);
  }
}

PostgresServer::~PostgresServer() {
  if (pid_ > 0) runtime::stopProcess(pid_, std::chrono::seconds(10), SIGINT);
}

RawConn PostgresServer::connect() const {
  std::string info = "host=127.0.0.1 port=" + std::to_string(port_) +
                     " user=postgres dbname=postgres connect_timeout=10";
  return RawConn(PQconnectdb(info.c_str()));
}

std::string PostgresServer::log() const {
  auto text = readFile(temp_.path() + "/server.log");
  return text ? *text : text.error().message;
}

CommandOutput runProgram(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env) {
  return captureRun(runtime::SpawnOptions{.argv = argv, .env = env});
}

std::string findOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/usr/local/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    auto candidate = dir + "/" + program;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

CommandOutput runPgClient(const std::string& program, const std::vector<std::string>& args,
                          const std::string& password) {
  runtime::SpawnOptions options{.argv = {"/usr/lib/postgresql/15/bin/" + program},
                                .env = {{"PGPASSWORD", password}, {"PGCONNECT_TIMEOUT", "10"}}};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  return captureRun(options);
}

RawConn rawConnect(int port, const std::string& user, const std::string& password,
                   const std::string& extra) {
  std::string info = "host=127.0.0.1 port=" + std::to_string(port) + " user=" + user +
                     " dbname=postgres connect_timeout=10 password=" + password + " " + extra;
  return RawConn(PQconnectdb(info.c_str()));
}

std::string scalar(PGconn* conn, const char* sql) {
  PGresult* result = PQexec(conn, sql);
  std::string value = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1
                          ? PQgetvalue(result, 0, 0)
                          : std::string("error: ") + PQresultErrorMessage(result);
  PQclear(result);
  return value;
}

int connectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace pgswarm::test
