// Access rules: see hba.hpp.
#include "proxy/hba.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace pgswarm::proxy {
namespace {

// One token of a field; `quoted` when any part of it was in double quotes,
// which makes keywords plain names, as in PostgreSQL.
struct Token {
  std::string text;
  bool quoted = false;
};
using Field = std::vector<Token>;  // comma-separated tokens

bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// PostgreSQL's next_token()/next_field_expand() for one line.
Result<std::vector<Field>> splitFields(std::string_view line) {
  std::vector<Field> fields;
  std::size_t pos = 0;
  auto skipBlanks = [&] {
    while (pos < line.size() && isBlank(line[pos])) ++pos;
  };
  for (;;) {
    skipBlanks();
    if (pos >= line.size() || line[pos] == '#') break;
    Field field;
    for (;;) {
      Token token;
      bool comma = false;
      bool inQuote = false;
      bool wasQuote = false;
      while (pos < line.size()) {
        char c = line[pos];
        if (!inQuote && (isBlank(c) || c == '#')) break;
        ++pos;
        if (!inQuote && c == ',') {
          comma = true;
          break;
        }
        if (c != '"' || wasQuote) token.text += c;
        wasQuote = inQuote && c == '"' ? !wasQuote : false;
        if (c == '"') {
          inQuote = !inQuote;
          token.quoted = true;
        }
      }
      if (inQuote) return makeError("unterminated quoted string");
      if (token.text.empty() && !token.quoted) return makeError("empty name in a list");
      field.push_back(std::move(token));
      if (!comma) break;
      skipBlanks();
    }
    fields.push_back(std::move(field));
  }
  return fields;
}

bool is(const Token& token, std::string_view keyword) {
  return !token.quoted && token.text == keyword;
}

Result<HbaConnectionType> connectionType(const Field& field) {
  if (field.size() != 1) return makeError("multiple values specified for connection type");
  const auto& token = field.front();
  if (is(token, "host")) return HbaConnectionType::kHost;
  if (is(token, "hostssl")) return HbaConnectionType::kHostSsl;
  if (is(token, "hostnossl")) return HbaConnectionType::kHostNoSsl;
  if (is(token, "local")) {
    return makeError("local (Unix-domain socket) lines are not supported: the pool listens on TCP");
  }
  if (is(token, "hostgssenc") || is(token, "hostnogssenc")) {
    return makeError("connection type \"{}\" is not supported: the pool has no GSSAPI", token.text);
  }
  return makeError("invalid connection type \"{}\"", token.text);
}

Result<std::vector<HbaName>> names(const Field& field, bool databaseColumn) {
  std::vector<HbaName> names;
  for (const auto& token : field) {
    HbaName name{.name = token.text};
    if (is(token, "all")) {
      name.keyword = HbaName::Keyword::kAll;
    } else if (databaseColumn && is(token, "sameuser")) {
      name.keyword = HbaName::Keyword::kSameUser;
    } else if (databaseColumn && is(token, "replication")) {
      name.keyword = HbaName::Keyword::kReplication;
    } else if (databaseColumn && (is(token, "samerole") || is(token, "samegroup"))) {
      return makeError("\"{}\" is not supported: the pool does not know role memberships",
                       token.text);
    } else if (!token.quoted && token.text.starts_with('+')) {
      return makeError("role membership (\"{}\") is not supported: the pool does not know roles",
                       token.text);
    } else if (!token.quoted && token.text.starts_with('@')) {
      return makeError("file inclusion (\"{}\") is not supported", token.text);
    }
    names.push_back(std::move(name));
  }
  return names;
}

// A prefix length as an all-ones-then-zeros mask of the address's family.
IpAddress prefixMask(IpAddress::Family family, int bits) {
  IpAddress mask{.family = family};
  for (std::size_t i = 0; i < mask.size(); ++i) {
    int take = std::clamp(bits - static_cast<int>(i) * 8, 0, 8);
    mask.bytes[i] = static_cast<std::uint8_t>(0xff00 >> take);
  }
  return mask;
}

// The ADDRESS column and, when it has no "/len", the MASK column after it.
// `next` is the index of the first field after what was read.
Result<HbaAddress> address(const std::vector<Field>& fields, std::size_t& next) {
  const Field& field = fields[next++];
  if (field.size() != 1) return makeError("multiple values specified for host address");
  const auto& token = field.front();
  if (is(token, "all")) return HbaAddress{.kind = HbaAddress::Kind::kAll};
  if (is(token, "samehost")) return HbaAddress{.kind = HbaAddress::Kind::kSameHost};
  if (is(token, "samenet")) {
    return makeError("samenet is not supported: list the networks as addresses");
  }
  std::string_view text = token.text;
  auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) {
    return makeError("invalid IP address \"{}\" (host names are not supported)",
                     text.substr(0, slash));
  }
  HbaAddress result{.kind = HbaAddress::Kind::kNetwork, .network = *ip};
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    int bits = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || bits < 0 ||
        bits > static_cast<int>(ip->size() * 8)) {
      return makeError("invalid CIDR mask in address \"{}\"", text);
    }
    result.mask = prefixMask(ip->family, bits);
    return result;
  }
  if (next >= fields.size()) return makeError("end-of-line before netmask specification");
  const Field& maskField = fields[next++];
  if (maskField.size() != 1) return makeError("multiple values specified for netmask");
  auto mask = IpAddress::parse(maskField.front().text);
  if (!mask) return makeError("invalid IP mask \"{}\"", maskField.front().text);
  if (mask->family != ip->family) return makeError("IP address and mask do not match");
  result.mask = *mask;
  return result;
}

