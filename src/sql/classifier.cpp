// Runs libpg_query's parser (JSON output) and hands each statement of the
// tree to the analyzer. Owns every libpg_query result through RAII; catches
// everything nlohmann could throw so that nothing escapes to the data plane.
#include "sql/classifier.hpp"

#include <exception>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <pg_query.h>
#include <nlohmann/json.hpp>

#include "sql/statement_analyzer.hpp"

namespace pgswarm::sql {
namespace {

// One pg_query_parse() result, freed with pg_query_free_parse_result().
class ParseTree {
 public:
  explicit ParseTree(const std::string& query) : result_(pg_query_parse(query.c_str())) {}
  ~ParseTree() { pg_query_free_parse_result(result_); }
  ParseTree(const ParseTree&) = delete;
  ParseTree& operator=(const ParseTree&) = delete;

  [[nodiscard]] const PgQueryError* error() const { return result_.error; }
  [[nodiscard]] std::string_view json() const {
    return result_.parse_tree != nullptr ? std::string_view(result_.parse_tree)
                                         : std::string_view();
  }

 private:
  PgQueryParseResult result_;
};

Classification failed(ClassificationStatus status, std::string message, int cursor = 0) {
  Classification classification;
  classification.status = status;
  classification.error = ParseError{.message = std::move(message), .cursorPosition = cursor};
  return classification;
}

// Length of the well-formed UTF-8 sequence at text[i] (Unicode table 3-7),
// or 0 when the bytes there are not one.
std::size_t utf8SequenceLength(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0U;
  };
  const unsigned lead = byte(0);
  auto tail = [&](std::size_t k, unsigned low = 0x80, unsigned high = 0xBF) {
    return byte(k) >= low && byte(k) <= high;
  };
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return tail(1) ? 2 : 0;
  if (lead == 0xE0) return tail(1, 0xA0) && tail(2) ? 3 : 0;
  if (lead == 0xED) return tail(1, 0x80, 0x9F) && tail(2) ? 3 : 0;
  if (lead >= 0xE1 && lead <= 0xEF) return tail(1) && tail(2) ? 3 : 0;
  if (lead == 0xF0) return tail(1, 0x90) && tail(2) && tail(3) ? 4 : 0;
  if (lead >= 0xF1 && lead <= 0xF3) return tail(1) && tail(2) && tail(3) ? 4 : 0;
  if (lead == 0xF4) return tail(1, 0x80, 0x8F) && tail(2) && tail(3) ? 4 : 0;
  return 0;
}

// libpg_query copies a literal's bytes into the JSON as they are, so a
// client encoding other than UTF-8 (LATIN1 'é') makes the JSON unreadable.
// Such bytes are never JSON syntax, so replacing each with '?' changes only
// names and values inside strings, never the tree's shape.
std::string replaceInvalidUtf8(std::string_view json) {
  std::string clean;
  clean.reserve(json.size());
  for (std::size_t i = 0; i < json.size();) {
    const std::size_t length = utf8SequenceLength(json, i);
    if (length == 0) {
      clean += '?';
      ++i;
    } else {
      clean.append(json.substr(i, length));
      i += length;
    }
  }
  return clean;
}

nlohmann::json readTree(std::string_view tree) {
  nlohmann::json root = nlohmann::json::parse(tree, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    root = nlohmann::json::parse(replaceInvalidUtf8(tree), nullptr, /*allow_exceptions=*/false);
  }
  return root;
}

Classification fromTree(std::string_view tree, std::string_view query,
                        const FunctionAllowlist& allowlist) {
  const nlohmann::json root = readTree(tree);
  const auto stmts = root.is_object() ? root.find("stmts") : root.end();
  if (stmts == root.end() || !stmts->is_array()) {
    return failed(ClassificationStatus::kUnreadable, "the parse tree could not be read");
  }
  Classification classification;
  classification.status = stmts->empty() ? ClassificationStatus::kEmpty : ClassificationStatus::kOk;
  classification.statements.reserve(stmts->size());
  for (const nlohmann::json& rawStmt : *stmts) {
    classification.statements.push_back(detail::analyzeStatement(rawStmt, query, allowlist));
  }
  combine(classification);
  return classification;
}

Classification parseAndClassify(std::string_view query, const FunctionAllowlist& allowlist) {
  // The protocol ends a query string at its first zero byte; the C parser would too.
  if (query.find('\0') != std::string_view::npos) {
    return failed(ClassificationStatus::kParseError, "query text contains a zero byte");
  }
  const ParseTree tree{std::string(query)};
  if (const PgQueryError* error = tree.error()) {
    return failed(ClassificationStatus::kParseError,
                  error->message != nullptr ? error->message : "syntax error", error->cursorpos);
  }
  return fromTree(tree.json(), query, allowlist);
}

}  // namespace

