// `pgswarm shard create/status` on a real local cluster: a coordinator and
// three shard nodes (`up --shards 3`), pgbench scale 10. Every sharded or
// partitioned table must answer a fixed set of queries exactly as an
// unsharded copy of the same rows does, hold its rows where the map says,
// and survive a `shard create` killed mid-copy.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <future>
#include <thread>

#include "harness.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

constexpr int kShardNodes = 3;
constexpr int kAccounts = 1000000;  // pgbench scale 10

// Read queries; {t} is the table under test. Each has a total order, so
// results compare as text.
const std::vector<std::string> kReads = {
    "SELECT abalance FROM {t} WHERE aid = 1",
    "SELECT abalance, bid FROM {t} WHERE aid = 250000",
    "SELECT abalance, bid FROM {t} WHERE aid = 250001",
    "SELECT abalance FROM {t} WHERE aid = 500001",
    "SELECT abalance FROM {t} WHERE aid = 1000000",
    "SELECT count(*) FROM {t} WHERE aid = 0",
    "SELECT count(*) FROM {t}",
    "SELECT sum(abalance), min(aid), max(aid) FROM {t}",
    "SELECT aid FROM {t} WHERE aid BETWEEN 249990 AND 250010 ORDER BY aid",
    "SELECT count(*) FROM {t} WHERE aid > 700000",
    "SELECT bid, count(*) FROM {t} GROUP BY bid ORDER BY bid",
    "SELECT aid, abalance FROM {t} ORDER BY aid DESC LIMIT 5",
    "SELECT aid FROM {t} ORDER BY aid LIMIT 3 OFFSET 499998",
    "SELECT a.aid, b.bid FROM {t} a JOIN pgbench_branches b ON a.bid = b.bid "
    "WHERE a.aid IN (5, 300000, 999999) ORDER BY a.aid",
    "SELECT b.bid, count(a.aid) FROM pgbench_branches b JOIN {t} a ON a.bid = b.bid "
    "GROUP BY b.bid ORDER BY b.bid",
    "SELECT count(*) FROM {t} WHERE aid % 1000 = 7",
    "SELECT count(DISTINCT bid) FROM {t}",
    "SELECT aid FROM {t} WHERE aid IN (1, 250001, 500001, 750001, 1000000) ORDER BY aid",
    "SELECT exists(SELECT 1 FROM {t} WHERE aid = 123456)",
    "SELECT avg(abalance)::numeric(20, 4) FROM {t} WHERE bid = 3",
    "SELECT max(abalance) FROM {t} WHERE aid < 100",
    "SELECT length(filler), count(*) FROM {t} GROUP BY 1 ORDER BY 1",
    "WITH x AS (SELECT aid FROM {t} WHERE aid BETWEEN 10 AND 20) SELECT sum(aid) FROM x",
    "SELECT count(*) FROM {t} WHERE aid NOT BETWEEN 100 AND 999900",
    "SELECT s.aid FROM {t} s WHERE s.aid = (SELECT max(aid) FROM {t})",
    "SELECT aid, abalance FROM {t} WHERE bid = 7 ORDER BY aid LIMIT 3",
    "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY aid) FROM {t}",
    "SELECT aid, abalance FROM {t} WHERE abalance <> 0 ORDER BY aid",
};

// Writes, each followed by a comparison of the whole table; they land on
// every partition of each layout tested.
const std::vector<std::string> kWrites = {
    "UPDATE {t} SET abalance = abalance + 10 WHERE aid = 42",
    "UPDATE {t} SET abalance = abalance - 5 WHERE aid BETWEEN 249995 AND 250005",
    "DELETE FROM {t} WHERE aid = 777777",
    "INSERT INTO {t} (aid, bid, abalance, filler) VALUES (1000001, 1, 7, 'x'), (0, 1, 5, 'y')",
    "DELETE FROM {t} WHERE aid IN (11, 250011, 500011, 750011)",
    "INSERT INTO {t} (aid, bid, abalance, filler) VALUES (11, 1, 1, 'a'), (250011, 3, 2, 'b'), "
    "(500011, 6, 3, 'c'), (750011, 8, 4, 'd')",
    "UPDATE {t} SET abalance = -abalance WHERE aid IN (11, 250011, 500011, 750011)",
};

