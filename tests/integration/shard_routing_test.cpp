// Direct shard routing in the pool: `up --shards 2 --pool-mode transaction`,
// pgbench scale 1 sharded by hash (one local partition, one on each shard
// node) and a copy sharded by range. A single-shard statement through the
// pool must reach the shard node itself (the nodes' own transaction counts
// say where statements ran), answer what the coordinator answers, and follow
// the shard map when a partition moves.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "harness.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

constexpr int kShardNodes = 2;
constexpr int kAccounts = 100000;  // pgbench scale 1
constexpr const char* kClientName = "shard-routing-test";

// The first row's column `value`; -1 on an error or no row.
std::int64_t number(cluster::PgConnection& conn, const std::string& sql) {
  auto rows = conn.query("SELECT (" + sql + ") AS value");
  if (!rows || rows->size() == 0 || !rows->get(0, "value")) return -1;
  return std::stoll(rows->text(0, "value"));
}

class ShardRoutingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<LocalCluster>(0, kShardNodes);
    auto up = cluster_->up({"--pool-mode", "transaction"});
    ASSERT_EQ(up.exitCode, 0) << up.output;
    auto init = runPgClient("pgbench",
                            {"-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p",
                             std::to_string(cluster_->nodePort(0)), "-U", "postgres", "postgres"},
                            cluster_->password());
    ASSERT_EQ(init.exitCode, 0) << init.output;
    auto conn = cluster_->connect(0);
    ASSERT_TRUE(conn.execute(
        "CREATE TABLE ranged_accounts (aid int PRIMARY KEY, bid int, abalance int, filler "
        "character(84)); INSERT INTO ranged_accounts SELECT * FROM pgbench_accounts"));
    auto hashed = shard({"create", "pgbench_accounts", "--key", "aid", "--strategy", "hash",
                         "--shards", "3", "--keep-local", "1"});
    ASSERT_EQ(hashed.exitCode, 0) << hashed.output;
    auto ranged = shard({"create", "ranged_accounts", "--key", "aid", "--shards", "3",
                         "--keep-local", "1", "--ranges", "30000,60000"});
    ASSERT_EQ(ranged.exitCode, 0) << ranged.output;
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  static CommandOutput shard(const std::vector<std::string>& args) {
    std::vector<std::string> full{"shard"};
    full.insert(full.end(), args.begin(), args.end());
    full.insert(full.end(), {"--dir", cluster_->dir()});
    return runPgswarm(full);
  }

  static cluster::PgConnection pool() {
    cluster::ConnectTarget target{.host = "127.0.0.1",
                                  .port = cluster_->poolPort(),
                                  .password = cluster_->password(),
                                  .applicationName = kClientName};
    auto conn = cluster::PgConnection::connect(target);
    if (!conn) throw std::runtime_error(conn.error().message);
    return std::move(*conn);
  }

  static cluster::PgConnection node(int port) {
    cluster::ConnectTarget target{.host = "127.0.0.1",
                                  .port = port,
                                  .password = cluster_->password(),
                                  .applicationName = "shard-routing-test observer"};
    auto conn = cluster::PgConnection::connect(target);
    if (!conn) throw std::runtime_error(conn.error().message);
    return std::move(*conn);
  }

  // Committed transactions of database postgres on the node at `port`, as
  // far as backends have reported them.
  static std::int64_t commits(int port) {
    auto conn = node(port);
    return number(conn, "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'");
  }

  // The shard node (1-based) holding `aid` of `table`, by asking each node.
  static int shardHolding(const std::string& table, int aid) {
    for (int k = 1; k <= kShardNodes; ++k) {
      auto conn = node(cluster_->shardPort(k));
      if (number(conn, "SELECT count(*) FROM " + table + " WHERE aid = " + std::to_string(aid)) ==
          1) {
        return k;
      }
    }
    return 0;
  }

  // The first aid of `table` at or after `from` that lives on shard node k.
  static int aidOnShard(const std::string& table, int k, int from = 1) {
    return aidsOnShard(table, k, from, 1).at(0);
  }

  static std::vector<int> aidsOnShard(const std::string& table, int k, int from, int count) {
    auto conn = node(cluster_->shardPort(k));
    auto rows = conn.query("SELECT aid FROM " + table + " WHERE aid >= " + std::to_string(from) +
                           " ORDER BY aid LIMIT " + std::to_string(count));
    std::vector<int> aids;
    for (std::size_t i = 0; rows && i < rows->size(); ++i) {
      aids.push_back(std::stoi(rows->text(i, "aid")));
    }
    if (aids.empty()) aids.push_back(-1);
    return aids;
  }

  // Waits until the pool's shard map sends a statement on `aid` to shard k:
  // the map is read once a second.
  static void waitForDirectRoute(const std::string& table, int aid, int k) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    std::string where = " WHERE aid = " + std::to_string(aid);
    while (std::chrono::steady_clock::now() < deadline) {
      auto client = pool();
      ASSERT_TRUE(client.execute("UPDATE " + table + " SET filler = 'probe'" + where));
      auto shardConn = node(cluster_->shardPort(k));
      auto rows =
          shardConn.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                          std::string(kClientName) + "'");
      if (rows && rows->text(0, "count") != "0") return;
      std::this_thread::sleep_for(200ms);
    }
    FAIL() << "the pool never sent a statement on " << table << where << " to shard" << k;
  }

  // The catalog's name of `table`'s partition on shard node `node`, or "".
  static std::string partitionOn(const std::string& table, const std::string& node) {
    auto coordinator = cluster_->connect(0);
    auto rows = coordinator.query(
        "SELECT partition_name FROM pgswarm.shards WHERE table_name = $1 AND node = $2",
        {table, node});
    return rows && rows->size() == 1 ? rows->text(0, "partition_name") : std::string();
  }

  static std::unique_ptr<LocalCluster> cluster_;
};

