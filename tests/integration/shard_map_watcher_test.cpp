// shard/map_watcher against a real PostgreSQL 15 playing the coordinator:
// the pool's shard map follows the pgswarm catalog as `shard create` and
// `shard move` write it (no catalog, a table still copying, done, moved),
// survives a killed connection and a coordinator that moved, and stops at
// once while it sleeps; a `shard move`'s routing hold is in the map before
// the hold returns, and silent readers lose their routes.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/pg_client.hpp"
#include "harness.hpp"
#include "shard/map_watcher.hpp"
#include "shard/routing_hold.hpp"
#include "shard/shard_catalog.hpp"
#include "shard/shard_operations.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;
using shard::CoordinatorAddress;
using shard::MapWatcher;

constexpr auto kPeriod = 200ms;
constexpr auto kPatience = 5s;  // many periods: a loaded machine is slow

cluster::PgConnection connectTo(const PostgresServer& server) {
  auto conn = cluster::PgConnection::connect(
      cluster::ConnectTarget{.host = "127.0.0.1", .port = server.port()});
  EXPECT_TRUE(conn.ok()) << (conn.ok() ? "" : conn.error().message);
  return std::move(*conn);
}

void run(cluster::PgConnection& conn, const std::string& sql) {
  auto done = conn.execute(sql);
  ASSERT_TRUE(done.ok()) << sql << ": " << (done.ok() ? "" : done.error().message);
}

// items(id serial, k integer, note text) hashed on k over shard1 and shard2.
shard::ShardedTable itemsMap() {
  return shard::ShardedTable{
      .table = "items",
      .keyColumn = "k",
      .keyType = "integer",
      .strategy = shard::Strategy::kHash,
      .modulus = 2,
      .partitions = {shard::Partition{.name = "items_shard1", .node = "shard1", .remainder = 0},
                     shard::Partition{.name = "items_shard2", .node = "shard2", .remainder = 1}}};
}

const std::vector<shard::ShardNode> kNodes{{"shard1", "127.0.0.1", 1}, {"shard2", "127.0.0.1", 2}};

void createCatalogWithItems(cluster::PgConnection& conn) {
  run(conn, "CREATE TABLE items (id serial, k integer NOT NULL, note text DEFAULT 'x')");
  auto ready = shard::ensureCatalog(conn);
  ASSERT_TRUE(ready.ok()) << ready.error().message;
  auto saved = shard::saveNewTable(conn, itemsMap(), kNodes);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
}

