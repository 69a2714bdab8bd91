// Data movement primitives: see movement.hpp.
#include "shard/movement.hpp"

#include <algorithm>

#include "shard/progress.hpp"
#include "shard/table_definition.hpp"

namespace pgswarm::shard {
namespace {

using cluster::PgConnection;
using cluster::quoteIdentifier;
using cluster::quoteLiteral;

// postgres_fdw options for the coordinator path (docs/sharding.md): big
// fetches for scans, batched inserts, foreign partitions scanned
// concurrently by Append.
constexpr const char* kFreezeLockTimeout = "30s";
constexpr const char* kServerOptions =
    "fetch_size '10000', batch_size '1000', async_capable 'true'";

Status createDatabase(const cluster::ConnectTarget& target) {
  cluster::ConnectTarget maintenance = target;
  maintenance.dbname = "postgres";
  auto conn = PgConnection::connect(maintenance);
  if (!conn) return conn.error();
  auto exists = conn->query("SELECT 1 FROM pg_database WHERE datname = $1", {target.dbname});
  if (!exists || !exists->empty()) return makeError("database exists but refuses connections");
  return conn->execute("CREATE DATABASE " + quoteIdentifier(target.dbname));
}

}  // namespace

Result<PgConnection> connectStable(const cluster::ConnectTarget& target) {
  auto conn = PgConnection::connect(target);
  if (!conn) return conn;
  auto fixed = runAll(
      *conn, {"SET DateStyle = 'ISO, MDY'", "SET IntervalStyle = 'postgres'",
              "SET extra_float_digits = 3", "SET TimeZone = 'UTC'", "SET bytea_output = 'hex'",
              "SET statement_timeout = 0", "SET client_min_messages = warning"});
  if (!fixed) return fixed.error();
  return conn;
}

Status runAll(PgConnection& conn, const std::vector<std::string>& statements) {
  for (const auto& sql : statements) {
    if (auto done = conn.execute(sql); !done) return makeError("{}: {}", sql, done.error().message);
  }
  return Ok{};
}

Result<bool> relationExists(PgConnection& conn, const std::string& qualified) {
  auto rows = conn.query("SELECT to_regclass($1) IS NOT NULL AS present", {qualified});
  if (!rows) return rows.error();
  return rows->text(0, "present") == "t";
}

Result<Checksum> checksumOf(PgConnection& conn, const std::string& from, const std::string& where) {
  auto rows = conn.query(fmt::format(
      "SELECT count(*)::text AS n, coalesce(sum(hashtextextended(pgswarm_row::text, 0)), 0)::text "
      "AS sum FROM {} pgswarm_row{}",
      from, where.empty() ? "" : " WHERE " + where));
  if (!rows) return rows.error();
  return Checksum{std::stoll(rows->text(0, "n")), rows->text(0, "sum")};
}

Result<cluster::CopyProgress> copyRows(const CopyJob& job, std::ostream& progress, bool tty) {
  if (auto ok = runAll(job.target, {"BEGIN", "TRUNCATE " + job.destination}); !ok) {
    return ok.error();
  }
  CopyProgressBar bar(job.label, job.expectedRows, progress, tty);
  auto copied = job.source.copyInto(
      job.target, fmt::format("COPY ({}) TO STDOUT (FORMAT binary)", job.selectSql),
      fmt::format("COPY {} FROM STDIN (FORMAT binary)", job.destination),
      [&](const cluster::CopyProgress& done) {
        bar.update(done);
        if (job.operation != nullptr) job.operation->copied(done);
      });
  if (!copied) {
    (void)job.target.execute("ROLLBACK");
    return makeError("copying {}: {}", job.label, copied.error().message);
  }
  if (auto ok = job.target.execute("COMMIT"); !ok) return ok.error();
  bar.finish(*copied);
  if (job.operation != nullptr) job.operation->copyEnded(*copied);
  return copied;
}

Result<PgConnection> freezeWrites(const cluster::ConnectTarget& coordinator,
                                  const std::string& relation, bool only) {
  auto conn = connectStable(coordinator);
  if (!conn) return conn;
  if (auto frozen = lockForShare(*conn, relation, only); !frozen) return frozen.error();
  return conn;
}

Status lockForShare(PgConnection& conn, const std::string& relation, bool only) {
  auto frozen =
      runAll(conn, {"BEGIN", fmt::format("SET LOCAL lock_timeout = '{}'", kFreezeLockTimeout),
                    fmt::format("LOCK TABLE {}{} IN SHARE MODE", only ? "ONLY " : "", relation)});
  if (!frozen) return makeError("cannot freeze writes to {}: {}", relation, frozen.error().message);
  return Ok{};
}

Result<LocatedPartition> locatePartition(PgConnection& coordinator, const std::string& name) {
  auto tables = loadAllTables(coordinator);
  if (!tables) return tables.error();
  for (auto& stored : *tables) {
    for (std::size_t i = 0; i < stored.map.partitions.size(); ++i) {
      if (stored.map.partitions[i].name != name) continue;
      if (stored.state != JobState::kDone) {
        return makeError("{}.{} is still being sharded: finish its shard create first",
                         stored.map.schema, stored.map.table);
      }
      return LocatedPartition{.map = std::move(stored.map), .position = i};
    }
  }
  return makeError("no partition named {} in the shard catalog (see pgswarm shard status)", name);
}

Status TransferEnds::open(PgConnection& coordinator, const cluster::ConnectTarget& credentials,
                          const std::vector<ShardNode>& nodes, const ShardedTable& map,
                          const Partition& source, const Partition& destination) {
  auto onNode = [&](const Partition& partition) -> Result<Place> {
    const ShardNode* node = findNode(nodes, partition.node);
    if (node == nullptr) {
      return makeError("{}'s node {} is not known here", partition.name, partition.node);
    }
    auto conn = connectNode(*node, credentials);
    if (!conn) return conn.error();
    return Place{&connections_.emplace_back(std::move(*conn)),
                 qualifiedName(map.schema, map.table)};
  };
  if (source.local()) {
    from = Place{&coordinator, qualifiedName(map.schema, source.name)};
  } else {
    auto place = onNode(source);
    if (!place) return place.error();
    from = *place;
  }
  if (destination.local()) {
    auto conn = connectStable(credentials);
    if (!conn) return conn.error();
    to = Place{&connections_.emplace_back(std::move(*conn)),
               qualifiedName(map.schema, destination.name)};
  } else {
    auto place = onNode(destination);
    if (!place) return place.error();
    to = *place;
  }
  return Ok{};
}

Result<bool> TransferEnds::createDestination(const ShardedTable& map, const Partition& source,
                                             bool local, const std::vector<std::string>& then) {
  auto definition =
      readTableDefinition(*from.conn, map.schema, source.local() ? source.name : map.table,
                          map.keyColumn, source.local());
  if (!definition) return definition.error();
  auto exists = relationExists(*to.conn, to.relation);
  if (!exists) return exists.error();
  if (*exists) return false;
  std::vector<std::string> statements{"CREATE SCHEMA IF NOT EXISTS " + quoteIdentifier(map.schema)};
  auto table = createTableDdl(*definition, to.relation, local);
  statements.insert(statements.end(), table.begin(), table.end());
  statements.insert(statements.end(), then.begin(), then.end());
  if (auto ok = runAll(*to.conn, statements); !ok) return ok.error();
  return true;
}

Result<Checksum> TransferEnds::verify(const std::string& where, const std::string& sourceName,
                                      const std::string& destinationName,
                                      const std::function<Status(std::int64_t rows)>& recopy,
                                      std::ostream& progress) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto source = checksumOf(*from.conn, from.relation, where);
    if (!source) return source.error();
    auto target = checksumOf(*to.conn, to.relation, "");
    if (!target) return target.error();
    if (*source == *target) {
      progress << fmt::format("{} verified: {} rows, checksum {}\n", destinationName, source->rows,
                              source->sum);
      return *source;
    }
    if (attempt == 0) {
      progress << sourceName << " was written to during the copy: copying it again\n";
      if (auto ok = recopy(source->rows); !ok) return ok.error();
    }
  }
  return makeError("{} still differs from {} after a fresh copy", destinationName, sourceName);
}

