// `pgswarm up`: a primary and N streaming replicas on this machine.
#include <iostream>

#include "agent/local_cluster.hpp"
#include "cli/commands.hpp"
#include "cli/local_dir.hpp"
#include "common/log.hpp"
#include "common/settings.hpp"

namespace pgswarm::cli {

void printStatusTable(const nlohmann::json& status);  // status_command.cpp

CommandRunner registerUpCommand(CLI::App& app) {
  struct Options {
    std::string dir;
    agent::LocalClusterSpec spec;
    std::string passwordFile;
    std::string logLevel = "info";
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand(
      "up", "start a local cluster: a primary and N streaming replicas (restarts a stopped one)");
  addDirOption(command, options->dir);
  command->add_option("--replicas", options->spec.replicas, "number of replicas")
      ->capture_default_str();
  command
      ->add_option("--port-base", options->spec.portBase,
                   "port of the primary; replicas take the next ones, agents +1000")
      ->capture_default_str();
  command->add_option("--pool-port", options->spec.poolPort, "port of the pool")
      ->capture_default_str();
  command->add_option("--http-port", options->spec.httpPort, "HTTP port of the pool")
      ->capture_default_str();
  auto* password = command->add_option("--password", options->spec.password,
                                       "password of user postgres (prefer --password-file)");
  command->add_option("--password-file", options->passwordFile, "read the password from a file")
      ->excludes(password);
  command->add_option("--pg-bin", options->spec.pgBin, "folder of the PostgreSQL 15 binaries");
  command
      ->add_option("--failover", options->spec.failover,
                   "the pool promotes a replica when the primary is lost (on/off; set when the "
                   "cluster is made)")
      ->capture_default_str();
  command
      ->add_option("--pool-mode", options->spec.poolMode,
                   "the pool's pool_mode: session (each client holds a server connection until "
                   "it disconnects: at most default_pool_size (20) clients at once, the others "
                   "wait) or transaction (a server connection per transaction; reads go to "
                   "replicas, single-shard statements straight to their shard) (a new cluster "
                   "only)")
      ->check(CLI::IsMember({"session", "transaction"}))
      ->capture_default_str();
  command
      ->add_option("--shards", options->spec.shards,
                   "shard nodes next to the coordinator, each a primary with its own agent, for "
                   "`pgswarm shard create` (a new cluster only)")
      ->capture_default_str();
  command
      ->add_option("--shard-replicas", options->spec.shardReplicas,
                   "streaming replicas of each shard node (a new cluster only)")
      ->capture_default_str();
  command->add_option("--log-level", options->logLevel, "trace, debug, info, warn, error")
      ->capture_default_str();
  command->add_flag("--sync", options->spec.sync,
                    "synchronous replication managed by the pool (ANY 1 of the replicas): no "
                    "acknowledged commit is lost on failover (a new cluster only)");
  return [options] {
    if (auto logging = setupLogging(options->logLevel, "up"); !logging) {
      std::cerr << "pgswarm up: " << logging.error().message << "\n";
      return 2;
    }
    auto spec = options->spec;
    spec.dir = resolveDir(options->dir);
    if (!options->passwordFile.empty()) {
      auto secret = readSecretFile(options->passwordFile);
      if (!secret) {
        std::cerr << "pgswarm up: --password-file: " << secret.error().message << "\n";
        return 2;
      }
      spec.password = *secret;
    }
    auto cluster = agent::upLocalCluster(spec);
    if (!cluster) {
      std::cerr << "pgswarm up: " << cluster.error().message << "\n";
      return 1;
    }
    if (auto status = agent::localClusterStatus(spec.dir)) printStatusTable(*status);
    std::cout << "\n" << agent::connectionHelp(*cluster);
    if (cluster->httpPort != 0) {
      std::cout << "  dashboard: http://127.0.0.1:" << cluster->httpPort << "/  (pgswarm status "
                << "--watch in a terminal)\n";
    }
    return 0;
  };
}

}  // namespace pgswarm::cli