// Where the test says the coordinator is; the watcher asks each refresh.
class Coordinator {
 public:
  void set(std::optional<CoordinatorAddress> address) {
    std::lock_guard lock(mutex_);
    address_ = std::move(address);
  }
  std::optional<CoordinatorAddress> get() const {
    std::lock_guard lock(mutex_);
    return address_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<CoordinatorAddress> address_;
};

shard::MapWatcherOptions optionsFor(Coordinator& coordinator, std::chrono::milliseconds period) {
  return shard::MapWatcherOptions{.groups = {"shard1", "shard2"},
                                  // A database that does not exist must not hold up the others.
                                  .databases = {"postgres", "no_such_database"},
                                  .coordinator = [&coordinator] { return coordinator.get(); },
                                  .period = period};
}

bool waitForVersionAbove(const MapWatcher& watcher, std::uint64_t version) {
  return waitUntil([&] { return watcher.version() > version; }, kPatience);
}

TEST(ShardMapWatcher, FollowsTheCatalogThroughCreateMoveAndFailures) {
  PostgresServer server;
  PostgresServer standby;  // another coordinator primary, without a catalog
  auto admin = connectTo(server);
  Coordinator coordinator;
  coordinator.set(CoordinatorAddress{"127.0.0.1", server.port()});
  MapWatcher watcher(optionsFor(coordinator, kPeriod));
  watcher.start();

  // No catalog: the database was read and has no sharded table.
  ASSERT_TRUE(waitForVersionAbove(watcher, 0));
  auto empty = watcher.current();
  EXPECT_EQ(empty->version, watcher.version());
  EXPECT_EQ(empty->databases.count("postgres"), 1U);
  EXPECT_EQ(empty->find("postgres"), nullptr);
  EXPECT_EQ(empty->databases.count("no_such_database"), 0U);

  // A table still copying is not routed: nothing to publish.
  createCatalogWithItems(admin);
  std::this_thread::sleep_for(4 * kPeriod);
  EXPECT_EQ(watcher.version(), empty->version);

  ASSERT_TRUE(shard::markDone(admin, itemsMap()).ok());
  ASSERT_TRUE(waitUntil([&] { return watcher.current()->find("postgres") != nullptr; }, kPatience));
  auto done = watcher.current();
  const auto* routes = done->find("postgres");
  ASSERT_EQ(routes->relations.size(), 1U);
  EXPECT_EQ(routes->relations[0].schema, "public");
  EXPECT_EQ(routes->relations[0].table, "items");
  EXPECT_EQ(routes->relations[0].keyColumn, "k");
  EXPECT_EQ(routes->relations[0].coordinatorDefaults, std::vector<std::string>{"id"});
  ASSERT_EQ(routes->tables.size(), 1U);
  EXPECT_EQ(routes->tables[0].hashType, shard::HashKeyType::kInt4);
  EXPECT_EQ(routes->tables[0].groups, (std::vector<int>{0, 1}));

  // The watcher's connection dies (a coordinator restart would do the
  // same); the next refresh reconnects and sees the move.
  auto killed = admin.query(
      "SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity "
      "WHERE application_name = 'pgswarm shard map'");
  ASSERT_TRUE(killed.ok()) << killed.error().message;
  EXPECT_EQ(killed->text(0, "n"), "1");
  shard::Partition home{.name = "items_p1", .node = "", .remainder = 1};
  ASSERT_TRUE(shard::recordMove(admin, itemsMap(), "items_shard2", home, std::nullopt).ok());
  ASSERT_TRUE(waitForVersionAbove(watcher, done->version));
  auto moved = watcher.current();
  ASSERT_NE(moved->find("postgres"), nullptr);
  EXPECT_EQ(moved->find("postgres")->tables[0].groups,
            (std::vector<int>{0, shard::kCoordinatorGroup}));

  // No coordinator known: refreshes are skipped and the map stays.
  coordinator.set(std::nullopt);
  std::this_thread::sleep_for(4 * kPeriod);
  EXPECT_EQ(watcher.version(), moved->version);

  // The coordinator's primary is now another server, without a catalog.
  coordinator.set(CoordinatorAddress{"127.0.0.1", standby.port()});
  ASSERT_TRUE(waitForVersionAbove(watcher, moved->version));
  EXPECT_EQ(watcher.current()->find("postgres"), nullptr);

  auto began = std::chrono::steady_clock::now();
  watcher.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 1s);
}

TEST(ShardMapWatcher, RefreshesOnRequestAndStopsAtOnceWhileSleeping) {
  PostgresServer server;
  auto admin = connectTo(server);
  Coordinator coordinator;
  coordinator.set(CoordinatorAddress{"127.0.0.1", server.port()});
  MapWatcher watcher(optionsFor(coordinator, std::chrono::hours(1)));
  watcher.start();
  ASSERT_TRUE(waitForVersionAbove(watcher, 0));  // the first refresh runs at once
  auto first = watcher.version();

  createCatalogWithItems(admin);
  ASSERT_TRUE(shard::markDone(admin, itemsMap()).ok());
  watcher.requestRefresh();
  ASSERT_TRUE(waitForVersionAbove(watcher, first));
  EXPECT_NE(watcher.current()->find("postgres"), nullptr);

  auto began = std::chrono::steady_clock::now();
  watcher.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 500ms);
}

// The first key the items map places on a shard (hash keys 0..99).
int directGroupOfSomeKey(const MapWatcher& watcher) {
  auto map = watcher.current();
  const auto* routes = map->find("postgres");
  if (routes == nullptr || routes->tables.empty()) return shard::kCoordinatorGroup;
  for (int k = 0; k < 100; ++k) {
    auto text = std::to_string(k);
    int group = shard::groupFor(routes->tables[0], shard::KeyValue{.bytes = text});
    if (group != shard::kCoordinatorGroup) return group;
  }
  return shard::kCoordinatorGroup;
}

std::string scalar(cluster::PgConnection& conn, const std::string& sql) {
  auto rows = conn.query(sql);
  EXPECT_TRUE(rows.ok()) << sql << ": " << (rows.ok() ? "" : rows.error().message);
  return rows.ok() && !rows->empty() ? rows->text(0, "v") : "";
}

struct RoutedItems {
  PostgresServer server;
  cluster::PgConnection admin = connectTo(server);
  Coordinator coordinator;
  std::unique_ptr<MapWatcher> watcher;

