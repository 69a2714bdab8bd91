// pgswarm entry point: everything lives in cli/commands.
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  return pgswarm::cli::run(argc, argv);
}
