// The pool's shard map reader: see map_watcher.hpp. Control plane only: a
// libpq connection per database to the coordinator's primary, a snapshot of
// the catalog per refresh, a new immutable map only when routes changed.
#include "shard/map_watcher.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>

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

// Each partition's row estimate on the coordinator, by "schema.partition".
constexpr const char* kRowEstimatesQuery = R"(
SELECT s.table_schema || '.' || s.partition_name AS partition, c.reltuples::bigint::text AS n
FROM pgswarm.shards s
JOIN pg_catalog.pg_namespace ns ON ns.nspname = s.table_schema
JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND c.relname = s.partition_name)";

Status addRowEstimates(cluster::PgConnection& conn, ShardRoutes& routes) {
  if (routes.tables.empty()) return Ok{};
  auto rows = conn.query(kRowEstimatesQuery);
  if (!rows) return rows.error();
  std::map<std::string, std::int64_t> estimates;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    estimates[rows->text(i, "partition")] = std::stoll(rows->text(i, "n"));
  }
  for (auto& table : routes.tables) {
    table.rowEstimates.clear();
    for (const auto& partition : table.map.partitions) {
      auto found = estimates.find(table.map.schema + "." + partition.name);
      table.rowEstimates.push_back(
          found == estimates.end() ? -1 : std::max<std::int64_t>(-1, found->second));
    }
  }
  return Ok{};
}

// The coordinator's own partitions that a statement may name instead of
// their parent and mean the same rows under the same rules: the parent's
// owner and privileges (table and column), and nothing the parent adds when
// it is named (row security, statement triggers, rules) nor a policy or rule
// of the partition's own that the parent would skip.
constexpr const char* kLocalNamesQuery = R"(
SELECT s.table_schema, s.table_name, s.partition_name,
       pg_catalog.quote_ident(s.table_schema) || '.' || pg_catalog.quote_ident(s.partition_name)
         AS local_name
FROM pgswarm.shards s
JOIN pgswarm.sharded_tables t USING (table_schema, table_name)
JOIN pg_catalog.pg_namespace n ON n.nspname = s.table_schema
JOIN pg_catalog.pg_class p ON p.relnamespace = n.oid AND p.relname = s.table_name
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.partition_name
JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = p.oid
WHERE t.state = 'done' AND s.node = '' AND p.relkind = 'p' AND c.relkind = 'r'
  AND c.relowner = p.relowner AND c.relacl IS NOT DISTINCT FROM p.relacl
  AND NOT (p.relrowsecurity OR c.relrowsecurity OR p.relhastriggers OR p.relhasrules
           OR c.relhasrules)
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid IN (p.oid, c.oid) AND a.attnum > 0 AND a.attacl IS NOT NULL))";

Status addLocalNames(cluster::PgConnection& conn, ShardRoutes& routes) {
  if (routes.tables.empty()) return Ok{};
  auto rows = conn.query(kLocalNamesQuery);
  if (!rows) return rows.error();
  std::map<std::string, std::string> names;  // "schema.table.partition" -> quoted name
  for (std::size_t i = 0; i < rows->size(); ++i) {
    names[rows->text(i, "table_schema") + "." + rows->text(i, "table_name") + "." +
          rows->text(i, "partition_name")] = rows->text(i, "local_name");
  }
  for (auto& table : routes.tables) {
    table.localNames.clear();
    for (const auto& partition : table.map.partitions) {
      auto found = names.find(table.map.schema + "." + table.map.table + "." + partition.name);
      table.localNames.push_back(found == names.end() ? std::string() : found->second);
    }
  }
  return Ok{};
}

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

MapWatcherOptions withIdentity(MapWatcherOptions options) {
  if (!options.identity.empty()) return options;
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = 0;
  // Numbered past the first: watchers of one process must not share a row.
  static std::atomic<int> made{0};
  int number = made.fetch_add(1);
  options.identity = fmt::format("{} pid {}{}", host.data(), ::getpid(),
                                 number == 0 ? std::string() : fmt::format(" #{}", number + 1));
  return options;
}