  explicit RoutedItems(shard::MapWatcherOptions options) {
    createCatalogWithItems(admin);
    EXPECT_TRUE(shard::markDone(admin, itemsMap()).ok());
    coordinator.set(CoordinatorAddress{"127.0.0.1", server.port()});
    options.coordinator = [this] { return coordinator.get(); };
    watcher = std::make_unique<MapWatcher>(std::move(options));
    watcher->start();
  }
  bool direct() const { return directGroupOfSomeKey(*watcher) != shard::kCoordinatorGroup; }
};

shard::MapWatcherOptions postgresOnly(std::string identity) {
  return shard::MapWatcherOptions{.groups = {"shard1", "shard2"},
                                  .databases = {"postgres"},
                                  .period = kPeriod,
                                  .identity = std::move(identity)};
}

TEST(ShardMapWatcher, AHoldIsInTheMapBeforeItReturnsAndEndsWithTheSwap) {
  RoutedItems items(postgresOnly("pool A"));
  ASSERT_TRUE(waitUntil([&] { return items.direct(); }, kPatience));

  auto holder = connectTo(items.server);
  std::ostringstream progress;
  auto hold = shard::RoutingHold::take(
      holder, itemsMap(), shard::HoldOptions{.reason = "shard split", .wait = kPatience}, progress);
  ASSERT_TRUE(hold.ok()) << hold.error().message;
  // No wait here: the pool recorded a read taken after the hold, and it
  // publishes before it records.
  EXPECT_FALSE(items.direct());
  auto map = items.watcher->current();
  EXPECT_EQ(shard::whyNotDirect(map->find("postgres")->tables[0], 0), "held: shard split");
  EXPECT_EQ(scalar(items.admin, "SELECT reader AS v FROM pgswarm.map_readers"), "pool A");

  // One hold per table: a second mover is refused while the first lives.
  auto other = connectTo(items.server);
  auto second = shard::holdDirectRouting(other, itemsMap(),
                                         shard::HoldOptions{.reason = "shard move"}, progress);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("a shard split (coordinator backend"), std::string::npos)
      << second.error().message;

  // The swap's transaction ends it; the routes come back.
  run(holder, "BEGIN");
  ASSERT_TRUE(hold->endIn(holder).ok());
  run(holder, "COMMIT");
  EXPECT_EQ(scalar(items.admin, "SELECT count(*)::text AS v FROM pgswarm.routing_holds"), "0");
  EXPECT_TRUE(waitUntil([&] { return items.direct(); }, kPatience));

  // A mover killed while holding holds nothing: its session is gone.
  {
    auto doomed = connectTo(items.server);
    ASSERT_TRUE(shard::holdDirectRouting(doomed, itemsMap(),
                                         shard::HoldOptions{.reason = "shard move"}, progress)
                    .ok());
    EXPECT_FALSE(items.direct());
  }
  EXPECT_TRUE(waitUntil([&] { return items.direct(); }, kPatience));
  EXPECT_EQ(scalar(items.admin, "SELECT count(*)::text AS v FROM pgswarm.routing_holds"), "1");
  // ... and the next mover takes the table over from the leftover.
  EXPECT_TRUE(shard::RoutingHold::take(other, itemsMap(),
                                       shard::HoldOptions{.reason = "shard move"}, progress)
                  .ok());
}

