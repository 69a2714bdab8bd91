// `pgswarm shard create|move|split|status|setup`: sharding and local partitioning of a table
// on the local cluster (--dir: its coordinator and shard nodes, found by
// asking each node its role) or on nodes named by hand (--coordinator,
// --nodes). The work itself is in shard/.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "agent/local_cluster.hpp"
#include "cli/commands.hpp"
#include "cli/local_dir.hpp"
#include "cluster/pg_client.hpp"
#include "common/log.hpp"
#include "common/settings.hpp"
#include "shard/movement.hpp"
#include "shard/progress.hpp"
#include "shard/shard_catalog.hpp"
#include "shard/shard_create.hpp"
#include "shard/shard_move.hpp"
#include "shard/shard_split.hpp"
#include "shard/shard_status.hpp"

namespace pgswarm::cli {
namespace {

struct Placement {
  std::string dir;
  std::string coordinator;  // host:port, instead of --dir
  std::string nodes;        // name=host:port,...
  std::string user = "postgres";
  std::string passwordFile;
  std::string dbname = "postgres";
};

// The environment names let a container (the Swarm stack's pool and
// shard-setup services) carry the placement, so `pgswarm shard ...` run
// there needs no options; a flag still beats its variable.
void addPlacementOptions(CLI::App* command, Placement& placement) {
  addDirOption(command, placement.dir);
  command
      ->add_option("--coordinator", placement.coordinator,
                   "host:port of the coordinator, or host:port,host:port,... of its nodes (the "
                   "one that is primary is used), instead of the local cluster in --dir")
      ->envname("PGSWARM_SHARD_COORDINATOR");
  command
      ->add_option("--nodes", placement.nodes,
                   "shard nodes as name=host:port,... (with --coordinator)")
      ->envname("PGSWARM_SHARD_NODES");
  command->add_option("--user", placement.user, "superuser on every node")->capture_default_str();
  command
      ->add_option("--password-file", placement.passwordFile,
                   "its password (default: the local cluster's)")
      ->envname("PGSWARM_SHARD_PASSWORD_FILE");
  command->add_option("--dbname", placement.dbname, "database of the table")->capture_default_str();
}

Result<std::pair<std::string, int>> hostPort(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return makeError("'{}' is not host:port", text);
  }
  try {
    return std::pair{text.substr(0, colon), std::stoi(text.substr(colon + 1))};
  } catch (const std::exception&) {
    return makeError("'{}' is not host:port", text);
  }
}

// The node of a local replication group that is its primary now (a
// failover may have moved it off the node created as primary).
Result<const agent::LocalNode*> currentPrimary(const agent::LocalCluster& cluster,
                                               const std::string& group,
                                               const cluster::ConnectTarget& base) {
  std::string errors;
  for (const auto* node : cluster.groupNodes(group)) {
    auto target = base;
    target.host = "127.0.0.1";
    target.port = node->port;
    target.connectTimeoutSeconds = 2;
    auto conn = cluster::PgConnection::connect(target);
    if (!conn) {
      errors += fmt::format("; {}: {}", node->name, conn.error().message);
      continue;
    }
    auto rows = conn->query("SELECT pg_is_in_recovery()::text AS standby");
    if (rows && rows->text(0, "standby") == "false") return node;
  }
  return makeError("no primary answers in group '{}'{}", group.empty() ? "coordinator" : group,
                   errors);
}

struct Targets {
  cluster::ConnectTarget coordinator;
  std::vector<shard::ShardNode> nodes;
};

Result<Targets> localTargets(const Placement& placement, cluster::ConnectTarget base) {
  auto cluster = agent::loadLocalCluster(resolveDir(placement.dir));
  if (!cluster) return cluster.error();
  if (base.password.empty()) {
    auto password = readSecretFile(cluster->passwordPath());
    if (!password) return password.error();
    base.password = *password;
  }
  auto primary = currentPrimary(*cluster, "", base);
  if (!primary) return primary.error();
  Targets targets{.coordinator = base};
  targets.coordinator.host = "127.0.0.1";
  targets.coordinator.port = (*primary)->port;
  for (const auto& group : cluster->groups()) {
    if (group.empty()) continue;
    auto shardPrimary = currentPrimary(*cluster, group, base);
    if (!shardPrimary) return shardPrimary.error();
    targets.nodes.push_back(
        shard::ShardNode{.name = group, .host = "127.0.0.1", .port = (*shardPrimary)->port});
  }
  return targets;
}

// The coordinator among `list` (host:port,...): the one given, or of
// several (a replicated group, as the Swarm stack gives it) the one that
// is primary now.
Result<std::vector<std::pair<std::string, int>>> parseCoordinators(const std::string& list) {
  std::vector<std::pair<std::string, int>> candidates;
  std::stringstream entries(list);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    auto address = hostPort(entry);
    if (!address) return makeError("--coordinator: {}", address.error().message);
    candidates.push_back(*address);
  }
  if (candidates.empty()) return makeError("--coordinator is empty");
  return candidates;
}

