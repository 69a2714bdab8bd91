// Internal to sql/: reads a statement's one relation and the columns it
// fixes (statement.hpp's SingleRelation) from libpg_query's JSON tree. Reads
// the tree only; the caller (the analyzer) has already counted the tree's
// relations. Never throws.
#pragma once

#include <optional>
#include <string_view>

#include "sql/json_tree.hpp"
#include "sql/statement.hpp"

namespace pgswarm::sql::detail {

// type and body: the statement's top node ("SelectStmt", {...}). Call only
// when the whole tree holds exactly one RangeVar; nullopt when the statement
// is not a plain SELECT/UPDATE/DELETE/single-row INSERT over it.
[[nodiscard]] std::optional<SingleRelation> findSingleRelation(std::string_view type,
                                                               const Json& body);

}  // namespace pgswarm::sql::detail
