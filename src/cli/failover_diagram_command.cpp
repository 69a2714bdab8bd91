// `pgswarm failover-diagram`: the failover state machine as Graphviz, from
// the very table the pool runs (so the picture cannot drift from the code).
#include <iostream>

#include "cli/commands.hpp"
#include "cluster/failover.hpp"

namespace pgswarm::cli {

CommandRunner registerFailoverDiagramCommand(CLI::App& app) {
  app.add_subcommand("failover-diagram",
                     "print the pool's failover state machine as a Graphviz digraph "
                     "(pipe to `dot -Tsvg`)");
  return [] {
    std::cout << cluster::failoverDiagram();
    return 0;
  };
}

}  // namespace pgswarm::cli
