// Which functions a query may call and still go to a hot-standby replica:
// an allowlist (a default of common immutable/stable built-ins, replaceable by
// the caller) and a never-safe list that always wins. Names only; no catalog.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/result.hpp"

namespace pgswarm::sql {

class FunctionAllowlist {
 public:
  // The shipped default (defaultFunctionNames()).
  FunctionAllowlist();

  // Entries are "name" or "schema.name", compared exactly as the parser
  // spells identifiers (unquoted ones lowercased). Rejects empty names,
  // whitespace and more than one dot.
  [[nodiscard]] static Result<FunctionAllowlist> fromNames(std::span<const std::string> names);
  [[nodiscard]] static const FunctionAllowlist& defaults();

  // `function` as the classifier reports it: "name" or "schema.name". An
  // unqualified or pg_catalog-qualified call matches a bare entry; a call
  // qualified with another schema matches only that exact "schema.name".
  // Never-safe functions are refused whatever the list says.
  [[nodiscard]] bool allows(std::string_view function) const;

  [[nodiscard]] std::size_t size() const { return names_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept {
      return std::hash<std::string_view>{}(text);
    }
  };
  std::unordered_set<std::string, Hash, std::equal_to<>> names_;
};

// The default allowlist: built-ins that read but never write, and work on a
// standby (pg_current_wal_lsn, txid_current... fail there and are left out).
[[nodiscard]] std::span<const std::string_view> defaultFunctionNames();

// nextval, setval, set_config, pg_advisory_*, lo_*, dblink*, pg_notify...:
// functions that write or take locks, which no allowlist can make safe.
[[nodiscard]] bool neverSafeFunction(std::string_view function);

// The function's own name without a "pg_catalog." prefix, or the whole text
// when qualified with another schema.
[[nodiscard]] std::string_view catalogName(std::string_view function);

}  // namespace pgswarm::sql
