// `pgswarm status`: one row per node of the local cluster, or --json; with
// --watch the same facts redrawn every --interval seconds, from the pool's
// /api/status while the pool answers there, else probed as without --watch.
// The screen is cleared (ANSI) only when stdout is a terminal, so a pipe or
// a log gets one frame after another.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <thread>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <httplib.h>

#include "agent/agent_state.hpp"
#include "agent/local_cluster.hpp"
#include "cli/commands.hpp"
#include "cli/local_dir.hpp"
#include "common/log.hpp"
#include "common/progress_estimate.hpp"

namespace pgswarm::cli {

// The table without --watch (and under it when the pool does not answer).
std::string statusTable(const nlohmann::json& status);

namespace {

using nlohmann::json;

std::string field(const json& node, const char* key) {
  if (!node.contains(key) || node[key].is_null()) return "-";
  if (node[key].is_string()) return node[key].get<std::string>();
  if (node[key].is_number_float()) return fmt::format("{:.1f}", node[key].get<double>());
  return node[key].dump();
}

std::string lsnOf(const json& node) {
  if (node.value("role", "") == "primary") return field(node, "current_lsn");
  return field(node, "replay_lsn");
}

// The pool's /api/status on the cluster's HTTP port; null when it does not
// answer (pool stopped, HTTP port off).
json poolStatus(int httpPort) {
  if (httpPort <= 0) return nullptr;
  httplib::Client client("127.0.0.1", httpPort);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(3, 0);
  auto response = client.Get("/api/status");
  if (!response || response->status != 200) return nullptr;
  return json::parse(response->body, nullptr, false);
}

// The newest non-null value of a history series.
std::string lastRate(const json& history, std::size_t node) {
  if (!history.contains("nodes") || node >= history["nodes"].size()) return "-";
  const auto& series = history["nodes"][node]["routed_per_second"];
  for (auto it = series.rbegin(); it != series.rend(); ++it) {
    if (it->is_number()) return fmt::format("{:.1f}", it->get<double>());
  }
  return "-";
}

// object[key], or null when it is absent (a document of another version).
json member(const json& object, const char* key) {
  return object.is_object() && object.contains(key) ? object[key] : json();
}

std::string progressBar(const json& percent) {
  return progressBarText(percent.is_number() ? std::optional(percent.get<double>()) : std::nullopt);
}

std::string etaText(const json& eta) {
  return eta.is_number() ? fmt::format("ETA {:.0f} s", eta.get<double>()) : "";
}

// Each shard group's failover, then its nodes, as the dashboard's Shards
// section; nothing for a pool without shard groups.
std::string shardGroupLines(const json& status) {
  if (!status.contains("shards") || !status["shards"].is_array() || status["shards"].empty()) {
    return "";
  }
  std::string out = "shard groups:\n";
  for (const auto& group : status["shards"]) {
    auto failover = member(group, "failover");
    out += fmt::format(
        "  {} failover {}\n", field(group, "group"),
        failover.is_object()
            ? fmt::format("{}, primary {}, {} failovers, {} switchovers, last promotion {}{}",
                          field(failover, "state"), field(failover, "primary"),
                          field(failover, "failovers"), field(failover, "switchovers"),
                          field(failover, "last_promotion"),
                          member(failover, "refusal").is_string()
                              ? ", refused: " + field(failover, "refusal")
                              : "")
            : std::string("off"));
    for (const auto& node : member(group, "nodes")) {
      out += fmt::format("    {:<22} {:<8} {:<7} lag {:>10} routed {:>9} {:>8}/s\n",
                         field(node, "name"), field(node, "role"), field(node, "health"),
                         field(node, "lag_bytes"), field(node, "routed_total"),
                         lastRate(status["history"], node.value("index", std::size_t{0})));
    }
  }
  return out;
}

// The shard map: per table its partitions, each with its node, estimated
// rows and whether the pool routes its keys directly.
std::string shardMapLines(const json& status) {
  auto map = member(status, "shard_map");
  if (!map.is_object()) return "";
  std::string out = fmt::format("shard map (version {}):\n", field(map, "version"));
  for (const auto& table : member(map, "tables")) {
    out += fmt::format("  {} {} by {} ({})\n", field(table, "database"), field(table, "table"),
                       field(table, "key"), field(table, "strategy"));
    for (const auto& partition : member(table, "partitions")) {
      out += fmt::format("    {:<24} {:<12} rows ~{:<10} {}\n", field(partition, "name"),
                         field(partition, "node"), field(partition, "rows_estimate"),
                         member(partition, "direct") == true
                             ? std::string("direct")
                             : "via the coordinator (" + field(partition, "why_not_direct") + ")");
    }
  }
  return out;
}

// The dashboard's long operations: each node's last base backup or rewind
// (its agent's) and the shard commands, with a bar, rate and ETA.
std::string operationLines(const json& status) {
  std::vector<std::string> lines;
  auto addNodes = [&](const json& nodes) {
    for (const auto& node : nodes) {
      auto p = member(node, "progress");
      if (!p.is_object()) continue;
      lines.push_back(fmt::format("  {:<22} {}{}", field(node, "name"), agent::progressText(p),
                                  p.value("finished", false) ? "" : ", running"));
    }
  };
  addNodes(member(status, "nodes"));
  if (status.contains("shards") && status["shards"].is_array()) {
    for (const auto& group : status["shards"]) addNodes(member(group, "nodes"));
  }
  if (status.contains("shard_operations") && status["shard_operations"].is_array()) {
    for (const auto& op : status["shard_operations"]) {
      lines.push_back(fmt::format(
          "  shard {} {} {} {} -> {} ({}) {} {:>4}% {} of {} rows, {} rows/s {} {}",
          field(op, "verb"), field(op, "table"), field(op, "partition"), field(op, "source_node"),
          field(op, "target_node"), field(op, "phase"), progressBar(member(op, "percent")),
          field(op, "percent"), field(op, "rows_done"), field(op, "rows_total"),
          field(op, "rate_rows_per_second"), etaText(member(op, "eta_seconds")),
          field(op, "state")));
    }
  }
  if (lines.empty()) return "";
  std::string out = "long operations:\n";
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// The pool's view: what the dashboard shows, as text.
std::string poolTable(const json& status) {
  std::string out = fmt::format(
      "{:<8} {:<8} {:<7} {:<6} {:<16} {:>3} {:>12} {:>10} {:>7} {:<10} {:<10} {:>9} {:>8} {:>6}\n",
      "NAME", "ROLE", "HEALTH", "FENCED", "ADDRESS", "TL", "LSN", "LAG BYTES", "LAG S", "RECEIVER",
      "READS", "ROUTED", "ROUTED/S", "CONNS");
  std::size_t index = 0;
  for (const auto& node : status["nodes"]) {
    auto name = node.contains("cluster_name") && node["cluster_name"].is_string()
                    ? node["cluster_name"].get<std::string>()
                    : field(node, "name");
    const auto& conns = node["server_connections"];
    out += fmt::format(
        "{:<8} {:<8} {:<7} {:<6} {:<16} {:>3} {:>12} {:>10} {:>7} {:<10} {:<10} {:>9} {:>8} "
        "{:>6}\n",
        name, field(node, "role"), field(node, "health"),
        node.value("fenced", false) ? "yes" : "no", field(node, "name"), field(node, "timeline"),
        lsnOf(node), field(node, "lag_bytes"), field(node, "lag_seconds"),
        field(node, "receiver_status"), field(node, "reads"), field(node, "routed_total"),
        lastRate(status["history"], index++), conns.value("active", 0) + conns.value("idle", 0));
  }
  const auto& pool = status["pool"];
  out += fmt::format("\nclients {} of {}, server connections {} active / {} idle, {} mode\n",
                     field(pool, "clients"), field(pool, "max_client_conn"),
                     field(pool["server_connections"], "active"),
                     field(pool["server_connections"], "idle"), field(pool, "mode"));
  if (status.contains("failover") && status["failover"].is_object()) {
    const auto& failover = status["failover"];
    out += fmt::format(
        "failover {}, primary {}, {} failovers, {} switchovers{}\n", field(failover, "state"),
        field(failover, "primary"), field(failover, "failovers"), field(failover, "switchovers"),
        failover["refusal"].is_string() ? ", refused: " + field(failover, "refusal") : "");
  }
  out += shardGroupLines(status);
  out += shardMapLines(status);
  out += operationLines(status);
  const auto& events = status["events"];
  constexpr std::size_t kEventsShown = 5;
  if (!events.empty()) out += "recent events:\n";
  for (std::size_t i = events.size() > kEventsShown ? events.size() - kEventsShown : 0;
       i < events.size(); ++i) {
    std::time_t at = events[i].value("at", std::int64_t{0}) / 1000;
    std::tm local{};
    localtime_r(&at, &local);
    out += fmt::format("  {:%H:%M:%S} {:<9} {}\n", local, field(events[i], "kind"),
                       field(events[i], "message"));
  }
  return out;
}

struct Options {
  std::string dir;
  bool json = false;
  bool watch = false;
  double interval = 2.0;
  int count = 0;
};

// One frame of --watch: the pool's view when it answers, else the probe.
std::string watchFrame(const Options& options, const std::string& dir) {
  auto cluster = agent::loadLocalCluster(dir);
  if (!cluster) return "pgswarm status: " + cluster.error().message + "\n";
  auto status = poolStatus(cluster->httpPort);
  if (status.is_object()) return options.json ? status.dump() + "\n" : poolTable(status);
  auto probed = agent::localClusterStatus(dir);
  if (!probed) return "pgswarm status: " + probed.error().message + "\n";
  if (options.json) return probed->dump() + "\n";
  return statusTable(*probed) + "(the pool does not answer on its HTTP port: probed the nodes)\n";
}

int watch(const Options& options) {
  auto dir = resolveDir(options.dir);
  const bool terminal = ::isatty(STDOUT_FILENO) != 0;
  const auto interval = std::chrono::duration<double>(std::max(options.interval, 0.2));
  for (int frame = 1;; ++frame) {
    auto text = watchFrame(options, dir);
    auto now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    auto header = fmt::format("pgswarm status {}  every {:.1f} s  {:%Y-%m-%d %H:%M:%S}\n\n", dir,
                              interval.count(), local);
    if (terminal) {
      std::cout << "\x1b[H\x1b[2J" << header << text << std::flush;  // home, clear screen
    } else {
      std::cout << (options.json ? "" : header) << text << (options.json ? "" : "\n") << std::flush;
    }
    if (options.count > 0 && frame >= options.count) return 0;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace

std::string statusTable(const json& status) {
  std::string out = fmt::format(
      "{:<7} {:<8} {:<11} {:<16} {:>3} {:>12} {:>10} {:>7} {:<6} {:<7} {:>6} {:<14} {:>9}\n",
      "NAME", "ROLE", "STATE", "ADDRESS", "TL", "LSN", "LAG BYTES", "LAG S", "SYNC", "HEALTH",
      "WEIGHT", "READS", "ROUTED");
  static const json kNoView = json::object();
  for (const auto& node : status["nodes"]) {
    const auto& pool = node.contains("pool") ? node["pool"] : kNoView;
    out += fmt::format(
        "{:<7} {:<8} {:<11} {:<16} {:>3} {:>12} {:>10} {:>7} {:<6} {:<7} {:>6} {:<14} {:>9}\n",
        field(node, "name"), field(node, "role"), field(node, "state"),
        field(node, "host") + ":" + field(node, "port"), field(node, "timeline"), lsnOf(node),
        field(node, "lag_bytes"), field(node, "lag_seconds"), field(node, "sync_state"),
        field(pool, "health"), field(pool, "weight"), field(pool, "reads"), field(pool, "routed"));
  }
  if (status.contains("pool")) {
    const auto& pool = status["pool"];
    out += fmt::format("{:<7} {:<8} {:<11} {:<16}\n", "pool", "pool", field(pool, "state"),
                       "127.0.0.1:" + field(pool, "port"));
  }
  return out;
}

// Shared with `up`, which prints the same table when the cluster is ready.
// The last four columns are the pool's view (SHOW NODES): its health check,
// read weight, whether it sends reads there (or why not), transactions routed.
void printStatusTable(const json& status) {
  std::cout << statusTable(status);
}

CommandRunner registerStatusCommand(CLI::App& app) {
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("status", "show the nodes of the local cluster");
  addDirOption(command, options->dir);
  command->add_flag("--json", options->json, "machine-readable output");
  command->add_flag("-w,--watch", options->watch,
                    "redraw every --interval seconds (from the pool's /api/status while it "
                    "answers); Ctrl-C ends it");
  command->add_option("-n,--interval", options->interval, "seconds between redraws [default: 2]");
  command->add_option("--count", options->count, "with --watch: stop after this many redraws");
  return [options] {
    (void)setupLogging("warn", "status");
    if (options->watch) return watch(*options);
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