Result<std::vector<shard::ShardNode>> parseNodes(const std::string& text) {
  std::vector<shard::ShardNode> nodes;
  std::stringstream list(text);
  std::string entry;
  while (std::getline(list, entry, ',')) {
    auto equals = entry.find('=');
    if (equals == std::string::npos) return makeError("--nodes: '{}' is not name=host:port", entry);
    auto address = hostPort(entry.substr(equals + 1));
    if (!address) return makeError("--nodes: {}", address.error().message);
    nodes.push_back(shard::ShardNode{
        .name = entry.substr(0, equals), .host = address->first, .port = address->second});
  }
  return nodes;
}

Result<std::pair<std::string, int>> coordinatorOf(const std::string& list,
                                                  const cluster::ConnectTarget& base) {
  auto candidates = parseCoordinators(list);
  if (!candidates) return candidates.error();
  if (candidates->size() == 1) return candidates->front();
  std::string errors;
  for (const auto& [host, port] : *candidates) {
    auto target = base;
    target.host = host;
    target.port = port;
    target.connectTimeoutSeconds = 2;
    auto conn = cluster::PgConnection::connect(target);
    if (!conn) {
      errors += fmt::format("; {}:{}: {}", host, port, conn.error().message);
      continue;
    }
    auto rows = conn->query("SELECT pg_is_in_recovery()::text AS standby");
    if (rows && rows->text(0, "standby") == "false") return std::pair{host, port};
    errors += fmt::format("; {}:{}: a standby", host, port);
  }
  return makeError("no primary among the coordinator's nodes {}{}", list, errors);
}

Result<Targets> givenTargets(const Placement& placement, cluster::ConnectTarget base) {
  if (base.password.empty()) return makeError("--coordinator needs --password-file");
  auto coordinator = coordinatorOf(placement.coordinator, base);
  if (!coordinator) return coordinator.error();
  auto nodes = parseNodes(placement.nodes);
  if (!nodes) return nodes.error();
  Targets targets{.coordinator = base, .nodes = std::move(*nodes)};
  std::tie(targets.coordinator.host, targets.coordinator.port) = *coordinator;
  return targets;
}

Result<Targets> resolveTargets(const Placement& placement, const std::string& applicationName) {
  cluster::ConnectTarget base{
      .user = placement.user, .dbname = placement.dbname, .applicationName = applicationName};
  if (!placement.passwordFile.empty()) {
    auto password = readSecretFile(placement.passwordFile);
    if (!password) return makeError("--password-file: {}", password.error().message);
    base.password = *password;
  }
  if (!placement.coordinator.empty()) return givenTargets(placement, base);
  return localTargets(placement, base);
}

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) items.push_back(item);
  return items;
}

struct CreateFlags {
  Placement placement;
  std::string table;
  std::string key;
  std::string strategy = "range";
  int shards = 0;
  int modulus = 0;
  std::string ranges;
  bool local = false;
  int keepLocal = 0;
  bool keepOld = false;
};

Result<shard::CreateOptions> createOptions(const CreateFlags& flags) {
  auto strategy = shard::parseStrategy(flags.strategy);
  if (!strategy) return strategy.error();
  int partitions = flags.shards;
  if (flags.modulus != 0) {
    if (*strategy != shard::Strategy::kHash) return makeError("--modulus is for --strategy hash");
    if (partitions != 0 && partitions != flags.modulus) {
      return makeError("--modulus {} and --shards {} disagree: a hash partition is one remainder",
                       flags.modulus, partitions);
    }
    partitions = flags.modulus;
  }
  if (partitions == 0) return makeError("--shards (how many partitions) is required");
  if (!flags.ranges.empty() && *strategy != shard::Strategy::kRange) {
    return makeError("--ranges is for --strategy range");
  }
  auto targets = resolveTargets(flags.placement, "pgswarm shard create");
  if (!targets) return targets.error();
  return shard::CreateOptions{.table = flags.table,
                              .keyColumn = flags.key,
                              .strategy = *strategy,
                              .partitions = partitions,
                              .splitPoints = splitList(flags.ranges),
                              .keepLocal = flags.local ? partitions : flags.keepLocal,
                              .keepOld = flags.keepOld,
                              .coordinator = targets->coordinator,
                              .nodes = targets->nodes};
}

