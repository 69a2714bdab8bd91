// A bounded LRU of classifications keyed by exact query text, bounded in
// entries and in approximate bytes, that skips texts too long to be worth
// keeping. Single-threaded by design (one per worker thread): no locks.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "sql/cache_limits.hpp"
#include "sql/statement.hpp"
#include "sql/text_lru.hpp"

namespace pgswarm::sql {

// Approximate heap and inline bytes a classification occupies.
[[nodiscard]] std::size_t approximateBytes(const Classification& classification);

class ClassificationCache {
 public:
  explicit ClassificationCache(CacheLimits limits = {});

  // The cached classification and a hit, or nullptr and a miss (or a bypass
  // for a text longer than maxQueryBytes). A hit becomes most recently used.
  [[nodiscard]] std::shared_ptr<const Classification> find(std::string_view query);

  // Keeps value for query (ignored when the text is too long or the entry
  // alone exceeds maxBytes), evicting least recently used entries to fit.
  void insert(std::string_view query, std::shared_ptr<const Classification> value);

  void clear() { entries_.clear(); }
  [[nodiscard]] const CacheStats& stats() const { return entries_.stats(); }
  [[nodiscard]] const CacheLimits& limits() const { return entries_.limits(); }

 private:
  TextLru<std::shared_ptr<const Classification>> entries_;
};

}  // namespace pgswarm::sql
