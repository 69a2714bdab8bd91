// A lexical pre-check that spares the parser on the hot path: most query
// texts are unique (literals inlined), so a text cache misses and a full
// libpg_query parse per query costs more than the relay itself. Only texts
// this check flags can have a session effect or be transaction control.
// It may say yes too often (a word inside a string literal), never no too
// often: the classifier's own tests check it against every statement that
// has an effect.
#pragma once

#include <string_view>

namespace pgswarm::sql {

// False only when no statement in `text` can be transaction control or
// leave session state (SET/RESET, temp objects, advisory locks, LISTEN,
// cursors, PREPARE/DEALLOCATE, DISCARD, LOAD, set_config).
[[nodiscard]] bool mayAffectSession(std::string_view text);

namespace detail {
// The two checks mayAffectSession combines, for the tests: a one-pass check
// that settles the common single statement (an ordinary one that names
// nothing of the session's, or one that starts with BEGIN, SET, COMMIT and
// the like), and the lexer's for the rest.
enum class OnePass { kUnaffecting, kAffects, kAskTheLexer };
[[nodiscard]] OnePass onePassVerdict(std::string_view text);
[[nodiscard]] bool plainlyUnaffecting(std::string_view text);  // kUnaffecting
[[nodiscard]] bool mayAffectSessionLexed(std::string_view text);
}  // namespace detail

}  // namespace pgswarm::sql
