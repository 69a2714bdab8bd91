// Keeps the pool's shard map current: a thread that reads the coordinator's
// pgswarm catalog (shard_catalog.hpp) in each configured database every
// `period` over libpq (never the data path), compiles it (routing.hpp) and
// publishes an immutable ShardMap when it changed. Readers on the hot path
// compare version() (one atomic load) and take current() only when it
// changed, as with the HealthMonitor.
// A `shard move` or `shard split` holds direct routing of its table
// (routing_hold.hpp) and waits until every live reader confirmed a map
// that has the hold: after publishing, the watcher records in
// pgswarm.map_readers the coordinator time of the catalog snapshot it
// published (at once when the routes changed, else every `confirmEvery`).
// A database whose catalog could not be read and confirmed for
// `expireAfter` loses its routes (everything goes through the coordinator):
// a move may proceed without a reader that is silent that long.
// The same read takes the running shard commands' progress
// (pgswarm.operations, shard_operations.hpp) for the dashboard; it never
// changes the map or its version.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/periodic_thread.hpp"
#include "common/result.hpp"
#include "shard/routing.hpp"
#include "shard/shard_operations.hpp"

namespace pgswarm::shard {

struct CoordinatorAddress {
  std::string host;
  int port = 5432;
  bool operator==(const CoordinatorAddress&) const = default;
};

struct MapWatcherOptions {
  std::vector<std::string> groups;     // the pool's shard group names, in shard_hosts order
  std::vector<std::string> databases;  // where catalogs are read
  // Where the coordinator's primary is now (the pool asks its health
  // monitor); nullopt while none is known: that refresh is skipped.
  std::function<std::optional<CoordinatorAddress>()> coordinator;
  std::string user = "postgres";
  std::string password;          // empty: libpq's own sources
  cluster::ConnectKeywords tls;  // the pool's server_tls_* in libpq's words
  std::string applicationName = "pgswarm shard map";
  std::chrono::milliseconds period{1000};
  std::chrono::milliseconds connectTimeout{2000};
  // This pool's name in pgswarm.map_readers; empty: host name and pid.
  std::string identity;
  std::chrono::milliseconds confirmEvery{10000};
  std::chrono::milliseconds expireAfter{30000};
};

class MapWatcher {
 public:
  explicit MapWatcher(MapWatcherOptions options);
  ~MapWatcher();  // stop()
  MapWatcher(const MapWatcher&) = delete;
  MapWatcher& operator=(const MapWatcher&) = delete;

  // The first refresh runs at once on the thread.
  void start();
  // Wakes the thread and joins it: at once while it sleeps, within a
  // connect timeout while it reads a catalog.
  void stop();
  // Reads now rather than at the next period (after a failed direct route).
  void requestRefresh();

  [[nodiscard]] std::shared_ptr<const ShardMap> current() const;
  [[nodiscard]] std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // The shard commands of every database as last read (a database whose
  // catalog cannot be read keeps its last rows), newest first per database.
  [[nodiscard]] std::vector<OperationRow> operations() const;

 private:
  using Clock = std::chrono::steady_clock;
  // One catalog snapshot: its routes, and the coordinator's clock when it
  // was taken (empty when the catalog has no pgswarm.map_readers yet).
  struct CatalogRead {
    ShardRoutes routes;
    std::string readAt;
    std::vector<OperationRow> operations;
  };
  // One configured database's catalog reader; only the thread touches it.
  struct Reader {
    std::string database;
    std::optional<CoordinatorAddress> address;  // where `conn` points
    std::optional<cluster::PgConnection> conn;  // kept between refreshes
    bool failing = false;                       // warned once in this failure streak
    std::optional<std::string> unconfirmed;     // readAt of a published, unrecorded read
    Clock::time_point confirmed;                // last read recorded (or needing no record)
    Clock::time_point recorded;                 // last write to pgswarm.map_readers
    bool expired = false;                       // routes dropped for silence
  };

  void refresh();
  void publish(std::map<std::string, ShardRoutes, std::less<>> databases);
  [[nodiscard]] std::chrono::milliseconds lifetime() const;
  // The database's routes, reconnecting once when a kept connection broke;
  // nullopt (logged) when the catalog cannot be read.
  std::optional<CatalogRead> read(Reader& reader, const CoordinatorAddress& address);
  [[nodiscard]] Result<CatalogRead> readCatalog(cluster::PgConnection& conn) const;
  // Records a published read in pgswarm.map_readers when it changed the
  // routes or the last record is older than confirmEvery.
  void confirm(Reader& reader, bool changed, Clock::time_point now);
  // A reader silent for expireAfter keeps no routes.
  void expire(Reader& reader, std::map<std::string, ShardRoutes, std::less<>>& databases,
              Clock::time_point now);
  [[nodiscard]] Result<cluster::PgConnection> connect(const Reader& reader,
                                                      const CoordinatorAddress& address) const;

  const MapWatcherOptions options_;
  mutable std::mutex mutex_;  // guards current_ and operations_
  std::shared_ptr<const ShardMap> current_;
  std::atomic<std::uint64_t> version_{0};
  std::map<std::string, std::vector<OperationRow>> operations_;  // by database
  std::vector<Reader> readers_;    // made by the constructor, then the thread's
  common::PeriodicThread thread_;  // runs refresh(); last: stopped first
};

}  // namespace pgswarm::shard
