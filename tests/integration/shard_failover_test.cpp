// A shard group fails over on its own: `up --shards 1 --shard-replicas 1
// --pool-mode transaction` (and again with a coordinator replica, both
// primaries killed at once; and in session mode, without direct routing), a table sharded by range
// (keys below 1000000 on the coordinator, the rest on shard1), rows written through the pool. kill
// -9 of shard1's agent and then its postmaster: the pool's coordinator of
// that group promotes shard1r1, re-points the coordinator's foreign server
// pgswarm_shard1 at it, and every acknowledged row is still readable
// through the coordinator (postgres_fdw); new rows go in through the pool
// (direct shard routing) and through the coordinator, and land on the new
// shard primary. A planned SWITCHOVER of shard1 from the admin console, under
// a writer through the pool, moves its primary the same way without a failed
// transaction. With failover off, a lost shard1 primary stays lost until
// the operator's PROMOTE of its replica, after which a writer through the
// pool goes on and the foreign server follows.
#include <sys/socket.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "failover_support.hpp"
#include "harness.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kShardBase = 1000000;  // keys from here live on shard1
constexpr int kRowsBefore = 200;     // per side (coordinator, shard)
constexpr const char* kClientName = "shard-failover-test";

// Inserts shard keys firstId, firstId + 1, ... through one pool connection,
// one transaction each, and records for each acknowledged row the port of
// the server that took it (current_setting('port'): a shard node's when the pool
// routed the insert directly; not inet_server_port(), NULL over the unix
// sockets `up` gives the pool), and every failure.
class ShardWriter {
 public:
  ShardWriter(std::function<RawConn()> connect, long firstId) : connect_(std::move(connect)) {
    thread_ = std::thread([this, firstId] { loop(firstId); });
  }
  ~ShardWriter() { stop(); }
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;
  // An insert the pool never answers is cut off after `patience`, so the
  // test fails instead of hanging.
  void stop(std::chrono::milliseconds patience = 30s) {
    stopping_ = true;
    if (!thread_.joinable()) return;
    if (!waitUntil([&] { return finished_.load(); }, patience)) {
      std::lock_guard lock(mutex_);
      hung_ = true;
      if (conn_ != nullptr) ::shutdown(PQsocket(conn_), SHUT_RDWR);
    }
    thread_.join();
  }
  std::uint64_t acknowledged() const { return acknowledged_.load(); }
  int failures() const { return failures_.load(); }
  std::string lastError() const {
    std::lock_guard lock(mutex_);
    return lastError_;
  }
  // Every failure so far: when (since the writer started) and why.
  std::string errors() const {
    std::lock_guard lock(mutex_);
    return errors_;
  }
  // Once stopped:
  bool hung() const { return hung_; }
  const std::vector<long>& ids() const { return ids_; }             // acknowledged
  const std::vector<std::string>& ports() const { return ports_; }  // per acknowledged id
  std::chrono::milliseconds longestGap() const { return longestGap_; }

 private:
  void loop(long id) {
    auto start = Clock::now();
    auto conn = connect_();
    use(conn.get());
    auto lastAck = Clock::now();
    for (; !stopping_; ++id) {
      auto outcome = run(conn.get(), "INSERT INTO ledger (id, note) VALUES (" + std::to_string(id) +
                                         ", 'load') RETURNING current_setting('port')");
      if (!outcome.starts_with("error")) {
        auto now = Clock::now();
        longestGap_ = std::max(
            longestGap_, std::chrono::duration_cast<std::chrono::milliseconds>(now - lastAck));
        lastAck = now;
        ids_.push_back(id);
        ports_.push_back(outcome);
        ++acknowledged_;
        continue;
      }
      ++failures_;
      {
        std::lock_guard lock(mutex_);
        lastError_ = outcome;
        errors_ += std::to_string(
                       std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)
                           .count()) +
                   " ms: " + outcome;
      }
      if (PQstatus(conn.get()) != CONNECTION_OK && !stopping_) {
        use(nullptr);
        conn = connect_();
        use(conn.get());
      }
      std::this_thread::sleep_for(20ms);
    }
    use(nullptr);
    finished_ = true;
  }
  void use(PGconn* conn) {
    std::lock_guard lock(mutex_);
    conn_ = conn;
  }

  std::function<RawConn()> connect_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};
  std::atomic<std::uint64_t> acknowledged_{0};
  std::atomic<int> failures_{0};
  mutable std::mutex mutex_;  // guards lastError_, errors_, conn_ and hung_
  std::string lastError_;
  std::string errors_;
  PGconn* conn_ = nullptr;  // the connection in use, for stop() to cut off
  bool hung_ = false;
  // The thread's until it finishes.
  std::vector<long> ids_;
  std::vector<std::string> ports_;
  std::chrono::milliseconds longestGap_{0};
  std::thread thread_;
};

