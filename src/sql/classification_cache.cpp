// ClassificationCache over TextLru. Byte accounting is approximate (it
// counts what the classification owns, not allocator overhead) but
// monotone in size.
#include "sql/classification_cache.hpp"

#include <utility>

namespace pgswarm::sql {
namespace {

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

ClassificationCache::ClassificationCache(CacheLimits limits) : entries_(limits) {}

std::shared_ptr<const Classification> ClassificationCache::find(std::string_view query) {
  auto& stats = entries_.stats();
  if (query.size() > entries_.limits().maxQueryBytes) {
    ++stats.bypassed;
    return nullptr;
  }
  auto* found = entries_.touch(query);
  if (found != nullptr) {
    ++stats.hits;
  } else {
    ++stats.misses;
  }
  return found != nullptr ? *found : nullptr;
}

void ClassificationCache::insert(std::string_view query,
                                 std::shared_ptr<const Classification> value) {
  if (value == nullptr) return;
  const std::size_t bytes = approximateBytes(*value);
  entries_.put(query, std::move(value), bytes);
}

}  // namespace pgswarm::sql
