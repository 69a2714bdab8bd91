// `pgswarm down`: stop the local cluster; --purge also deletes its folder.
#include <iostream>

#include "agent/local_cluster.hpp"
#include "cli/commands.hpp"
#include "cli/local_dir.hpp"
#include "common/log.hpp"

namespace pgswarm::cli {

CommandRunner registerDownCommand(CLI::App& app) {
  struct Options {
    std::string dir;
    bool purge = false;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("down", "stop the local cluster (data is kept)");
  addDirOption(command, options->dir);
  command->add_flag("--purge", options->purge, "also delete the cluster folder and its data");
  return [options] {
    (void)setupLogging("info", "down");
    auto dir = resolveDir(options->dir);
    if (auto stopped = agent::downLocalCluster(dir, options->purge); !stopped) {
      std::cerr << "pgswarm down: " << stopped.error().message << "\n";
      return 1;
    }
    std::cout << (options->purge ? "stopped and removed " : "stopped ") << dir << "\n";
    return 0;
  };
}

}  // namespace pgswarm::cli