std::unique_ptr<LocalCluster> ShardRoutingTest::cluster_;

TEST_F(ShardRoutingTest, SingleShardStatementsRunOnTheShardNode) {
  int aid = aidOnShard("pgbench_accounts", 1);
  ASSERT_GT(aid, 0);
  waitForDirectRoute("pgbench_accounts", aid, 1);

  constexpr int kStatements = 1000;
  std::vector<int> keys;
  for (int k = 1; k <= kShardNodes; ++k) {
    auto some = aidsOnShard("pgbench_accounts", k, 1, kStatements / kShardNodes);
    keys.insert(keys.end(), some.begin(), some.end());
  }
  ASSERT_EQ(keys.size(), static_cast<std::size_t>(kStatements));
  auto client = pool();
  auto coordinatorBefore = commits(cluster_->nodePort(0));
  std::int64_t shardBefore = 0;
  for (int k = 1; k <= kShardNodes; ++k) shardBefore += commits(cluster_->shardPort(k));
  for (int key : keys) {
    ASSERT_TRUE(client.query("SELECT abalance FROM pgbench_accounts WHERE aid = $1",
                             {std::to_string(key)}));
  }
  // Backends report their counts within about a second of going idle.
  std::int64_t shardDelta = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::int64_t now = 0;
    for (int k = 1; k <= kShardNodes; ++k) now += commits(cluster_->shardPort(k));
    shardDelta = now - shardBefore;
    if (shardDelta >= kStatements) break;
    std::this_thread::sleep_for(500ms);
  }
  // An idle backend reports at the latest 10 s after its last transaction
  // (PGSTAT_IDLE_INTERVAL): then the coordinator's count is complete.
  std::this_thread::sleep_for(11s);
  auto coordinatorDelta = commits(cluster_->nodePort(0)) - coordinatorBefore;
  EXPECT_GE(shardDelta, kStatements);
  // Through the coordinator each statement would be a transaction there
  // too; what remains are health checks and map reads (several a second).
  EXPECT_LT(coordinatorDelta, kStatements / 4) << "shard delta " << shardDelta;
}

