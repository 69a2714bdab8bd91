// The container interface without Docker: each service of a `pgswarm stack`
// file runs as the image would run it (`pgswarm <command>` with the
// service's environment and nothing else inherited), one Linux network
// namespace per Swarm host, service names resolved through the namespace's
// /etc/hosts (`ip netns exec` binds /etc/netns/NS/hosts there). What Docker
// would add differently: the secrets' paths (files of this test, not
// /run/secrets), the volume (PGSWARM_NODE_DATA_DIR in this test's folder)
// and PATH (the image's). Checks what `pgswarm up` promises: replicas
// stream, the pool routes, and cutting the primary's host off fails over.
// Needs root (network namespaces), like the chaos tier.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <fmt/format.h>

#include "netns_cluster.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* kIp = "/usr/sbin/ip";
const char* kImagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

CommandOutput ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{kIp};
  argv.insert(argv.end(), args.begin(), args.end());
  return runProgram(argv);
}

void ipOrThrow(const std::vector<std::string>& args) {
  auto result = ip(args);
  if (result.exitCode != 0) {
    throw std::runtime_error(fmt::format("ip {} failed: {}", fmt::join(args, " "), result.output));
  }
}

struct Service {
  std::string name;
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
};

// One namespace per service (the pool gets a host of its own, as Swarm may
// put it anywhere), all on one bridge; torn down whatever happens.
class SwarmHosts {
 public:
  explicit SwarmHosts(std::vector<Service> services) : services_(std::move(services)) {
    try {
      createNetwork();
    } catch (...) {
      teardown();
      throw;
    }
  }
  ~SwarmHosts() { teardown(); }
  SwarmHosts(const SwarmHosts&) = delete;
  SwarmHosts& operator=(const SwarmHosts&) = delete;

  [[nodiscard]] std::string address(const std::string& service) const {
    return subnet_ + "." + std::to_string(10 + index(service));
  }
  [[nodiscard]] const std::string& dir() const { return temp_.path(); }

  // `pgswarm COMMAND` in the service's namespace with exactly `env`.
  void start(const std::string& name, const std::map<std::string, std::string>& env) {
    const auto& service = services_.at(index(name));
    std::vector<std::string> argv{kIp, "netns", "exec", namespaceOf(name), "/usr/bin/env", "-i"};
    for (const auto& [key, value] : env) argv.push_back(key + "=" + value);
    argv.push_back(pgswarmBinary());
    argv.insert(argv.end(), service.command.begin(), service.command.end());
    auto pid = runtime::spawnProcess({.argv = argv,
                                      .outputPath = logPath(name),
                                      .dieWithParent = true,
                                      .closeInheritedFds = true});
    if (!pid) throw std::runtime_error("cannot start " + name + ": " + pid.error().message);
    pids_.push_back(*pid);
  }

  // `docker exec` into the service's container, or a one-shot service's
  // whole run: `pgswarm ARGS` in its namespace with exactly `env`, waited for.
  [[nodiscard]] CommandOutput run(const std::string& name,
                                  const std::map<std::string, std::string>& env,
                                  const std::vector<std::string>& args) const {
    std::vector<std::string> argv{kIp, "netns", "exec", namespaceOf(name), "/usr/bin/env", "-i"};
    for (const auto& [key, value] : env) argv.push_back(key + "=" + value);
    argv.push_back(pgswarmBinary());
    argv.insert(argv.end(), args.begin(), args.end());
    return runProgram(argv);
  }

  bool cut(const std::string& name) {
    return ip({"link", "set", bridge_ + "h" + std::to_string(index(name)), "down"}).exitCode == 0;
  }
  [[nodiscard]] std::string log(const std::string& name) const {
    return runProgram({"/usr/bin/tail", "-n", "60", logPath(name)}).output;
  }