class ShardFailoverBase : public ::testing::Test {
 protected:
  // `replicas`: of the coordinator's group; shard1 always has one.
  // `failover` off: the pool watches and reports, and promotes only on PROMOTE.
  static void setUpCluster(int replicas, const std::string& poolMode = "transaction",
                           bool failover = true) {
    cluster_ = new LocalCluster(replicas, 1, 1);  // NOLINT: freed in tearDownCluster
    directRouting_ = poolMode == "transaction";
    auto up = cluster_->up({"--pool-mode", poolMode, "--failover", failover ? "on" : "off"});
    ASSERT_EQ(up.exitCode, 0) << up.output;
    auto coordinator = direct(cluster_->nodePort(0));
    ASSERT_EQ(run(coordinator.get(),
                  "CREATE TABLE ledger (id bigint PRIMARY KEY, note text NOT NULL); "
                  "INSERT INTO ledger SELECT g, 'seed' FROM generate_series(1, 10) g; "
                  "INSERT INTO ledger SELECT g, 'seed' FROM generate_series(" +
                      std::to_string(kShardBase) + ", " + std::to_string(kShardBase + 9) + ") g"),
              "ok");
    auto created =
        runPgswarm({"shard", "create", "ledger", "--key", "id", "--shards", "2", "--keep-local",
                    "1", "--ranges", std::to_string(kShardBase), "--dir", cluster_->dir()});
    ASSERT_EQ(created.exitCode, 0) << created.output;
    ready_ = true;
  }
  static void tearDownCluster() {
    delete cluster_;  // NOLINT
    cluster_ = nullptr;
    ready_ = false;
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "cluster did not come up";
  }
  void TearDown() override {
    if (HasFailure() && cluster_ != nullptr) {
      std::ifstream poolLog(cluster_->dir() + "/pool.log");
      std::cerr << "pool log:\n" << poolLog.rdbuf();
    }
  }

  static RawConn direct(int port) { return rawConnect(port, "postgres", cluster_->password()); }
  static RawConn client() {
    return rawConnect(cluster_->poolPort(), "postgres", cluster_->password(),
                      std::string("application_name=") + kClientName);
  }
  static RawConn admin() {
    return rawConnect(cluster_->poolPort(), "postgres", cluster_->password(), "dbname=pgswarm");
  }
  static std::string address(int port) { return "127.0.0.1:" + std::to_string(port); }

  // SHOW FAILOVER's `column` in the row of shard group `group` (empty: the
  // coordinator's group, whose `group` is NULL).
  static std::string groupFailover(PGconn* console, const std::string& group, const char* column) {
    PGresult* result = PQexec(console, "SHOW FAILOVER");
    std::string value = "no row";
    int groupField = PQfnumber(result, "group");
    int field = PQfnumber(result, column);
    if (PQresultStatus(result) != PGRES_TUPLES_OK || groupField < 0 || field < 0) {
      value = std::string("error: ") + PQresultErrorMessage(result);
    }
    for (int row = 0; value == "no row" && row < PQntuples(result); ++row) {
      if (PQgetvalue(result, row, groupField) == group) value = PQgetvalue(result, row, field);
    }
    PQclear(result);
    return value;
  }

  // Waits until SHOW FAILOVER has shard1 healthy with `port`'s node as primary.
  static void waitForShardPrimary(PGconn* console, int port) {
    ASSERT_TRUE(waitUntil(
        [&] {
          return groupFailover(console, "shard1", "state") == "healthy" &&
                 groupFailover(console, "shard1", "primary") == address(port);
        },
        20s))
        << groupFailover(console, "shard1", "state");
  }

