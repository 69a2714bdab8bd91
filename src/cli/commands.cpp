// Subcommand dispatch: parse with CLI11, run the one subcommand chosen.
#include "cli/commands.hpp"

#include <utility>
#include <vector>

namespace pgswarm::cli {

int run(int argc, char** argv) {
  CLI::App app{"pgswarm: a PostgreSQL cluster in one small binary"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pgswarm 0.1.0");
  std::vector<std::pair<CLI::App*, CommandRunner>> commands;
  auto add = [&](CommandRunner (*registerFn)(CLI::App&)) {
    auto runner = registerFn(app);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(runner));
  };
  add(registerNodeCommand);
  add(registerUpCommand);
  add(registerDownCommand);
  add(registerStatusCommand);
  add(registerPoolCommand);
  add(registerFailoverDiagramCommand);
  add(registerSwitchoverCommand);
  add(registerShardCommand);
  add(registerStackCommand);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [command, runner] : commands) {
    if (command->parsed()) return runner();
  }
  return 2;
}

}  // namespace pgswarm::cli