// Order-independent, so comparing a million rows needs no sort.
constexpr const char* kWholeTable =
    "SELECT count(*) || ':' || sum(hashtextextended(s::text, 0)) FROM {t} s";

std::string with(const std::string& sql, const std::string& table) {
  std::string out = sql;
  for (auto at = out.find("{t}"); at != std::string::npos; at = out.find("{t}")) {
    out.replace(at, 3, table);
  }
  return out;
}

// Every row of the result as one text, NULL as "\N".
std::string resultText(cluster::PgConnection& conn, const std::string& sql) {
  auto rows =
      conn.query("SELECT coalesce(string_agg(r::text, '|'), '') AS all FROM (" + sql + ") r");
  if (!rows) return "error: " + rows.error().message;
  return rows->text(0, "all");
}

class ShardTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<LocalCluster>(0, kShardNodes);
    auto up = cluster_->up();
    ASSERT_EQ(up.exitCode, 0) << up.output;
    auto init = runPgClient("pgbench",
                            {"-i", "-s", "10", "-q", "-h", "127.0.0.1", "-p",
                             std::to_string(cluster_->nodePort(0)), "-U", "postgres", "postgres"},
                            cluster_->password());
    ASSERT_EQ(init.exitCode, 0) << init.output;
    auto conn = cluster_->connect(0);
    ASSERT_TRUE(conn.execute("CREATE TABLE source_accounts AS SELECT * FROM pgbench_accounts"));
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  static CommandOutput shard(const std::vector<std::string>& args) {
    std::vector<std::string> full{"shard"};
    full.insert(full.end(), args.begin(), args.end());
    full.insert(full.end(), {"--dir", cluster_->dir()});
    return runPgswarm(full);
  }

  // A fresh copy of the pristine accounts, with pgbench's primary key.
  static void copyAccounts(cluster::PgConnection& conn, const std::string& name) {
    ASSERT_TRUE(conn.execute("CREATE TABLE " + name +
                             " (aid int NOT NULL PRIMARY KEY, bid int, abalance int, "
                             "filler character(84))"));
    ASSERT_TRUE(conn.execute("INSERT INTO " + name + " SELECT * FROM source_accounts"));
  }

  // Runs every read and write on `table` and on an unsharded copy made now.
  static void expectSameAsUnsharded(const std::string& table) {
    auto conn = cluster_->connect(0);
    std::string reference = table + "_reference";
    ASSERT_TRUE(conn.execute("CREATE TABLE " + reference + " AS SELECT * FROM " + table));
    // The writes first, so the reads also see rows moved, deleted and
    // inserted on every partition.
    for (const auto& sql : kWrites) {
      ASSERT_TRUE(conn.execute(with(sql, table))) << sql;
      ASSERT_TRUE(conn.execute(with(sql, reference))) << sql;
      EXPECT_EQ(resultText(conn, with(kWholeTable, table)),
                resultText(conn, with(kWholeTable, reference)))
          << "after " << sql;
    }
    for (const auto& sql : kReads) {
      EXPECT_EQ(resultText(conn, with(sql, table)), resultText(conn, with(sql, reference))) << sql;
    }
    ASSERT_TRUE(conn.execute("DROP TABLE " + reference));
  }

  // Rows of `table` held by shard node k itself.
  static std::int64_t rowsOnShard(int k, const std::string& table) {
    cluster::ConnectTarget target{
        .host = "127.0.0.1", .port = cluster_->shardPort(k), .password = cluster_->password()};
    auto conn = cluster::PgConnection::connect(target);
    if (!conn) return -1;
    auto rows = conn->query("SELECT count(*) AS n FROM " + table);
    return rows ? std::stoll(rows->text(0, "n")) : -1;
  }

  static Result<cluster::PgConnection> shardConnection(int k) {
    return cluster::PgConnection::connect(cluster::ConnectTarget{
        .host = "127.0.0.1", .port = cluster_->shardPort(k), .password = cluster_->password()});
  }

  // Whether a session on the node `monitor` is on waits for a lock in a
  // statement like `pattern`.
  static bool waitsForLock(cluster::PgConnection& monitor, const std::string& pattern) {
    auto rows = monitor.query(
        "SELECT count(*)::text AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE $1",
        {pattern});
    return rows && rows->text(0, "n") != "0";
  }

  static std::string relkind(cluster::PgConnection& conn, const std::string& table) {
    auto rows =
        conn.query("SELECT relkind::text AS k FROM pg_class WHERE oid = to_regclass($1)", {table});
    return rows && !rows->empty() ? rows->text(0, "k") : "";
  }

  static inline std::unique_ptr<LocalCluster> cluster_;
};

