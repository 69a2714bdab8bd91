// A bounded LRU of read intents for Classifier::readIntent, keyed by a
// literal-free key or by an exact text. Apart from the classification cache
// so that texts with unique literals never crowd classifications out; the
// same limits and statistics. Single-threaded, like its owner.
#pragma once

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sql/classification_cache.hpp"
#include "sql/read_intent.hpp"

namespace pgswarm::sql {

class IntentCache {
 public:
  explicit IntentCache(CacheLimits limits = {});
  // index_ views keys held in order_'s nodes: a copy would view the
  // original's. Moving keeps the nodes, so it keeps the views valid.
  IntentCache(const IntentCache&) = delete;
  IntentCache& operator=(const IntentCache&) = delete;
  IntentCache(IntentCache&&) = default;
  IntentCache& operator=(IntentCache&&) = default;
  ~IntentCache() = default;

  // The intent kept under key or, when exact differs from it, under exact
  // (a text whose intent depends on its literals is kept by its own text).
  // Counts one hit or one miss; a key longer than maxQueryBytes is a bypass.
  // A hit becomes most recently used.
  [[nodiscard]] std::optional<ReadIntent> find(std::string_view key, std::string_view exact);

  // Keeps intent under key (ignored when longer than maxQueryBytes),
  // evicting least recently used entries to fit.
  void insert(std::string_view key, ReadIntent intent);

  void clear();
  [[nodiscard]] const CacheStats& stats() const { return stats_; }
  [[nodiscard]] const CacheLimits& limits() const { return limits_; }

 private:
  struct Entry {
    std::string key;
    ReadIntent intent = ReadIntent::kPrimary;
    std::size_t bytes = 0;
  };
  using Order = std::list<Entry>;  // front: most recently used

  std::optional<ReadIntent> lookup(std::string_view key);
  void evictOne();

  CacheLimits limits_;
  CacheStats stats_;
  Order order_;
  // Keys view the strings held by order_'s nodes, which never move.
  std::unordered_map<std::string_view, Order::iterator> index_;
};

}  // namespace pgswarm::sql
