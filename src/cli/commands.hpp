// The subcommand table of the pgswarm binary. Each subcommand lives in its
// own cli/<name>_command.cpp and registers itself here.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace pgswarm::cli {

// Runs the command after flags are parsed; returns the process exit code.
using CommandRunner = std::function<int()>;

// Each adds its subcommand to `app` and returns what runs it.
CommandRunner registerNodeCommand(CLI::App& app);
CommandRunner registerUpCommand(CLI::App& app);
CommandRunner registerDownCommand(CLI::App& app);
CommandRunner registerStatusCommand(CLI::App& app);
CommandRunner registerPoolCommand(CLI::App& app);
CommandRunner registerFailoverDiagramCommand(CLI::App& app);
CommandRunner registerSwitchoverCommand(CLI::App& app);
CommandRunner registerShardCommand(CLI::App& app);
CommandRunner registerStackCommand(CLI::App& app);

// Parses argv, runs the chosen subcommand, returns the process exit code.
int run(int argc, char** argv);

}  // namespace pgswarm::cli
