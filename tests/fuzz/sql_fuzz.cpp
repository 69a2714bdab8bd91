// libFuzzer target for the sql module's lexical checks, which run on every
// query text a client sends through the pool: the lexer's tokens must tile
// the text exactly, the session prefilter's one-pass verdict must agree with
// the lexer's wherever it settles a text alone (a wrong "unaffecting" would
// let a SET or a temporary table leak to another client; a text that ends
// inside a string, quoted name or comment is excepted: the lexer flags it
// because only the parser can tell, and the server refuses it as a syntax
// error, so it changes nothing), and renaming a
// sharded table reference must stay inside the text it was given.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sql/lexer.hpp"
#include "sql/relation_rename.hpp"
#include "sql/session_prefilter.hpp"

namespace pgswarm::sql {
namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

// Whether the text ends inside a token.
bool checkLexer(std::string_view text) {
  detail::Lexer lexer(text);
  std::size_t at = 0;
  while (auto token = lexer.next()) {
    require(token->begin == at && token->end > token->begin && token->end <= text.size());
    require(token->quoteBegin >= token->begin && token->quoteBegin <= token->end);
    at = token->end;
    if (token->kind == detail::TokenKind::kUnterminated) {
      require(token->end == text.size());
      return true;
    }
  }
  require(at == text.size());
  return false;
}

void checkPrefilter(std::string_view text, bool unterminated) {
  const bool lexed = detail::mayAffectSessionLexed(text);
  if (unterminated) return;
  switch (detail::onePassVerdict(text)) {
    case detail::OnePass::kUnaffecting:
      require(!lexed);
      break;
    case detail::OnePass::kAffects:
      require(lexed);
      break;
    case detail::OnePass::kAskTheLexer:
      break;
  }
  require(mayAffectSession(text) || !lexed);  // never clears what the lexer flags
}

void checkRename(std::string_view text) {
  static const ShardedRelation kRelation{.schema = "public", .table = "t", .keyColumn = "k"};
  constexpr std::string_view kReplacement = "public.zz_p";
  auto renamed = renameRelation(text, kRelation, kReplacement);
  if (!renamed) return;
  // One name (and its schema) became the replacement; what comes before
  // and after it is the text's own.
  const std::size_t first = renamed->find(kReplacement);
  const std::size_t last = renamed->rfind(kReplacement);
  require(first != std::string::npos);
  require(renamed->compare(0, first, text.substr(0, first)) == 0);
  const std::size_t tail = renamed->size() - last - kReplacement.size();
  require(tail < text.size() &&
          renamed->compare(last + kReplacement.size(), tail, text.substr(text.size() - tail)) == 0);
}

}  // namespace
}  // namespace pgswarm::sql

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool unterminated = pgswarm::sql::checkLexer(text);
  pgswarm::sql::checkPrefilter(text, unterminated);
  pgswarm::sql::checkRename(text);
  return 0;
}