 private:
  [[nodiscard]] std::size_t index(const std::string& name) const {
    for (std::size_t i = 0; i < services_.size(); ++i) {
      if (services_[i].name == name) return i;
    }
    throw std::runtime_error("no service " + name);
  }
  [[nodiscard]] std::string namespaceOf(const std::string& name) const {
    return bridge_ + "-n" + std::to_string(index(name));
  }
  [[nodiscard]] std::string logPath(const std::string& name) const {
    return temp_.path() + "/" + name + ".log";
  }

  void createNetwork() {
    std::mt19937 random(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
    bridge_ = fmt::format("pgss{:05x}", random() & 0xfffffU);
    auto inUse = ip({"-4", "-o", "addr", "show"}).output + ip({"-4", "route", "show"}).output;
    for (int attempt = 0; attempt < 50 && subnet_.empty(); ++attempt) {
      auto candidate = fmt::format("10.{}.{}", 200 + random() % 50, random() % 256);
      if (!contains(inUse, candidate + ".")) subnet_ = candidate;
    }
    if (subnet_.empty()) throw std::runtime_error("no free 10.x.y.0/24 subnet");
    ipOrThrow({"link", "add", bridge_, "type", "bridge"});
    bridgeMade_ = true;
    ipOrThrow({"addr", "add", subnet_ + ".1/24", "dev", bridge_});
    ipOrThrow({"link", "set", bridge_, "up"});
    std::string hosts = "127.0.0.1 localhost\n";
    for (const auto& service : services_)
      hosts += address(service.name) + " " + service.name + "\n";
    for (std::size_t i = 0; i < services_.size(); ++i) {
      auto ns = namespaceOf(services_[i].name);
      auto hostSide = bridge_ + "h" + std::to_string(i);
      auto nsSide = bridge_ + "n" + std::to_string(i);
      ipOrThrow({"netns", "add", ns});
      namespaces_.push_back(ns);
      fs::create_directories("/etc/netns/" + ns);
      std::ofstream("/etc/netns/" + ns + "/hosts") << hosts;
      ipOrThrow({"link", "add", hostSide, "type", "veth", "peer", "name", nsSide, "netns", ns});
      ipOrThrow({"link", "set", hostSide, "master", bridge_});
      ipOrThrow({"link", "set", hostSide, "up"});
      ipOrThrow({"-n", ns, "addr", "add", address(services_[i].name) + "/24", "dev", nsSide});
      ipOrThrow({"-n", ns, "link", "set", nsSide, "up"});
      ipOrThrow({"-n", ns, "link", "set", "lo", "up"});
    }
  }

  void teardown() {
    // Links up first, so no agent waits on an unreachable peer while stopping.
    for (std::size_t i = 0; i < namespaces_.size(); ++i) {
      (void)ip({"link", "set", bridge_ + "h" + std::to_string(i), "up"});
    }
    for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) runtime::stopProcess(*it, 30s);
    pids_.clear();
    for (pid_t pid : processesMentioning(temp_.path())) {
      ADD_FAILURE() << "process " << pid << " survived: " << runtime::processCommandLine(pid);
      runtime::stopProcess(pid, 5s, SIGKILL);
    }
    for (const auto& ns : namespaces_) {
      (void)ip({"netns", "del", ns});
      std::error_code ignored;
      fs::remove_all("/etc/netns/" + ns, ignored);
    }
    namespaces_.clear();
    if (bridgeMade_) (void)ip({"link", "del", bridge_});
    bridgeMade_ = false;
  }

  std::vector<Service> services_;
  TempDir temp_;
  std::string bridge_;
  std::string subnet_;
  std::vector<std::string> namespaces_;
  bool bridgeMade_ = false;
  std::vector<pid_t> pids_;
};

std::vector<Service> servicesOf(const std::string& stackText) {
  std::vector<Service> services;
  auto stack = YAML::Load(stackText);
  for (const auto& entry : stack["services"]) {
    Service service{entry.first.as<std::string>(), {}, {}};
    for (const auto& word : entry.second["command"])
      service.command.push_back(word.as<std::string>());
    for (const auto& variable : entry.second["environment"]) {
      service.env[variable.first.as<std::string>()] = variable.second.as<std::string>();
    }
    services.push_back(std::move(service));
  }
  return services;
}

