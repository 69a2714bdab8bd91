// `pgswarm stack --hosts h1,h2,...`: writes a Docker Swarm stack file to
// stdout (deploy/stack_file). Wiring only; bad input exits 2 with the reason
// on stderr and nothing on stdout, so `> stack.yml` never keeps half a file.
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "deploy/stack_file.hpp"

namespace pgswarm::cli {
namespace {

constexpr int kExitBadInput = 2;

struct StackOptions {
  std::string hosts;
  std::string shardHosts;
  deploy::StackSpec spec;
};

int runStack(StackOptions& options) {
  auto hosts = deploy::splitHosts(options.hosts);
  if (!hosts) {
    std::cerr << "pgswarm stack: " << hosts.error().message << "\n";
    return kExitBadInput;
  }
  options.spec.hosts = std::move(*hosts);
  if (!options.shardHosts.empty()) {
    auto shardHosts = deploy::splitHosts(options.shardHosts);
    if (!shardHosts) {
      std::cerr << "pgswarm stack: --shard-hosts '" << options.shardHosts
                << "' has an empty entry; give host names separated by commas\n";
      return kExitBadInput;
    }
    options.spec.shardHosts = std::move(*shardHosts);
  }
  auto text = deploy::renderStack(options.spec);
  if (!text) {
    std::cerr << "pgswarm stack: " << text.error().message << "\n";
    return kExitBadInput;
  }
  std::cout << *text;
  return 0;
}

}  // namespace

CommandRunner registerStackCommand(CLI::App& app) {
  auto options = std::make_shared<StackOptions>();
  auto* command = app.add_subcommand(
      "stack", "write a Docker Swarm stack file (compose 3.8) for `docker stack deploy`");
  command
      ->add_option("--hosts", options->hosts,
                   "Swarm node hostnames, comma separated; the first holds the primary, each "
                   "other one a replica")
      ->required();
  command
      ->add_option("--replicas-per-host", options->spec.databasesPerHost,
                   "database services on each host (the primary counts on the first one)")
      ->capture_default_str();
  command
      ->add_option(
          "--shards", options->spec.shards,
          "standalone shard nodes shard1..shardN, placed round-robin over the (shard) hosts, "
          "and the one-shot shard-setup service that registers them")
      ->capture_default_str();
  command->add_option("--shard-hosts", options->shardHosts,
                      "Swarm node hostnames the shard nodes are pinned to, round-robin, comma "
                      "separated (default: --hosts)");
  command->add_flag("--sync", options->spec.sync,
                    "synchronous replication (the pool's synchronous_mode = on)");
  command
      ->add_option("--pool-mode", options->spec.poolMode,
                   "the pool's pool_mode, session or transaction (direct shard routing needs "
                   "transaction)")
      ->capture_default_str();
  command->add_option("--image", options->spec.image, "image of every service")
      ->capture_default_str();
  command->add_option("--network", options->spec.network, "overlay network of the stack")
      ->capture_default_str();
  command->add_option("--pool-port", options->spec.poolPort, "port the pool is published on")
      ->capture_default_str();
  return [options] { return runStack(*options); };
}

}  // namespace pgswarm::cli