TEST_F(ShardTest, RangeShardingAsTheSeedDidKeepsEveryResult) {
  auto created =
      shard({"create", "pgbench_accounts", "--key", "aid", "--shards", "4", "--keep-local", "1"});
  ASSERT_EQ(created.exitCode, 0) << created.output;
  EXPECT_TRUE(contains(created.output, "verified: 250000 rows")) << created.output;
  auto conn = cluster_->connect(0);
  EXPECT_EQ(relkind(conn, "pgbench_accounts"), "p");
  EXPECT_EQ(relkind(conn, "pgbench_accounts_pgswarm_old"), "") << "dropped without --keep-old";
  // The seed's layout: [1, 250001) local, then one quarter per shard node.
  for (int k = 1; k <= kShardNodes; ++k) EXPECT_EQ(rowsOnShard(k, "pgbench_accounts"), 250000);
  auto local = conn.query("SELECT count(*) AS n FROM pgbench_accounts_p0");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->text(0, "n"), "250000");
  // Every partition has the table's indexes: a point read is an index scan.
  auto plan = conn.query("EXPLAIN SELECT abalance FROM pgbench_accounts_p0 WHERE aid = 7");
  ASSERT_TRUE(plan);
  EXPECT_TRUE(contains(plan->text(0, "QUERY PLAN"), "Index")) << plan->text(0, "QUERY PLAN");
  expectSameAsUnsharded("pgbench_accounts");

  auto status = shard({"status"});
  ASSERT_EQ(status.exitCode, 0) << status.output;
  EXPECT_TRUE(contains(status.output, "pgbench_accounts_shard2")) << status.output;
  EXPECT_TRUE(contains(status.output, "[250001, 500001)")) << status.output;
}

TEST_F(ShardTest, HashShardingKeepsEveryResult) {
  auto conn = cluster_->connect(0);
  copyAccounts(conn, "hash_accounts");
  auto created = shard({"create", "hash_accounts", "--key", "aid", "--strategy", "hash", "--shards",
                        "3", "--keep-old"});
  ASSERT_EQ(created.exitCode, 0) << created.output;
  EXPECT_EQ(relkind(conn, "hash_accounts"), "p");
  EXPECT_EQ(relkind(conn, "hash_accounts_pgswarm_old"), "r") << "--keep-old keeps it";
  std::int64_t total = 0;
  for (int k = 1; k <= kShardNodes; ++k) {
    auto rows = rowsOnShard(k, "hash_accounts");
    EXPECT_GT(rows, kAccounts / 4) << "shard" << k;  // about a third each
    total += rows;
  }
  EXPECT_EQ(total, kAccounts);
  // Each shard holds exactly the rows PostgreSQL's own hash puts there.
  auto misplaced = conn.query(
      "SELECT count(*) AS n FROM (SELECT aid FROM hash_accounts_shard2 OFFSET 0) s "
      "WHERE NOT satisfies_hash_partition('hash_accounts'::regclass, 3, 1, aid)");
  ASSERT_TRUE(misplaced) << misplaced.error().message;
  EXPECT_EQ(misplaced->text(0, "n"), "0");
  expectSameAsUnsharded("hash_accounts");
}

