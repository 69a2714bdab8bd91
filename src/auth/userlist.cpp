// A small line scanner: a field is a double-quoted string in which "" stands
// for one quote; fields sit on one line. Errors name the line and column so
// an operator can fix the file without guessing.
#include "auth/userlist.hpp"

#include <vector>

namespace pgswarm::auth {
namespace {

struct LineScanner {
  std::string_view line;
  std::size_t pos = 0;

  void skipBlanks() {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  }
  [[nodiscard]] bool atCommentOrEnd() const {
    return pos == line.size() || line[pos] == ';' || line[pos] == '#';
  }
  [[nodiscard]] std::size_t column() const { return pos + 1; }
};

// Reads one quoted field at scanner.pos; the error text lacks the line prefix.
Result<std::string> readQuoted(LineScanner& scanner, std::string_view what) {
  if (scanner.pos >= scanner.line.size() || scanner.line[scanner.pos] != '"') {
    return makeError("column {}: expected the {} as a double-quoted string", scanner.column(),
                     what);
  }
  std::string value;
  for (std::size_t i = scanner.pos + 1; i < scanner.line.size(); ++i) {
    if (scanner.line[i] != '"') {
      value += scanner.line[i];
    } else if (i + 1 < scanner.line.size() && scanner.line[i + 1] == '"') {
      value += '"';
      ++i;
    } else {
      scanner.pos = i + 1;
      return value;
    }
  }
  return makeError("column {}: unterminated {} (a closing \" is missing)", scanner.column(), what);
}

struct Entry {
  std::string user;
  std::string secret;
};

// An Entry with an empty user stands for a blank or comment line.
Result<Entry> parseLine(std::string_view line) {
  LineScanner scanner{line};
  scanner.skipBlanks();
  if (scanner.atCommentOrEnd()) return Entry{};
  std::size_t user_column = scanner.column();
  auto user = readQuoted(scanner, "user name");
  if (!user) return user.error();
  if (user->empty()) return makeError("column {}: empty user name", user_column);
  std::size_t before = scanner.pos;
  scanner.skipBlanks();
  if (scanner.pos == before && scanner.pos < line.size()) {
    return makeError("column {}: expected blank space after the user name", scanner.column());
  }
  auto secret = readQuoted(scanner, "password");
  if (!secret) return secret.error();
  scanner.skipBlanks();
  if (!scanner.atCommentOrEnd()) {
    return makeError("column {}: unexpected text after the password", scanner.column());
  }
  return Entry{std::move(*user), std::move(*secret)};
}

std::vector<std::string_view> splitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

}  // namespace

Result<UserList> parseUserList(std::string_view text, std::string_view source) {
  UserList users;
  std::map<std::string, std::size_t, std::less<>> first_line;
  auto lines = splitLines(text);
  for (std::size_t index = 0; index < lines.size(); ++index) {
    std::size_t number = index + 1;
    auto entry = parseLine(lines[index]);
    if (!entry) return makeError("{}:{}: {}", source, number, entry.error().message);
    if (entry->user.empty()) continue;
    if (auto seen = first_line.find(entry->user); seen != first_line.end()) {
      return makeError("{}:{}: user \"{}\" already defined on line {}", source, number, entry->user,
                       seen->second);
    }
    auto secret = parseSecret(entry->secret);
    if (!secret) {
      return makeError("{}:{}: user \"{}\": {}", source, number, entry->user,
                       secret.error().message);
    }
    first_line.emplace(entry->user, number);
    users.emplace(std::move(entry->user), std::move(*secret));
  }
  return users;
}

}  // namespace pgswarm::auth
