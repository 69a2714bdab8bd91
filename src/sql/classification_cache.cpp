// ClassificationCache over TextLru. Byte accounting is approximate (it
// counts what the classification owns, not allocator overhead) but
// monotone in size.
#include "sql/classification_cache.hpp"

#include <utility>

namespace pgswarm::sql {
namespace {

std::size_t statementBytes(const Statement& statement) {
  std::size_t bytes =
      sizeof(Statement) + heapBytes(statement.nodeType) + heapBytes(statement.transaction.name);
  for (const SessionEffect& effect : statement.sessionEffects) {
    bytes += sizeof(SessionEffect) + heapBytes(effect.name) + heapBytes(effect.value) +
             heapBytes(effect.replaySql);
  }
  for (const TableRef& table : statement.tables) {
    bytes += sizeof(TableRef) + heapBytes(table.schema) + heapBytes(table.name);
  }
  bytes += heapBytes(statement.functions) + heapBytes(statement.unsafeFunctions);
  if (const auto& single = statement.singleRelation) {
    bytes += heapBytes(single->table.schema) + heapBytes(single->table.name);
    for (const FixedColumn& fixed : single->fixed) {
      bytes += sizeof(fixed) + heapBytes(fixed.column) +
               (fixed.value.parsed ? heapBytes(*fixed.value.parsed) : 0);
    }
    bytes += heapBytes(single->assigned) + heapBytes(single->defaulted) +
             (single->inserted ? heapBytes(*single->inserted) : 0);
  }
  return bytes;
}

}  // namespace

std::size_t approximateBytes(const Classification& classification) {
  std::size_t bytes = sizeof(Classification) + heapBytes(classification.error.message);
  for (const Statement& statement : classification.statements) bytes += statementBytes(statement);
  for (const TableRef& table : classification.tables) {
    bytes += sizeof(TableRef) + heapBytes(table.schema) + heapBytes(table.name);
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
