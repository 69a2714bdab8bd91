// Cost of statement classification for the pgbench statements: the bare
// libpg_query parse, a full classification (a cache miss) and a cache hit;
// and of Classifier::route with and without the shard key (pgbench -S with
// a new literal every time, the way -M simple sends it).
// Measures only; asserts nothing. Run a Release build:
//   bench_sql --benchmark_min_time=1 --benchmark_repetitions=3
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <pg_query.h>

#include "sql/classifier.hpp"
#include "sql/shard_key.hpp"

namespace {

using pgswarm::sql::Classifier;

// pgbench -S with -M extended/prepared, and the TPC-B-like UPDATE.
constexpr const char* kSelect = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
constexpr const char* kUpdate =
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2";
// -M simple sends literals, so every text is new: the cache cannot help.
constexpr const char* kUpdateLiteral =
    "UPDATE pgbench_accounts SET abalance = abalance + -4012 WHERE aid = 39421;";

const char* queryFor(int index) {
  switch (index) {
    case 0:
      return kSelect;
    case 1:
      return kUpdate;
    default:
      return kUpdateLiteral;
  }
}

void labelFor(benchmark::State& state) {
  static const char* const kLabels[] = {"pgbench -S select", "tpcb update", "tpcb update literal"};
  state.SetLabel(kLabels[state.range(0)]);
}

// libpg_query alone: parse to JSON and free it.
void bmPgQueryParse(benchmark::State& state) {
  const char* query = queryFor(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    PgQueryParseResult result = pg_query_parse(query);
    benchmark::DoNotOptimize(result.parse_tree);
    pg_query_free_parse_result(result);
  }
  labelFor(state);
}

// The protobuf output for comparison (not used: its C structs need the
// libprotobuf-c headers, which are not installed). Unpacking is not counted.
void bmPgQueryParseProtobuf(benchmark::State& state) {
  const char* query = queryFor(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    PgQueryProtobufParseResult result = pg_query_parse_protobuf(query);
    benchmark::DoNotOptimize(result.parse_tree.data);
    pg_query_free_protobuf_parse_result(result);
  }
  labelFor(state);
}

// A full classification without cache: what every miss costs.
void bmClassifyUncached(benchmark::State& state) {
  const std::string query = queryFor(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(pgswarm::sql::classify(query));
  }
  labelFor(state);
}

// Classifier::classify when the text is new: lookup miss, classification,
// insertion and (cache full) one eviction. 20,000 distinct texts cycle
// through a 10,000-entry LRU, so every lookup misses.
void bmClassifierMiss(benchmark::State& state) {
  const std::string base = queryFor(static_cast<int>(state.range(0)));
  std::vector<std::string> texts;
  texts.reserve(20'000);
  for (int i = 0; i < 20'000; ++i) texts.push_back(base + " /* " + std::to_string(i) + " */");
  Classifier classifier;
  std::size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(classifier.classify(texts[next]));
    next = next + 1 == texts.size() ? 0 : next + 1;
  }
  state.counters["hits"] = static_cast<double>(classifier.cacheStats().hits);
  labelFor(state);
}

// Classifier::classify on a text it has seen: hash lookup, LRU splice and a
// shared_ptr copy.
void bmClassifierHit(benchmark::State& state) {
  const std::string query = queryFor(static_cast<int>(state.range(0)));
  Classifier classifier;
  (void)classifier.classify(query);
  for (auto _ : state) {
    benchmark::DoNotOptimize(classifier.classify(query));
  }
  state.counters["misses"] = static_cast<double>(classifier.cacheStats().misses);
  labelFor(state);
}

// pgbench -S texts "... WHERE aid = N" with 20,000 different N: every
// lookup hits the one literal-free key. range(0): 0 = the read intent only,
// 1 = also the shard key of a sharded pgbench_accounts.
void bmRouteLiterals(benchmark::State& state) {
  std::vector<std::string> texts;
  texts.reserve(20'000);
  for (int i = 0; i < 20'000; ++i) {
    texts.push_back(
        "SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(i * 37 + 1) + ";");
  }
  const std::vector<pgswarm::sql::ShardedRelation> relations = {
      {.schema = "public", .table = "pgbench_accounts", .keyColumn = "aid"}};
  const std::span<const pgswarm::sql::ShardedRelation> used =
      state.range(0) == 0 ? std::span<const pgswarm::sql::ShardedRelation>() : relations;
  Classifier classifier;
  std::size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(classifier.route(texts[next], used));
    next = next + 1 == texts.size() ? 0 : next + 1;
  }
  state.counters["misses"] = static_cast<double>(classifier.intentCacheStats().misses);
  state.SetLabel(state.range(0) == 0 ? "read intent only" : "with shard key");
}

// A fresh parse and template per text: what findShardKey (no cache) costs.
void bmFindShardKeyUncached(benchmark::State& state) {
  const std::vector<pgswarm::sql::ShardedRelation> relations = {
      {.schema = "public", .table = "pgbench_accounts", .keyColumn = "aid"}};
  const std::string query = "SELECT abalance FROM pgbench_accounts WHERE aid = 4711;";
  for (auto _ : state) {
    benchmark::DoNotOptimize(pgswarm::sql::findShardKey(query, relations));
  }
}

BENCHMARK(bmPgQueryParse)->DenseRange(0, 2);
BENCHMARK(bmPgQueryParseProtobuf)->DenseRange(0, 2);
BENCHMARK(bmClassifyUncached)->DenseRange(0, 2);
BENCHMARK(bmClassifierMiss)->DenseRange(0, 2);
BENCHMARK(bmClassifierHit)->DenseRange(0, 2);
BENCHMARK(bmRouteLiterals)->DenseRange(0, 1);
BENCHMARK(bmFindShardKeyUncached);

}  // namespace

BENCHMARK_MAIN();
