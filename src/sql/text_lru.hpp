// The LRU both sql caches share: values keyed by text, bounded in entries
// and in approximate bytes (a fixed overhead plus the key plus what the
// caller says the value holds), in recency order. Counts evictions, entries
// and bytes; hits, misses and bypasses are the owner's to count, since what
// one lookup means differs between its users. Single-threaded.
#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "sql/cache_limits.hpp"

namespace pgswarm::sql {

template <typename Value>
class TextLru {
 public:
  explicit TextLru(CacheLimits limits) : limits_(limits) { index_.reserve(limits_.maxEntries); }
  // index_ views keys held in order_'s nodes: a copy would view the
  // original's. Moving keeps the nodes, so it keeps the views valid.
  TextLru(const TextLru&) = delete;
  TextLru& operator=(const TextLru&) = delete;
  TextLru(TextLru&&) noexcept = default;
  TextLru& operator=(TextLru&&) noexcept = default;
  ~TextLru() = default;

  // The value under key, now most recently used; nullptr when absent.
  [[nodiscard]] Value* touch(std::string_view key) {
    auto found = index_.find(key);
    if (found == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, found->second);
    return &found->second->value;
  }

  // Keeps value under key (not when the key is longer than maxQueryBytes
  // or the entry alone exceeds maxBytes), evicting least recently used
  // entries to fit.
  void put(std::string_view key, Value value, std::size_t valueBytes) {
    if (key.size() > limits_.maxQueryBytes || limits_.maxEntries == 0) return;
    const std::size_t bytes = kEntryOverhead + key.size() + valueBytes;
    if (bytes > limits_.maxBytes) return;
    if (auto found = index_.find(key); found != index_.end()) {
      stats_.bytes -= found->second->bytes;
      found->second->value = std::move(value);
      found->second->bytes = bytes;
      order_.splice(order_.begin(), order_, found->second);
    } else {
      order_.push_front(Entry{std::string(key), std::move(value), bytes});
      index_.emplace(order_.front().key, order_.begin());
    }
    stats_.bytes += bytes;
    while (index_.size() > limits_.maxEntries || stats_.bytes > limits_.maxBytes) evictOne();
    stats_.entries = index_.size();
  }

  void clear() {
    index_.clear();
    order_.clear();
    stats_.entries = 0;
    stats_.bytes = 0;
  }

  [[nodiscard]] CacheStats& stats() { return stats_; }
  [[nodiscard]] const CacheStats& stats() const { return stats_; }
  [[nodiscard]] const CacheLimits& limits() const { return limits_; }

 private:
  // Bookkeeping per entry beyond key and value: list node, hash node, bucket.
  static constexpr std::size_t kEntryOverhead = 96;

  struct Entry {
    std::string key;
    Value value;
    std::size_t bytes = 0;
  };
  using Order = std::list<Entry>;  // front: most recently used

  void evictOne() {
    const Entry& oldest = order_.back();
    stats_.bytes -= oldest.bytes;
    index_.erase(oldest.key);
    order_.pop_back();
    ++stats_.evictions;
  }

  CacheLimits limits_;
  CacheStats stats_;
  Order order_;
  std::unordered_map<std::string_view, typename Order::iterator> index_;
};

}  // namespace pgswarm::sql
