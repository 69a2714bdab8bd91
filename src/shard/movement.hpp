// The pieces every data movement of shard/ is made of (`shard create`,
// `shard move`, `shard split`): stable connections, row checksums, a COPY of a row set into
// an emptied table with a progress bar, foreign servers for shard nodes.
// One copy of each, so that what create verifies and what move verifies
// are computed the same way.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/shard_catalog.hpp"
#include "shard/shard_operations.hpp"

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
// `label` sized for `expectedRows`; the same progress goes to `operation`
// (the command's row in pgswarm.operations, for the pools' dashboards).
struct CopyJob {
  cluster::PgConnection& source;
  std::string selectSql;
  cluster::PgConnection& target;
  std::string destination;  // qualified table name on the target
  std::string label;
  std::int64_t expectedRows = 0;
  OperationRecorder* operation = nullptr;
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

// A partition of a sharded table whose `shard create` finished, found by
// its name (as `shard status` shows it) in the coordinator's catalog.
struct LocatedPartition {
  ShardedTable map;
  std::size_t position = 0;
};
[[nodiscard]] Result<LocatedPartition> locatePartition(cluster::PgConnection& coordinator,
                                                       const std::string& name);

// Where a partition's rows are: a connection and the relation there.
struct Place {
  cluster::PgConnection* conn = nullptr;
  std::string relation;
};

// The two ends of one partition's rows moving (`shard move`, `shard
// split`): `from` where they are (the coordinator's own connection for a
// local partition, the shard node's otherwise, where the table keeps the
// table's name) and `to` where they go (a second coordinator connection,
// or the target node's), open for the whole run.
class TransferEnds {
 public:
  [[nodiscard]] Status open(cluster::PgConnection& coordinator,
                            const cluster::ConnectTarget& credentials,
                            const std::vector<ShardNode>& nodes, const ShardedTable& map,
                            const Partition& source, const Partition& destination);
  // Creates `to`'s table like the source partition (its definition where
  // it is now, with every index), followed by `then`, unless a leftover of
  // an interrupted run is there: that one is reused (the copy empties it).
  // True when it was created.
  [[nodiscard]] Result<bool> createDestination(const ShardedTable& map, const Partition& source,
                                               bool local, const std::vector<std::string>& then);

  // Under the caller's freeze: count and checksum of the rows `where`
  // selects at `from` (empty: all) against all of `to`'s; when they differ
  // (written to since the copy), `recopy` copies them again, once. Says
  // what it finds on `progress`, naming the two ends `sourceName` and
  // `destinationName`; returns the verified rows' figures.
  [[nodiscard]] Result<Checksum> verify(const std::string& where, const std::string& sourceName,
                                        const std::string& destinationName,
                                        const std::function<Status(std::int64_t rows)>& recopy,
                                        std::ostream& progress);

  Place from;
  Place to;

 private:
  std::deque<cluster::PgConnection> connections_;  // stable addresses for Place
};

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
