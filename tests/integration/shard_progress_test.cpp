// Shard commands' progress on the pool's dashboard: `up --shards 1
// --pool-mode transaction` with the pool's HTTP port, a table big enough
// for its copy to take seconds. While `pgswarm shard create` (or `shard
// move`, or `shard split`) runs, the pool's /api/status must list it in shard_operations,
// running in its copy phase with rows done growing towards the counted
// total, and /metrics must have it; once the command ended, done. A move
// killed mid-copy shows as stale (its coordinator session is gone), and
// the next shard command marks it failed.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "dashboard_support.hpp"
#include "harness.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;

constexpr int kRows = 2000000;

class ShardProgressTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<LocalCluster>(0, 1);
    // The shard map's reader, which also reads the progress, runs only in
    // transaction mode (direct shard routing). It reads every 200 ms here,
    // as the command writes every 250 ms: a copy of a second or two (on a
    // quiet host) is still seen growing. `up` hands the variable on to the pool.
    ::setenv("PGSWARM_POOL_SHARD_MAP_REFRESH_MS", "200", 1);
    auto up = cluster_->up({"--pool-mode", "transaction"});
    ::unsetenv("PGSWARM_POOL_SHARD_MAP_REFRESH_MS");
    ASSERT_EQ(up.exitCode, 0) << up.output;
    httpPort_ = cluster_->poolPort() + 1;  // LocalCluster::up's --http-port
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  // `name` with kRows rows of about 100 bytes each.
  static void makeTable(const std::string& name) {
    auto conn = cluster_->connect(0);
    ASSERT_TRUE(conn.execute("CREATE TABLE " + name +
                             " (id int PRIMARY KEY, filler text NOT NULL); INSERT INTO " + name +
                             " SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, " +
                             std::to_string(kRows) + ") i"));
  }

  static pid_t spawnShard(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv{pgswarmBinary(), "shard"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--dir", cluster_->dir()});
    auto pid = runtime::spawnProcess(
        runtime::SpawnOptions{.argv = argv, .outputPath = cluster_->dir() + "/../" + log});
    if (!pid) throw std::runtime_error(pid.error().message);
    return *pid;
  }

  static bool exited(pid_t pid) {
    (void)runtime::reapChild(pid);
    return !runtime::processAlive(pid);
  }

  // The pool's shard_operations row of `verb` on `table`, newest first;
  // null when there is none.
  static nlohmann::json operation(const std::string& table, const std::string& verb,
                                  const std::string& state = "") {
    auto reply = httpGet(httpPort_, "/api/status");
    if (reply.status != 200) return nullptr;
    auto status = nlohmann::json::parse(reply.body, nullptr, false);
    if (!status.is_object() || !status["shard_operations"].is_array()) return nullptr;
    for (const auto& row : status["shard_operations"]) {
      if (row["table"] == table && row["verb"] == verb &&
          (state.empty() || row["state"] == state)) {
        return row;
      }
    }
    return nullptr;
  }

  // The catalog's rows and the pool's view of them, for a failure message.
  static std::string diagnosis() {
    auto conn = cluster_->connect(0);
    auto rows = conn.query(
        "SELECT coalesce(string_agg(o::text, E'\\n'), 'no rows') AS rows "
        "FROM pgswarm.operations o");
    auto status = nlohmann::json::parse(httpGet(httpPort_, "/api/status").body, nullptr, false);
    return "pgswarm.operations:\n" + (rows ? rows->text(0, "rows") : rows.error().message) +
           "\n/api/status shard_operations: " +
           (status.is_object() ? status["shard_operations"].dump() : "no answer");
  }

  static inline std::unique_ptr<LocalCluster> cluster_;
  static inline int httpPort_ = 0;
};

