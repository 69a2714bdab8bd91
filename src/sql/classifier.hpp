// Statement classification with libpg_query, the real PostgreSQL 15 parser:
// query text in, Classification out, with or without a per-thread cache.
// No I/O, no logging, no hand-written SQL matching; never throws.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "sql/classification_cache.hpp"
#include "sql/function_allowlist.hpp"
#include "sql/intent_cache.hpp"
#include "sql/read_intent.hpp"
#include "sql/shard_key.hpp"
#include "sql/statement.hpp"

namespace pgswarm::sql {

// libpg_query turns the tree into JSON recursively, and a left-deep
// expression (`SELECT 1+1+1...`) costs about 64 bytes of C stack per byte of
// text (measured: 16 KB of `+1` overflows a 1 MiB thread stack). 64 KiB keeps
// the worst case near 4 MiB, half of the 8 MiB default thread stack. Longer
// texts get kTooLarge. Lower it for threads with smaller stacks (stack / 128).
inline constexpr std::size_t kDefaultMaxParseBytes = std::size_t{64} * 1024;

// Parses and classifies query (one or more statements separated by ';').
// Safe to call from several threads at once: libpg_query keeps its memory
// contexts per thread.
[[nodiscard]] Classification classify(
    std::string_view query, const FunctionAllowlist& allowlist = FunctionAllowlist::defaults(),
    std::size_t maxParseBytes = kDefaultMaxParseBytes);

struct ClassifierOptions {
  FunctionAllowlist allowlist;  // default: FunctionAllowlist::defaults()
  std::size_t maxParseBytes = kDefaultMaxParseBytes;
  CacheLimits cache;
  CacheLimits intentCache;  // Classifier::route's own cache
};

// Where one query text may run: the router's whole answer.
struct StatementRoute {
  ReadIntent intent = ReadIntent::kPrimary;
  bool settingsOnly = false;            // changesSettingsOnly(): writes no data
  std::optional<ShardKeyUse> shardKey;  // set: one shard node owns every row it touches
};

// classify() behind an LRU cache keyed by the exact query text, and read
// intents behind a second one keyed by literal-free text. One per worker
// thread: no locking inside, not safe to share between threads. The returned
// classification stays valid after eviction (shared ownership).
class Classifier {
 public:
  explicit Classifier(ClassifierOptions options = {});

  [[nodiscard]] std::shared_ptr<const Classification> classify(std::string_view query);
  // readIntent(classify(query)) and findShardKey(query, relations) without
  // touching the classification cache, cached by literalFreeKey(query) (by
  // the exact text when there is no key, or when intentIgnoresLiterals() is
  // false), so texts that differ only in literals parse once: the router's
  // hot path. The cache keeps what does not depend on `relations` (the
  // shard key template), so a new shard map needs no flush. One
  // difference: a text the parser rejects only for a literal (0x1F before
  // PostgreSQL 16) gets the answer cached for its key; any server rejects
  // it or runs it as that answer says. Texts over maxParseBytes are
  // kPrimary without a look.
  [[nodiscard]] StatementRoute route(std::string_view query,
                                     std::span<const ShardedRelation> relations);
  // route(query, {}).intent.
  [[nodiscard]] ReadIntent readIntent(std::string_view query);
  [[nodiscard]] const CacheStats& cacheStats() const { return cache_.stats(); }
  [[nodiscard]] const CacheStats& intentCacheStats() const { return intents_.stats(); }
  [[nodiscard]] const ClassifierOptions& options() const { return options_; }

 private:
  // The route `facts` give `query`, whose literals are in literals_.
  [[nodiscard]] StatementRoute routeOf(const RouteFacts& facts, std::string_view query,
                                       std::span<const ShardedRelation> relations);

  ClassifierOptions options_;
  ClassificationCache cache_;
  IntentCache intents_;
  std::vector<LiteralSpan> literals_;  // route()'s scratch, kept for its capacity
};

}  // namespace pgswarm::sql
