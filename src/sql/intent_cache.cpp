// LRU bookkeeping for IntentCache, as in ClassificationCache: a list in
// recency order and a hash index into it; an entry's bytes are its key plus
// a fixed overhead.
#include "sql/intent_cache.hpp"

namespace pgswarm::sql {
namespace {

// List node, hash node, bucket and the entry's own fields.
constexpr std::size_t kEntryOverhead = 96;

}  // namespace

IntentCache::IntentCache(CacheLimits limits) : limits_(limits) {
  index_.reserve(limits_.maxEntries);
}

std::optional<ReadIntent> IntentCache::find(std::string_view key, std::string_view exact) {
  if (key.size() > limits_.maxQueryBytes) {
    ++stats_.bypassed;
    return std::nullopt;
  }
  std::optional<ReadIntent> found = lookup(key);
  if (!found && exact != key && exact.size() <= limits_.maxQueryBytes) found = lookup(exact);
  if (found) {
    ++stats_.hits;
  } else {
    ++stats_.misses;
  }
  return found;
}

std::optional<ReadIntent> IntentCache::lookup(std::string_view key) {
  auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  order_.splice(order_.begin(), order_, found->second);
  return found->second->intent;
}

void IntentCache::insert(std::string_view key, ReadIntent intent) {
  if (key.size() > limits_.maxQueryBytes || limits_.maxEntries == 0) return;
  const std::size_t bytes = kEntryOverhead + key.size();
  if (bytes > limits_.maxBytes) return;
  if (auto found = index_.find(key); found != index_.end()) {
    found->second->intent = intent;
    order_.splice(order_.begin(), order_, found->second);
  } else {
    order_.push_front(Entry{std::string(key), intent, bytes});
    index_.emplace(order_.front().key, order_.begin());
    stats_.bytes += bytes;
  }
  while (index_.size() > limits_.maxEntries || stats_.bytes > limits_.maxBytes) evictOne();
  stats_.entries = index_.size();
}

void IntentCache::evictOne() {
  const Entry& oldest = order_.back();
  stats_.bytes -= oldest.bytes;
  index_.erase(oldest.key);
  order_.pop_back();
  ++stats_.evictions;
}

void IntentCache::clear() {
  index_.clear();
  order_.clear();
  stats_.entries = 0;
  stats_.bytes = 0;
}

}  // namespace pgswarm::sql
