// IntentCache over TextLru: an entry's bytes are its key plus the LRU's
// fixed overhead.
#include "sql/intent_cache.hpp"

namespace pgswarm::sql {

std::optional<ReadIntent> IntentCache::find(std::string_view key, std::string_view exact) {
  auto& stats = entries_.stats();
  const auto maxQueryBytes = entries_.limits().maxQueryBytes;
  if (key.size() > maxQueryBytes) {
    ++stats.bypassed;
    return std::nullopt;
  }
  const ReadIntent* found = entries_.touch(key);
  if (found == nullptr && exact != key && exact.size() <= maxQueryBytes) {
    found = entries_.touch(exact);
  }
  if (found != nullptr) {
    ++stats.hits;
  } else {
    ++stats.misses;
  }
  return found != nullptr ? std::optional(*found) : std::nullopt;
}

void IntentCache::insert(std::string_view key, ReadIntent intent) {
  entries_.put(key, intent, 0);
}

}  // namespace pgswarm::sql
