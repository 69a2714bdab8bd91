// pg_hba.conf-style access rules for the pool's TCP clients: parsing (errors
// as "file:line: reason") and the first-match lookup of PostgreSQL's hba.c
// for host lines. Pure: no files, no sockets, no clock. The caller reads the
// file and says whether a client address is one of this host's own.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace pgswarm::proxy {

enum class HbaConnectionType {
  kHost,       // any TCP connection
  kHostSsl,    // TLS only: never matches until the pool speaks TLS
  kHostNoSsl,  // plain TCP only
};

// kCert: a client certificate verified against tls_ca_file whose CN is the
// user name (hostssl lines only, as in PostgreSQL).
enum class HbaMethod { kScramSha256, kMd5, kTrust, kReject, kCert };
[[nodiscard]] const char* toString(HbaMethod method);

// The clientcert= option (hostssl lines): beside the method, the client
// must present a certificate tls_ca_file verifies (kVerifyCa) whose CN is
// also the user name (kVerifyFull). The cert method implies kVerifyFull.
enum class HbaClientCert { kNone, kVerifyCa, kVerifyFull };

// An IPv4 or IPv6 address, network byte order (IPv4 in the first 4 bytes).
struct IpAddress {
  enum class Family { kV4, kV6 };
  Family family = Family::kV4;
  std::array<std::uint8_t, 16> bytes{};

  // Numeric forms only ("10.0.0.1", "::1"); nullopt for anything else.
  [[nodiscard]] static std::optional<IpAddress> parse(std::string_view text);
  [[nodiscard]] std::size_t size() const { return family == Family::kV4 ? 4 : 16; }
  [[nodiscard]] std::string toString() const;
  bool operator==(const IpAddress&) const = default;
};

// One name of a DATABASE or USER column. A quoted "all" is a name, not the keyword.
struct HbaName {
  enum class Keyword {
    kNone,         // `name` is a literal name
    kAll,          // all
    kSameUser,     // sameuser (database column): the database named like the user
    kReplication,  // replication (database column): replication connections only, never here
  };
  Keyword keyword = Keyword::kNone;
  std::string name;
  bool operator==(const HbaName&) const = default;
};

struct HbaAddress {
  enum class Kind { kAll, kSameHost, kNetwork };
  Kind kind = Kind::kAll;
  IpAddress network;  // kNetwork only
  IpAddress mask;     // kNetwork only, same family as network
};

struct HbaRule {
  int line = 0;
  HbaConnectionType type = HbaConnectionType::kHost;
  std::vector<HbaName> databases;
  std::vector<HbaName> users;
  HbaAddress address;
  HbaMethod method = HbaMethod::kScramSha256;
  HbaClientCert clientCert = HbaClientCert::kNone;
};

struct HbaRules {
  std::string source;  // the file name, for messages
  std::vector<HbaRule> rules;
  // True when some rule says samehost: only then must the caller find out
  // whether a client address is one of this host's own.
  [[nodiscard]] bool usesSameHost() const;
};

// Lines `host|hostssl|hostnossl DATABASE USER ADDRESS [MASK] METHOD [clientcert=...]`,
// PostgreSQL's tokenising (blanks separate fields, commas make lists, double
// quotes protect blanks, commas, '#' and keywords, "" is a quote), '#'
// comments and blank lines. Anything the pool does not support (local
// lines, host names, samenet, +role, @file, other methods, other options) is an
// error naming source and line, never a rule silently skipped.
[[nodiscard]] Result<HbaRules> parseHba(std::string_view text, std::string_view source);

struct HbaClient {
  IpAddress address;      // IPv4-mapped IPv6 addresses already turned into IPv4
  bool ssl = false;       // the connection is TLS (hostssl / hostnossl)
  bool sameHost = false;  // address is one of this host's; only read for samehost rules
  std::string_view database;
  std::string_view user;
};

// The first rule that matches, or nullptr: no rule means reject.
[[nodiscard]] const HbaRule* findHbaRule(const HbaRules& rules, const HbaClient& client);

// PostgreSQL's FATAL messages (SQLSTATE 28000) for the two refusals.
[[nodiscard]] std::string hbaNoEntryMessage(const HbaClient& client);
[[nodiscard]] std::string hbaRejectMessage(const HbaClient& client);

}  // namespace pgswarm::proxy
