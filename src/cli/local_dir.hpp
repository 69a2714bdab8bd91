// The --dir option every local-cluster command takes: default $PGSWARM_DIR,
// else ./pgswarm-data; always made absolute, since agents outlive our cwd.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace pgswarm::cli {

void addDirOption(CLI::App* command, std::string& dir);
[[nodiscard]] std::string resolveDir(const std::string& given);

}  // namespace pgswarm::cli
