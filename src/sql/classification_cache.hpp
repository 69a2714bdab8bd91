// A bounded LRU of classifications keyed by exact query text, bounded in
// entries and in approximate bytes, that skips texts too long to be worth
// keeping. Single-threaded by design (one per worker thread): no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sql/statement.hpp"

namespace pgswarm::sql {

struct CacheLimits {
  std::size_t maxEntries = 10'000;
  std::size_t maxBytes = 16 * 1024 * 1024;  // keys plus approximate classification sizes
  std::size_t maxQueryBytes = 8 * 1024;     // longer texts are classified but never kept
};

struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::uint64_t bypassed = 0;  // lookups of texts longer than maxQueryBytes
  std::size_t entries = 0;
  std::size_t bytes = 0;
};

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

  void clear();
  [[nodiscard]] const CacheStats& stats() const { return stats_; }
  [[nodiscard]] const CacheLimits& limits() const { return limits_; }

 private:
  struct Entry {
    std::string query;
    std::shared_ptr<const Classification> value;
    std::size_t bytes = 0;
  };
  using Order = std::list<Entry>;  // front: most recently used

  void evictOne();

  CacheLimits limits_;
  CacheStats stats_;
  Order order_;
  // Keys view the query strings held by order_'s nodes, which never move.
  std::unordered_map<std::string_view, Order::iterator> index_;
};

}  // namespace pgswarm::sql