int wholeSeconds(std::chrono::milliseconds duration) {
  auto seconds = (duration.count() + 999) / 1000;
  return static_cast<int>(std::max<std::int64_t>(1, seconds));
}

}  // namespace

MapWatcher::MapWatcher(MapWatcherOptions options)
    : options_(withIdentity(std::move(options))), current_(std::make_shared<const ShardMap>()) {
  // A reader that never records its reads expires like one that stopped.
  auto now = Clock::now();
  for (const auto& database : options_.databases) {
    readers_.push_back(Reader{.database = database, .confirmed = now});
  }
}

MapWatcher::~MapWatcher() {
  stop();
}

void MapWatcher::start() {
  thread_.start(options_.period, [this] { refresh(); });
}

void MapWatcher::stop() {
  thread_.stop();
}

void MapWatcher::requestRefresh() {
  thread_.nudge();
}

std::shared_ptr<const ShardMap> MapWatcher::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::vector<OperationRow> MapWatcher::operations() const {
  std::lock_guard lock(mutex_);
  std::vector<OperationRow> all;
  for (const auto& [database, rows] : operations_) {
    for (auto row : rows) {
      row.database = database;
      all.push_back(std::move(row));
    }
  }
  return all;
}

void MapWatcher::refresh() {
  auto now = Clock::now();
  // Databases whose catalog cannot be read now keep their last routes,
  // until they expire.
  auto databases = current()->databases;
  for (auto& reader : readers_) expire(reader, databases, now);
  auto address = options_.coordinator ? options_.coordinator() : std::nullopt;
  if (!address) spdlog::debug("shard map: no coordinator primary known, refresh skipped");
  std::vector<bool> changed(readers_.size(), false);
  for (std::size_t i = 0; address && i < readers_.size(); ++i) {
    auto& reader = readers_[i];
    if (thread_.stopping()) return;
    auto read = this->read(reader, *address);
    if (!read) continue;
    {
      std::lock_guard lock(mutex_);
      operations_[reader.database] = std::move(read->operations);
    }
    if (reader.expired) {
      // Routes come back only after a read is recorded again: until then
      // this pool routes nothing directly, which any hold allows.
      reader.unconfirmed = std::move(read->readAt);
      confirm(reader, true, now);
      continue;
    }
    auto& routes = databases[reader.database];
    changed[i] = !(routes == read->routes);
    routes = std::move(read->routes);
    reader.unconfirmed = std::move(read->readAt);
  }
  publish(std::move(databases));
  for (std::size_t i = 0; i < readers_.size(); ++i) {
    if (!readers_[i].expired) confirm(readers_[i], changed[i], now);
  }
}

void MapWatcher::publish(std::map<std::string, ShardRoutes, std::less<>> databases) {
  std::lock_guard lock(mutex_);
  if (databases == current_->databases) return;
  auto next = std::make_shared<ShardMap>();
  next->version = current_->version + 1;
  next->databases = std::move(databases);
  current_ = std::move(next);
  version_.store(current_->version, std::memory_order_release);
  spdlog::debug("shard map: version {} published", current_->version);
}

void MapWatcher::expire(Reader& reader, std::map<std::string, ShardRoutes, std::less<>>& databases,
                        Clock::time_point now) {
  if (reader.expired || now - reader.confirmed < options_.expireAfter) return;
  reader.expired = true;
  auto routes = databases.find(reader.database);
  if (routes == databases.end() || routes->second.tables.empty()) return;
  spdlog::warn(
      "shard map: no catalog read of {} recorded for {} ms: its statements go through the "
      "coordinator until one is",
      reader.database, options_.expireAfter.count());
  routes->second = ShardRoutes{};
}

