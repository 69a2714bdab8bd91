// --dir handling for up/status/down: see local_dir.hpp.
#include "cli/local_dir.hpp"

#include <cstdlib>
#include <filesystem>

namespace pgswarm::cli {

void addDirOption(CLI::App* command, std::string& dir) {
  command->add_option("--dir", dir, "cluster folder [default: $PGSWARM_DIR, else ./pgswarm-data]");
}

std::string resolveDir(const std::string& given) {
  std::string dir = given;
  if (dir.empty()) {
    const char* env = std::getenv("PGSWARM_DIR");
    dir = (env != nullptr && *env != '\0') ? env : "pgswarm-data";
  }
  return std::filesystem::absolute(dir).lexically_normal().string();
}

}  // namespace pgswarm::cli
