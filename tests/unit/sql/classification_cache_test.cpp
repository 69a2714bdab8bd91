// The per-thread classification cache: hits and misses, LRU eviction by count
// and by bytes, texts too long to keep, and Classifier's use of it.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "sql/classification_cache.hpp"
#include "sql/classifier.hpp"

namespace pgswarm::sql {
namespace {

std::shared_ptr<const Classification> classified(std::string_view sql) {
  return std::make_shared<const Classification>(classify(sql));
}

TEST(ClassificationCache, MissThenHit) {
  ClassificationCache cache;
  EXPECT_EQ(cache.find("SELECT 1"), nullptr);
  auto value = classified("SELECT 1");
  cache.insert("SELECT 1", value);
  EXPECT_EQ(cache.find("SELECT 1"), value);
  EXPECT_EQ(cache.find("SELECT 1 "), nullptr);  // keyed by the exact text
  const CacheStats& stats = cache.stats();
  EXPECT_EQ(stats.hits, 1U);
  EXPECT_EQ(stats.misses, 2U);
  EXPECT_EQ(stats.entries, 1U);
  EXPECT_GT(stats.bytes, 0U);
}

TEST(ClassificationCache, EvictsTheLeastRecentlyUsedEntry) {
  ClassificationCache cache(CacheLimits{.maxEntries = 3});
  for (std::string_view sql : {"SELECT 1", "SELECT 2", "SELECT 3"}) {
    cache.insert(sql, classified(sql));
  }
  ASSERT_NE(cache.find("SELECT 1"), nullptr);  // now most recently used
  cache.insert("SELECT 4", classified("SELECT 4"));
  EXPECT_EQ(cache.stats().evictions, 1U);
  EXPECT_EQ(cache.stats().entries, 3U);
  EXPECT_NE(cache.find("SELECT 1"), nullptr);
  EXPECT_EQ(cache.find("SELECT 2"), nullptr);  // the least recently used went
  EXPECT_NE(cache.find("SELECT 3"), nullptr);
  EXPECT_NE(cache.find("SELECT 4"), nullptr);
}

TEST(ClassificationCache, StaysWithinItsByteBudget) {
  const std::size_t oneEntry = [] {
    ClassificationCache probe;
    probe.insert("SELECT 0000", classified("SELECT 0000"));
    return probe.stats().bytes;
  }();
  ClassificationCache cache(CacheLimits{.maxEntries = 1000, .maxBytes = oneEntry * 5});
  for (int i = 0; i < 50; ++i) {
    const std::string sql = "SELECT " + std::to_string(1000 + i);
    cache.insert(sql, classified(sql));
    EXPECT_LE(cache.stats().bytes, oneEntry * 5);
  }
  EXPECT_EQ(cache.stats().entries, 5U);
  EXPECT_EQ(cache.stats().evictions, 45U);
  EXPECT_NE(cache.find("SELECT 1049"), nullptr);
  EXPECT_EQ(cache.find("SELECT 1000"), nullptr);
}

TEST(ClassificationCache, LongTextsAreNeverKept) {
  ClassificationCache cache(CacheLimits{.maxQueryBytes = 16});
  const std::string sql = "SELECT 1 FROM a_rather_long_table_name";
  cache.insert(sql, classified(sql));
  EXPECT_EQ(cache.find(sql), nullptr);
  EXPECT_EQ(cache.stats().entries, 0U);
  EXPECT_EQ(cache.stats().bypassed, 1U);
  EXPECT_EQ(cache.stats().misses, 0U);
}

TEST(ClassificationCache, ReinsertReplacesAndClearEmpties) {
  ClassificationCache cache;
  auto first = classified("SELECT 1");
  auto second = classified("SELECT 1");
  cache.insert("SELECT 1", first);
  const std::size_t bytes = cache.stats().bytes;
  cache.insert("SELECT 1", second);
  EXPECT_EQ(cache.find("SELECT 1"), second);
  EXPECT_EQ(cache.stats().entries, 1U);
  EXPECT_EQ(cache.stats().bytes, bytes);
  cache.clear();
  EXPECT_EQ(cache.stats().entries, 0U);
  EXPECT_EQ(cache.stats().bytes, 0U);
  EXPECT_EQ(cache.find("SELECT 1"), nullptr);
}

TEST(Classifier, SecondLookupIsAHitOnTheSameObject) {
  Classifier classifier;
  auto first = classifier.classify("SELECT abalance FROM pgbench_accounts WHERE aid = $1");
  auto second = classifier.classify("SELECT abalance FROM pgbench_accounts WHERE aid = $1");
  EXPECT_EQ(first, second);
  EXPECT_TRUE(second->readOnly);
  EXPECT_EQ(classifier.cacheStats().hits, 1U);
  EXPECT_EQ(classifier.cacheStats().misses, 1U);
}

TEST(Classifier, ParseErrorsAreCachedToo) {
  Classifier classifier;
  auto first = classifier.classify("SELEC 1");
  auto second = classifier.classify("SELEC 1");
  EXPECT_EQ(first, second);
  EXPECT_EQ(second->status, ClassificationStatus::kParseError);
  EXPECT_EQ(classifier.cacheStats().hits, 1U);
}

TEST(Classifier, EvictedResultsStayValidForTheirHolders) {
  Classifier classifier(ClassifierOptions{.cache = CacheLimits{.maxEntries = 2}});
  auto held = classifier.classify("UPDATE t SET a = 1");
  (void)classifier.classify("SELECT 2");
  (void)classifier.classify("SELECT 3");
  EXPECT_EQ(classifier.cacheStats().evictions, 1U);
  EXPECT_EQ(held->statements.at(0).kind, StatementKind::kUpdate);  // still ours
  auto again = classifier.classify("UPDATE t SET a = 1");
  EXPECT_NE(again, held);  // a miss: classified afresh
  EXPECT_EQ(classifier.cacheStats().misses, 4U);
}

TEST(Classifier, TooLargeTextsBypassTheCache) {
  Classifier classifier(
      ClassifierOptions{.maxParseBytes = 64, .cache = CacheLimits{.maxQueryBytes = 32}});
  auto medium = classifier.classify("SELECT 1 FROM a_table_name_of_some_length");
  EXPECT_EQ(medium->status, ClassificationStatus::kOk);
  auto large = classifier.classify(std::string(100, ' ') + "SELECT 1");
  EXPECT_EQ(large->status, ClassificationStatus::kTooLarge);
  EXPECT_EQ(classifier.cacheStats().bypassed, 2U);
  EXPECT_EQ(classifier.cacheStats().entries, 0U);
}

TEST(Classifier, ManyDistinctTextsKeepTheEntryBound) {
  Classifier classifier(ClassifierOptions{.cache = CacheLimits{.maxEntries = 100}});
  for (int i = 0; i < 1000; ++i) {
    (void)classifier.classify("SELECT " + std::to_string(i));
  }
  EXPECT_EQ(classifier.cacheStats().entries, 100U);
  EXPECT_EQ(classifier.cacheStats().evictions, 900U);
  EXPECT_EQ(classifier.cacheStats().misses, 1000U);
}

}  // namespace
}  // namespace pgswarm::sql