Result<HbaMethod> method(const Field& field) {
  if (field.size() != 1) return makeError("multiple values specified for authentication type");
  const auto& token = field.front();
  if (is(token, "scram-sha-256")) return HbaMethod::kScramSha256;
  if (is(token, "md5")) return HbaMethod::kMd5;
  if (is(token, "trust")) return HbaMethod::kTrust;
  if (is(token, "reject")) return HbaMethod::kReject;
  if (is(token, "cert")) return HbaMethod::kCert;
  for (std::string_view known :
       {"password", "gss", "sspi", "ident", "peer", "pam", "ldap", "radius", "bsd"}) {
    if (is(token, known)) {
      return makeError(
          "authentication method \"{}\" is not supported by the pool "
          "(scram-sha-256, md5, trust, reject, cert)",
          token.text);
    }
  }
  return makeError("invalid authentication method \"{}\"", token.text);
}

// NAME=VALUE after the method; clientcert is the one the pool has.
std::optional<Error> option(const Field& field, HbaRule& rule) {
  const auto& token = field.front();
  auto equals = token.text.find('=');
  if (field.size() != 1 || equals == std::string::npos) {
    return makeError("authentication option not in name=value format: {}", token.text);
  }
  std::string_view name = std::string_view(token.text).substr(0, equals);
  std::string_view value = std::string_view(token.text).substr(equals + 1);
  if (name != "clientcert") {
    return makeError("authentication option \"{}\" is not supported (clientcert)", name);
  }
  if (rule.type != HbaConnectionType::kHostSsl) {
    return makeError("clientcert can only be configured for \"hostssl\" rows");
  }
  if (value == "verify-full") {
    rule.clientCert = HbaClientCert::kVerifyFull;
  } else if (value == "verify-ca" && rule.method != HbaMethod::kCert) {
    rule.clientCert = HbaClientCert::kVerifyCa;
  } else if (value == "verify-ca") {
    return makeError("clientcert only accepts \"verify-full\" when using \"cert\" authentication");
  } else {
    return makeError("invalid value for clientcert: \"{}\"", value);
  }
  return std::nullopt;
}

Result<HbaRule> parseLine(const std::vector<Field>& fields, int line) {
  HbaRule rule{.line = line};
  auto type = connectionType(fields[0]);
  if (!type) return type.error();
  rule.type = *type;
  if (fields.size() < 2) return makeError("end-of-line before database specification");
  auto databases = names(fields[1], true);
  if (!databases) return databases.error();
  rule.databases = std::move(*databases);
  if (fields.size() < 3) return makeError("end-of-line before role specification");
  auto users = names(fields[2], false);
  if (!users) return users.error();
  rule.users = std::move(*users);
  if (fields.size() < 4) return makeError("end-of-line before IP address specification");
  std::size_t next = 3;
  auto where = address(fields, next);
  if (!where) return where.error();
  rule.address = *where;
  if (next >= fields.size()) return makeError("end-of-line before authentication method");
  auto how = method(fields[next++]);
  if (!how) return how.error();
  rule.method = *how;
  if (rule.method == HbaMethod::kCert && rule.type != HbaConnectionType::kHostSsl) {
    return makeError("cert authentication is only supported on hostssl connections");
  }
  for (; next < fields.size(); ++next) {
    if (auto error = option(fields[next], rule)) return *error;
  }
  return rule;
}