Classification classify(std::string_view query, const FunctionAllowlist& allowlist,
                        std::size_t maxParseBytes) {
  if (query.size() > maxParseBytes) {
    return failed(ClassificationStatus::kTooLarge,
                  fmt::format("query of {} bytes is over the classifier's parse limit of {} bytes",
                              query.size(), maxParseBytes));
  }
  try {
    return parseAndClassify(query, allowlist);
  } catch (const std::exception& e) {
    // Only allocation failure is expected here; report it as unreadable
    // rather than let an exception reach a session coroutine.
    return failed(ClassificationStatus::kUnreadable, e.what());
  }
}

Classifier::Classifier(ClassifierOptions options)
    : options_(std::move(options)), cache_(options_.cache), intents_(options_.intentCache) {}

std::shared_ptr<const Classification> Classifier::classify(std::string_view query) {
  if (std::shared_ptr<const Classification> cached = cache_.find(query)) return cached;
  auto fresh = std::make_shared<const Classification>(
      sql::classify(query, options_.allowlist, options_.maxParseBytes));
  cache_.insert(query, fresh);
  return fresh;
}

StatementRoute Classifier::route(std::string_view query,
                                 std::span<const ShardedRelation> relations) {
  // classify() would answer kTooLarge without parsing, so kPrimary; and the
  // answer for a text that was never parsed is not one to share.
  if (query.size() > options_.maxParseBytes) return {};
  // A text without literals (a prepared statement's, whose values come in
  // Binds) is its own key: a repeat needs no scan for literals.
  if (const RouteFacts* known = intents_.findLiteralFree(query)) {
    literals_.clear();
    return routeOf(*known, query, relations);
  }
  const std::optional<std::string> key = literalFreeKey(query, literals_);
  // A zero byte is a parse error too. Never keeping such a text by itself
  // also keeps it apart from the keys, whose placeholders hold zero bytes.
  if (!key && query.find('\0') != std::string_view::npos) return {};
  const std::string_view keyOrText = key ? std::string_view(*key) : query;
  const RouteFacts* facts = intents_.find(keyOrText, query);
  RouteFacts fresh;
  if (facts == nullptr) {
    // Not through cache_: unique literals would only fill it.
    const Classification classification =
        sql::classify(query, options_.allowlist, options_.maxParseBytes);
    fresh.intent = sql::readIntent(classification);
    fresh.settingsOnly = sql::changesSettingsOnly(classification);
    // Without a key there are no literal spans to tie constants to.
    if (key) fresh.shardKey = makeShardKeyTemplate(classification, query, literals_);
    fresh.literalFree = key && literals_.empty();
    intents_.insert(intentIgnoresLiterals(classification) ? keyOrText : query, fresh);
    facts = &fresh;
  }
  return routeOf(*facts, query, relations);
}

StatementRoute Classifier::routeOf(const RouteFacts& facts, std::string_view query,
                                   std::span<const ShardedRelation> relations) {
  StatementRoute route{.intent = facts.intent, .settingsOnly = facts.settingsOnly};
  if (facts.shardKey && !relations.empty()) {
    route.shardKey = resolveShardKey(*facts.shardKey, query, literals_, relations);
  }
  return route;
}

ReadIntent Classifier::readIntent(std::string_view query) {
  return route(query, {}).intent;
}

}  // namespace pgswarm::sql