TEST_F(ShardTest, LocalPartitioningKeepsEveryResult) {
  auto conn = cluster_->connect(0);
  copyAccounts(conn, "local_accounts");
  auto created = shard({"create", "local_accounts", "--key", "aid", "--shards", "4", "--local",
                        "--ranges", "250001,500001,750001"});
  ASSERT_EQ(created.exitCode, 0) << created.output;
  for (int i = 0; i < 4; ++i) {
    auto rows = conn.query("SELECT count(*) AS n FROM local_accounts_p" + std::to_string(i));
    ASSERT_TRUE(rows) << i;
    EXPECT_EQ(rows->text(0, "n"), "250000") << i;
  }
  EXPECT_EQ(rowsOnShard(1, "local_accounts"), -1) << "nothing goes to a shard node";
  expectSameAsUnsharded("local_accounts");
}

TEST_F(ShardTest, MoveTakesAPartitionToANodeAndBackWithEveryRow) {
  auto conn = cluster_->connect(0);
  copyAccounts(conn, "moved_accounts");
  auto created = shard({"create", "moved_accounts", "--key", "aid", "--shards", "2", "--local"});
  ASSERT_EQ(created.exitCode, 0) << created.output;
  auto before = resultText(conn, with(kWholeTable, "moved_accounts"));

  auto out = shard({"move", "moved_accounts_p1", "--to", "shard2"});
  ASSERT_EQ(out.exitCode, 0) << out.output;
  EXPECT_TRUE(contains(out.output, "verified: 500000 rows")) << out.output;
  EXPECT_EQ(relkind(conn, "moved_accounts_shard2"), "f");
  EXPECT_EQ(relkind(conn, "moved_accounts_p1"), "") << "the old local copy is dropped";
  EXPECT_EQ(rowsOnShard(2, "moved_accounts"), 500000);
  EXPECT_EQ(resultText(conn, with(kWholeTable, "moved_accounts")), before);
  // Writes keep landing where the map now says.
  ASSERT_TRUE(conn.execute("UPDATE moved_accounts SET abalance = 5 WHERE aid = 900000"));
  EXPECT_EQ(resultText(conn, "SELECT abalance FROM moved_accounts WHERE aid = 900000"), "(5)");
  before = resultText(conn, with(kWholeTable, "moved_accounts"));

  auto taken = shard({"move", "moved_accounts_p0", "--to", "shard2"});
  EXPECT_EQ(taken.exitCode, 1) << taken.output;
  EXPECT_TRUE(contains(taken.output, "holds moved_accounts_shard2 of this table already"))
      << taken.output;

  auto home = shard({"move", "moved_accounts_shard2", "--to", "coordinator"});
  ASSERT_EQ(home.exitCode, 0) << home.output;
  EXPECT_EQ(relkind(conn, "moved_accounts_p1"), "r");
  EXPECT_EQ(rowsOnShard(2, "moved_accounts"), -1) << "the shard's table is dropped";
  EXPECT_EQ(resultText(conn, with(kWholeTable, "moved_accounts")), before);
  auto status = shard({"status"});
  EXPECT_TRUE(contains(status.output, "moved_accounts_p1")) << status.output;
}