bool matchesAddress(const HbaAddress& rule, const HbaClient& client) {
  switch (rule.kind) {
    case HbaAddress::Kind::kAll:
      return true;
    case HbaAddress::Kind::kSameHost:
      return client.sameHost;
    case HbaAddress::Kind::kNetwork:
      if (client.address.family != rule.network.family) return false;
      for (std::size_t i = 0; i < rule.network.size(); ++i) {
        if (((client.address.bytes[i] ^ rule.network.bytes[i]) & rule.mask.bytes[i]) != 0) {
          return false;
        }
      }
      return true;
  }
  return false;
}

bool matchesDatabase(const std::vector<HbaName>& names, const HbaClient& client) {
  return std::any_of(names.begin(), names.end(), [&](const HbaName& name) {
    switch (name.keyword) {
      case HbaName::Keyword::kAll:
        return true;
      case HbaName::Keyword::kSameUser:
        return client.database == client.user;
      case HbaName::Keyword::kReplication:
        return false;  // the pool refuses replication connections before this
      case HbaName::Keyword::kNone:
        return client.database == name.name;
    }
    return false;
  });
}

bool matchesUser(const std::vector<HbaName>& names, const HbaClient& client) {
  return std::any_of(names.begin(), names.end(), [&](const HbaName& name) {
    return name.keyword == HbaName::Keyword::kAll || client.user == name.name;
  });
}

std::string describe(const HbaClient& client) {
  return "host \"" + client.address.toString() + "\", user \"" + std::string(client.user) +
         "\", database \"" + std::string(client.database) + "\", " +
         (client.ssl ? "SSL encryption" : "no encryption");
}

}  // namespace

const char* toString(HbaMethod method) {
  switch (method) {
    case HbaMethod::kScramSha256:
      return "scram-sha-256";
    case HbaMethod::kMd5:
      return "md5";
    case HbaMethod::kTrust:
      return "trust";
    case HbaMethod::kReject:
      return "reject";
    case HbaMethod::kCert:
      return "cert";
  }
  return "?";
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string copy(text);
  IpAddress address;
  if (::inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) return address;
  address.family = Family::kV6;
  if (::inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) == 1) return address;
  return std::nullopt;
}

std::string IpAddress::toString() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == Family::kV4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof(text));
  return text;
}

bool HbaRules::usesSameHost() const {
  return std::any_of(rules.begin(), rules.end(), [](const HbaRule& rule) {
    return rule.address.kind == HbaAddress::Kind::kSameHost;
  });
}

Result<HbaRules> parseHba(std::string_view text, std::string_view source) {
  HbaRules rules{.source = std::string(source)};
  int lineNumber = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++lineNumber;
    auto fields = splitFields(line);
    if (!fields) return makeError("{}:{}: {}", source, lineNumber, fields.error().message);
    if (fields->empty()) continue;
    auto rule = parseLine(*fields, lineNumber);
    if (!rule) return makeError("{}:{}: {}", source, lineNumber, rule.error().message);
    rules.rules.push_back(std::move(*rule));
  }
  return rules;
}

const HbaRule* findHbaRule(const HbaRules& rules, const HbaClient& client) {
  for (const auto& rule : rules.rules) {
    if (rule.type == HbaConnectionType::kHostSsl && !client.ssl) continue;
    if (rule.type == HbaConnectionType::kHostNoSsl && client.ssl) continue;
    if (!matchesAddress(rule.address, client)) continue;
    if (!matchesDatabase(rule.databases, client)) continue;
    if (!matchesUser(rule.users, client)) continue;
    return &rule;
  }
  return nullptr;
}

std::string hbaNoEntryMessage(const HbaClient& client) {
  return "no pg_hba.conf entry for " + describe(client);
}

std::string hbaRejectMessage(const HbaClient& client) {
  return "pg_hba.conf rejects connection for " + describe(client);
}

}  // namespace pgswarm::proxy