TEST_F(ShardProgressTest, ACreateShowsItsCopyGrowingThenDone) {
  makeTable("progress_items");
  auto pid =
      spawnShard({"create", "progress_items", "--key", "id", "--shards", "2", "--keep-local", "1"},
                 "shard-create.log");
  // Rows done as the pool published them while the copy ran.
  std::set<std::int64_t> seen;
  nlohmann::json running;
  bool metricSeen = false;
  while (!exited(pid)) {
    auto row = operation("public.progress_items", "create", "running");
    if (row.is_object() && row["phase"] == "copy" && row["rows_done"].get<std::int64_t>() > 0) {
      seen.insert(row["rows_done"].get<std::int64_t>());
      running = row;
      auto series =
          "pgswarm_shard_operation_running{database=\"postgres\",table=\"public."
          "progress_items\",verb=\"create\",id=\"" +
          std::to_string(row["id"].get<std::int64_t>()) + "\"}";
      metricSeen = metricSeen || metricValue(httpGet(httpPort_, "/metrics").body, series) == 1.0;
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_GE(seen.size(), 2u) << "the copy's rows never grew on the dashboard; last: "
                             << running.dump() << "\n"
                             << diagnosis();
  EXPECT_TRUE(metricSeen) << "pgswarm_shard_operation_running never said 1";
  // Both partitions' rows, counted before the copy began.
  EXPECT_EQ(running["rows_total"], kRows);
  EXPECT_LT(running["rows_done"].get<std::int64_t>(), kRows);
  EXPECT_GT(running["bytes_done"].get<std::int64_t>(), 0);
  EXPECT_GT(running["rate_rows_per_second"].get<double>(), 0);
  EXPECT_FALSE(running["partition"].get<std::string>().empty());
  EXPECT_EQ(running["source_node"], "coordinator");
  EXPECT_GT(running["backend_pid"].get<int>(), 0);

  nlohmann::json done;
  ASSERT_TRUE(waitUntil(
      [&] {
        done = operation("public.progress_items", "create");
        return done.is_object() && done["finished"] == true;
      },
      10s))
      << done.dump();
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["succeeded"], true);
  EXPECT_EQ(done["id"], running["id"]);
  EXPECT_EQ(done["phase"], "finish");
  EXPECT_EQ(done["rows_done"], kRows) << "the copy's figures stay after it";
  EXPECT_EQ(done["percent"], 100);
}

TEST_F(ShardProgressTest, AKilledMoveIsStaleUntilTheNextCommandMarksItFailed) {
  makeTable("killed_items");
  auto created = runPgswarm({"shard", "create", "killed_items", "--key", "id", "--shards", "2",
                             "--local", "--dir", cluster_->dir()});
  ASSERT_EQ(created.exitCode, 0) << created.output;
  auto pid = spawnShard({"move", "killed_items_p1", "--to", "shard1"}, "shard-move.log");
  nlohmann::json copying;
  bool midCopy = waitUntil(
      [&] {
        copying = operation("public.killed_items", "move", "running");
        return copying.is_object() && copying["phase"] == "copy" &&
               copying["rows_done"].get<std::int64_t>() > 0;
      },
      60s);
  ::kill(pid, SIGKILL);
  (void)runtime::stopProcess(pid, 5s, SIGKILL);
  ASSERT_TRUE(midCopy) << "the move never showed its copy: " << copying.dump() << "\n"
                       << diagnosis();
  EXPECT_EQ(copying["partition"], "killed_items_p1");
  EXPECT_EQ(copying["source_node"], "coordinator");
  EXPECT_EQ(copying["target_node"], "shard1");
  auto id = copying["id"];

  nlohmann::json stale;
  ASSERT_TRUE(waitUntil(
      [&] {
        stale = operation("public.killed_items", "move");
        return stale.is_object() && stale["id"] == id && stale["state"] == "stale";
      },
      15s))
      << stale.dump();
  EXPECT_EQ(stale["finished"], true);
  EXPECT_EQ(stale["succeeded"], false);

  // The rerun finishes the move and marks the killed row failed.
  auto rerun =
      runPgswarm({"shard", "move", "killed_items_p1", "--to", "shard1", "--dir", cluster_->dir()});
  ASSERT_EQ(rerun.exitCode, 0) << rerun.output;
  nlohmann::json failed;
  nlohmann::json finished;
  ASSERT_TRUE(waitUntil(
      [&] {
        auto status = nlohmann::json::parse(httpGet(httpPort_, "/api/status").body, nullptr, false);
        if (!status.is_object()) return false;
        for (const auto& row : status["shard_operations"]) {
          if (row["id"] == id) failed = row;
          if (row["table"] == "public.killed_items" && row["verb"] == "move" && row["id"] != id) {
            finished = row;
          }
        }
        return failed["state"] == "failed" && finished["state"] == "done";
      },
      10s))
      << failed.dump() << "\n"
      << finished.dump();
  EXPECT_NE(failed["message"].get<std::string>().find("killed"), std::string::npos)
      << failed.dump();
  // The copy's figures stay after it: all of the partition's rows.
  EXPECT_GT(finished["rows_done"].get<std::int64_t>(), 0) << finished.dump();
  EXPECT_EQ(finished["rows_done"], finished["rows_total"]) << finished.dump();
  EXPECT_EQ(finished["percent"], 100) << finished.dump();
}

// A split copies the upper half of a partition to its new place: the
// coordinator's catalog (pgswarm.operations) has the split's row with
// rows done growing while it runs, the pool's /api/status and /metrics
// show it, and it ends done with every counted row copied.
TEST_F(ShardProgressTest, ASplitShowsItsCopyGrowingThenDone) {
  makeTable("split_items");
  // One local partition with 1.9 million of the rows (and one with the
  // rest); its upper 1.8 million go to shard1.
  auto created = runPgswarm({"shard", "create", "split_items", "--key", "id", "--shards", "2",
                             "--local", "--ranges", "1900001", "--dir", cluster_->dir()});
  ASSERT_EQ(created.exitCode, 0) << created.output;
  auto pid = spawnShard({"split", "split_items_p0", "--at", "100001", "--to", "shard1"},
                        "shard-split.log");
  auto catalog = cluster_->connect(0);
  std::set<std::int64_t> seen;
  std::set<std::int64_t> inCatalog;
  nlohmann::json running;
  bool metricSeen = false;
  while (!exited(pid)) {
    auto rows = catalog.query(
        "SELECT rows_done FROM pgswarm.operations WHERE verb = 'split' AND table_schema = "
        "'public' AND table_name = 'split_items' AND state = 'running' AND phase = 'copy'");
    if (rows && rows->size() == 1 && std::stoll(rows->text(0, "rows_done")) > 0) {
      inCatalog.insert(std::stoll(rows->text(0, "rows_done")));
    }
    auto row = operation("public.split_items", "split", "running");
    if (row.is_object() && row["phase"] == "copy" && row["rows_done"].get<std::int64_t>() > 0) {
      seen.insert(row["rows_done"].get<std::int64_t>());
      running = row;
      auto series =
          "pgswarm_shard_operation_running{database=\"postgres\",table=\"public."
          "split_items\",verb=\"split\",id=\"" +
          std::to_string(row["id"].get<std::int64_t>()) + "\"}";
      metricSeen = metricSeen || metricValue(httpGet(httpPort_, "/metrics").body, series) == 1.0;
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_GE(inCatalog.size(), 2u) << "pgswarm.operations never showed the split's copy growing\n"
                                  << diagnosis();
  ASSERT_GE(seen.size(), 2u) << "the split's rows never grew on the dashboard; last: "
                             << running.dump() << "\n"
                             << diagnosis();
  EXPECT_TRUE(metricSeen) << "pgswarm_shard_operation_running never said 1 for the split";
  constexpr std::int64_t kMoved = 1800000;  // ids 100001 to 1900000
  EXPECT_EQ(running["rows_total"], kMoved) << running.dump();
  EXPECT_LT(running["rows_done"].get<std::int64_t>(), kMoved);
  EXPECT_GT(running["bytes_done"].get<std::int64_t>(), 0);
  EXPECT_GT(running["rate_rows_per_second"].get<double>(), 0);
  EXPECT_EQ(running["partition"], "split_items_p0");
  EXPECT_EQ(running["source_node"], "coordinator");
  EXPECT_EQ(running["target_node"], "shard1");

  nlohmann::json done;
  ASSERT_TRUE(waitUntil(
      [&] {
        done = operation("public.split_items", "split");
        return done.is_object() && done["finished"] == true;
      },
      10s))
      << done.dump();
  EXPECT_EQ(done["state"], "done") << done.dump() << "\n" << diagnosis();
  EXPECT_EQ(done["succeeded"], true);
  EXPECT_EQ(done["id"], running["id"]);
  EXPECT_EQ(done["phase"], "finish");
  EXPECT_EQ(done["rows_done"], kMoved) << "the copy's figures stay after it";
  EXPECT_EQ(done["percent"], 100);
}

}  // namespace
}  // namespace pgswarm::test
