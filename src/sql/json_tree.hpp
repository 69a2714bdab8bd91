// Internal to sql/: non-throwing accessors over libpg_query's JSON parse tree
// (PostgreSQL 15 node names), shared by the readers of the tree
// (statement_analyzer, single_relation). Never throws, never allocates.
#pragma once

#include <cctype>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pgswarm::sql::detail {

using Json = nlohmann::json;

inline const Json* field(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto found = object.find(key);
  return found == object.end() ? nullptr : &*found;
}

inline std::string_view text(const Json* value) {
  return value != nullptr && value->is_string()
             ? std::string_view(value->get_ref<const std::string&>())
             : std::string_view();
}

// libpg_query leaves out fields at their zero value: a missing key is 0/false.
// (libpg_query 15-4.0 also leaves out negative integers: see single_relation.)
inline long long integer(const Json* value) {
  return value != nullptr && value->is_number_integer() ? value->get<long long>() : 0;
}

inline bool flag(const Json* value) {
  return value != nullptr && value->is_boolean() && value->get<bool>();
}

inline const Json* path(const Json& object, std::initializer_list<std::string_view> keys) {
  const Json* current = &object;
  for (std::string_view key : keys) {
    current = field(*current, key);
    if (current == nullptr) return nullptr;
  }
  return current;
}

// A wrapped node: {"TypeName": {...fields...}}. Node names start uppercase;
// field names never do.
struct Node {
  std::string_view type;
  const Json* body = nullptr;
};

inline std::optional<Node> asNode(const Json& value) {
  if (!value.is_object() || value.size() != 1) return std::nullopt;
  auto only = value.begin();
  const std::string& key = only.key();
  if (key.empty() || std::isupper(static_cast<unsigned char>(key.front())) == 0)
    return std::nullopt;
  if (!only.value().is_object()) return std::nullopt;
  return Node{key, &only.value()};
}

// The node's body when value is a node of that type, else nullptr.
inline const Json* nodeOf(const Json* value, std::string_view type) {
  if (value == nullptr) return nullptr;
  std::optional<Node> node = asNode(*value);
  return node && node->type == type ? node->body : nullptr;
}

}  // namespace pgswarm::sql::detail
