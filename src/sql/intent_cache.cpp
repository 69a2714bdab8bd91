// IntentCache over TextLru: an entry's bytes are its key, the LRU's fixed
// overhead and its shard key template.
#include "sql/intent_cache.hpp"

#include <utility>

namespace pgswarm::sql {

const RouteFacts* IntentCache::find(std::string_view key, std::string_view exact) {
  auto& stats = entries_.stats();
  const auto maxQueryBytes = entries_.limits().maxQueryBytes;
  if (key.size() > maxQueryBytes) {
    ++stats.bypassed;
    return nullptr;
  }
  const RouteFacts* found = entries_.touch(key);
  if (found == nullptr && exact != key && exact.size() <= maxQueryBytes) {
    found = entries_.touch(exact);
  }
  if (found != nullptr) {
    ++stats.hits;
  } else {
    ++stats.misses;
  }
  return found;
}

const RouteFacts* IntentCache::findLiteralFree(std::string_view text) {
  if (text.size() > entries_.limits().maxQueryBytes) return nullptr;
  const RouteFacts* found = entries_.touch(text);
  if (found == nullptr || !found->literalFree) return nullptr;
  ++entries_.stats().hits;
  return found;
}

void IntentCache::insert(std::string_view key, RouteFacts facts) {
  const std::size_t bytes = facts.shardKey ? approximateBytes(*facts.shardKey) : 0;
  entries_.put(key, std::move(facts), bytes);
}

}  // namespace pgswarm::sql
