// The shard map with live figures: see shard_status.hpp.
#include "shard/shard_status.hpp"

#include <algorithm>
#include <map>

#include "shard/progress.hpp"
#include "shard/table_definition.hpp"

namespace pgswarm::shard {
namespace {

Result<std::pair<std::int64_t, std::int64_t>> figures(cluster::PgConnection& conn,
                                                      const std::string& relation) {
  auto rows = conn.query(fmt::format("SELECT (SELECT count(*) FROM {})::text AS n, "
                                     "pg_total_relation_size($1::regclass)::text AS bytes",
                                     relation),
                         {relation});
  if (!rows) return rows.error();
  return std::pair<std::int64_t, std::int64_t>{std::stoll(rows->text(0, "n")),
                                               std::stoll(rows->text(0, "bytes"))};
}

class FigureReader {
 public:
  FigureReader(cluster::PgConnection& coordinator, cluster::ConnectTarget base,
               const std::vector<ShardNode>& nodes)
      : coordinator_(coordinator), base_(std::move(base)), nodes_(nodes) {}

  PartitionFigures read(const StoredTable& stored, const Partition& partition) {
    PartitionFigures out{.partition = partition};
    const auto& map = stored.map;
    Result<cluster::PgConnection*> conn = &coordinator_;
    std::string relation = qualifiedName(map.schema, partition.name);
    if (!partition.local()) {
      conn = nodeConnection(stored, partition.node);
      relation = qualifiedName(map.schema, map.table);
    }
    if (!conn) {
      out.error = conn.error().message;
      return out;
    }
    auto values = figures(**conn, relation);
    if (!values) {
      out.error = values.error().message;
      return out;
    }
    out.rows = values->first;
    out.bytes = values->second;
    return out;
  }

 private:
  Result<cluster::PgConnection*> nodeConnection(const StoredTable& stored,
                                                const std::string& name) {
    if (auto it = connections_.find(name); it != connections_.end()) return &it->second;
    auto target = base_;
    auto given = std::find_if(nodes_.begin(), nodes_.end(),
                              [&](const ShardNode& n) { return n.name == name; });
    auto storedNode = std::find_if(stored.nodes.begin(), stored.nodes.end(),
                                   [&](const ShardNode& n) { return n.name == name; });
    const ShardNode* node = given != nodes_.end()              ? &*given
                            : storedNode != stored.nodes.end() ? &*storedNode
                                                               : nullptr;
    if (node == nullptr) return makeError("node {} is not known", name);
    target.host = node->host;
    target.port = node->port;
    target.connectTimeoutSeconds = 2;
    auto conn = cluster::PgConnection::connect(target);
    if (!conn) return conn.error();
    return &connections_.emplace(name, std::move(*conn)).first->second;
  }

  cluster::PgConnection& coordinator_;
  cluster::ConnectTarget base_;
  const std::vector<ShardNode>& nodes_;
  std::map<std::string, cluster::PgConnection> connections_;
};

}  // namespace

std::string describeBounds(const ShardedTable& table, const Partition& partition) {
  if (table.strategy == Strategy::kHash) {
    return fmt::format("remainder {} of {}", partition.remainder, table.modulus);
  }
  return fmt::format("[{}, {})", partition.from.value_or("MINVALUE"),
                     partition.to.value_or("MAXVALUE"));
}

Result<std::vector<TableStatus>> shardStatus(const cluster::ConnectTarget& coordinator,
                                             const std::vector<ShardNode>& nodes) {
  auto conn = cluster::PgConnection::connect(coordinator);
  if (!conn) return makeError("coordinator: {}", conn.error().message);
  auto tables = loadAllTables(*conn);
  if (!tables) return tables.error();
  FigureReader reader(*conn, coordinator, nodes);
  std::vector<TableStatus> statuses;
  for (auto& stored : *tables) {
    TableStatus status{.stored = stored};
    if (stored.state == JobState::kDone) {
      for (const auto& partition : stored.map.partitions) {
        status.partitions.push_back(reader.read(stored, partition));
      }
    } else {
      for (const auto& partition : stored.map.partitions) {
        status.partitions.push_back(PartitionFigures{.partition = partition});
      }
    }
    statuses.push_back(std::move(status));
  }
  return statuses;
}

Result<std::string> shardStatusText(const cluster::ConnectTarget& coordinator,
                                    const std::vector<ShardNode>& nodes) {
  auto statuses = shardStatus(coordinator, nodes);
  if (!statuses) return statuses.error();
  if (statuses->empty()) return std::string("no sharded or partitioned tables\n");
  std::string text;
  for (const auto& status : *statuses) {
    const auto& map = status.stored.map;
    bool done = status.stored.state == JobState::kDone;
    text +=
        fmt::format("{}.{}  key {} ({})  {} partitioned, {} partitions{}\n", map.schema, map.table,
                    map.keyColumn, map.keyType, toString(map.strategy), map.partitions.size(),
                    done ? "" : "  [shard create interrupted: rerun it to finish]");
    text += fmt::format("  {:<28} {:<12} {:<28} {:>12} {:>10}\n", "partition", "node", "bounds",
                        "rows", "size");
    for (const auto& figures : status.partitions) {
      const auto& partition = figures.partition;
      std::string rows = figures.rows ? std::to_string(*figures.rows) : "-";
      std::string size = figures.bytes ? CopyProgressBar::humanBytes(*figures.bytes) : "-";
      text += fmt::format("  {:<28} {:<12} {:<28} {:>12} {:>10}{}\n", partition.name,
                          partition.local() ? "(local)" : partition.node,
                          describeBounds(map, partition), rows, size,
                          figures.error.empty() ? "" : "  " + figures.error);
    }
  }
  return text;
}

}  // namespace pgswarm::shard
