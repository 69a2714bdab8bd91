// `pgswarm status`: one row per node of the local cluster, or --json.
#include <iostream>

#include <fmt/format.h>

#include "agent/local_cluster.hpp"
#include "cli/commands.hpp"
#include "cli/local_dir.hpp"
#include "common/log.hpp"

namespace pgswarm::cli {
namespace {

std::string field(const nlohmann::json& node, const char* key) {
  if (!node.contains(key) || node[key].is_null()) return "-";
  if (node[key].is_string()) return node[key].get<std::string>();
  if (node[key].is_number_float()) return fmt::format("{:.1f}", node[key].get<double>());
  return node[key].dump();
}

std::string lsnOf(const nlohmann::json& node) {
  if (node.value("role", "") == "primary") return field(node, "current_lsn");
  return field(node, "replay_lsn");
}

}  // namespace

// Shared with `up`, which prints the same table when the cluster is ready.
// The last four columns are the pool's view (SHOW NODES): its health check,
// read weight, whether it sends reads there (or why not), transactions routed.
void printStatusTable(const nlohmann::json& status) {
  std::cout << fmt::format(
      "{:<7} {:<8} {:<11} {:<16} {:>3} {:>12} {:>10} {:>7} {:<6} {:<7} {:>6} {:<14} {:>9}\n",
      "NAME", "ROLE", "STATE", "ADDRESS", "TL", "LSN", "LAG BYTES", "LAG S", "SYNC", "HEALTH",
      "WEIGHT", "READS", "ROUTED");
  static const nlohmann::json kNoView = nlohmann::json::object();
  for (const auto& node : status["nodes"]) {
    const auto& pool = node.contains("pool") ? node["pool"] : kNoView;
    std::cout << fmt::format(
        "{:<7} {:<8} {:<11} {:<16} {:>3} {:>12} {:>10} {:>7} {:<6} {:<7} {:>6} {:<14} {:>9}\n",
        field(node, "name"), field(node, "role"), field(node, "state"),
        field(node, "host") + ":" + field(node, "port"), field(node, "timeline"), lsnOf(node),
        field(node, "lag_bytes"), field(node, "lag_seconds"), field(node, "sync_state"),
        field(pool, "health"), field(pool, "weight"), field(pool, "reads"), field(pool, "routed"));
  }
  if (status.contains("pool")) {
    const auto& pool = status["pool"];
    std::cout << fmt::format("{:<7} {:<8} {:<11} {:<16}\n", "pool", "pool", field(pool, "state"),
                             "127.0.0.1:" + field(pool, "port"));
  }
}

CommandRunner registerStatusCommand(CLI::App& app) {
  struct Options {
    std::string dir;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("status", "show the nodes of the local cluster");
  addDirOption(command, options->dir);
  command->add_flag("--json", options->json, "machine-readable output");
  return [options] {
    (void)setupLogging("warn", "status");
    auto status = agent::localClusterStatus(resolveDir(options->dir));
    if (!status) {
      std::cerr << "pgswarm status: " << status.error().message << "\n";
      return 1;
    }
    if (options->json) {
      std::cout << status->dump(2) << "\n";
    } else {
      printStatusTable(*status);
    }
    return 0;
  };
}

}  // namespace pgswarm::cli