TEST_F(ShardRoutingTest, DirectAnswersEqualTheCoordinators) {
  auto client = pool();
  auto coordinator = cluster_->connect(0);
  std::vector<int> aids{1, 2, 3, 29999, 30000, 30001, 59999, 60000, 60001, 99999, 100000, 100001};
  for (int k = 1; k <= kShardNodes; ++k) aids.push_back(aidOnShard("pgbench_accounts", k, 5000));
  for (const char* table : {"pgbench_accounts", "ranged_accounts"}) {
    for (int aid : aids) {
      std::string sql = std::string("SELECT aid, bid, abalance FROM ") + table + " WHERE aid = ";
      auto literal = client.query(sql + std::to_string(aid));
      auto bound = client.query(sql + "$1", {std::to_string(aid)});
      auto expected = coordinator.query(sql + std::to_string(aid));
      ASSERT_TRUE(literal && bound && expected) << table << " " << aid;
      ASSERT_EQ(literal->size(), expected->size()) << table << " " << aid;
      ASSERT_EQ(bound->size(), expected->size()) << table << " " << aid;
      if (expected->size() == 1) {
        EXPECT_EQ(literal->text(0, "abalance"), expected->text(0, "abalance"));
        EXPECT_EQ(bound->text(0, "bid"), expected->text(0, "bid"));
      }
    }
  }
}

TEST_F(ShardRoutingTest, DirectWritesLandWhereTheCoordinatorReadsThem) {
  auto client = pool();
  auto coordinator = cluster_->connect(0);
  for (int k = 1; k <= kShardNodes; ++k) {
    int aid = aidOnShard("ranged_accounts", k, 10);
    ASSERT_TRUE(client.execute("UPDATE ranged_accounts SET abalance = abalance + 7 WHERE aid = " +
                               std::to_string(aid)));
    EXPECT_EQ(number(coordinator,
                     "SELECT abalance FROM ranged_accounts WHERE aid = " + std::to_string(aid)),
              7);
  }
  // New keys beyond every bound land in the last range (shard2 here) and in
  // the hash partition PostgreSQL itself would choose.
  ASSERT_TRUE(client.execute(
      "INSERT INTO ranged_accounts (aid, bid, abalance, filler) VALUES (200001, 1, 3, 'new')"));
  EXPECT_EQ(shardHolding("ranged_accounts", 200001), 2);
  for (int aid = 200001; aid <= 200040; ++aid) {
    ASSERT_TRUE(client.query(
        "INSERT INTO pgbench_accounts (aid, bid, abalance, filler) VALUES ($1, 1, 0, 'n')",
        {std::to_string(aid)}));
  }
  auto placed = coordinator.query(
      "SELECT tableoid::regclass::text AS part, count(*) FROM pgbench_accounts "
      "WHERE aid > 200000 GROUP BY 1 ORDER BY 1");
  ASSERT_TRUE(placed);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < placed->size(); ++i) total += std::stoll(placed->text(i, "count"));
  EXPECT_EQ(total, 40) << "a row written straight to a shard the coordinator cannot see";
  EXPECT_EQ(number(coordinator, "SELECT count(*) FROM pgbench_accounts"), kAccounts + 40);
  EXPECT_EQ(number(coordinator, "SELECT count(*) FROM ONLY pgbench_accounts"), 0);
}

// Column `column` of the first row `sql` returns, run as it is; -1 on an
// error or no row.
std::int64_t plain(cluster::PgConnection& conn, const std::string& sql,
                   const std::string& column = "abalance") {
  auto rows = conn.query(sql);
  if (!rows || rows->size() == 0 || !rows->get(0, column)) return -1;
  return std::stoll(rows->text(0, column));
}

