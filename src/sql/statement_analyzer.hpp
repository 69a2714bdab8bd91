// Internal to sql/: turns one statement of libpg_query's JSON parse tree into
// a Statement. Reads the tree only; never parses SQL text itself, never throws
// (it uses only non-throwing nlohmann accessors).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "sql/function_allowlist.hpp"
#include "sql/statement.hpp"

namespace pgswarm::sql::detail {

// rawStmt is one element of the tree's "stmts" array: {"stmt": {...},
// "stmt_location": n, "stmt_len": n}. query is the whole parsed text, for the
// statement's span and replay SQL.
[[nodiscard]] Statement analyzeStatement(const nlohmann::json& rawStmt, std::string_view query,
                                         const FunctionAllowlist& allowlist);

}  // namespace pgswarm::sql::detail
