// A bounded LRU of read intents for Classifier::readIntent, keyed by a
// literal-free key or by an exact text. Apart from the classification cache
// so that texts with unique literals never crowd classifications out; the
// same limits and statistics. Single-threaded, like its owner.
#pragma once

#include <optional>
#include <string_view>

#include "sql/cache_limits.hpp"
#include "sql/read_intent.hpp"
#include "sql/text_lru.hpp"

namespace pgswarm::sql {

class IntentCache {
 public:
  explicit IntentCache(CacheLimits limits = {}) : entries_(limits) {}

  // The intent kept under key or, when exact differs from it, under exact
  // (a text whose intent depends on its literals is kept by its own text).
  // Counts one hit or one miss; a key longer than maxQueryBytes is a bypass.
  // A hit becomes most recently used.
  [[nodiscard]] std::optional<ReadIntent> find(std::string_view key, std::string_view exact);

  // Keeps intent under key (ignored when longer than maxQueryBytes),
  // evicting least recently used entries to fit.
  void insert(std::string_view key, ReadIntent intent);

  void clear() { entries_.clear(); }
  [[nodiscard]] const CacheStats& stats() const { return entries_.stats(); }
  [[nodiscard]] const CacheLimits& limits() const { return entries_.limits(); }

 private:
  TextLru<ReadIntent> entries_;
};

}  // namespace pgswarm::sql
