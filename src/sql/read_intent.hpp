// Where a query text may run, as the router needs it: the whole
// classification reduced to one of four answers, plus the literal-free key
// that lets one cached answer serve every text that differs only in its
// literals (`... WHERE aid = 17` and `... WHERE aid = 42`). Pure; no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sql/statement.hpp"

namespace pgswarm::sql {

enum class ReadIntent : unsigned char {
  kPrimary,        // must run on the primary: anything not provably read-only
  kReplica,        // read-only statements outside any transaction block
  kBeginReadOnly,  // opens a transaction declared READ ONLY; what follows in the text reads
  kBegin,          // opens a transaction not declared read-only: the session default decides
};
[[nodiscard]] std::string_view toString(ReadIntent intent);

// kReplica when the classification is kOk and every statement is read-only;
// kBeginReadOnly / kBegin when the first statement is BEGIN / START
// TRANSACTION (READ ONLY or not) and every later one is read-only; kPrimary
// for everything else: writes, DDL, locks, SET, COPY, CALL, DO, EXECUTE,
// COMMIT/ROLLBACK, parse errors, texts too large or unreadable, empty texts.
[[nodiscard]] ReadIntent readIntent(const Classification& classification);

// True when every statement only sets, resets or shows settings (SET,
// RESET, SHOW; not SET ROLE or SESSION AUTHORIZATION, not set_config()):
// it runs on the primary like any kPrimary text, but writes no data, so a
// later read need not wait for a replica to catch up with it.
[[nodiscard]] bool changesSettingsOnly(const Classification& classification);

// `text` with every literal (numbers, '...', E'...', B'...', X'...', U&'...',
// $tag$...$tag$) replaced by a placeholder, and everything else (keywords,
// identifiers, "quoted identifiers", $n parameters, operators, whitespace,
// comments) kept byte for byte. nullopt when the text cannot be scanned with
// certainty (an unterminated literal, quoted identifier or comment): the
// caller then keys by the exact text.
[[nodiscard]] std::optional<std::string> literalFreeKey(std::string_view text);

// Where one literal the key replaced is in the text: [begin, end), its
// prefix (E, B, X, N, U&) included.
struct LiteralSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
};
// literalFreeKey, also listing the literals it replaced in text order
// (`literals` is cleared first; its capacity is reused).
[[nodiscard]] std::optional<std::string> literalFreeKey(std::string_view text,
                                                        std::vector<LiteralSpan>& literals);

// What stands for a literal in a literal-free key. A zero byte cannot occur
// in a keyed text (literalFreeKey refuses texts holding one), so a key maps
// back to exactly one sequence of non-literal bytes and literal classes.
// A prefix (E, B, X, N, U&) is kept: only the quoted part is replaced.
inline constexpr std::string_view kNumberPlaceholder{"\0n", 2};
inline constexpr std::string_view kStringPlaceholder{"\0s", 2};

// False when an intent must not be shared between texts with the same
// literal-free key because a literal can change it (EXPLAIN (ANALYZE 0)
// against EXPLAIN (ANALYZE 1)).
[[nodiscard]] bool intentIgnoresLiterals(const Classification& classification);

}  // namespace pgswarm::sql