// Pools send single-shard statements straight to the shard node, past the
// coordinator's lock: a move must freeze the node's table as well, so that
// a direct write in flight is part of the verified copy, and a direct write
// that waited on the lock fails (its table is gone or renamed) rather than
// land in a copy the map no longer names.
TEST_F(ShardTest, MoveFreezesDirectWritersOnTheNodeAndLosesNone) {
  auto conn = cluster_->connect(0);
  ASSERT_TRUE(conn.execute(
      "CREATE TABLE direct_accounts (aid int NOT NULL PRIMARY KEY, bid int, abalance int, "
      "filler character(84))"));
  ASSERT_TRUE(
      conn.execute("INSERT INTO direct_accounts SELECT * FROM source_accounts WHERE aid <= 1000"));
  auto created = shard({"create", "direct_accounts", "--key", "aid", "--shards", "2"});
  ASSERT_EQ(created.exitCode, 0) << created.output;
  ASSERT_EQ(rowsOnShard(1, "direct_accounts"), 500);  // [MINVALUE, 501)

  // Declared before the connections, so that on an early return these
  // close first and release the locks the tasks wait on.
  std::future<CommandOutput> move;
  std::future<std::string> directWrite;
  auto monitor1 = shardConnection(1);
  auto writer = shardConnection(1);
  ASSERT_TRUE(monitor1 && writer);
  // A direct write in flight when the move starts: the move's lock on the
  // node waits for it, and the verification finds its row.
  ASSERT_TRUE(writer->execute("BEGIN"));
  ASSERT_TRUE(writer->execute(
      "INSERT INTO direct_accounts (aid, bid, abalance, filler) VALUES (0, 1, 0, 'in flight')"));
  move = std::async(std::launch::async, [] {
    return shard({"move", "direct_accounts_shard1", "--to", "shard3"});
  });
  ASSERT_TRUE(waitUntil([&] { return waitsForLock(*monitor1, "LOCK TABLE%"); }, 60s));
  ASSERT_TRUE(writer->execute("COMMIT"));
  auto moved = move.get();
  ASSERT_EQ(moved.exitCode, 0) << moved.output;
  EXPECT_TRUE(contains(moved.output, "frozen on the coordinator and on shard1")) << moved.output;
  EXPECT_TRUE(contains(moved.output, "copying it again")) << moved.output;
  EXPECT_EQ(rowsOnShard(1, "direct_accounts"), -1) << "the node's old table is dropped";
  EXPECT_EQ(rowsOnShard(3, "direct_accounts"), 501);
  EXPECT_EQ(resultText(conn, "SELECT trim(filler) FROM direct_accounts WHERE aid = 0"),
            "(\"in flight\")");
  auto before = resultText(conn, with(kWholeTable, "direct_accounts"));

  // A direct write that reaches the node after the freeze: an open reader
  // lets the move lock the node's table but holds up the rename, long
  // enough for the write to queue behind the lock.
  auto monitor3 = shardConnection(3);
  auto reader = shardConnection(3);
  ASSERT_TRUE(monitor3 && reader);
  ASSERT_TRUE(reader->execute("BEGIN"));
  ASSERT_TRUE(reader->query("SELECT count(*) FROM direct_accounts"));
  move = std::async(std::launch::async, [] {
    return shard({"move", "direct_accounts_shard3", "--to", "shard1", "--keep-old"});
  });
  ASSERT_TRUE(waitUntil([&] { return waitsForLock(*monitor3, "ALTER TABLE%RENAME%"); }, 60s));
  directWrite = std::async(std::launch::async, []() -> std::string {
    auto late = shardConnection(3);
    if (!late) return "connect: " + late.error().message;
    auto written = late->execute(
        "INSERT INTO direct_accounts (aid, bid, abalance, filler) VALUES (-1, 1, 0, 'late')");
    return written ? "written" : written.error().message;
  });
  ASSERT_TRUE(
      waitUntil([&] { return waitsForLock(*monitor3, "INSERT INTO direct_accounts%"); }, 10s));
  ASSERT_TRUE(reader->execute("COMMIT"));
  auto back = move.get();
  ASSERT_EQ(back.exitCode, 0) << back.output;
  EXPECT_TRUE(contains(directWrite.get(), "does not exist"));
  EXPECT_TRUE(contains(back.output, "kept the old table on shard3 as")) << back.output;
  EXPECT_EQ(rowsOnShard(3, "direct_accounts"), -1);
  EXPECT_EQ(rowsOnShard(3, "direct_accounts_moved_to_shard1"), 501);
  EXPECT_EQ(rowsOnShard(1, "direct_accounts"), 501);
  // The kept foreign table reads the renamed table.
  EXPECT_EQ(relkind(conn, "direct_accounts_shard3"), "f");
  EXPECT_EQ(resultText(conn, "SELECT count(*) FROM direct_accounts_shard3"), "(501)");
  EXPECT_EQ(resultText(conn, with(kWholeTable, "direct_accounts")), before);
}