CommandRunner addCreate(CLI::App* shard) {
  auto flags = std::make_shared<CreateFlags>();
  auto* command = shard->add_subcommand(
      "create", "partition a table, locally or across the shard nodes, and move its rows");
  command->add_option("table", flags->table, "the table, schema.table or table")->required();
  command->add_option("--key", flags->key, "the partition (shard) key column")->required();
  command->add_option("--strategy", flags->strategy, "range or hash")->capture_default_str();
  command->add_option("--shards", flags->shards, "how many partitions in all");
  command->add_option("--modulus", flags->modulus, "hash: the modulus (= partitions)");
  command->add_option("--ranges", flags->ranges,
                      "range: the split points a,b,c (default: an even split of min..max)");
  command->add_flag("--local", flags->local, "plain local partitioning on the coordinator");
  command
      ->add_option("--keep-local", flags->keepLocal, "how many partitions stay on the coordinator")
      ->capture_default_str();
  command->add_flag("--keep-old", flags->keepOld,
                    "keep the original table, renamed TABLE_pgswarm_old");
  addPlacementOptions(command, flags->placement);
  return [flags, command]() -> int {
    if (!command->parsed()) return -1;
    (void)setupLogging("warn", "shard");
    auto options = createOptions(*flags);
    if (!options) {
      std::cerr << "pgswarm shard create: " << options.error().message << "\n";
      return 2;
    }
    auto report = shard::createShardedTable(*options, std::cout, ::isatty(STDOUT_FILENO) == 1);
    if (!report) {
      std::cerr << "pgswarm shard create: " << report.error().message << "\n";
      return 1;
    }
    std::cout << fmt::format("done: {} rows in {} partitions{}\n", report->rows,
                             report->map.partitions.size(), report->resumed ? " (resumed)" : "");
    return 0;
  };
}

struct MoveFlags {
  Placement placement;
  std::string partition;
  std::string to;
  bool keepOld = false;
};

CommandRunner addMove(CLI::App* shard) {
  auto flags = std::make_shared<MoveFlags>();
  auto* command = shard->add_subcommand(
      "move", "move one partition to another shard node, or back to the coordinator");
  command->add_option("partition", flags->partition, "the partition, as shard status names it")
      ->required();
  command->add_option("--to", flags->to, "a shard node (shard2), or 'coordinator'")->required();
  command->add_flag("--keep-old", flags->keepOld, "keep the old copy (detached)");
  addPlacementOptions(command, flags->placement);
  return [flags, command]() -> int {
    if (!command->parsed()) return -1;
    (void)setupLogging("warn", "shard");
    auto targets = resolveTargets(flags->placement, "pgswarm shard move");
    if (!targets) {
      std::cerr << "pgswarm shard move: " << targets.error().message << "\n";
      return 2;
    }
    shard::MoveOptions options{.partition = flags->partition,
                               .to = flags->to,
                               .keepOld = flags->keepOld,
                               .coordinator = targets->coordinator,
                               .nodes = targets->nodes};
    auto report = shard::moveShard(options, std::cout, ::isatty(STDOUT_FILENO) == 1);
    if (!report) {
      std::cerr << "pgswarm shard move: " << report.error().message << "\n";
      return 1;
    }
    std::cout << fmt::format("done: {} rows moved\n", report->rows);
    return 0;
  };
}

struct SplitFlags {
  Placement placement;
  std::string partition;
  std::string at;
  std::string to;
};

CommandRunner addSplit(CLI::App* shard) {
  auto flags = std::make_shared<SplitFlags>();
  auto* command = shard->add_subcommand(
      "split", "cut a range partition in two at a key; the upper half becomes a new partition");
  command->add_option("partition", flags->partition, "the partition, as shard status names it")
      ->required();
  command->add_option("--at", flags->at, "the first key of the new partition (an integer)")
      ->required();
  command->add_option("--to", flags->to,
                      "where the new partition goes: a shard node without a partition of the "
                      "table, or 'coordinator' (default for a local partition)");
  addPlacementOptions(command, flags->placement);
  return [flags, command]() -> int {
    if (!command->parsed()) return -1;
    (void)setupLogging("warn", "shard");
    auto targets = resolveTargets(flags->placement, "pgswarm shard split");
    if (!targets) {
      std::cerr << "pgswarm shard split: " << targets.error().message << "\n";
      return 2;
    }
    shard::SplitOptions options{.partition = flags->partition,
                                .at = flags->at,
                                .to = flags->to,
                                .coordinator = targets->coordinator,
                                .nodes = targets->nodes};
    auto report = shard::splitShard(options, std::cout, ::isatty(STDOUT_FILENO) == 1);
    if (!report) {
      std::cerr << "pgswarm shard split: " << report.error().message << "\n";
      return 1;
    }
    std::cout << fmt::format("done: {} rows moved to {}\n", report->rows, report->upper.name);
    return 0;
  };
}

