// Named prepared statements in transaction mode. A client's statement "X"
// may be bound later on another server connection, so the pool keeps each
// client's Parse (name -> text and parameter types) and renames it on the
// wire to a server-wide name derived from a SHA-256 of text and types. Each
// server connection remembers which of those names it has; a Bind or
// Describe of a statement the server lacks is preceded by an injected Parse
// whose ParseComplete the relay swallows. Same text, same server name: the
// statement is prepared once per server connection and shared by clients.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgswarm::proxy {

struct PreparedStatement {
  std::string serverName;
  std::string sql;
  std::vector<std::int32_t> parameterTypes;
  // The last text Session::localVariant renamed this statement to, made
  // once rather than at every Bind (one session owns the statement).
  mutable std::shared_ptr<const PreparedStatement> localVariant;
};

// "pgswarm_" + 32 hex digits of SHA-256(types, text): collisions would run
// the wrong statement, so the name is a cryptographic digest, not a hash.
// Empty if hashing failed (the statement is then forwarded under its own name).
[[nodiscard]] std::string serverStatementName(std::string_view sql,
                                              std::span<const std::int32_t> parameterTypes);

// A Parse the server will answer with ParseComplete (or skip after an error).
struct PendingParse {
  std::string serverName;  // added to the server's set when sent; "" for an unnamed Parse
  std::string clientName;  // the client's name when the client sent it, else ""
  bool injected = false;   // sent by the pool: its ParseComplete is not forwarded
};

using ClientStatements = std::unordered_map<std::string, std::shared_ptr<const PreparedStatement>>;

}  // namespace pgswarm::proxy
