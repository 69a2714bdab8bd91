// The pieces every data movement of shard/ is made of (`shard create`,
// `shard move`, `shard split`): stable connections, row checksums, a COPY of a row set into
// an emptied table with a progress bar, foreign servers for shard nodes.
// One copy of each, so that what create verifies and what move verifies
// are computed the same way.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/shard_catalog.hpp"

namespace pgswarm::shard {

// A connection whose text output of every type is fixed (dates, floats,
// time zone, bytea), so row checksums taken on two servers can agree.
[[nodiscard]] Result<cluster::PgConnection> connectStable(const cluster::ConnectTarget& target);

[[nodiscard]] Status runAll(cluster::PgConnection& conn,
                            const std::vector<std::string>& statements);
[[nodiscard]] Result<bool> relationExists(cluster::PgConnection& conn,
                                          const std::string& qualified);

// Row count and an order-independent checksum (the sum of
// hashtextextended(row::text, 0)) of the rows of `from` that satisfy `where`
// (empty: all of them).
struct Checksum {
  std::int64_t rows = 0;
  std::string sum;
  bool operator==(const Checksum&) const = default;
};
[[nodiscard]] Result<Checksum> checksumOf(cluster::PgConnection& conn, const std::string& from,
                                          const std::string& where);

// Rows `selectSql` returns on `source`, copied into `destination` on `target`
// after emptying it, in one transaction there, with a progress bar labelled
// `label` sized for `expectedRows`.
struct CopyJob {
  cluster::PgConnection& source;
  std::string selectSql;
  cluster::PgConnection& target;
  std::string destination;  // qualified table name on the target
  std::string label;
  std::int64_t expectedRows = 0;
};
[[nodiscard]] Result<cluster::CopyProgress> copyRows(const CopyJob& job, std::ostream& progress,
                                                     bool tty);

// Opens a transaction on `conn` holding a SHARE lock on `relation` (`only`:
// not its partitions): reads go on, writes wait until the caller commits or
// rolls back. Gives up after 30 s of waiting for running writers, leaving
// the failed transaction for the caller to roll back (or to drop with the
// connection).
[[nodiscard]] Status lockForShare(cluster::PgConnection& conn, const std::string& relation,
                                  bool only);

// A new coordinator connection holding lockForShare's lock on `relation`.
[[nodiscard]] Result<cluster::PgConnection> freezeWrites(const cluster::ConnectTarget& coordinator,
                                                         const std::string& relation, bool only);

// The node named `name` in `nodes`, or nullptr.
[[nodiscard]] const ShardNode* findNode(const std::vector<ShardNode>& nodes,
                                        const std::string& name);

// pgswarm_<node>: the coordinator's postgres_fdw server for a shard node.
[[nodiscard]] std::string serverName(const ShardNode& node);

// Creates (or re-aims at the node's current address) the node's foreign
// server and the current user's mapping with `credentials`' user and password.
[[nodiscard]] Status ensureForeignServer(cluster::PgConnection& coordinator, const ShardNode& node,
                                         const cluster::ConnectTarget& credentials);

// A connection to `node` with the coordinator's credentials and database;
// the database is created there when missing.
[[nodiscard]] Result<cluster::PgConnection> connectNode(const ShardNode& node,
                                                        const cluster::ConnectTarget& coordinator);

}  // namespace pgswarm::shard
