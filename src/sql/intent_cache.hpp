// A bounded LRU of routing facts for Classifier::route (the read intent and
// the shard key template), keyed by a literal-free key or by an exact text.
// Apart from the classification cache so that texts with unique literals
// never crowd classifications out; the same limits and statistics.
// Single-threaded, like its owner.
#pragma once

#include <optional>
#include <string_view>

#include "sql/cache_limits.hpp"
#include "sql/read_intent.hpp"
#include "sql/shard_key.hpp"
#include "sql/text_lru.hpp"

namespace pgswarm::sql {

// What one parse of a text tells the router about every text of its key.
struct RouteFacts {
  ReadIntent intent = ReadIntent::kPrimary;
  bool settingsOnly = false;                 // changesSettingsOnly()
  std::optional<ShardKeyTemplate> shardKey;  // nullopt: not a single-relation statement
  // The text had no literal to replace: its key is the text itself, and
  // the template refers to no literal span.
  bool literalFree = false;
};

class IntentCache {
 public:
  explicit IntentCache(CacheLimits limits = {}) : entries_(limits) {}

  // The facts kept under key or, when exact differs from it, under exact
  // (a text whose intent depends on its literals is kept by its own text);
  // nullptr when neither is kept. Valid until the next insert or clear.
  // Counts one hit or one miss; a key longer than maxQueryBytes is a
  // bypass. A hit becomes most recently used.
  [[nodiscard]] const RouteFacts* find(std::string_view key, std::string_view exact);

  // The facts of a literal-free text kept under the text itself, counted
  // as a hit; nullptr, and not counted, for anything else (find() decides
  // then, once the text was scanned).
  [[nodiscard]] const RouteFacts* findLiteralFree(std::string_view text);

  // Keeps facts under key (ignored when longer than maxQueryBytes),
  // evicting least recently used entries to fit.
  void insert(std::string_view key, RouteFacts facts);

  void clear() { entries_.clear(); }
  [[nodiscard]] const CacheStats& stats() const { return entries_.stats(); }
  [[nodiscard]] const CacheLimits& limits() const { return entries_.limits(); }

 private:
  TextLru<RouteFacts> entries_;
};

}  // namespace pgswarm::sql
