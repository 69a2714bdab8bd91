// Data movement primitives: see movement.hpp.
#include "shard/movement.hpp"

#include <algorithm>

#include "shard/progress.hpp"

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
      [&](const cluster::CopyProgress& done) { bar.update(done); });
  if (!copied) {
    (void)job.target.execute("ROLLBACK");
    return makeError("copying {}: {}", job.label, copied.error().message);
  }
  if (auto ok = job.target.execute("COMMIT"); !ok) return ok.error();
  bar.finish(*copied);
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
