// `pgswarm node`: flags, TOML [node] and environment into a NodeConfig, then
// the agent. Wiring only; bad input exits 2 before anything is created.
#include <exception>
#include <iostream>
#include <memory>

#include "agent/node_agent.hpp"
#include "agent/node_config.hpp"
#include "cli/commands.hpp"
#include "cli/setting_flags.hpp"
#include "common/log.hpp"

namespace pgswarm::cli {
namespace {

int badInput(const std::string& message) {
  std::cerr << "pgswarm node: " << message << "\n";
  return agent::kExitBadConfig;
}

int runNode(const SettingFlags& flags) {
  auto settings = resolveSettings(agent::nodeSettingDefs(), flags);
  if (!settings) return badInput(settings.error().message);
  auto config = agent::nodeConfigFromSettings(*settings);
  if (!config) return badInput(config.error().message);
  bool nameGiven = settings->source("node.name") != SettingSource::kDefault;
  if (auto kept = agent::keepDefaultName(*config, nameGiven); !kept)
    return badInput(kept.error().message);
  if (auto logging = setupLogging(config->logLevel, "node"); !logging) {
    return badInput(settings->origin("node.log_level") + ": " + logging.error().message);
  }
  if (auto located = agent::locatePgBin(*config); !located)
    return badInput(located.error().message);
  return agent::runNodeAgent(*config);
}

}  // namespace

CommandRunner registerNodeCommand(CLI::App& app) {
  auto* command = app.add_subcommand(
      "node", "supervise one postgres: initdb or pg_basebackup, restarts, REST API on :8008");
  auto flags = std::make_shared<SettingFlags>();
  addConfigFlag(command, *flags);
  addSettingFlags(command, agent::nodeSettingDefs(), *flags);
  return [flags] {
    // The edge of the agent: nothing thrown below may end the process unexplained.
    try {
      return runNode(*flags);
    } catch (const std::exception& error) {
      std::cerr << "pgswarm node: unexpected error: " << error.what() << "\n";
      return agent::kExitFailure;
    }
  };
}

}  // namespace pgswarm::cli