  // Waits until a shard key through the pool goes straight to shard1's
  // primary at `port` (once the pool has read the shard map); each probe
  // inserts one key from `probeId` + 1 on.
  static void waitForDirectRouting(int port, long probeId) {
    ASSERT_TRUE(waitUntil(
        [&] {
          auto conn = client();
          return run(conn.get(),
                     "INSERT INTO ledger (id, note) VALUES (" + std::to_string(++probeId) +
                         ", 'probe') RETURNING current_setting('port')") == std::to_string(port);
        },
        20s));
  }

  static std::string poolLog() {
    std::ifstream in(cluster_->dir() + "/pool.log");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  // A PID from a file of ours, checked to be a process of this cluster.
  static pid_t ourPid(const std::string& file) {
    std::ifstream in(file);
    pid_t pid = 0;
    if (!(in >> pid)) return 0;
    return runtime::processCommandLine(pid).find(cluster_->dir()) != std::string::npos ? pid : 0;
  }

  static std::string dataDirOf(const std::string& name) {
    auto status = cluster_->status();
    for (const auto& node : status["nodes"]) {
      if (node["name"] == name) return node["data_dir"].get<std::string>();
    }
    return "";
  }

  // kill -9 of the node's agent first, so nothing restarts postgres, then
  // of its postmaster.
  static void killNode(const std::string& name) {
    pid_t agent = ourPid(cluster_->dir() + "/" + name + "/agent.pid");
    pid_t postmaster = ourPid(dataDirOf(name) + "/postmaster.pid");
    ASSERT_NE(agent, 0) << name;
    ASSERT_NE(postmaster, 0) << name;
    ASSERT_EQ(::kill(agent, SIGKILL), 0);
    ASSERT_EQ(::kill(postmaster, SIGKILL), 0);
  }

  // No acknowledged commit may be lost to asynchronous replication: the
  // replica replays everything the primary has before the kill.
  static void waitForReplay(int primaryPort, int replicaPort) {
    auto primary = direct(primaryPort);
    auto lsn = run(primary.get(), "SELECT pg_current_wal_lsn()");
    auto standby = direct(replicaPort);
    ASSERT_TRUE(waitUntil(
        [&] {
          return run(standby.get(), "SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn") ==
                 "t";
        },
        10s))
        << replicaPort;
  }

  // "host=...,port=..." of the coordinator's foreign server of shard1.
  static std::string serverAddress(PGconn* coordinator) {
    return run(coordinator,
               "SELECT string_agg(o.option_name || '=' || o.option_value, ',' ORDER BY "
               "o.option_name) FROM pg_foreign_server s, pg_options_to_table(s.srvoptions) o "
               "WHERE s.srvname = 'pgswarm_shard1' AND o.option_name IN ('host', 'port')");
  }

  // Inserts key `id` through `conn`, retrying for up to `timeout` while the
  // shard fails over; true once acknowledged.
  static bool insertEventually(const std::function<RawConn()>& connect, long id,
                               std::chrono::milliseconds timeout, std::string& lastError) {
    auto sql = "INSERT INTO ledger VALUES (" + std::to_string(id) + ", 'after')";
    return waitUntil(
        [&] {
          auto conn = connect();
          auto outcome = run(conn.get(), sql);
          if (outcome == "ok") return true;
          lastError = outcome;
          return false;
        },
        timeout);
  }

  // Kills shard1's primary (and node0, the coordinator's primary, when
  // `coordinatorToo`), then checks the promotion, the re-pointed foreign
  // server on the coordinator's (new) primary, every acknowledged row
  // through it, and new writes through the pool and the coordinator.
  static void loseShardPrimary(bool coordinatorToo) {
    auto console = admin();
    int oldPrimary = cluster_->shardPort(1);
    int replica = cluster_->shardPort(1, 1);
    int coordinatorPort = cluster_->nodePort(coordinatorToo ? 1 : 0);
    ASSERT_TRUE(waitUntil(
        [&] {
          return groupFailover(console.get(), "shard1", "state") == "healthy" &&
                 groupFailover(console.get(), "shard1", "primary") == address(oldPrimary);
        },
        20s))
        << groupFailover(console.get(), "shard1", "state");

    // Acknowledged rows on both sides, through the pool (shard keys go
    // straight to shard1 once the pool has read the shard map).
    {
      auto conn = client();
      for (int i = 0; i < kRowsBefore; ++i) {
        for (long id : {100L + i, kShardBase + 100L + i}) {
          ASSERT_EQ(
              run(conn.get(), "INSERT INTO ledger VALUES (" + std::to_string(id) + ", 'before')"),
              "ok");
        }
      }
    }
    ASSERT_NO_FATAL_FAILURE(waitForReplay(oldPrimary, replica));
    if (coordinatorToo) {
      ASSERT_NO_FATAL_FAILURE(waitForReplay(cluster_->nodePort(0), coordinatorPort));
      ASSERT_NO_FATAL_FAILURE(killNode("node0"));
    }
    ASSERT_NO_FATAL_FAILURE(killNode("shard1"));
    auto killedAt = Clock::now();
    auto since = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killedAt);
    };