void MapWatcher::confirm(Reader& reader, bool changed, Clock::time_point now) {
  if (!reader.unconfirmed || !reader.conn) return;
  auto readAt = std::exchange(reader.unconfirmed, std::nullopt);
  if (readAt->empty()) {  // no pgswarm.map_readers: nothing can hold routing
    reader.confirmed = now;
    return;
  }
  if (!changed && !reader.expired && now - reader.recorded < options_.confirmEvery) {
    reader.confirmed = now;
    return;
  }
  auto recorded = reader.conn->execute(
      "INSERT INTO pgswarm.map_readers (reader, read_at, seen_at, lifetime_ms) "
      "VALUES ($1, $2::timestamptz, now(), $3::bigint) ON CONFLICT (reader) DO UPDATE SET "
      "read_at = EXCLUDED.read_at, seen_at = EXCLUDED.seen_at, lifetime_ms = EXCLUDED.lifetime_ms",
      {options_.identity, *readAt, std::to_string(lifetime().count())});
  if (!recorded) {
    spdlog::warn("shard map: cannot record this pool's read of {} in pgswarm.map_readers: {}",
                 reader.database, recorded.error().message);
    return;
  }
  if (reader.expired) spdlog::info("shard map: routes of {} recorded again", reader.database);
  reader.expired = false;
  reader.recorded = now;
  reader.confirmed = now;
}

// How long a `shard move` must count on this reader after its last record:
// it expires its routes expireAfter after it, noticed within a period.
std::chrono::milliseconds MapWatcher::lifetime() const {
  return options_.expireAfter + 2 * options_.period + std::chrono::milliseconds(5000);
}

std::optional<MapWatcher::CatalogRead> MapWatcher::read(Reader& reader,
                                                        const CoordinatorAddress& address) {
  if (reader.address != address) {
    reader.conn.reset();
    reader.address = address;
  }
  std::optional<Error> failure;
  // A kept connection may have broken since the last refresh (a restart, a
  // failover): one retry on a fresh one tells that apart from a real failure.
  for (int attempt = 0; attempt < 2 && !thread_.stopping(); ++attempt) {
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
      if (routes->routes.tables.empty())
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
                             .connectTimeoutSeconds = wholeSeconds(options_.connectTimeout),
                             .tls = options_.tls});
  if (!conn) return conn;
  // The catalog queries are tiny: a coordinator that takes longer is stuck,
  // and the thread must stay free to stop.
  auto limit = static_cast<int>(std::max<std::int64_t>(1000, options_.connectTimeout.count()));
  if (auto set = conn->setStatementTimeout(limit); !set) return set.error();
  return conn;
}

Result<MapWatcher::CatalogRead> MapWatcher::readCatalog(cluster::PgConnection& conn) const {
  // One snapshot for the tables, their partitions, holds and defaults; it
  // is taken after the transaction's start, which now() reports.
  if (auto begun = conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !begun) {
    return begun.error();
  }
  auto read = [&]() -> Result<CatalogRead> {
    auto clock = conn.query(
        "SELECT CASE WHEN to_regclass('pgswarm.map_readers') IS NULL THEN '' "
        "ELSE now()::text END AS read_at");
    if (!clock) return clock.error();
    auto tables = loadAllTables(conn);
    if (!tables) return tables.error();
    SequenceDefaults defaults;
    if (anyDone(*tables)) {
      auto loaded = loadSequenceDefaults(conn);
      if (!loaded) return loaded.error();
      defaults = std::move(*loaded);
    }
    CatalogRead catalog{.routes = compileRoutes(*tables, options_.groups, defaults),
                        .readAt = clock->text(0, "read_at")};
    if (auto estimated = addRowEstimates(conn, catalog.routes); !estimated) {
      return estimated.error();
    }
    if (auto named = addLocalNames(conn, catalog.routes); !named) return named.error();
    return catalog;
  }();
  auto ended = conn.execute(read ? "COMMIT" : "ROLLBACK");
  if (!read) return read;
  if (!ended) return ended.error();
  // Outside the snapshot: see loadOperations.
  auto operations = loadOperations(conn);
  if (!operations) return operations.error();
  read->operations = std::move(*operations);
  return read;
}

}  // namespace pgswarm::shard
