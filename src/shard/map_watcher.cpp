// The pool's shard map reader: see map_watcher.hpp. Control plane only: a
// libpq connection per database to the coordinator's primary, a snapshot of
// the catalog per refresh, a new immutable map only when routes changed.
#include "shard/map_watcher.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace pgswarm::shard {
namespace {

// The columns of every finished sharded table whose default draws from a
// sequence (Column::sequenceDefault's rule): shard tables are made without
// those defaults, so only the coordinator may fill them.
constexpr const char* kSequenceDefaultsQuery = R"(
SELECT t.table_schema, t.table_name, a.attname
FROM pgswarm.sharded_tables t
JOIN pg_catalog.pg_namespace n ON n.nspname = t.table_schema
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.table_name
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE t.state = 'done' AND strpos(pg_catalog.pg_get_expr(d.adbin, d.adrelid), 'nextval(') > 0
ORDER BY t.table_schema, t.table_name, a.attnum)";

using SequenceDefaults = std::map<std::string, std::vector<std::string>>;

Result<SequenceDefaults> loadSequenceDefaults(cluster::PgConnection& conn) {
  auto rows = conn.query(kSequenceDefaultsQuery);
  if (!rows) return rows.error();
  SequenceDefaults defaults;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    defaults[rows->text(i, "table_schema") + "." + rows->text(i, "table_name")].push_back(
        rows->text(i, "attname"));
  }
  return defaults;
}

bool anyDone(const std::vector<StoredTable>& tables) {
  return std::any_of(tables.begin(), tables.end(),
                     [](const StoredTable& t) { return t.state == JobState::kDone; });
}

int wholeSeconds(std::chrono::milliseconds duration) {
  auto seconds = (duration.count() + 999) / 1000;
  return static_cast<int>(std::max<std::int64_t>(1, seconds));
}

}  // namespace

MapWatcher::MapWatcher(MapWatcherOptions options)
    : options_(std::move(options)), current_(std::make_shared<const ShardMap>()) {
  for (const auto& database : options_.databases) readers_.push_back(Reader{.database = database});
}

MapWatcher::~MapWatcher() {
  stop();
}

void MapWatcher::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void MapWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MapWatcher::requestRefresh() {
  {
    std::lock_guard lock(mutex_);
    refreshRequested_ = true;
  }
  wake_.notify_all();
}

std::shared_ptr<const ShardMap> MapWatcher::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

bool MapWatcher::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void MapWatcher::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    refreshRequested_ = false;
    lock.unlock();
    refresh();
    lock.lock();
    wake_.wait_for(lock, options_.period, [this] { return stopping_ || refreshRequested_; });
  }
}

void MapWatcher::refresh() {
  auto address = options_.coordinator ? options_.coordinator() : std::nullopt;
  if (!address) {
    spdlog::debug("shard map: no coordinator primary known, refresh skipped");
    return;
  }
  // Databases whose catalog cannot be read now keep their last routes.
  auto databases = current()->databases;
  for (auto& reader : readers_) {
    if (stopping()) return;
    if (auto routes = read(reader, *address)) databases[reader.database] = std::move(*routes);
  }
  std::lock_guard lock(mutex_);
  if (databases == current_->databases) return;
  auto next = std::make_shared<ShardMap>();
  next->version = current_->version + 1;
  next->databases = std::move(databases);
  current_ = std::move(next);
  version_.store(current_->version, std::memory_order_release);
  spdlog::debug("shard map: version {} published", current_->version);
}

std::optional<ShardRoutes> MapWatcher::read(Reader& reader, const CoordinatorAddress& address) {
  if (reader.address != address) {
    reader.conn.reset();
    reader.address = address;
  }
  std::optional<Error> failure;
  // A kept connection may have broken since the last refresh (a restart, a
  // failover): one retry on a fresh one tells that apart from a real failure.
  for (int attempt = 0; attempt < 2 && !stopping(); ++attempt) {
    bool fresh = !reader.conn;
    if (fresh) {
      auto conn = connect(reader, address);
      if (!conn) {
        failure = conn.error();
        break;
      }
      reader.conn.emplace(std::move(*conn));
    }
    auto routes = readCatalog(*reader.conn);
    if (routes) {
      if (reader.failing) spdlog::info("shard map: reading {} again", reader.database);
      reader.failing = false;
      if (routes->tables.empty())
        spdlog::debug("shard map: no sharded table in {}", reader.database);
      return std::move(*routes);
    }
    failure = routes.error();
    reader.conn.reset();
    if (fresh) break;
  }
  if (failure) {
    if (!reader.failing) {
      spdlog::warn("shard map: cannot read the catalog of {} on {}:{} (keeping the last map): {}",
                   reader.database, address.host, address.port, failure->message);
    } else {
      spdlog::debug("shard map: {} still unreadable: {}", reader.database, failure->message);
    }
    reader.failing = true;
  }
  return std::nullopt;
}

Result<cluster::PgConnection> MapWatcher::connect(const Reader& reader,
                                                  const CoordinatorAddress& address) const {
  auto conn = cluster::PgConnection::connect(
      cluster::ConnectTarget{.host = address.host,
                             .port = address.port,
                             .user = options_.user,
                             .password = options_.password,
                             .dbname = reader.database,
                             .applicationName = options_.applicationName,
                             .connectTimeoutSeconds = wholeSeconds(options_.connectTimeout)});
  if (!conn) return conn;
  // The catalog queries are tiny: a coordinator that takes longer is stuck,
  // and the thread must stay free to stop.
  auto limit = static_cast<int>(std::max<std::int64_t>(1000, options_.connectTimeout.count()));
  if (auto set = conn->setStatementTimeout(limit); !set) return set.error();
  return conn;
}

Result<ShardRoutes> MapWatcher::readCatalog(cluster::PgConnection& conn) const {
  // One snapshot for the tables, their partitions and their defaults.
  if (auto begun = conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !begun) {
    return begun.error();
  }
  auto routes = [&]() -> Result<ShardRoutes> {
    auto tables = loadAllTables(conn);
    if (!tables) return tables.error();
    SequenceDefaults defaults;
    if (anyDone(*tables)) {
      auto loaded = loadSequenceDefaults(conn);
      if (!loaded) return loaded.error();
      defaults = std::move(*loaded);
    }
    return compileRoutes(*tables, options_.groups, defaults);
  }();
  auto ended = conn.execute(routes ? "COMMIT" : "ROLLBACK");
  if (!routes) return routes;
  if (!ended) return ended.error();
  return routes;
}

}  // namespace pgswarm::shard