    bool promoted = waitUntil(
        [&] {
          return groupFailover(console.get(), "shard1", "primary") == address(replica) &&
                 (!coordinatorToo ||
                  groupFailover(console.get(), "", "primary") == address(coordinatorPort));
        },
        30s);
    auto promotedAfter = since();
    ASSERT_TRUE(promoted) << groupFailover(console.get(), "shard1", "last_event") << " / "
                          << groupFailover(console.get(), "", "last_event");
    EXPECT_EQ(groupFailover(console.get(), "shard1", "failovers"), "1");
    EXPECT_EQ(groupFailover(console.get(), "shard1", "state"), "healthy");

    auto coordinator = direct(coordinatorPort);
    auto wanted = "host=127.0.0.1,port=" + std::to_string(replica);
    bool repointed = waitUntil([&] { return serverAddress(coordinator.get()) == wanted; }, 15s);
    auto repointedAfter = since();
    ASSERT_TRUE(repointed) << serverAddress(coordinator.get());
    EXPECT_EQ(run(coordinator.get(),
                  "SELECT host || ':' || port FROM pgswarm.shards WHERE node = 'shard1' LIMIT 1"),
              address(replica));

    // Every acknowledged row, through the coordinator (the shard's over
    // postgres_fdw, from the new primary).
    EXPECT_EQ(run(coordinator.get(), "SELECT count(*) FROM ledger WHERE note = 'before'"),
              std::to_string(2 * kRowsBefore));
    EXPECT_EQ(run(coordinator.get(),
                  "SELECT count(*) FROM ledger WHERE id >= " + std::to_string(kShardBase)),
              std::to_string(10 + kRowsBefore));

    // New rows through the pool (shard and coordinator keys) and through
    // the coordinator; the shard's land on the new shard primary.
    std::string lastError;
    long throughPool = kShardBase + 5000;
    ASSERT_TRUE(insertEventually([] { return client(); }, throughPool, 15s, lastError))
        << lastError;
    auto writesAfter = since();
    ASSERT_TRUE(insertEventually([] { return client(); }, 5000, 15s, lastError)) << lastError;
    long throughCoordinator = kShardBase + 5001;
    ASSERT_TRUE(insertEventually([&] { return direct(coordinatorPort); }, throughCoordinator, 5s,
                                 lastError))
        << lastError;
    auto newPrimary = direct(replica);
    EXPECT_EQ(run(newPrimary.get(), "SELECT count(*) FROM ledger WHERE id IN (" +
                                        std::to_string(throughPool) + ", " +
                                        std::to_string(throughCoordinator) + ")"),
              "2");
    // The pool's own statement went straight to the shard: its client name
    // is seen there (as in shard_routing_test). Session mode goes through
    // the coordinator.
    bool routedDirectly =
        !directRouting_ ||
        waitUntil(
            [&] {
              auto conn = client();
              (void)run(conn.get(), "UPDATE ledger SET note = 'probe' WHERE id = " +
                                        std::to_string(throughPool));
              return run(newPrimary.get(),
                         std::string("SELECT count(*) FROM pg_stat_activity WHERE "
                                     "application_name = '") +
                             kClientName + "'") != "0";
            },
            10s);
    EXPECT_TRUE(routedDirectly);