// `shard split`: a local partition cut into two local ones, then a shard
// node's partition cut with its upper half sent to another node, once
// failing before the swap (nothing changes) and once, rerun, while a
// direct write to the old node is in flight; every row stays once, the map
// says where, and the table answers as an unsharded copy does.
TEST_F(ShardTest, SplitCutsLocalAndNodePartitionsAndKeepsEveryRow) {
  auto conn = cluster_->connect(0);
  // 400000 rows: a quarter per partition at the end, to keep the test short.
  ASSERT_TRUE(conn.execute(
      "CREATE TABLE split_accounts (aid int NOT NULL PRIMARY KEY, bid int, abalance int, "
      "filler character(84))"));
  ASSERT_TRUE(
      conn.execute("INSERT INTO split_accounts SELECT * FROM source_accounts WHERE aid <= 400000"));
  auto created = shard({"create", "split_accounts", "--key", "aid", "--shards", "2", "--keep-local",
                        "1", "--ranges", "200001"});
  ASSERT_EQ(created.exitCode, 0) << created.output;

  auto local = shard({"split", "split_accounts_p0", "--at", "100001"});
  ASSERT_EQ(local.exitCode, 0) << local.output;
  EXPECT_TRUE(contains(local.output, "split_accounts_p1 verified: 100000 rows")) << local.output;
  EXPECT_EQ(relkind(conn, "split_accounts_p1"), "r");
  EXPECT_EQ(resultText(conn, "SELECT count(*), min(aid), max(aid) FROM split_accounts_p0"),
            "(100000,1,100000)");
  EXPECT_EQ(resultText(conn, "SELECT count(*), min(aid), max(aid) FROM split_accounts_p1"),
            "(100000,100001,200000)");

  // Refused before anything changes.
  auto noPlace = shard({"split", "split_accounts_shard1", "--at", "300001"});
  EXPECT_EQ(noPlace.exitCode, 1) << noPlace.output;
  EXPECT_TRUE(contains(noPlace.output, "--to NODE")) << noPlace.output;
  auto taken = shard({"split", "split_accounts_shard1", "--at", "300001", "--to", "shard1"});
  EXPECT_EQ(taken.exitCode, 1) << taken.output;
  EXPECT_TRUE(contains(taken.output, "holds split_accounts_shard1 of this table already"))
      << taken.output;
  auto outside = shard({"split", "split_accounts_p0", "--at", "150000"});
  EXPECT_EQ(outside.exitCode, 1) << outside.output;
  EXPECT_TRUE(contains(outside.output, "not strictly inside split_accounts_p0's range"))
      << outside.output;
  auto notInteger = shard({"split", "split_accounts_p0", "--at", "1000.5"});
  EXPECT_EQ(notInteger.exitCode, 1) << notInteger.output;
  EXPECT_TRUE(contains(notInteger.output, "is not a value of aid's type integer"))
      << notInteger.output;

  // A split that fails before the coordinator commits changes nothing: a
  // stray row below shard1's range makes its new CHECK fail after the
  // copy to shard2.
  {
    auto stray = shardConnection(1);
    ASSERT_TRUE(stray);
    ASSERT_TRUE(stray->execute(
        "INSERT INTO split_accounts (aid, bid, abalance, filler) VALUES (100, 1, 0, 'stray')"));
    auto failed = shard({"split", "split_accounts_shard1", "--at", "300001", "--to", "shard2"});
    EXPECT_EQ(failed.exitCode, 1) << failed.output;
    EXPECT_TRUE(contains(failed.output, "pgswarm_range")) << failed.output;
    EXPECT_EQ(rowsOnShard(1, "split_accounts"), 200001) << "nothing deleted";
    EXPECT_EQ(rowsOnShard(2, "split_accounts"), 100000) << "the half-made copy stays";
    EXPECT_EQ(relkind(conn, "split_accounts_shard2"), "");
    EXPECT_EQ(resultText(conn,
                         "SELECT range_to FROM pgswarm.shards WHERE partition_name = "
                         "'split_accounts_shard1'"),
              "()");
    ASSERT_TRUE(stray->execute("DELETE FROM split_accounts WHERE aid = 100"));
  }

  // A direct write in flight on shard1 when the split starts: the split's
  // lock there waits for it, and the verification finds its row.
  std::future<CommandOutput> split;
  auto monitor = shardConnection(1);
  auto writer = shardConnection(1);
  ASSERT_TRUE(monitor && writer);
  ASSERT_TRUE(writer->execute("BEGIN"));
  ASSERT_TRUE(
      writer->execute("INSERT INTO split_accounts (aid, bid, abalance, filler) VALUES (400005, 1, "
                      "0, 'in flight')"));
  split = std::async(std::launch::async, [] {
    return shard({"split", "split_accounts_shard1", "--at", "300001", "--to", "shard2"});
  });
  ASSERT_TRUE(waitUntil([&] { return waitsForLock(*monitor, "LOCK TABLE%"); }, 60s));
  ASSERT_TRUE(writer->execute("COMMIT"));
  auto remote = split.get();
  ASSERT_EQ(remote.exitCode, 0) << remote.output;
  EXPECT_TRUE(contains(remote.output, "frozen on the coordinator and on shard1")) << remote.output;
  EXPECT_TRUE(contains(remote.output, "copying it again")) << remote.output;
  EXPECT_TRUE(contains(remote.output, "reusing")) << remote.output;
  EXPECT_TRUE(contains(remote.output, "split_accounts_shard2 verified: 100001 rows"))
      << remote.output;
  EXPECT_EQ(relkind(conn, "split_accounts_shard2"), "f");
  EXPECT_EQ(rowsOnShard(1, "split_accounts"), 100000);
  EXPECT_EQ(rowsOnShard(2, "split_accounts"), 100001);
  EXPECT_EQ(
      resultText(conn, with(kWholeTable, "split_accounts")),
      resultText(
          conn,
          with(kWholeTable,
               "(SELECT * FROM source_accounts WHERE aid <= 400000 UNION ALL SELECT 400005, 1, 0, "
               "'in flight'::character(84))")));
  // A pool that still routes by the old map cannot strand a row on shard1.
  auto stale = writer->execute(
      "INSERT INTO split_accounts (aid, bid, abalance, filler) VALUES (350000, 1, 0, 'stale')");
  ASSERT_FALSE(stale);
  EXPECT_TRUE(contains(stale.error().message, "pgswarm_range")) << stale.error().message;

  EXPECT_EQ(resultText(conn,
                       "SELECT string_agg(partition_name || ' ' || coalesce(node, ''), ',' ORDER "
                       "BY position) FROM pgswarm.shards WHERE table_name = 'split_accounts'"),
            "(\"split_accounts_p0 ,split_accounts_p1 ,split_accounts_shard1 "
            "shard1,split_accounts_shard2 shard2\")");
  auto status = shard({"status"});
  ASSERT_EQ(status.exitCode, 0) << status.output;
  for (const auto* shown : {"split_accounts_p1", "[100001, 200001)", "[200001, 300001)",
                            "split_accounts_shard2", "[300001, MAXVALUE)"}) {
    EXPECT_TRUE(contains(status.output, shown)) << shown << "\n" << status.output;
  }
  ASSERT_TRUE(conn.execute("DELETE FROM split_accounts WHERE aid = 400005"));
  expectSameAsUnsharded("split_accounts");

  ASSERT_TRUE(
      conn.execute("CREATE TABLE split_hashed AS SELECT * FROM source_accounts WHERE aid <= 100"));
  auto hashed = shard(
      {"create", "split_hashed", "--key", "aid", "--strategy", "hash", "--shards", "2", "--local"});
  ASSERT_EQ(hashed.exitCode, 0) << hashed.output;
  auto refused = shard({"split", "split_hashed_p0", "--at", "50"});
  EXPECT_EQ(refused.exitCode, 1) << refused.output;
  EXPECT_TRUE(contains(refused.output, "only range partitions can be split")) << refused.output;
}

