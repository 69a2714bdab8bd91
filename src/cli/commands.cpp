// Subcommand wiring: parse flags with CLI11, hand them to the module that
// does the work. No logic of its own beyond turning Results into exit codes.
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

namespace pgswarm::cli {

int run(int argc, char** argv) {
  CLI::App app{"pgswarm: a PostgreSQL cluster in one small binary"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pgswarm 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}

}  // namespace pgswarm::cli