const ShardNode* findNode(const std::vector<ShardNode>& nodes, const std::string& name) {
  auto node =
      std::find_if(nodes.begin(), nodes.end(), [&](const ShardNode& n) { return n.name == name; });
  return node == nodes.end() ? nullptr : &*node;
}

std::string serverName(const ShardNode& node) {
  return "pgswarm_" + node.name;
}

Status ensureForeignServer(PgConnection& coordinator, const ShardNode& node,
                           const cluster::ConnectTarget& credentials) {
  if (auto ok = coordinator.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw"); !ok) return ok;
  auto server = quoteIdentifier(serverName(node));
  auto exists =
      coordinator.query("SELECT 1 FROM pg_foreign_server WHERE srvname = $1", {serverName(node)});
  if (!exists) return exists.error();
  auto host = quoteLiteral(node.host);
  auto port = quoteLiteral(std::to_string(node.port));
  std::vector<std::string> statements;
  if (exists->empty()) {
    statements.push_back(fmt::format(
        "CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host {}, port {}, dbname {}, "
        "{})",
        server, host, port, quoteLiteral(credentials.dbname), kServerOptions));
  } else {
    statements.push_back(
        fmt::format("ALTER SERVER {} OPTIONS (SET host {}, SET port {})", server, host, port));
  }
  auto user = quoteLiteral(credentials.user);
  auto password = quoteLiteral(credentials.password);
  statements.push_back(fmt::format(
      "CREATE USER MAPPING IF NOT EXISTS FOR CURRENT_USER SERVER {} OPTIONS (user {}, password {})",
      server, user, password));
  statements.push_back(fmt::format(
      "ALTER USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS (SET user {}, SET password {})",
      server, user, password));
  return runAll(coordinator, statements);
}

Result<PgConnection> connectNode(const ShardNode& node, const cluster::ConnectTarget& coordinator) {
  cluster::ConnectTarget target = coordinator;
  target.host = node.host;
  target.port = node.port;
  auto conn = connectStable(target);
  if (conn) return conn;
  if (auto created = createDatabase(target); !created) {
    return makeError("{}: {}", node.name, conn.error().message);
  }
  conn = connectStable(target);
  if (!conn) return makeError("{}: {}", node.name, conn.error().message);
  return conn;
}

}  // namespace pgswarm::shard