    // The operator can tell which group failed over, and where its server points.
    auto log = poolLog();
    EXPECT_NE(log.find("shard1 failover: "), std::string::npos);
    EXPECT_NE(
        log.find("shard1: coordinator's server pgswarm_shard1 now points at " + address(replica)),
        std::string::npos);
    std::cout << "[ figures  ] " << (coordinatorToo ? "node0 and shard1 killed: " : "")
              << "promoted " << promotedAfter.count()
              << " ms after the kill, foreign server re-pointed after " << repointedAfter.count()
              << " ms, first pool insert on the shard acknowledged after " << writesAfter.count()
              << " ms\n";
  }

  // "SQLSTATE: message" of an admin console command that must fail.
  static std::string consoleError(PGconn* console, const std::string& command) {
    PGresult* result = PQexec(console, command.c_str());
    std::string outcome = "no error";
    if (PQresultStatus(result) == PGRES_FATAL_ERROR) {
      const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      const char* message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
      outcome = std::string(state ? state : "?") + ": " + (message ? message : "");
    }
    PQclear(result);
    return outcome;
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline bool ready_ = false;
  static inline bool directRouting_ = true;
};

class ShardFailover : public ShardFailoverBase {
 protected:
  static void SetUpTestSuite() { setUpCluster(0); }
  static void TearDownTestSuite() { tearDownCluster(); }
};

TEST_F(ShardFailover, KillingAShardPrimaryPromotesItsReplicaAndRepointsTheCoordinator) {
  loseShardPrimary(false);
}

// Both groups lose their primary at once: the pool re-points the foreign
// server on whichever coordinator primary answers, here the promoted node1.
class ShardAndCoordinatorFailover : public ShardFailoverBase {
 protected:
  static void SetUpTestSuite() { setUpCluster(1); }
  static void TearDownTestSuite() { tearDownCluster(); }
};

TEST_F(ShardAndCoordinatorFailover, TheForeignServerFollowsOnTheNewCoordinatorPrimary) {
  loseShardPrimary(true);
}

// Session mode (the default): no direct shard routing, but the pool still
// checks the shard group, fails it over and re-points the coordinator.
class ShardFailoverSessionMode : public ShardFailoverBase {
 protected:
  static void SetUpTestSuite() { setUpCluster(0, "session"); }
  static void TearDownTestSuite() { tearDownCluster(); }
};

TEST_F(ShardFailoverSessionMode, AShardGroupFailsOverWithoutDirectRouting) {
  loseShardPrimary(false);
}

// A planned change of shard1's primary from the admin console, under writes.
class ShardSwitchover : public ShardFailoverBase {
 protected:
  static void SetUpTestSuite() { setUpCluster(0); }
  static void TearDownTestSuite() { tearDownCluster(); }
};

