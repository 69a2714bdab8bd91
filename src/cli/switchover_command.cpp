// `pgswarm switchover [--to NODE]`: a planned change of primary in the local
// cluster, run by its pool (admin console SWITCHOVER): new transactions wait,
// running ones finish, the target catches up and is promoted, the old
// primary rejoins as a replica.
#include <iostream>

#include "agent/local_cluster.hpp"
#include "cli/commands.hpp"
#include "cli/local_dir.hpp"
#include "cluster/pg_client.hpp"
#include "common/log.hpp"
#include "common/settings.hpp"

namespace pgswarm::cli {
namespace {

// The pool names nodes host:port; a local node may be named as `up` did (node1).
std::string poolName(const agent::LocalCluster& cluster, const std::string& node) {
  for (const auto& local : cluster.nodes) {
    if (local.name == node) return "127.0.0.1:" + std::to_string(local.port);
  }
  return node;
}

Result<std::string> switchover(const std::string& dir, const std::string& to) {
  auto cluster = agent::loadLocalCluster(dir);
  if (!cluster) return cluster.error();
  auto password = readSecretFile(cluster->passwordPath());
  if (!password) return password.error();
  auto console = cluster::PgConnection::connect({.host = "127.0.0.1",
                                                 .port = cluster->poolPort,
                                                 .password = *password,
                                                 .dbname = "pgswarm",
                                                 .applicationName = "pgswarm switchover"});
  if (!console) return makeError("the pool does not answer: {}", console.error().message);
  std::string command = "SWITCHOVER";
  if (!to.empty()) command += " " + cluster::quoteLiteral(poolName(*cluster, to));
  if (auto done = console->execute(command); !done) return done.error();
  auto status = console->query("SHOW FAILOVER");
  if (!status) return status.error();
  return status->text(0, "primary");
}

}  // namespace

CommandRunner registerSwitchoverCommand(CLI::App& app) {
  struct Options {
    std::string dir;
    std::string to;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand(
      "switchover", "make a replica of the local cluster the primary, without failing clients");
  addDirOption(command, options->dir);
  command->add_option("--to", options->to,
                      "the replica to promote (node1, or host:port); default the most caught-up");
  return [options] {
    (void)setupLogging("warn", "switchover");
    auto primary = switchover(resolveDir(options->dir), options->to);
    if (!primary) {
      std::cerr << "pgswarm switchover: " << primary.error().message << "\n";
      return 1;
    }
    std::cout << "the primary is now " << *primary << "\n";
    return 0;
  };
}

}  // namespace pgswarm::cli
