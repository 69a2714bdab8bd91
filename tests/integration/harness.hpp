// Test harness for integration tests: temporary folders, free ports, running
// the pgswarm binary, and a local cluster that is always torn down (even when
// a test fails) without touching any process the test did not start.
#pragma once

#include <libpq-fe.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/pg_client.hpp"

namespace pgswarm::test {

// A fresh folder under /tmp (mode 0755 so the postgres OS user can enter it
// when tests run as root), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CommandOutput {
  int exitCode = -1;
  std::string output;  // stdout and stderr, merged
};

[[nodiscard]] std::string pgswarmBinary();
CommandOutput runPgswarm(const std::vector<std::string>& args);

// A base port such that base..base+count-1, the agent ports (+1000) and the
// pool port (+500) are free.
[[nodiscard]] int findPortBase(int count);

bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// HTTP GET on 127.0.0.1:port; status 0 when nothing answered.
struct HttpReply {
  int status = 0;
  std::string body;
};
HttpReply httpGet(int port, const std::string& path);
// The same on any address (the chaos tier's nodes live on a bridge).
HttpReply httpGet(const std::string& host, int port, const std::string& path);
// HTTP POST of a JSON body; `bearer` non-empty adds "Authorization: Bearer".
// The read timeout covers a promotion (up to 60 s on the server).
HttpReply httpPost(int port, const std::string& path, const std::string& body,
                   const std::string& bearer = "");

// Processes whose command line mentions `needle` (a test's temp folder).
[[nodiscard]] std::vector<pid_t> processesMentioning(const std::string& needle);

class LocalCluster {
 public:
  // `shards` adds that many shard nodes (`up --shards`), after the replicas,
  // each with `shardReplicas` streaming replicas (`up --shard-replicas`).
  explicit LocalCluster(int replicas, int shards = 0, int shardReplicas = 0);
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // `pgswarm up`; returns its output, exit code checked by the caller.
  CommandOutput up(const std::vector<std::string>& extra = {});
  CommandOutput down(bool purge = false);
  [[nodiscard]] nlohmann::json status();

  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] int nodePort(int index) const { return portBase_ + index; }
  [[nodiscard]] int apiPort(int index) const { return portBase_ + 1000 + index; }
  [[nodiscard]] int poolPort() const { return portBase_ + 500; }
  // The coordinator's replication group (node0 and its replicas).
  [[nodiscard]] int nodeCount() const { return replicas_ + 1; }
  // Shard node k (1-based, `shardk`), or its replica r (1-based, `shardkrr`).
  [[nodiscard]] int shardPort(int k, int replica = 0) const {
    return portBase_ + replicas_ + 1 + (k - 1) * (shardReplicas_ + 1) + replica;
  }
  // The superuser's password file (`pgswarm up` writes it).
  [[nodiscard]] std::string passwordPath() const { return dir_ + "/password"; }
  [[nodiscard]] std::string password() const;
  // The agents' REST API token (`pgswarm up` writes DIR/api-token).
  [[nodiscard]] std::string apiToken() const;
  [[nodiscard]] pgswarm::cluster::PgConnection connect(int index) const;
  // A connection through the cluster's pool.
  [[nodiscard]] pgswarm::cluster::PgConnection connectPool(const std::string& dbname = "postgres");

 private:
  TempDir temp_;
  std::string dir_;
  int replicas_;
  int shards_;
  int shardReplicas_;
  int portBase_;
};

// Which of a LocalCluster's nodes a PoolProcess is given as hosts.
enum class PoolNodes {
  kPrimary,  // node 0 only
  // Every node, the primary first, with health checks that log in with the
  // cluster's password file (the pool learns the roles itself) and the
  // nodes' agents with the cluster's API token.
  kAll,
  // Node 0 through its unix socket (the directory postgres reports).
  kPrimaryUnixSocket,
};

// A `pgswarm pool` started by a test in front of a LocalCluster's primary
// (or all its nodes), with the cluster's user list, on a free port; stopped
// by PID at the end.
class PoolProcess {
 public:
  PoolProcess(const LocalCluster& cluster, const std::vector<std::string>& extraArgs)
      : PoolProcess(cluster, PoolNodes::kPrimary, extraArgs) {}
  PoolProcess(const LocalCluster& cluster, PoolNodes nodes,
              const std::vector<std::string>& extraArgs);
  ~PoolProcess();
  PoolProcess(const PoolProcess&) = delete;
  PoolProcess& operator=(const PoolProcess&) = delete;

  [[nodiscard]] bool running() const;
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string log() const;

 private:
  TempDir temp_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A bare libpq connection, for tests that need protocol-level control
// (prepared statements, notifications, cancel) that PgConnection hides.
struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using RawConn = std::unique_ptr<PGconn, PgConnDeleter>;
// To 127.0.0.1:port, database postgres; `extra` adds conninfo keywords.
RawConn rawConnect(int port, const std::string& user, const std::string& password,
                   const std::string& extra = "");
// The single value `sql` returns, or "error: <message>".
std::string scalar(PGconn* conn, const char* sql);

// One plain PostgreSQL 15 server, for tests that need a real server but no
// pgswarm: initdb'd in its own temp folder (as the postgres OS user when the
// test runs as root), trust authentication, listening only on 127.0.0.1 at
// a free port and on a socket in that folder. Stopped by its PID (fast
// shutdown) on destruction.
class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  // As the superuser "postgres" to database postgres; check PQstatus.
  [[nodiscard]] RawConn connect() const;
  [[nodiscard]] std::string log() const;

 private:
  TempDir temp_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Runs any program to completion (stdout and stderr merged), with `env` set
// on top of this process's environment.
CommandOutput runProgram(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {});

// The full path of `program` from PATH (the spawner execs a path, not a
// name); empty when it is not there.
[[nodiscard]] std::string findOnPath(const std::string& program);

// A TCP connection to 127.0.0.1:port whose reads give up after 10 s, for
// tests that speak raw bytes; -1 when it cannot connect. Close it with ::close.
int connectLoopback(int port);

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Runs a PostgreSQL 15 client program (psql, pgbench) with PGPASSWORD set.
CommandOutput runPgClient(const std::string& program, const std::vector<std::string>& args,
                          const std::string& password);

}  // namespace pgswarm::test