CommandRunner addStatus(CLI::App* shard) {
  auto placement = std::make_shared<Placement>();
  auto* command = shard->add_subcommand("status", "show the shard map: partitions, nodes, rows");
  addPlacementOptions(command, *placement);
  return [placement, command]() -> int {
    if (!command->parsed()) return -1;
    (void)setupLogging("warn", "shard");
    auto targets = resolveTargets(*placement, "pgswarm shard status");
    if (!targets) {
      std::cerr << "pgswarm shard status: " << targets.error().message << "\n";
      return 2;
    }
    auto text = shard::shardStatusText(targets->coordinator, targets->nodes);
    if (!text) {
      std::cerr << "pgswarm shard status: " << text.error().message << "\n";
      return 1;
    }
    std::cout << *text;
    return 0;
  };
}

// One attempt of `shard setup`: the coordinator's catalog, then each
// node's database and its foreign server and user mapping there. Every
// statement is idempotent (IF NOT EXISTS, or re-aimed at the address).
Status registerShardNodes(const Placement& placement, std::ostream& out) {
  auto targets = resolveTargets(placement, "pgswarm shard setup");
  if (!targets) return targets.error();
  if (targets->nodes.empty()) return makeError("no shard nodes: give --nodes name=host:port,...");
  auto coordinator = cluster::PgConnection::connect(targets->coordinator);
  if (!coordinator) return makeError("coordinator: {}", coordinator.error().message);
  // A rerun's "already exists, skipping" notices would only bury the log.
  if (auto ok = coordinator->execute("SET client_min_messages = warning"); !ok) return ok;
  if (auto ok = shard::ensureCatalog(*coordinator); !ok) return ok;
  for (const auto& node : targets->nodes) {
    if (auto conn = shard::connectNode(node, targets->coordinator); !conn) return conn.error();
    if (auto ok = shard::ensureForeignServer(*coordinator, node, targets->coordinator); !ok) {
      return makeError("{}: {}", node.name, ok.error().message);
    }
    out << fmt::format("{} ({}:{}) is foreign server {} on the coordinator {}:{}\n", node.name,
                       node.host, node.port, shard::serverName(node), targets->coordinator.host,
                       targets->coordinator.port);
  }
  return Ok{};
}

struct SetupFlags {
  Placement placement;
  int waitSeconds = 600;
};

CommandRunner addSetup(CLI::App* shard) {
  auto flags = std::make_shared<SetupFlags>();
  auto* command = shard->add_subcommand(
      "setup",
      "register the shard nodes on the coordinator (postgres_fdw, foreign servers, user "
      "mappings, the pgswarm catalog), waiting for them to answer; safe to run again");
  command
      ->add_option("--wait", flags->waitSeconds,
                   "seconds to keep retrying while the coordinator or a node does not answer")
      ->capture_default_str();
  addPlacementOptions(command, flags->placement);
  return [flags, command]() -> int {
    if (!command->parsed()) return -1;
    (void)setupLogging("warn", "shard");
    // A typo never fixes itself: refused at once, not retried for --wait.
    if (!flags->placement.coordinator.empty()) {
      auto coordinators = parseCoordinators(flags->placement.coordinator);
      auto nodes = parseNodes(flags->placement.nodes);
      if (!coordinators || !nodes) {
        std::cerr << "pgswarm shard setup: "
                  << (!coordinators ? coordinators.error() : nodes.error()).message << "\n";
        return 2;
      }
    }
    // A stack starts every service at once: the nodes may still be
    // initialising, or a replica still be the only answer, for minutes.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(flags->waitSeconds);
    std::string lastError;
    while (true) {
      std::ostringstream done;
      auto ok = registerShardNodes(flags->placement, done);
      if (ok) {
        std::cout << done.str() << "done: the shard nodes are registered\n";
        return 0;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        std::cerr << "pgswarm shard setup: " << ok.error().message << "\n";
        return 1;
      }
      if (ok.error().message != lastError) {
        std::cout << "waiting: " << ok.error().message << std::endl;
        lastError = ok.error().message;
      }
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
  };
}

}  // namespace

CommandRunner registerShardCommand(CLI::App& app) {
  auto* shard = app.add_subcommand("shard", "sharding and partitioning of tables");
  shard->require_subcommand(1);
  std::vector<CommandRunner> runners{addCreate(shard), addMove(shard), addSplit(shard),
                                     addStatus(shard), addSetup(shard)};
  return [runners] {
    for (const auto& runner : runners) {
      if (int code = runner(); code >= 0) return code;
    }
    return 2;
  };
}

}  // namespace pgswarm::cli