// The service's environment as the container gets it, with Docker's
// mounts moved to this test's files.
std::map<std::string, std::string> containerEnv(const Service& service, const std::string& dir) {
  auto env = service.env;
  for (auto& [key, value] : env) {
    if (value.rfind("/run/secrets/", 0) == 0) value = dir + "/secrets/" + value.substr(13);
  }
  env["PATH"] = kImagePath;
  if (service.command.front() == "node")
    env["PGSWARM_NODE_DATA_DIR"] = dir + "/" + service.name + "/data";
  return env;
}

const Service& serviceNamed(const std::vector<Service>& services, const std::string& name) {
  for (const auto& service : services) {
    if (service.name == name) return service;
  }
  throw std::runtime_error("the stack has no service " + name);
}

// What `docker secret create` and Docker's volumes give the services.
void provideSecretsAndVolumes(const std::vector<Service>& services, const std::string& dir,
                              const std::string& password) {
  fs::create_directories(dir + "/secrets");
  for (const auto& [name, text] :
       std::map<std::string, std::string>{{"pgswarm_postgres_password", password},
                                          {"pgswarm_replication_password", "repl-secret"},
                                          {"pgswarm_agent_token", "agent-token-1"}}) {
    std::ofstream(dir + "/secrets/" + name) << text << "\n";
    ::chmod((dir + "/secrets/" + name).c_str(), 0644);  // as Docker mounts them
  }
  for (const auto& service : services) {
    if (service.command.front() == "node") {
      fs::create_directories(dir + "/" + service.name);
      ::chmod((dir + "/" + service.name).c_str(), 0755);
    }
  }
}

// The first value a query returns, "ok" for a command, or "error: ...".
std::string answer(PGconn* conn, const char* sql) {
  PGresult* result = PQexec(conn, sql);
  std::string value = PQresultStatus(result) == PGRES_COMMAND_OK ? "ok" : "";
  if (value.empty()) {
    value = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1
                ? PQgetvalue(result, 0, 0)
                : std::string("error: ") + PQerrorMessage(conn);
  }
  PQclear(result);
  return value;
}

std::string queryVia(const std::string& host, int port, const std::string& password,
                     const char* sql) {
  auto info =
      fmt::format("host={} port={} user=postgres dbname=postgres connect_timeout=3 password={}",
                  host, port, password);
  RawConn conn(PQconnectdb(info.c_str()));
  return answer(conn.get(), sql);
}

