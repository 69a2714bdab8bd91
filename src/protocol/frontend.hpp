// Frontend (client -> server) messages of the simple and extended query
// protocols: one type each with parse(body) and encode(Writer&). Parsed
// values are views into the frame body and live as long as that buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/codes.hpp"
#include "protocol/message.hpp"

namespace pgswarm::protocol {

// What Describe and Close name: a prepared statement or a portal.
enum class ObjectKind : char {
  kStatement = 'S',
  kPortal = 'P',
};

struct Query {
  static constexpr char kType = kQuery;
  std::string_view sql;

  [[nodiscard]] static ParseResult<Query> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const Query&) const = default;
};

struct Parse {
  static constexpr char kType = kParse;
  std::string_view statement;  // "" is the unnamed statement
  std::string_view sql;
  std::vector<std::int32_t> parameterTypes;  // type OIDs, 0 = unspecified

  [[nodiscard]] static ParseResult<Parse> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const Parse&) const = default;
};

struct Bind {
  static constexpr char kType = kBind;
  std::string_view portal;
  std::string_view statement;
  // 0 entries: all text; 1: applies to all; else one per parameter.
  std::vector<std::int16_t> parameterFormats;
  std::vector<std::optional<std::string_view>> parameters;  // nullopt = SQL NULL
  std::vector<std::int16_t> resultFormats;

  // Also refuses a parameter format count other than 0, 1 or one per value,
  // which PostgreSQL reports as a protocol violation.
  [[nodiscard]] static ParseResult<Bind> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const Bind&) const = default;
};

struct Describe {
  static constexpr char kType = kDescribe;
  ObjectKind kind = ObjectKind::kStatement;
  std::string_view name;

  [[nodiscard]] static ParseResult<Describe> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const Describe&) const = default;
};

struct Execute {
  static constexpr char kType = kExecute;
  std::string_view portal;
  std::int32_t maxRows = 0;  // 0 = no limit

  [[nodiscard]] static ParseResult<Execute> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const Execute&) const = default;
};

struct Close {
  static constexpr char kType = kClose;
  ObjectKind kind = ObjectKind::kStatement;
  std::string_view name;

  [[nodiscard]] static ParseResult<Close> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const Close&) const = default;
};

using Sync = EmptyMessage<kSync>;
using Flush = EmptyMessage<kFlush>;
using Terminate = EmptyMessage<kTerminate>;

}  // namespace pgswarm::protocol