TEST_F(ShardTest, KilledMidCopyLeavesTheOriginalAndARerunFinishes) {
  auto conn = cluster_->connect(0);
  copyAccounts(conn, "moving_accounts");
  auto before = resultText(conn, with(kWholeTable, "moving_accounts"));
  runtime::SpawnOptions options{
      .argv = {pgswarmBinary(), "shard", "create", "moving_accounts", "--key", "aid", "--strategy",
               "hash", "--shards", "3", "--dir", cluster_->dir()},
      .outputPath = cluster_->dir() + "/../shard-create.log"};
  auto pid = runtime::spawnProcess(options);
  ASSERT_TRUE(pid) << pid.error().message;
  // Kill it once one partition is copied and before the swap.
  bool midCopy = waitUntil(
      [&] {
        auto rows = conn.query(
            "SELECT count(*) FILTER (WHERE copied) AS n FROM pgswarm.shards "
            "WHERE table_name = 'moving_accounts'");
        return rows && !rows->empty() && rows->text(0, "n") != "0";
      },
      60s);
  ::kill(*pid, SIGKILL);
  (void)runtime::stopProcess(*pid, 5s, SIGKILL);
  ASSERT_TRUE(midCopy) << "the copy never marked a partition copied";
  EXPECT_EQ(relkind(conn, "moving_accounts"), "r") << "still the original table";
  EXPECT_EQ(resultText(conn, with(kWholeTable, "moving_accounts")), before);
  // Written to in between: the rerun must notice and copy again.
  ASSERT_TRUE(conn.execute("UPDATE moving_accounts SET abalance = 99 WHERE aid < 1000"));

  auto rerun =
      shard({"create", "moving_accounts", "--key", "aid", "--strategy", "hash", "--shards", "3"});
  ASSERT_EQ(rerun.exitCode, 0) << rerun.output;
  EXPECT_TRUE(contains(rerun.output, "resuming")) << rerun.output;
  EXPECT_TRUE(contains(rerun.output, "(resumed)")) << rerun.output;
  EXPECT_EQ(relkind(conn, "moving_accounts"), "p");
  auto balances = conn.query("SELECT count(*) AS n FROM moving_accounts WHERE abalance = 99");
  ASSERT_TRUE(balances);
  EXPECT_EQ(balances->text(0, "n"), "999");
  std::int64_t total = 0;
  for (int k = 1; k <= kShardNodes; ++k) total += rowsOnShard(k, "moving_accounts");
  EXPECT_EQ(total, kAccounts);
}

