// Renders a StackPlan as a compose 3.8 file for `docker stack deploy`: one
// service per database (pinned to its host, a local volume), the pool
// published on the seed's port, an attachable overlay network and external
// Docker secrets passed as *_FILE variables. Pure: text out, no I/O.
#pragma once

#include <string>

#include "common/result.hpp"
#include "deploy/stack_spec.hpp"

namespace pgswarm::deploy {

// The Docker secrets a stack uses; `docker secret create NAME -` makes each
// before `docker stack deploy` (they are external: never in the stack file).
inline constexpr const char* kPostgresPasswordSecret = "pgswarm_postgres_password";
inline constexpr const char* kReplicationPasswordSecret = "pgswarm_replication_password";
inline constexpr const char* kAgentTokenSecret = "pgswarm_agent_token";

// Where the image keeps the data: postgres data in <dir>/data, the agent's
// lock, passfile and failover records beside it, all on the service's volume.
inline constexpr const char* kVolumeTarget = "/var/lib/postgresql";

// Validates the spec (planStack) and writes the stack file text.
[[nodiscard]] Result<std::string> renderStack(const StackSpec& spec);

}  // namespace pgswarm::deploy
