// The admin console's language and views: parses one console command and
// renders each SHOW as a result table in PgBouncer's column style, from a
// ProxySnapshot. Pure: no sockets, no workers, no clock except what the
// snapshot carries; admin_console.cpp does the I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "proxy/pool_config.hpp"
#include "proxy/pool_snapshot.hpp"

namespace pgswarm::proxy {

enum class AdminCommand {
  kShowPools,
  kShowDatabases,  // per database: its pool sizes and caps, server connections now
  kShowClients,
  kShowServers,
  kShowStats,   // per database
  kShowTotals,  // the whole process
  kShowConfig,
  kShowLists,
  kShowNodes,
  kShowFailover,
  kShowShards,    // the shard groups' nodes and what was routed to them
  kShowShardMap,  // the partitions of every sharded table the pool routes by
  kShowVersion,
  kShowHelp,
  kReload,  // re-read the users, the hba file and the pool sizes, as SIGHUP does
  kPause,   // new transactions wait until RESUME
  kResume,
  kPromote,     // PROMOTE 'node': the operator's failover override
  kSwitchover,  // SWITCHOVER ['node' | group]: a planned change of primary
  kEmpty,       // only blanks and semicolons: EmptyQueryResponse
  kUnknown,     // answered with 42601 and the command list
};

// Case-insensitive; blanks around words and trailing semicolons are ignored.
[[nodiscard]] AdminCommand parseAdminCommand(std::string_view sql);
// "SHOW POOLS|CLIENTS|...; RELOAD; PAUSE; RESUME" for hints and SHOW HELP.
[[nodiscard]] std::string adminCommandList();
// The one name after `verb` (upper case; PROMOTE, SWITCHOVER), quotes
// removed; nullopt when `sql` is not `verb` with exactly one name.
[[nodiscard]] std::optional<std::string> commandArgument(std::string_view sql,
                                                         std::string_view verb);

// A replication group SWITCHOVER and PROMOTE can act on: the
// coordinator's (name empty) or a shard group's, with its nodes' names as
// SHOW NODES, SHOW SHARDS and SHOW FAILOVER give them (host:port).
struct SwitchoverGroup {
  std::string name;
  std::vector<std::string> nodes;
};

// What SWITCHOVER asked for: an index into the groups it was given, and
// the node to promote (nullopt: the group's best replica).
struct SwitchoverChoice {
  std::size_t group = 0;
  std::optional<std::string> target;
};

// SWITCHOVER's one argument against `groups` (the coordinator's first):
// none is the coordinator's group; a node's name is that node's group, to
// that node; a shard group's name is that group, to its best replica. Node
// names win over group names. An unknown name is an error that says so.
[[nodiscard]] Result<SwitchoverChoice> chooseSwitchover(const std::vector<SwitchoverGroup>& groups,
                                                        const std::optional<std::string>& argument);
// PROMOTE's node against `groups` (the coordinator's first): the index of
// the group that has it. Only node names count (a promotion needs a node);
// an unknown one is an error that says so.
[[nodiscard]] Result<std::size_t> choosePromotion(const std::vector<SwitchoverGroup>& groups,
                                                  const std::string& node);

struct ResultColumn {
  std::string name;
  bool integer = false;  // int8 (oid 20) rather than text (oid 25)
};
using ResultRow = std::vector<std::optional<std::string>>;  // nullopt = NULL

struct ResultTable {
  std::vector<ResultColumn> columns;
  std::vector<ResultRow> rows;
};

[[nodiscard]] ResultTable showPools(const ProxySnapshot& snapshot, const PoolConfig& config);
// `config.sizes` must be the sizes in effect (ProxyShared::slots.sizes()).
[[nodiscard]] ResultTable showDatabases(const ProxySnapshot& snapshot, const PoolConfig& config);
[[nodiscard]] ResultTable showClients(const ProxySnapshot& snapshot);
[[nodiscard]] ResultTable showServers(const ProxySnapshot& snapshot);
[[nodiscard]] ResultTable showStats(const ProxySnapshot& snapshot);
[[nodiscard]] ResultTable showTotals(const ProxySnapshot& snapshot);
[[nodiscard]] ResultTable showConfig(const PoolConfig& config);
[[nodiscard]] ResultTable showLists(const ProxySnapshot& snapshot);
// Per node: role and health as the monitor saw them, whether it takes reads
// (or why not), lag, and the transactions routed there.
[[nodiscard]] ResultTable showNodes(const ProxySnapshot& snapshot, const PoolConfig& config);
[[nodiscard]] ResultTable showShards(const ProxySnapshot& snapshot);
[[nodiscard]] ResultTable showShardMap(const ProxySnapshot& snapshot);
[[nodiscard]] ResultTable showVersion();
[[nodiscard]] ResultTable showFailover(const ProxySnapshot& snapshot);
[[nodiscard]] std::string versionString();

// RowDescription, one DataRow per row and CommandComplete `tag`, appended to `out`.
void encodeResult(const ResultTable& table, std::string_view tag, std::string& out);

// "2024-05-01 12:00:00 UTC", as PgBouncer prints times.
[[nodiscard]] std::string formatTime(WallClock::time_point time);

}  // namespace pgswarm::proxy