// The texts the coordinator's backends last ran that hold `marker`, one a
// line (a PQprepare's Parse and the statement's runs may each have had a
// backend of their own).
std::string coordinatorText(cluster::PgConnection& coordinator, const std::string& marker) {
  auto rows = coordinator.query(
      "SELECT query FROM pg_stat_activity WHERE application_name = $1 AND query LIKE $2",
      {kClientName, "%" + marker + "%"});
  std::string texts;
  for (std::size_t i = 0; rows && i < rows->size(); ++i) texts += rows->text(i, "query") + "\n";
  return texts;
}

// Reads ranged_accounts' row `aid` through `client` with a simple Query
// until the coordinator runs it naming `partition` (the pool's map is read
// once a second; 20 s at most), checking each answer against the
// coordinator's; returns the texts the coordinator ran for the last read.
std::string readUntilNamed(cluster::PgConnection& client, cluster::PgConnection& coordinator,
                           int aid, const std::string& partition) {
  static int reads = 0;
  auto where = " FROM ranged_accounts WHERE aid = " + std::to_string(aid);
  auto expected = plain(coordinator, "SELECT abalance" + where);
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  do {
    auto marker = "read" + std::to_string(++reads);
    EXPECT_EQ(plain(client, "SELECT abalance /* " + marker + " */" + where), expected);
    text = coordinatorText(coordinator, marker);
    if (text.find(partition) != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return text;
}

// A single-partition statement whose row is in the coordinator's own
// partition goes there naming that partition, in each protocol, and answers
// what the parent answers; a text that names the table twice, or a parent
// whose privileges differ from its partition's, keeps the parent's name.
TEST_F(ShardRoutingTest, LocalPartitionStatementsNameThePartition) {
  auto client = pool();
  auto coordinator = cluster_->connect(0);
  auto parent = [&](int aid) {
    return number(coordinator,
                  "SELECT abalance FROM ranged_accounts WHERE aid = " + std::to_string(aid));
  };
  EXPECT_NE(readUntilNamed(client, coordinator, 5, "ranged_accounts_p0")
                .find("FROM public.ranged_accounts_p0 WHERE"),
            std::string::npos);

  // Extended protocol, unnamed statement (Parse, Bind, Execute, Sync).
  auto unnamed = client.query(
      "SELECT abalance /* unnamed-marker */ FROM ranged_accounts WHERE aid = $1", {"6"});
  ASSERT_TRUE(unnamed && unnamed->size() == 1);
  EXPECT_EQ(std::stoll(unnamed->text(0, "abalance")), parent(6));
  EXPECT_NE(coordinatorText(coordinator, "unnamed-marker").find("ranged_accounts_p0"),
            std::string::npos);

  // A named statement: bound on a local key it runs as its renamed twin,
  // bound on a shard's key it runs on the shard node as written.
  auto raw = rawConnect(cluster_->poolPort(), "postgres", cluster_->password(),
                        std::string("application_name=") + kClientName);
  ASSERT_EQ(PQstatus(raw.get()), CONNECTION_OK) << PQerrorMessage(raw.get());
  PGresult* prepared = PQprepare(
      raw.get(), "by_aid", "SELECT abalance /* named-marker */ FROM ranged_accounts WHERE aid = $1",
      1, nullptr);
  EXPECT_EQ(PQresultStatus(prepared), PGRES_COMMAND_OK) << PQerrorMessage(raw.get());
  PQclear(prepared);
  for (int aid : {7, aidOnShard("ranged_accounts", 1, 100), 8}) {
    auto value = std::to_string(aid);
    const char* values[] = {value.c_str()};
    PGresult* result = PQexecPrepared(raw.get(), "by_aid", 1, values, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQerrorMessage(raw.get());
    EXPECT_EQ(std::stoll(PQgetvalue(result, 0, 0)), parent(aid)) << aid;
    PQclear(result);
  }
  EXPECT_NE(coordinatorText(coordinator, "named-marker").find("ranged_accounts_p0"),
            std::string::npos);

  // Inside a transaction block, which runs on the coordinator: renamed too.
  ASSERT_TRUE(client.execute("BEGIN"));
  EXPECT_EQ(plain(client, "SELECT abalance /* in-block */ FROM ranged_accounts WHERE aid = 12"),
            parent(12));
  EXPECT_NE(coordinatorText(coordinator, "in-block").find("ranged_accounts_p0"), std::string::npos);
  ASSERT_TRUE(client.execute("COMMIT"));

  // Named twice: left to the parent.
  EXPECT_EQ(plain(client,
                  "SELECT ranged_accounts.abalance /* twice */ FROM ranged_accounts "
                  "WHERE aid = 9"),
            parent(9));
  EXPECT_NE(coordinatorText(coordinator, "twice").find("FROM ranged_accounts WHERE"),
            std::string::npos);

  // A grant on the parent alone: the partition would refuse that role, so
  // the parent is named again (from the next map read on) until the
  // partition has the same grants.
  ASSERT_TRUE(coordinator.execute("CREATE ROLE shard_routing_reader"));
  ASSERT_TRUE(coordinator.execute("GRANT SELECT ON ranged_accounts TO shard_routing_reader"));
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (int round = 0; std::chrono::steady_clock::now() < deadline; ++round) {
    auto marker = "grant" + std::to_string(round);
    EXPECT_EQ(
        plain(client, "SELECT abalance /* " + marker + " */ FROM ranged_accounts WHERE aid = 10"),
        parent(10));
    text = coordinatorText(coordinator, marker);
    if (text.find("ranged_accounts_p0") == std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(text.find("FROM ranged_accounts WHERE"), std::string::npos) << text;
  ASSERT_TRUE(coordinator.execute("GRANT SELECT ON ranged_accounts_p0 TO shard_routing_reader"));
  EXPECT_NE(
      readUntilNamed(client, coordinator, 11, "ranged_accounts_p0").find("ranged_accounts_p0"),
      std::string::npos);
}

TEST_F(ShardRoutingTest, PgbenchThroughThePoolKeepsTheBalances) {
  for (const char* mode : {"simple", "extended", "prepared"}) {
    auto run = runPgClient(
        "pgbench",
        {"-n", "-c", "4", "-j", "2", "-T", "3", "-M", mode, "-h", "127.0.0.1", "-p",
         std::to_string(cluster_->poolPort()), "-U", "postgres", "--max-tries", "20", "postgres"},
        cluster_->password());
    ASSERT_EQ(run.exitCode, 0) << mode << ": " << run.output;
    auto select =
        runPgClient("pgbench",
                    {"-n", "-S", "-c", "4", "-j", "2", "-T", "2", "-M", mode, "-h", "127.0.0.1",
                     "-p", std::to_string(cluster_->poolPort()), "-U", "postgres", "postgres"},
                    cluster_->password());
    ASSERT_EQ(select.exitCode, 0) << mode << ": " << select.output;
  }
  auto coordinator = cluster_->connect(0);
  auto history = number(coordinator, "SELECT coalesce(sum(delta), 0) FROM pgbench_history");
  auto tellers = number(coordinator, "SELECT sum(tbalance) FROM pgbench_tellers");
  // The accounts written before (DirectWrites...) add their own balances.
  auto accounts =
      number(coordinator, "SELECT sum(abalance) FROM pgbench_accounts WHERE aid <= 100000");
  EXPECT_EQ(history, tellers);
  EXPECT_EQ(accounts, history);
}

TEST_F(ShardRoutingTest, FollowsAMovedPartition) {
  auto coordinator = cluster_->connect(0);
  ASSERT_TRUE(coordinator.execute(
      "DO $$BEGIN CREATE ROLE moved_reader; EXCEPTION WHEN duplicate_object THEN NULL; END$$"));
  ASSERT_TRUE(coordinator.execute("GRANT SELECT ON ranged_accounts TO moved_reader"));
  ASSERT_TRUE(coordinator.execute("GRANT SELECT ON ranged_accounts_p0 TO moved_reader"));
  auto partition = partitionOn("ranged_accounts", "shard1");
  ASSERT_FALSE(partition.empty());
  int aid = aidOnShard("ranged_accounts", 1, 100);
  waitForDirectRoute("ranged_accounts", aid, 1);
  auto moved = shard({"move", partition, "--to", "coordinator"});
  ASSERT_EQ(moved.exitCode, 0) << moved.output;
  // Within a refresh or two the pool writes there through the coordinator.
  auto client = pool();
  auto deadline = std::chrono::steady_clock::now() + 15s;
  bool written = false;
  while (!written && std::chrono::steady_clock::now() < deadline) {
    written = client
                  .execute("UPDATE ranged_accounts SET abalance = 1234 WHERE aid = " +
                           std::to_string(aid))
                  .ok();
    if (!written) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(written);
  EXPECT_EQ(number(coordinator,
                   "SELECT abalance FROM ranged_accounts WHERE aid = " + std::to_string(aid)),
            1234);
  // The move gave the new local partition the parent's owner and grants
  // (a role granted before the move included), so pools name it.
  auto local = coordinator.query(
      "SELECT partition_name FROM pgswarm.shards WHERE table_name = 'ranged_accounts' AND "
      "node = '' AND partition_name <> 'ranged_accounts_p0'");
  ASSERT_TRUE(local && local->size() == 1);
  auto name = local->text(0, "partition_name");
  EXPECT_NE(readUntilNamed(client, coordinator, aid, name).find("public." + name),
            std::string::npos)
      << name;
}

// A split moves keys off a shard node while pools route reads of them
// straight there: the split holds direct routing (pgswarm.routing_holds)
// until the swap, so no read ever finds a moved key missing, during the
// split or after it.
TEST_F(ShardRoutingTest, ReadsDuringASplitNeverMissAMovedKey) {
  auto coordinator = cluster_->connect(0);
  auto partition = partitionOn("ranged_accounts", "shard2");
  ASSERT_FALSE(partition.empty());
  const std::vector<int> moving{80000, 85001, 90002, 99999};
  waitForDirectRoute("ranged_accounts", moving[0], 2);
  const std::string upperCount = "SELECT count(*) FROM ranged_accounts WHERE aid >= 80000";
  auto before = number(coordinator, upperCount);
  ASSERT_GT(before, 20000);

  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> missing{0};
  std::string firstFailure;
  std::thread reader([&] {
    auto client = pool();
    for (std::size_t i = 0; !stop; ++i) {
      int aid = moving[i % moving.size()];
      // Not number(): its wrapping subquery would keep the pool from
      // routing the statement straight to the shard.
      auto rows = client.query("SELECT count(*) AS n FROM ranged_accounts WHERE aid = " +
                               std::to_string(aid));
      auto found = rows && rows->size() == 1 ? rows->text(0, "n") : std::string("error");
      ++reads;
      if (found != "1" && missing++ == 0) {
        firstFailure = "aid " + std::to_string(aid) + ": " + found +
                       (rows ? std::string() : " " + rows.error().message);
      }
    }
  });
  auto split = shard({"split", partition, "--at", "80000", "--to", "coordinator"});
  int readsAtSwap = reads;
  // Past the pools' next map refreshes: reads now go by the new map.
  std::this_thread::sleep_for(3s);
  stop = true;
  reader.join();
  ASSERT_EQ(split.exitCode, 0) << split.output;
  // The pool recorded its reads, so the split had a reader to wait for.
  EXPECT_GE(number(coordinator, "SELECT count(*) FROM pgswarm.map_readers"), 1);
  EXPECT_GT(readsAtSwap, 10);
  EXPECT_GT(reads - readsAtSwap, 10);
  EXPECT_EQ(missing, 0) << "of " << reads << " reads; first: " << firstFailure;
  EXPECT_EQ(shardHolding("ranged_accounts", 90002), 0);
  EXPECT_EQ(number(coordinator, upperCount), before);
}

}  // namespace
}  // namespace pgswarm::test
