// A statement's one reference to a sharded table, renamed: the pool sends a
// single-partition statement whose rows live in one of the coordinator's
// own partitions to that partition by name, which PostgreSQL plans like a
// plain table instead of planning the partitioned parent at every execution
// (docs/sharding.md "Local partitions by name"). Lexical, on top of the
// classifier's analysis: the caller knows from the parse that the statement
// names the table once as its one relation; this module finds that name in
// the text and refuses whenever the text could name the table anywhere else
// (a column qualified by it, a whole-row reference) or whenever the lexer
// might misread the text. Pure: no I/O; it allocates the text's list of
// significant tokens and the result.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sql/shard_key.hpp"

namespace pgswarm::sql {

// `text` with the table reference of `relation` (schema-qualified or not, as
// written) replaced by `replacement`, or nullopt when the table's name is
// not written exactly once as an identifier, when a name may hide it
// (U&"..." identifiers, names longer than PostgreSQL keeps), or when a string
// holds a backslash (its end depends on standard_conforming_strings).
[[nodiscard]] std::optional<std::string> renameRelation(std::string_view text,
                                                        const ShardedRelation& relation,
                                                        std::string_view replacement);

}  // namespace pgswarm::sql
