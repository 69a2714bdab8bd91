// Promotion of the agent's own postgres from replica to primary, over a
// local superuser connection (pg_promote). Called from a REST thread once
// the operation slot is held; never stops or starts postgres, so the
// supervisor keeps running it as before, now as a primary.
#pragma once

#include <cstdint>

#include "agent/bootstrap.hpp"
#include "common/result.hpp"

namespace pgswarm::agent {

// Promotes, waiting up to 60 s; the new timeline on success.
[[nodiscard]] Result<int64_t> promoteLocal(const NodeContext& node);

}  // namespace pgswarm::agent