TEST_F(ShardTest, RefusesWhatItCannotCarryOverAndChangesNothing) {
  auto conn = cluster_->connect(0);
  ASSERT_TRUE(
      conn.execute("CREATE TABLE refused (id int PRIMARY KEY, code text UNIQUE, bid int REFERENCES "
                   "pgbench_branches (bid))"));
  ASSERT_TRUE(conn.execute("CREATE VIEW refused_view AS SELECT id FROM refused"));
  auto created = shard({"create", "refused", "--key", "id", "--strategy", "hash", "--shards", "2"});
  EXPECT_EQ(created.exitCode, 1) << created.output;
  EXPECT_TRUE(contains(created.output, "does not include the shard key")) << created.output;
  EXPECT_TRUE(contains(created.output, "foreign key")) << created.output;
  EXPECT_TRUE(contains(created.output, "view")) << created.output;
  EXPECT_EQ(relkind(conn, "refused"), "r");
  EXPECT_EQ(relkind(conn, "refused_pgswarm_new"), "");

  auto tooMany = shard({"create", "source_accounts", "--key", "aid", "--shards", "5"});
  EXPECT_EQ(tooMany.exitCode, 1) << tooMany.output;
  EXPECT_TRUE(contains(tooMany.output, "there are 3 shard nodes")) << tooMany.output;
}

}  // namespace
}  // namespace pgswarm::test
