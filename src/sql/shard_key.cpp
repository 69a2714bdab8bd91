// Shard key templates: the analyzer's SingleRelation with each constant tied
// to the literal of the text it was read from, and the reading of a
// literal's value from the text. A constant's value is always read from the
// text, never from the tree, so a fresh parse and a cached template give the
// same answer; the tree's value, where it has one, only confirms that the
// right literal was found.
#include "sql/shard_key.hpp"

#include <algorithm>
#include <utility>

#include "sql/cache_limits.hpp"
#include "sql/classifier.hpp"
#include "sql/lexer.hpp"

namespace pgswarm::sql {
namespace {

constexpr std::string_view kWhitespace = " \t\n\r\f\v";

bool isDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Canonical decimal: no leading zeros, no sign on 0.
std::optional<std::string> canonicalInteger(std::string_view digits, bool negative) {
  if (!isDigits(digits)) return std::nullopt;
  const std::size_t first = digits.find_first_not_of('0');
  if (first == std::string_view::npos) return "0";
  std::string value = negative ? "-" : "";
  value.append(digits.substr(first));
  return value;
}

// '...' with '' for a quote inside. A backslash means something else when
// standard_conforming_strings is off, which this module cannot see.
std::optional<std::string> standardString(std::string_view token) {
  if (token.size() < 2 || token.find('\\') != std::string_view::npos) return std::nullopt;
  const std::string_view inner = token.substr(1, token.size() - 2);
  std::string value;
  value.reserve(inner.size());
  for (std::size_t i = 0; i < inner.size(); ++i) {
    value += inner[i];
    if (inner[i] == '\'') ++i;  // the lexer ended the token at a lone quote
  }
  return value;
}

// $tag$...$tag$: the body as it is.
std::optional<std::string> dollarString(std::string_view token) {
  const std::size_t close = token.find('$', 1);
  if (close == std::string_view::npos || token.size() < 2 * (close + 1)) return std::nullopt;
  const std::size_t tag = close + 1;
  return std::string(token.substr(tag, token.size() - 2 * tag));
}

// A literal's value as the key column's input function receives it, or
// nullopt for a literal this module does not read (decimals, E'', U&'',
// B'', X'', N'' strings, a string with a sign).
std::optional<std::string> literalValue(std::string_view token, bool negated) {
  if (token.empty()) return std::nullopt;
  const char first = token.front();
  if (first >= '0' && first <= '9') return canonicalInteger(token, negated);
  if (negated) return std::nullopt;
  if (first == '\'') return standardString(token);
  if (first == '$') return dollarString(token);
  return std::nullopt;
}

std::string_view tokenOf(std::string_view query, const LiteralSpan& span) {
  return span.begin <= span.end && span.end <= query.size()
             ? query.substr(span.begin, span.end - span.begin)
             : std::string_view();
}

// Whether only whitespace and comments lie between two literals: the
// server joins strings separated so into one constant ('a' <newline> 'b').
bool onlyBlank(std::string_view gap) {
  detail::Lexer lexer(gap);
  while (std::optional<detail::Token> token = lexer.next()) {
    if (token->kind == detail::TokenKind::kComment) continue;
    const std::string_view run = gap.substr(token->begin, token->end - token->begin);
    if (token->kind != detail::TokenKind::kOther ||
        run.find_first_not_of(kWhitespace) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

struct Placed {
  std::size_t literal = 0;
  bool negated = false;
};

// The literal the parser's constant at `location` was read from: the first
// literal at or after it, with only unary minus signs, parentheses and
// whitespace between (the parser folds -7, - (7) and -(-7) into one
// constant that starts at the first sign).
std::optional<Placed> place(std::string_view query, std::span<const LiteralSpan> literals,
                            std::size_t location) {
  const auto found =
      std::lower_bound(literals.begin(), literals.end(), location,
                       [](const LiteralSpan& span, std::size_t at) { return span.begin < at; });
  if (found == literals.end() || found->begin > query.size()) return std::nullopt;
  const std::string_view between = query.substr(location, found->begin - location);
  if (between.find("--") != std::string_view::npos ||
      between.find_first_not_of("-( \t\n\r\f\v") != std::string_view::npos) {
    return std::nullopt;
  }
  const auto next = found + 1;
  if (next != literals.end() && next->begin >= found->end &&
      onlyBlank(query.substr(found->end, next->begin - found->end))) {
    return std::nullopt;
  }
  const auto signs = std::count(between.begin(), between.end(), '-');
  return Placed{static_cast<std::size_t>(found - literals.begin()), signs % 2 == 1};
}

// Whether the value read from the token is the one the parser read (where
// the JSON says: not for 0 and negative integers, which it leaves out).
// A token this module does not read confirms nothing and refutes nothing.
bool agrees(const FixedValue& fixed, std::string_view token, bool negated) {
  const std::optional<std::string> value = literalValue(token, negated);
  if (!value) return true;
  const bool number = token.front() >= '0' && token.front() <= '9';
  if (!fixed.parsed) return number && (*value == "0" || value->starts_with('-'));
  if (!number) return *fixed.parsed == *value;
  const std::string_view parsed = *fixed.parsed;
  const bool negative = parsed.starts_with('-');
  return canonicalInteger(negative ? parsed.substr(1) : parsed, negative) == value;
}

std::optional<ShardKeyTemplate::Source> sourceOf(const FixedColumn& fixed, std::string_view query,
                                                 std::span<const LiteralSpan> literals) {
  if (fixed.value.parameter >= 0) {
    return ShardKeyTemplate::Source{.column = fixed.column, .parameter = fixed.value.parameter};
  }
  const std::optional<Placed> placed = place(query, literals, fixed.value.location);
  if (!placed) return std::nullopt;
  if (!agrees(fixed.value, tokenOf(query, literals[placed->literal]), placed->negated)) {
    return std::nullopt;
  }
  return ShardKeyTemplate::Source{
      .column = fixed.column, .literal = placed->literal, .negated = placed->negated};
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Whether the statement would leave a column to a default the shard's
// table does not have.
bool needsCoordinatorDefault(const ShardKeyTemplate& shardKey, const ShardedRelation& relation) {
  return std::any_of(relation.coordinatorDefaults.begin(), relation.coordinatorDefaults.end(),
                     [&](const std::string& column) {
                       return contains(shardKey.defaulted, column) ||
                              (shardKey.inserted && !contains(*shardKey.inserted, column));
                     });
}

std::optional<ShardKeyUse> keyUse(const ShardKeyTemplate& shardKey, std::size_t relation,
                                  const std::string& keyColumn, std::string_view query,
                                  std::span<const LiteralSpan> literals) {
  // A shard node holds a plain table: a row whose key changes would stay
  // on the wrong shard.
  if (contains(shardKey.assigned, keyColumn)) return std::nullopt;
  const ShardKeyTemplate::Source* source = nullptr;
  for (const ShardKeyTemplate::Source& candidate : shardKey.fixed) {
    if (candidate.column != keyColumn) continue;
    if (source != nullptr) return std::nullopt;  // key = 1 AND key = 2
    source = &candidate;
  }
  if (source == nullptr) return std::nullopt;
  ShardKeyUse use{
      .relation = relation, .parameter = source->parameter, .readOnly = shardKey.readOnly};
  if (source->parameter >= 0) return use;
  if (source->literal >= literals.size()) return std::nullopt;
  std::optional<std::string> value =
      literalValue(tokenOf(query, literals[source->literal]), source->negated);
  if (!value) return std::nullopt;
  use.literal = std::move(*value);
  return use;
}

}  // namespace

std::optional<ShardKeyTemplate> makeShardKeyTemplate(const Classification& classification,
                                                     std::string_view query,
                                                     std::span<const LiteralSpan> literals) {
  if (classification.status != ClassificationStatus::kOk || classification.statements.size() != 1) {
    return std::nullopt;
  }
  const Statement& statement = classification.statements.front();
  if (!statement.singleRelation || !statement.unsafeFunctions.empty() ||
      !statement.sessionEffects.empty() || statement.blockers.has(ReadOnlyBlocker::kSelectInto)) {
    return std::nullopt;
  }
  const SingleRelation& single = *statement.singleRelation;
  ShardKeyTemplate shardKey{.table = single.table,
                            .readOnly = statement.readOnly,
                            .assigned = single.assigned,
                            .defaulted = single.defaulted,
                            .inserted = single.inserted};
  for (const FixedColumn& fixed : single.fixed) {
    if (std::optional<ShardKeyTemplate::Source> source = sourceOf(fixed, query, literals)) {
      shardKey.fixed.push_back(std::move(*source));
    }
  }
  return shardKey;
}

std::optional<ShardKeyUse> resolveShardKey(const ShardKeyTemplate& shardKey, std::string_view query,
                                           std::span<const LiteralSpan> literals,
                                           std::span<const ShardedRelation> relations) {
  const std::string_view schema =
      shardKey.table.schema.empty() ? std::string_view("public") : shardKey.table.schema;
  for (std::size_t i = 0; i < relations.size(); ++i) {
    const ShardedRelation& relation = relations[i];
    if (relation.table != shardKey.table.name || relation.schema != schema) continue;
    if (needsCoordinatorDefault(shardKey, relation)) return std::nullopt;
    return keyUse(shardKey, i, relation.keyColumn, query, literals);
  }
  return std::nullopt;
}

std::optional<ShardKeyUse> findShardKey(std::string_view query,
                                        std::span<const ShardedRelation> relations,
                                        const FunctionAllowlist& allowlist) {
  std::vector<LiteralSpan> literals;
  if (!literalFreeKey(query, literals)) return std::nullopt;
  const std::optional<ShardKeyTemplate> shardKey =
      makeShardKeyTemplate(classify(query, allowlist), query, literals);
  return shardKey ? resolveShardKey(*shardKey, query, literals, relations) : std::nullopt;
}

std::size_t approximateBytes(const ShardKeyTemplate& shardKey) {
  std::size_t bytes =
      sizeof(ShardKeyTemplate) + heapBytes(shardKey.table.schema) + heapBytes(shardKey.table.name);
  for (const ShardKeyTemplate::Source& source : shardKey.fixed) {
    bytes += sizeof(source) + heapBytes(source.column);
  }
  return bytes + heapBytes(shardKey.assigned) + heapBytes(shardKey.defaulted) +
         (shardKey.inserted ? heapBytes(*shardKey.inserted) : 0);
}

}  // namespace pgswarm::sql
