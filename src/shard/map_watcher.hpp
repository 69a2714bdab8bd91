// Keeps the pool's shard map current: a thread that reads the coordinator's
// pgswarm catalog (shard_catalog.hpp) in each configured database every
// `period` over libpq (never the data path), compiles it (routing.hpp) and
// publishes an immutable ShardMap when it changed. Readers on the hot path
// compare version() (one atomic load) and take current() only when it
// changed, as with the HealthMonitor. A catalog that cannot be read keeps
// the last map: shards change only through the coordinator, so a map is
// stale only after a `shard move` or `shard split`, for at most one period.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/routing.hpp"

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
  std::string password;  // empty: libpq's own sources
  std::string applicationName = "pgswarm shard map";
  std::chrono::milliseconds period{1000};
  std::chrono::milliseconds connectTimeout{2000};
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

 private:
  // One configured database's catalog reader; only the thread touches it.
  struct Reader {
    std::string database;
    std::optional<CoordinatorAddress> address;  // where `conn` points
    std::optional<cluster::PgConnection> conn;  // kept between refreshes
    bool failing = false;                       // warned once in this failure streak
  };

  void loop();
  void refresh();
  // The database's routes, reconnecting once when a kept connection broke;
  // nullopt (logged) when the catalog cannot be read.
  std::optional<ShardRoutes> read(Reader& reader, const CoordinatorAddress& address);
  [[nodiscard]] Result<ShardRoutes> readCatalog(cluster::PgConnection& conn) const;
  [[nodiscard]] Result<cluster::PgConnection> connect(const Reader& reader,
                                                      const CoordinatorAddress& address) const;
  [[nodiscard]] bool stopping() const;

  const MapWatcherOptions options_;
  mutable std::mutex mutex_;
  std::shared_ptr<const ShardMap> current_;
  std::atomic<std::uint64_t> version_{0};
  std::condition_variable wake_;
  bool stopping_ = false;
  bool refreshRequested_ = false;
  std::vector<Reader> readers_;
  std::thread thread_;
};

}  // namespace pgswarm::shard
