// LRU bookkeeping for ClassificationCache: a list in recency order and a
// hash index into it. Byte accounting is approximate (it counts what the
// classification owns, not allocator overhead) but monotone in size.
#include "sql/classification_cache.hpp"

#include <utility>

namespace pgswarm::sql {
namespace {

// Bookkeeping per entry beyond the key and value: list node, hash node, bucket.
constexpr std::size_t kEntryOverhead = 96;

std::size_t stringBytes(const std::string& text) {
  // Short strings live inside the object (small-string optimisation).
  return text.capacity() > 15 ? text.capacity() + 1 : 0;
}

std::size_t statementBytes(const Statement& statement) {
  std::size_t bytes =
      sizeof(Statement) + stringBytes(statement.nodeType) + stringBytes(statement.transaction.name);
  for (const SessionEffect& effect : statement.sessionEffects) {
    bytes += sizeof(SessionEffect) + stringBytes(effect.name) + stringBytes(effect.value) +
             stringBytes(effect.replaySql);
  }
  for (const TableRef& table : statement.tables) {
    bytes += sizeof(TableRef) + stringBytes(table.schema) + stringBytes(table.name);
  }
  for (const std::string& name : statement.functions) bytes += sizeof(name) + stringBytes(name);
  for (const std::string& name : statement.unsafeFunctions)
    bytes += sizeof(name) + stringBytes(name);
  return bytes;
}

}  // namespace

std::size_t approximateBytes(const Classification& classification) {
  std::size_t bytes = sizeof(Classification) + stringBytes(classification.error.message);
  for (const Statement& statement : classification.statements) bytes += statementBytes(statement);
  for (const TableRef& table : classification.tables) {
    bytes += sizeof(TableRef) + stringBytes(table.schema) + stringBytes(table.name);
  }
  return bytes;
}

ClassificationCache::ClassificationCache(CacheLimits limits) : limits_(limits) {
  index_.reserve(limits_.maxEntries);
}

std::shared_ptr<const Classification> ClassificationCache::find(std::string_view query) {
  if (query.size() > limits_.maxQueryBytes) {
    ++stats_.bypassed;
    return nullptr;
  }
  auto found = index_.find(query);
  if (found == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  order_.splice(order_.begin(), order_, found->second);
  return found->second->value;
}

void ClassificationCache::insert(std::string_view query,
                                 std::shared_ptr<const Classification> value) {
  if (value == nullptr || query.size() > limits_.maxQueryBytes || limits_.maxEntries == 0) return;
  const std::size_t bytes = kEntryOverhead + query.size() + approximateBytes(*value);
  if (bytes > limits_.maxBytes) return;
  if (auto found = index_.find(query); found != index_.end()) {
    stats_.bytes -= found->second->bytes;
    found->second->value = std::move(value);
    found->second->bytes = bytes;
    stats_.bytes += bytes;
    order_.splice(order_.begin(), order_, found->second);
  } else {
    order_.push_front(Entry{std::string(query), std::move(value), bytes});
    index_.emplace(order_.front().query, order_.begin());
    stats_.bytes += bytes;
  }
  while (index_.size() > limits_.maxEntries || stats_.bytes > limits_.maxBytes) evictOne();
  stats_.entries = index_.size();
}

void ClassificationCache::evictOne() {
  const Entry& oldest = order_.back();
  stats_.bytes -= oldest.bytes;
  index_.erase(oldest.query);
  order_.pop_back();
  ++stats_.evictions;
}

void ClassificationCache::clear() {
  index_.clear();
  order_.clear();
  stats_.entries = 0;
  stats_.bytes = 0;
}

}  // namespace pgswarm::sql
