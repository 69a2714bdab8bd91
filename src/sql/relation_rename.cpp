// Renaming of a statement's one table reference: see relation_rename.hpp.
#include "sql/relation_rename.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "sql/lexer.hpp"

namespace pgswarm::sql {
namespace {

using detail::Token;
using detail::TokenKind;

// PostgreSQL truncates longer identifiers (NAMEDATALEN - 1), so a longer
// word could still name the table: such texts are refused.
constexpr std::size_t kMaxIdentifierBytes = 63;

enum class NameMatch : unsigned char { kNo, kYes, kUnknown };

char lowerAscii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Whether an unquoted word names `name`: the parser folds ASCII letters
// only (downcase_identifier for multibyte encodings).
bool wordNames(std::string_view word, std::string_view name) {
  return word.size() == name.size() &&
         std::equal(word.begin(), word.end(), name.begin(),
                    [](char a, char b) { return lowerAscii(a) == b; });
}

// Whether "..." names `name` ("" inside stands for one quote).
bool quotedNames(std::string_view quoted, std::string_view name) {
  std::string_view inner = quoted.substr(1, quoted.size() - 2);
  std::size_t at = 0;
  for (std::size_t i = 0; i < inner.size(); ++i, ++at) {
    if (at >= name.size() || inner[i] != name[at]) return false;
    if (inner[i] == '"') ++i;  // the doubled quote's second half
  }
  return at == name.size();
}

NameMatch names(const Token& token, std::string_view text, std::string_view name) {
  auto spelled = text.substr(token.begin, token.end - token.begin);
  if (token.kind == TokenKind::kWord) {
    if (spelled.size() > kMaxIdentifierBytes) return NameMatch::kUnknown;
    return wordNames(spelled, name) ? NameMatch::kYes : NameMatch::kNo;
  }
  if (spelled.size() < 2 || spelled.front() != '"') return NameMatch::kUnknown;  // U&"..."
  if (spelled.size() - 2 > kMaxIdentifierBytes) return NameMatch::kUnknown;
  return quotedNames(spelled, name) ? NameMatch::kYes : NameMatch::kNo;
}

bool isName(const Token& token) {
  return token.kind == TokenKind::kWord || token.kind == TokenKind::kQuotedIdentifier;
}

std::string_view trimmed(std::string_view text) {
  constexpr std::string_view kBlank = " \t\n\r\f\v";
  auto first = text.find_first_not_of(kBlank);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kBlank) - first + 1);
}

// Tokens that carry meaning: comments dropped, whitespace-only runs too.
std::optional<std::vector<Token>> significantTokens(std::string_view text) {
  std::vector<Token> tokens;
  detail::Lexer lexer(text);
  while (auto token = lexer.next()) {
    auto spelled = text.substr(token->begin, token->end - token->begin);
    switch (token->kind) {
      case TokenKind::kUnterminated:
        return std::nullopt;
      case TokenKind::kString:
        if (spelled.find('\\') != std::string_view::npos) return std::nullopt;
        break;
      case TokenKind::kComment:
        continue;
      case TokenKind::kOther:
        if (trimmed(spelled).empty()) continue;
        break;
      default:
        break;
    }
    tokens.push_back(*token);
  }
  return tokens;
}

}  // namespace

std::optional<std::string> renameRelation(std::string_view text, const ShardedRelation& relation,
                                          std::string_view replacement) {
  auto tokens = significantTokens(text);
  if (!tokens) return std::nullopt;
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    if (!isName((*tokens)[i])) continue;
    // ON CONFLICT ON CONSTRAINT names the parent's constraint, which the
    // partition holds under another name.
    if (names((*tokens)[i], text, "constraint") == NameMatch::kYes &&
        (*tokens)[i].kind == TokenKind::kWord) {
      return std::nullopt;
    }
    auto match = names((*tokens)[i], text, relation.table);
    if (match == NameMatch::kUnknown || (match == NameMatch::kYes && found)) return std::nullopt;
    if (match == NameMatch::kYes) found = i;
  }
  if (!found) return std::nullopt;
  const auto& name = (*tokens)[*found];
  std::size_t begin = name.begin;
  auto spelledAt = [&](std::size_t i) {
    const auto& t = (*tokens)[i];
    return trimmed(text.substr(t.begin, t.end - t.begin));
  };
  // schema.table: the schema goes too; anything else ending in a dot is
  // not a shape this knows.
  if (*found > 0 && (*tokens)[*found - 1].kind == TokenKind::kOther &&
      spelledAt(*found - 1).ends_with('.')) {
    if (spelledAt(*found - 1) != "." || *found < 2 || !isName((*tokens)[*found - 2])) {
      return std::nullopt;
    }
    auto schema = names((*tokens)[*found - 2], text, relation.schema);
    if (schema != NameMatch::kYes) return std::nullopt;
    if (*found > 2 && (*tokens)[*found - 3].kind == TokenKind::kOther &&
        spelledAt(*found - 3).ends_with('.')) {
      return std::nullopt;  // database.schema.table
    }
    begin = (*tokens)[*found - 2].begin;
  }
  // The name followed by a dot qualifies something else: not a table reference.
  if (*found + 1 < tokens->size() && (*tokens)[*found + 1].kind == TokenKind::kOther &&
      spelledAt(*found + 1).starts_with('.')) {
    return std::nullopt;
  }
  std::string renamed;
  renamed.reserve(text.size() + replacement.size());
  renamed.append(text.substr(0, begin));
  renamed.append(replacement);
  renamed.append(text.substr(name.end));
  return renamed;
}

}  // namespace pgswarm::sql
