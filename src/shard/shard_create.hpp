// `pgswarm shard create`: turns an ordinary table on the coordinator into a
// partitioned one whose partitions stay local or live on shard nodes as
// postgres_fdw foreign tables, without ever putting the original at risk:
//
//   plan      read the table's definition, choose the partitions, record
//             the job in the coordinator's pgswarm catalog;
//   build     foreign servers and user mappings, the same-named table on
//             each shard node, the new partitioned parent (TABLE_pgswarm_new)
//             with its local and foreign partitions;
//   copy      one COPY stream per partition, rows and bytes shown as they
//             go, each partition committed and marked copied on its own;
//   freeze    a SHARE lock on the original: reads go on, writes wait;
//   verify    row count and checksum of every partition against the
//             original's rows; a partition that differs (written to since
//             its copy, or half-copied) is copied again, under the lock;
//   swap      in the same transaction, the original is renamed
//             TABLE_pgswarm_old and the new parent takes its name;
//   finish    ANALYZE, and the old table dropped unless --keep-old.
//
// Until the swap commits, the original is untouched: killing the command
// at any point leaves it complete and in use, and a rerun picks the job up
// from the catalog (copied partitions are only verified again).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "cluster/pg_client.hpp"
#include "common/result.hpp"
#include "shard/shard_catalog.hpp"
#include "shard/shard_map.hpp"

namespace pgswarm::shard {

struct CreateOptions {
  std::string table;  // "schema.table" or "table"
  std::string keyColumn;
  Strategy strategy = Strategy::kRange;
  int partitions = 0;
  std::vector<std::string> splitPoints;  // --ranges
  int keepLocal = 0;                     // --local sets it to `partitions`
  bool keepOld = false;
  // Where the coordinator is, and the credentials used for it, for every
  // shard node, and in the user mappings (a superuser of the cluster).
  cluster::ConnectTarget coordinator;
  std::vector<ShardNode> nodes;  // shard nodes to place partitions on, in order
};

struct CreateReport {
  ShardedTable map;
  std::int64_t rows = 0;
  bool resumed = false;
};

[[nodiscard]] Result<CreateReport> createShardedTable(const CreateOptions& options,
                                                      std::ostream& progress, bool tty);

}  // namespace pgswarm::shard