TEST_F(ShardSwitchover, SwitchoverOfAShardGroupFromTheAdminConsole) {
  auto console = admin();
  int oldPrimary = cluster_->shardPort(1);
  int replica = cluster_->shardPort(1, 1);
  int coordinatorPort = cluster_->nodePort(0);
  ASSERT_NO_FATAL_FAILURE(waitForShardPrimary(console.get(), oldPrimary));

  // A name nobody has, and the coordinator's group (one node: no failover
  // coordinator), are refused before anything pauses.
  EXPECT_EQ(consoleError(console.get(), "SWITCHOVER 'shard9'"),
            "42704: no node or shard group is named 'shard9' (SHOW NODES, SHOW SHARDS)");
  EXPECT_EQ(consoleError(console.get(), "SWITCHOVER").substr(0, 7), "55000: ");
  EXPECT_EQ(
      consoleError(console.get(), "SWITCHOVER '" + address(coordinatorPort) + "'").substr(0, 7),
      "55000: ");

  auto coordinator = direct(coordinatorPort);
  ASSERT_NO_FATAL_FAILURE(waitForDirectRouting(oldPrimary, kShardBase + 90000));

  ShardWriter writer([] { return client(); }, kShardBase + 100000);
  ASSERT_TRUE(waitUntil([&] { return writer.acknowledged() >= 50; }, 10s)) << writer.lastError();
  auto started = Clock::now();
  EXPECT_EQ(run(console.get(), "SWITCHOVER shard1"), "ok")
      << groupFailover(console.get(), "shard1", "last_event");
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  auto during = writer.acknowledged();
  EXPECT_TRUE(waitUntil([&] { return writer.acknowledged() > during + 50; }, 10s))
      << writer.lastError();
  auto switchoverFailures = writer.failures();
  auto switchoverErrors = writer.errors();

  EXPECT_EQ(groupFailover(console.get(), "shard1", "primary"), address(replica));
  EXPECT_EQ(groupFailover(console.get(), "shard1", "switchovers"), "1");
  EXPECT_EQ(groupFailover(console.get(), "shard1", "failovers"), "0");
  EXPECT_EQ(groupFailover(console.get(), "shard1", "state"), "healthy");

  // SWITCHOVER answered only once the coordinator's server pointed there.
  EXPECT_EQ(serverAddress(coordinator.get()), "host=127.0.0.1,port=" + std::to_string(replica));
  EXPECT_EQ(run(coordinator.get(),
                "SELECT host || ':' || port FROM pgswarm.shards WHERE node = 'shard1' LIMIT 1"),
            address(replica));

  // The old primary rejoins as a replica of the new one, the writer still
  // running.
  auto follower = direct(oldPrimary);
  bool streaming = waitUntil(
      [&] {
        if (PQstatus(follower.get()) != CONNECTION_OK) follower = direct(oldPrimary);
        return run(follower.get(),
                   "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'") ==
               std::to_string(replica);
      },
      60s);
  EXPECT_TRUE(streaming);
  auto rejoined = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  auto newPrimary = direct(replica);
  EXPECT_TRUE(waitUntil(
      [&] {
        if (PQstatus(newPrimary.get()) != CONNECTION_OK) newPrimary = direct(replica);
        return run(newPrimary.get(),
                   "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1";
      },
      10s));
  auto rejoinedAt = writer.acknowledged();
  EXPECT_TRUE(waitUntil([&] { return writer.acknowledged() > rejoinedAt + 50; }, 30s))
      << writer.lastError();
  writer.stop();
  ASSERT_FALSE(writer.hung());
  // Nothing failed while the old primary was rewound: the new primary's
  // agent has the pool as a peer, so it does not fence itself when its only
  // other peer goes down for the rewind.
  EXPECT_EQ(writer.failures(), switchoverFailures) << writer.errors();

  // A client between transactions only waited: a direct insert that waited
  // in the pause follows the group's new primary (Session::attachServer).
  EXPECT_EQ(switchoverFailures, 0) << switchoverErrors;
  // Every acknowledged row, through the coordinator and on the new primary.
  auto acknowledged = std::to_string(writer.ids().size());
  std::string ids;
  for (long id : writer.ids()) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  ids = "'{" + ids + "}'";
  if (PQstatus(newPrimary.get()) != CONNECTION_OK) newPrimary = direct(replica);
  EXPECT_EQ(run(coordinator.get(), "SELECT count(*) FROM ledger WHERE id = ANY(" + ids + ")"),
            acknowledged);
  EXPECT_EQ(run(newPrimary.get(), "SELECT count(*) FROM ledger WHERE id = ANY(" + ids + ")"),
            acknowledged);
  // The writer's inserts went straight to the old shard primary, then
  // straight to the new one and never back; one that waited in the pause
  // may have been routed through the coordinator (whose foreign server
  // already pointed at the new primary when the pool resumed).
  auto oldPort = std::to_string(oldPrimary);
  auto newPort = std::to_string(replica);
  std::map<std::string, int> landings;
  std::size_t lastOnOld = 0;
  std::size_t firstOnNew = writer.ports().size();
  for (std::size_t i = 0; i < writer.ports().size(); ++i) {
    const auto& port = writer.ports()[i];
    ++landings[port];
    if (port == oldPort) lastOnOld = i;
    if (port == newPort) firstOnNew = std::min(firstOnNew, i);
  }
  std::string landed;
  for (const auto& [port, rows] : landings) landed += port + ": " + std::to_string(rows) + " rows ";
  EXPECT_GT(landings[oldPort], 0) << landed;
  EXPECT_GT(landings[newPort], 0) << landed;
  EXPECT_LE(landings[std::to_string(coordinatorPort)], 1) << landed;
  EXPECT_EQ(landings.size(), landings.count(std::to_string(coordinatorPort)) + 2) << landed;
  EXPECT_LT(lastOnOld, firstOnNew) << landed;

  // A new shard key through the pool lands on the new primary, directly.
  std::string lastError;
  long after = kShardBase + 5000;
  ASSERT_TRUE(insertEventually([] { return client(); }, after, 5s, lastError)) << lastError;
  EXPECT_EQ(
      run(newPrimary.get(), "SELECT count(*) FROM ledger WHERE id = " + std::to_string(after)),
      "1");

  std::cout << "[ figures  ] SWITCHOVER shard1 took " << took.count() << " ms ("
            << switchoverFailures << " failed inserts), old primary streaming again after "
            << rejoined.count() << " ms; longest write gap " << writer.longestGap().count()
            << " ms, " << writer.acknowledged() << " inserts acknowledged (" << landed << "), "
            << writer.failures() << " failed in all: " << writer.errors() << "\n";
}

// The operator's override for a shard group. With failover off the pool
// only watches: a lost shard1 primary stays lost (refused: "failover =
// off") until PROMOTE names its replica; a writer through the pool, started
// while the primary is gone, goes on once it is promoted, and the
// coordinator's foreign server follows.
class ShardPromote : public ShardFailoverBase {
 protected:
  static void SetUpTestSuite() { setUpCluster(0, "transaction", false); }
  static void TearDownTestSuite() { tearDownCluster(); }
};

TEST_F(ShardPromote, PromoteOfAShardReplicaFromTheAdminConsole) {
  auto console = admin();
  int oldPrimary = cluster_->shardPort(1);
  int replica = cluster_->shardPort(1, 1);
  int coordinatorPort = cluster_->nodePort(0);
  ASSERT_NO_FATAL_FAILURE(waitForShardPrimary(console.get(), oldPrimary));

  // Refused, and nothing changes: a name that is no node (a group's
  // included), the coordinator's group (one node: no failover
  // coordinator), and shard1 while its primary is healthy.
  for (const char* name : {"shard9", "shard1"}) {
    EXPECT_EQ(consoleError(console.get(), std::string("PROMOTE '") + name + "'"),
              std::string("42704: no node is named '") + name + "' (SHOW NODES, SHOW SHARDS)");
  }
  EXPECT_EQ(consoleError(console.get(), "PROMOTE '" + address(coordinatorPort) + "'"),
            "55000: no failover coordinator runs (failover needs health checks and two hosts)");
  EXPECT_EQ(consoleError(console.get(), "PROMOTE '" + address(replica) + "'"),
            "55000: shard group shard1: the cluster is healthy: a manual promotion is only for a "
            "lost primary");
  EXPECT_EQ(groupFailover(console.get(), "shard1", "primary"), address(oldPrimary));

  // Acknowledged rows on the shard, straight to its primary, all replayed
  // on the replica before the kill (asynchronous replication loses none).
  auto coordinator = direct(coordinatorPort);
  ASSERT_NO_FATAL_FAILURE(waitForDirectRouting(oldPrimary, kShardBase + 90000));
  std::vector<long> before;
  {
    ShardWriter writer([] { return client(); }, kShardBase + 100000);
    ASSERT_TRUE(waitUntil([&] { return writer.acknowledged() >= 50; }, 10s)) << writer.lastError();
    writer.stop();
    ASSERT_FALSE(writer.hung());
    EXPECT_EQ(writer.failures(), 0) << writer.errors();
    before = writer.ids();
  }
  ASSERT_NO_FATAL_FAILURE(waitForReplay(oldPrimary, replica));
  ASSERT_NO_FATAL_FAILURE(killNode("shard1"));

  // The writer runs through the outage: its inserts fail until the promotion.
  ShardWriter writer([] { return client(); }, kShardBase + 200000);
  ASSERT_TRUE(
      waitUntil([&] { return groupFailover(console.get(), "shard1", "state") == "refused"; }, 20s))
      << groupFailover(console.get(), "shard1", "last_event");
  EXPECT_NE(groupFailover(console.get(), "shard1", "last_event").find("failover = off"),
            std::string::npos);
  EXPECT_EQ(groupFailover(console.get(), "shard1", "primary"), address(oldPrimary));
  auto lostAcknowledged = writer.acknowledged();

  auto promotedAt = Clock::now();
  auto since = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - promotedAt);
  };
  // A refused group retries every 500 ms and is electing for a moment
  // then; a PROMOTE that lands in that moment is refused, so ask again.
  std::string promote;
  EXPECT_TRUE(waitUntil(
      [&] {
        promote = run(console.get(), "PROMOTE '" + address(replica) + "'");
        return promote == "ok";
      },
      5s))
      << promote;
  bool promoted = waitUntil(
      [&] {
        return groupFailover(console.get(), "shard1", "primary") == address(replica) &&
               groupFailover(console.get(), "shard1", "state") == "healthy";
      },
      30s);
  auto promotedAfter = since();
  ASSERT_TRUE(promoted) << groupFailover(console.get(), "shard1", "last_event");
  EXPECT_EQ(groupFailover(console.get(), "shard1", "failovers"), "1");
  EXPECT_EQ(groupFailover(console.get(), "shard1", "switchovers"), "0");

  // Both followed apart: the re-pointed foreign server, and the writer's
  // first insert since (straight to the new primary).
  auto wanted = "host=127.0.0.1,port=" + std::to_string(replica);
  std::optional<std::chrono::milliseconds> repointedAfter;
  std::optional<std::chrono::milliseconds> writingAfter;
  (void)waitUntil(
      [&] {
        if (!repointedAfter && serverAddress(coordinator.get()) == wanted) repointedAfter = since();
        if (!writingAfter && writer.acknowledged() > lostAcknowledged) writingAfter = since();
        return repointedAfter && writingAfter;
      },
      15s);
  ASSERT_TRUE(repointedAfter) << serverAddress(coordinator.get());
  EXPECT_EQ(run(coordinator.get(),
                "SELECT host || ':' || port FROM pgswarm.shards WHERE node = 'shard1' LIMIT 1"),
            address(replica));
  ASSERT_TRUE(writingAfter) << writer.lastError();
  auto resumed = writer.acknowledged();
  EXPECT_TRUE(waitUntil([&] { return writer.acknowledged() > resumed + 50; }, 10s))
      << writer.lastError();
  auto outageFailures = writer.failures();
  writer.stop();
  ASSERT_FALSE(writer.hung());
  auto newPort = std::to_string(replica);
  std::map<std::string, int> landings;
  for (const auto& port : writer.ports()) ++landings[port];
  std::string landed;
  for (const auto& [port, rows] : landings) landed += port + ": " + std::to_string(rows) + " rows ";
  ASSERT_GT(landings[newPort], 50) << landed;
  EXPECT_EQ(landings.count(std::to_string(oldPrimary)), 0U) << landed;
  EXPECT_EQ(writer.ports().back(), newPort) << landed;

  // Every acknowledged row, before the kill and since, through the
  // coordinator (postgres_fdw to the new primary) and on the new primary.
  auto acknowledged = before;
  acknowledged.insert(acknowledged.end(), writer.ids().begin(), writer.ids().end());
  std::string ids;
  for (long id : acknowledged) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  ids = "'{" + ids + "}'";
  auto count = std::to_string(acknowledged.size());
  auto newPrimary = direct(replica);
  EXPECT_EQ(run(coordinator.get(), "SELECT count(*) FROM ledger WHERE id = ANY(" + ids + ")"),
            count);
  EXPECT_EQ(run(newPrimary.get(), "SELECT count(*) FROM ledger WHERE id = ANY(" + ids + ")"),
            count);
  // And a new shard key through the coordinator lands there too.
  std::string lastError;
  long throughCoordinator = kShardBase + 5001;
  ASSERT_TRUE(
      insertEventually([&] { return direct(coordinatorPort); }, throughCoordinator, 5s, lastError))
      << lastError;
  EXPECT_EQ(run(newPrimary.get(),
                "SELECT count(*) FROM ledger WHERE id = " + std::to_string(throughCoordinator)),
            "1");

  auto log = poolLog();
  EXPECT_NE(
      log.find("PROMOTE '" + address(replica) + "' (shard group shard1) from the admin console"),
      std::string::npos);
  EXPECT_NE(
      log.find("shard1: coordinator's server pgswarm_shard1 now points at " + address(replica)),
      std::string::npos);
  std::cout << "[ figures  ] PROMOTE of shard1's replica: primary after " << promotedAfter.count()
            << " ms, foreign server re-pointed after " << repointedAfter->count()
            << " ms, the writer's first insert after " << writingAfter->count() << " ms ("
            << outageFailures << " failed inserts while the primary was lost; " << landed << ")\n";
}

}  // namespace
}  // namespace pgswarm::test