TEST(ShardMapWatcher, AHoldWaitsForLiveReadersOnlyAndGivesUpCleanly) {
  PostgresServer server;
  auto admin = connectTo(server);
  createCatalogWithItems(admin);
  // A pool that stopped an hour ago is not waited for.
  run(admin,
      "INSERT INTO pgswarm.map_readers VALUES ('gone', now() - interval '1 hour', "
      "now() - interval '1 hour', 60000)");
  std::ostringstream progress;
  auto quick = shard::holdDirectRouting(
      admin, itemsMap(), shard::HoldOptions{.reason = "shard move", .wait = 500ms}, progress);
  ASSERT_TRUE(quick.ok()) << quick.error().message;
  ASSERT_TRUE(shard::releaseDirectRouting(admin, itemsMap()).ok());

  // A live pool whose last read predates the hold is.
  run(admin,
      "INSERT INTO pgswarm.map_readers VALUES ('stuck', now() - interval '1 minute', now(), "
      "600000)");
  auto refused = shard::holdDirectRouting(
      admin, itemsMap(), shard::HoldOptions{.reason = "shard move", .wait = 500ms}, progress);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("stuck (last read"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(refused.error().message.find("gone"), std::string::npos) << refused.error().message;
  EXPECT_EQ(scalar(admin, "SELECT count(*)::text AS v FROM pgswarm.routing_holds"), "0");
  EXPECT_NE(progress.str().find("waiting for 1 pool(s)"), std::string::npos) << progress.str();
}

TEST(ShardMapWatcher, RoutesExpireWhileReadsCannotBeRecorded) {
  auto options = postgresOnly("pool B");
  options.confirmEvery = 200ms;
  options.expireAfter = 1s;
  RoutedItems items(std::move(options));
  ASSERT_TRUE(waitUntil([&] { return items.direct(); }, kPatience));
  run(items.admin,
      "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN RAISE EXCEPTION 'not now'; END$$");
  run(items.admin,
      "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON pgswarm.map_readers "
      "FOR EACH ROW EXECUTE FUNCTION refuse()");
  // The catalog still reads fine, but a mover cannot know this pool saw a
  // hold: past expireAfter it routes nothing straight to a shard.
  EXPECT_TRUE(waitUntil([&] { return !items.direct(); }, kPatience));
  run(items.admin, "DROP TRIGGER refuse ON pgswarm.map_readers");
  EXPECT_TRUE(waitUntil([&] { return items.direct(); }, kPatience));
}

TEST(ShardMapWatcher, RowEstimatesComeFromTheCoordinatorsStatistics) {
  RoutedItems items(postgresOnly("pool C"));
  ASSERT_TRUE(waitUntil([&] { return items.direct(); }, kPatience));
  // The coordinator's relation of one partition, analyzed; the other never was.
  run(items.admin, "CREATE TABLE items_shard1 (k integer)");
  run(items.admin, "INSERT INTO items_shard1 SELECT g FROM generate_series(1, 250) g");
  run(items.admin, "ANALYZE items_shard1");
  auto estimates = [&] {
    auto map = items.watcher->current();
    const auto* routes = map->find("postgres");
    return routes == nullptr ? std::vector<std::int64_t>{} : routes->tables[0].rowEstimates;
  };
  ASSERT_TRUE(waitUntil(
      [&] {
        return estimates() == std::vector<std::int64_t>{250, -1};
      },
      kPatience))
      << ::testing::PrintToString(estimates());
}

// The rows a pool shows for shard commands: a live command is running, one
// that ended says how, and one whose session is gone without a word is
// stale. The reads are outside any transaction block, as a block's
// snapshot would predate the sessions it is checked against (a command
// that marked its row done and then ended meanwhile would show as stale).
TEST(ShardOperations, RunningDoneAndStaleAreToldApartAndReadOutsideATransactionBlock) {
  PostgresServer server;
  auto admin = connectTo(server);
  ASSERT_TRUE(shard::ensureCatalog(admin).ok());
  cluster::ConnectTarget target{.host = "127.0.0.1", .port = server.port()};
  auto recorder = [&](const std::string& table) {
    return shard::OperationRecorder::start(
        target, "public", table, "move",
        {.partition = table + "_p0", .sourceNode = "coordinator", .targetNode = "shard1"});
  };
  auto live = recorder("live");
  auto ended = recorder("ended");
  ended.finish(true);
  auto killed = recorder("killed");
  auto stateOf = [&](const std::string& table) -> std::string {
    auto rows = shard::loadOperations(admin);
    if (!rows) return "error: " + rows.error().message;
    for (const auto& row : *rows) {
      if (row.table == "public." + table) return row.state;
    }
    return "missing";
  };
  EXPECT_EQ(stateOf("live"), "running");
  EXPECT_EQ(stateOf("ended"), "done");
  EXPECT_EQ(stateOf("killed"), "running");
  run(admin,
      "SELECT pg_terminate_backend(backend_pid) FROM pgswarm.operations "
      "WHERE table_name = 'killed'");
  EXPECT_TRUE(waitUntil([&] { return stateOf("killed") == "stale"; }, kPatience))
      << stateOf("killed");
  EXPECT_EQ(stateOf("live"), "running");

  run(admin, "BEGIN");
  auto inBlock = shard::loadOperations(admin);
  ASSERT_FALSE(inBlock.ok());
  EXPECT_NE(inBlock.error().message.find("outside a transaction block"), std::string::npos)
      << inBlock.error().message;
  run(admin, "ROLLBACK");
}

}  // namespace
}  // namespace pgswarm::test
