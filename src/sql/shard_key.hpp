// Which statements may go straight to the shard node that owns their rows:
// one statement over exactly one sharded table that fixes the table's shard
// key by equality to a constant or a Bind parameter. Pure analysis in sql
// terms: no shard map, no hashing (the caller places the key with
// shard/pg_hash or the range bounds), no I/O. Classifier::route caches it.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sql/function_allowlist.hpp"
#include "sql/read_intent.hpp"
#include "sql/statement.hpp"

namespace pgswarm::sql {

// A sharded table as the router knows it. Names are compared exactly as the
// parser spells a statement's names (unquoted identifiers lowercased, quoted
// ones as written), so give them as the catalog holds them. A statement's
// unqualified name is taken as schema "public": the default search_path is
// assumed (a session that changed search_path, or made a temporary table of
// the same name, would mean another table).
struct ShardedRelation {
  std::string schema = "public";
  std::string table;
  std::string keyColumn;
  // Columns whose default only the coordinator evaluates: sequence
  // (serial) defaults, which shard tables are made without
  // (shard/table_definition). A statement that leaves one to its default
  // (an INSERT that does not give it, `SET c = DEFAULT`) is refused.
  std::vector<std::string> coordinatorDefaults;
};

// Where a single-shard statement's key value is.
struct ShardKeyUse {
  std::size_t relation = 0;  // index into the relations given
  // >= 0: Bind parameter `parameter` ($1 -> 0) holds the key, in the format
  // and type the Bind gives it; -1: `literal` holds it.
  int parameter = -1;
  // A constant as the server's input function for the key column receives
  // it: a string's content ('' undoubled: "abc", "it's"), or an integer in
  // canonical decimal ("42", "-7", "0"; leading zeros dropped).
  std::string literal;
  bool readOnly = false;  // Statement::readOnly: a replica of the shard may run it
  bool operator==(const ShardKeyUse&) const = default;
};

// What a statement text says about its one relation, with each constant
// named by its place among the text's literals instead of its value, so
// that one template serves every text with the same literal-free key
// (`... WHERE aid = 17` and `... WHERE aid = 18`): made once per key from a
// parse, resolved per text from the lexer's literal spans.
struct ShardKeyTemplate {
  struct Source {
    std::string column;
    int parameter = -1;       // >= 0: Bind parameter
    std::size_t literal = 0;  // otherwise: index into the text's literal spans
    bool negated = false;     // an odd number of unary minus signs before it
  };
  TableRef table;  // schema empty when the statement does not write one
  bool readOnly = false;
  std::vector<Source> fixed;                         // a column fixed twice is listed twice
  std::vector<std::string> assigned;                 // columns the statement sets
  std::vector<std::string> defaulted;                // SingleRelation::defaulted
  std::optional<std::vector<std::string>> inserted;  // SingleRelation::inserted
};

// The template of a classified text (literals: its spans from
// literalFreeKey), or nullopt unless the text is exactly one statement with
// a SingleRelation (statement.hpp says which shapes), no INTO, no session
// effect, and only allowlisted functions (a user function could read
// another table; nextval's sequence lives on the coordinator). A constant
// whose literal cannot be found exactly in the text is left out.
[[nodiscard]] std::optional<ShardKeyTemplate> makeShardKeyTemplate(
    const Classification& classification, std::string_view query,
    std::span<const LiteralSpan> literals);

// The key use for one text of the template's key: the first relation that
// is the template's table, whose key column the statement fixes exactly once
// and does not set (UPDATE SET, ON CONFLICT DO UPDATE SET), that leaves none
// of the relation's coordinatorDefaults to its default, with a constant
// this module reads exactly: integers and '...' or $$...$$ strings; not
// E'...' or U&'...' strings, strings holding a backslash (their meaning
// depends on standard_conforming_strings), decimals, NULL, booleans.
[[nodiscard]] std::optional<ShardKeyUse> resolveShardKey(
    const ShardKeyTemplate& shardKey, std::string_view query, std::span<const LiteralSpan> literals,
    std::span<const ShardedRelation> relations);

// Both steps on one text, parsing it: no cache. Classifier::route is the
// cached way.
[[nodiscard]] std::optional<ShardKeyUse> findShardKey(
    std::string_view query, std::span<const ShardedRelation> relations,
    const FunctionAllowlist& allowlist = FunctionAllowlist::defaults());

// Approximate heap and inline bytes a template occupies, for cache limits.
[[nodiscard]] std::size_t approximateBytes(const ShardKeyTemplate& shardKey);

}  // namespace pgswarm::sql
