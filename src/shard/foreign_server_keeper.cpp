// The coordinator's foreign servers follow shard failovers: see
// foreign_server_keeper.hpp. Control plane only (libpq), and it connects
// only when a group's primary differs from the one last confirmed.
#include "shard/foreign_server_keeper.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "shard/movement.hpp"

namespace pgswarm::shard {
namespace {

using cluster::quoteIdentifier;
using cluster::quoteLiteral;

// One row per option; a server without options gives one row of NULLs, so
// no rows at all means there is no such server.
constexpr const char* kServerOptionsQuery = R"(
SELECT o.option_name, o.option_value
FROM pg_catalog.pg_foreign_server s
LEFT JOIN LATERAL pg_catalog.pg_options_to_table(s.srvoptions) o ON true
WHERE s.srvname = $1)";

// The catalog's partitions on the node keep its address for `shard status`
// and the data movement commands; only rows that differ are touched.
constexpr const char* kCatalogUpdate = R"(
UPDATE pgswarm.shards SET host = $2, port = $3::int
WHERE node = $1 AND (host IS DISTINCT FROM $2 OR port IS DISTINCT FROM $3::int))";

std::string addressOf(const ShardNode& node) {
  return node.host + ":" + std::to_string(node.port);
}

}  // namespace

std::optional<std::string> repointStatement(const std::string& server,
                                            const std::map<std::string, std::string>& options,
                                            const std::string& host, int port) {
  auto portText = std::to_string(port);
  std::string changes;
  for (const auto& [name, wanted] : {std::pair{"host", host}, std::pair{"port", portText}}) {
    auto found = options.find(name);
    if (found != options.end() && found->second == wanted) continue;
    changes += fmt::format("{}{} {} {}", changes.empty() ? "" : ", ",
                           found == options.end() ? "ADD" : "SET", name, quoteLiteral(wanted));
  }
  if (changes.empty()) return std::nullopt;
  return fmt::format("ALTER SERVER {} OPTIONS ({})", quoteIdentifier(server), changes);
}

ForeignServerKeeper::ForeignServerKeeper(ForeignServerKeeperOptions options)
    : options_(std::move(options)),
      confirmed_(options_.groups.size()),
      failing_(options_.groups.size(), false) {}

ForeignServerKeeper::~ForeignServerKeeper() {
  stop();
}

void ForeignServerKeeper::start() {
  thread_.start(options_.period, [this] { check(); });
}

void ForeignServerKeeper::stop() {
  thread_.stop();
}

void ForeignServerKeeper::checkNow() {
  thread_.nudge();
}

std::optional<ShardNode> ForeignServerKeeper::confirmed(std::size_t group) const {
  std::lock_guard lock(mutex_);
  return group < confirmed_.size() ? confirmed_[group] : std::nullopt;
}

void ForeignServerKeeper::check() {
  auto coordinator = options_.coordinator ? options_.coordinator() : std::nullopt;
  if (!coordinator) return;
  // A new coordinator primary may lack what the old one committed last
  // (asynchronous replication): everything is confirmed again there.
  if (coordinator != confirmedOn_) {
    std::lock_guard lock(mutex_);
    std::fill(confirmed_.begin(), confirmed_.end(), std::nullopt);
    confirmedOn_ = coordinator;
  }
  for (std::size_t group = 0; group < options_.groups.size() && !thread_.stopping(); ++group) {
    auto primary = options_.primaryOf(group);
    // Only this thread writes confirmed_, so it reads it unlocked.
    if (!primary || primary == confirmed_[group]) continue;
    if (!reconcile(*coordinator, group, *primary)) continue;
    std::lock_guard lock(mutex_);
    confirmed_[group] = primary;
  }
}

bool ForeignServerKeeper::reconcile(const CoordinatorAddress& coordinator, std::size_t group,
                                    const ShardNode& primary) {
  bool agreed = true;
  for (const auto& database : options_.databases) {
    auto changed = reconcileIn(coordinator, database, primary);
    if (!changed) {
      agreed = false;
      // Logged once per failure streak: it is retried every period.
      if (!failing_[group]) {
        spdlog::warn(
            "shard failover: cannot point {} at {} on the coordinator {}:{} (database {}), "
            "retrying: {}",
            serverName(primary), addressOf(primary), coordinator.host, coordinator.port, database,
            changed.error().message);
      }
      continue;
    }
    if (!*changed) continue;
    auto line = fmt::format("{}: coordinator's server {} now points at {} (database {})",
                            primary.name, serverName(primary), addressOf(primary), database);
    spdlog::warn("shard failover: {}", line);
    if (options_.events) options_.events->add("shard", addressOf(primary), line);
  }
  failing_[group] = !agreed;
  return agreed;
}

Result<bool> ForeignServerKeeper::reconcileIn(const CoordinatorAddress& coordinator,
                                              const std::string& database,
                                              const ShardNode& primary) {
  cluster::ConnectTarget target{.host = coordinator.host,
                                .port = coordinator.port,
                                .user = options_.user,
                                .password = options_.password,
                                .dbname = database,
                                .applicationName = options_.applicationName,
                                .connectTimeoutSeconds = static_cast<int>(std::max<std::int64_t>(
                                    1, (options_.connectTimeout.count() + 999) / 1000)),
                                .tls = options_.tls};
  auto conn = cluster::PgConnection::connect(target);
  if (!conn) return conn.error();
  auto server = serverName(primary);
  auto rows = conn->query(kServerOptionsQuery, {server});
  if (!rows) return rows.error();
  if (rows->empty()) return false;  // no table of this database lives there
  std::map<std::string, std::string> current;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    if (auto name = rows->get(i, "option_name")) current[*name] = rows->text(i, "option_value");
  }
  auto alter = repointStatement(server, current, primary.host, primary.port);
  if (!alter) return false;
  std::vector<std::string> statements{"BEGIN", *alter};
  auto catalog = conn->query("SELECT to_regclass('pgswarm.shards') IS NOT NULL AS present");
  if (!catalog) return catalog.error();
  if (auto ok = runAll(*conn, statements); !ok) return ok.error();
  if (catalog->text(0, "present") == "t") {
    auto updated =
        conn->execute(kCatalogUpdate, {primary.name, primary.host, std::to_string(primary.port)});
    if (!updated) return updated.error();
  }
  if (auto committed = conn->execute("COMMIT"); !committed) return committed.error();
  return true;
}

}  // namespace pgswarm::shard