TEST(SwarmContainer, TheStacksServicesReplicateRouteAndFailOver) {
  if (auto reason = NetnsCluster::unavailableReason(); !reason.empty()) GTEST_SKIP() << reason;
  auto stack = runPgswarm({"stack", "--hosts", "h0,h1,h2"});
  ASSERT_EQ(stack.exitCode, 0) << stack.output;
  auto services = servicesOf(stack.output);
  ASSERT_EQ(services.size(), 4U);
  SwarmHosts hosts(services);

  const std::string password = "pw-" + std::to_string(::getpid());
  provideSecretsAndVolumes(services, hosts.dir(), password);
  auto agentSays = [&](const std::string& service, const char* path) {
    return httpGet(hosts.address(service), 8008, path).status == 200;
  };
  // Swarm starts every service at once; the replicas wait for the primary.
  for (const auto& service : services)
    hosts.start(service.name, containerEnv(service, hosts.dir()));

  ASSERT_TRUE(waitUntil([&] { return agentSays("db-h0", "/primary"); }, 120s))
      << hosts.log("db-h0");
  for (const char* replica : {"db-h1", "db-h2"}) {
    ASSERT_TRUE(waitUntil([&] { return agentSays(replica, "/replica"); }, 180s))
        << hosts.log(replica);
  }
  auto pool = hosts.address("pool");
  ASSERT_TRUE(waitUntil(
      [&] { return queryVia(pool, 5432, password, "SELECT pg_is_in_recovery()") == "f"; }, 60s))
      << hosts.log("pool");
  EXPECT_EQ(httpGet(pool, 8080, "/health").status, 200);
  EXPECT_EQ(queryVia(pool, 5432, password, "CREATE TABLE swarm_t(v int)"), "ok");
  EXPECT_EQ(queryVia(pool, 5432, password, "INSERT INTO swarm_t VALUES (1)"), "ok");
  EXPECT_TRUE(waitUntil(
      [&] {
        return queryVia(hosts.address("db-h2"), 5432, password, "SELECT count(*) FROM swarm_t") ==
               "1";
      },
      30s));

  // The primary's host drops off the network: the pool promotes a replica
  // through its agent, and writes through the pool work again.
  ASSERT_TRUE(hosts.cut("db-h0"));
  // The count is read in the writing session: read-your-writes keeps it off
  // a replica that has not followed the new primary yet.
  std::string counted;
  ASSERT_TRUE(waitUntil(
      [&] {
        auto info = fmt::format(
            "host={} port=5432 user=postgres dbname=postgres connect_timeout=3 password={}", pool,
            password);
        RawConn conn(PQconnectdb(info.c_str()));
        if (answer(conn.get(), "INSERT INTO swarm_t VALUES (2)") != "ok") return false;
        counted = answer(conn.get(), "SELECT count(*) FROM swarm_t");
        return true;
      },
      60s))
      << hosts.log("pool");
  EXPECT_EQ(counted, "2") << hosts.log("pool");
  // The pool takes writes as soon as its own check sees the promoted node;
  // the agent's REST status follows at its next probe.
  EXPECT_TRUE(waitUntil(
      [&] { return agentSays("db-h1", "/primary") || agentSays("db-h2", "/primary"); }, 10s))
      << hosts.log("db-h1") << hosts.log("db-h2");
}

