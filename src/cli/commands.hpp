// The subcommand table of the pgswarm binary.
#pragma once

namespace pgswarm::cli {

// Parses argv, runs the chosen subcommand, returns the process exit code.
int run(int argc, char** argv);

}  // namespace pgswarm::cli