// `pgswarm stack --shards 2`: the one-shot shard-setup service, run with
// its command and environment, registers the shard nodes on the
// coordinator; `pgswarm shard create` run in the pool's container (as
// docs/swarm.md says, `docker exec`) with no options spreads a table made
// through the pool over the two shard services, and the pool answers for
// its rows, sending a keyed statement straight to the shard node.
TEST(SwarmContainer, TheShardSetUpStepLetsShardCreateSpreadATable) {
  if (auto reason = NetnsCluster::unavailableReason(); !reason.empty()) GTEST_SKIP() << reason;
  auto stack =
      runPgswarm({"stack", "--hosts", "h0,h1", "--shards", "2", "--pool-mode", "transaction"});
  ASSERT_EQ(stack.exitCode, 0) << stack.output;
  auto services = servicesOf(stack.output);
  ASSERT_EQ(services.size(), 6U);  // db-h0, db-h1, shard1, shard2, pool, shard-setup
  SwarmHosts hosts(services);
  const std::string password = "pw-" + std::to_string(::getpid());
  provideSecretsAndVolumes(services, hosts.dir(), password);
  const auto& setup = serviceNamed(services, "shard-setup");
  const auto& pool = serviceNamed(services, "pool");

  // Swarm starts every service at once, the set-up step too: it waits for
  // the coordinator and the shard nodes to answer.
  auto started = std::chrono::steady_clock::now();
  for (const auto& service : services) {
    if (service.name != setup.name) hosts.start(service.name, containerEnv(service, hosts.dir()));
  }
  auto registered = hosts.run(setup.name, containerEnv(setup, hosts.dir()), setup.command);
  ASSERT_EQ(registered.exitCode, 0) << registered.output << hosts.log("db-h0");
  auto setupTook = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  EXPECT_TRUE(contains(registered.output,
                       "shard1 (shard1:5432) is foreign server pgswarm_shard1 on the "
                       "coordinator db-h0:5432"))
      << registered.output;
  // A restarted or redeployed task runs it again: nothing breaks.
  auto again = hosts.run(setup.name, containerEnv(setup, hosts.dir()), setup.command);
  EXPECT_EQ(again.exitCode, 0) << again.output;
  auto coordinator = hosts.address("db-h0");
  EXPECT_EQ(queryVia(coordinator, 5432, password,
                     "SELECT string_agg(srvname, ',' ORDER BY srvname) FROM pg_foreign_server"),
            "pgswarm_shard1,pgswarm_shard2");
  EXPECT_EQ(queryVia(coordinator, 5432, password,
                     "SELECT count(*) FROM pg_user_mappings WHERE srvname LIKE 'pgswarm_shard%'"),
            "2");

  auto poolAddress = hosts.address("pool");
  ASSERT_TRUE(
      waitUntil([&] { return queryVia(poolAddress, 5432, password, "SELECT 1") == "1"; }, 60s))
      << hosts.log("pool");
  EXPECT_EQ(queryVia(poolAddress, 5432, password,
                     "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)"),
            "ok");
  EXPECT_EQ(queryVia(poolAddress, 5432, password,
                     "INSERT INTO accounts SELECT g, g * 10 FROM generate_series(1, 1000) g"),
            "ok");

  // docs/swarm.md: `docker exec -it POOL_CONTAINER pgswarm shard create ...`
  auto created = hosts.run(pool.name, containerEnv(pool, hosts.dir()),
                           {"shard", "create", "accounts", "--key", "id", "--shards", "2"});
  ASSERT_EQ(created.exitCode, 0) << created.output;
  EXPECT_TRUE(contains(created.output, "done: 1000 rows in 2 partitions")) << created.output;

  auto onShard1 =
      queryVia(hosts.address("shard1"), 5432, password, "SELECT count(*) FROM accounts");
  auto onShard2 =
      queryVia(hosts.address("shard2"), 5432, password, "SELECT count(*) FROM accounts");
  ASSERT_FALSE(contains(onShard1 + onShard2, "error")) << onShard1 << " " << onShard2;
  EXPECT_GT(std::stoi(onShard1), 0);
  EXPECT_GT(std::stoi(onShard2), 0);
  EXPECT_EQ(std::stoi(onShard1) + std::stoi(onShard2), 1000);
  EXPECT_EQ(queryVia(poolAddress, 5432, password, "SELECT count(*) FROM accounts"), "1000");
  EXPECT_EQ(queryVia(poolAddress, 5432, password, "SELECT sum(balance) FROM accounts"), "5005000");

  // Of the coordinator's nodes, the shard commands take the primary, here
  // the second one named (a flag beats the container's variable).
  ASSERT_TRUE(waitUntil(
      [&] { return httpGet(hosts.address("db-h1"), 8008, "/replica").status == 200; }, 120s))
      << hosts.log("db-h1");
  auto status = hosts.run(pool.name, containerEnv(pool, hosts.dir()),
                          {"shard", "status", "--coordinator", "db-h1:5432,db-h0:5432"});
  EXPECT_EQ(status.exitCode, 0) << status.output;
  EXPECT_TRUE(contains(status.output, "accounts")) << status.output;

  // The pool read the map: a statement fixing the key reaches the shard
  // node itself, where its client's application_name is seen.
  const char* probe = "swarm-direct-probe";
  bool routedDirectly = waitUntil(
      [&] {
        auto info = fmt::format(
            "host={} port=5432 user=postgres dbname=postgres connect_timeout=3 password={} "
            "application_name={}",
            poolAddress, password, probe);
        RawConn client(PQconnectdb(info.c_str()));
        if (answer(client.get(), "SELECT balance FROM accounts WHERE id = 777") != "7770") {
          return false;
        }
        auto seen = [&](const char* shard) {
          return queryVia(hosts.address(shard), 5432, password,
                          "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                          "'swarm-direct-probe'");
        };
        return seen("shard1") != "0" || seen("shard2") != "0";
      },
      20s);
  EXPECT_TRUE(routedDirectly) << probe << hosts.log("pool");
  std::cout << "[ figures  ] shard-setup finished " << setupTook.count()
            << " ms after the services started; its output:\n"
            << registered.output;
}

}  // namespace
}  // namespace pgswarm::test
