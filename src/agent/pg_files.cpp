// Generated postgres configuration text: see pg_files.hpp.
#include "agent/pg_files.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace pgswarm::agent {
namespace {

constexpr std::size_t kMaxSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr const char* kWalKeepSize = "256MB";

std::string escapeWith(const std::string& value, const std::string& special, char escape) {
  std::string out;
  for (char c : value) {
    if (special.find(c) != std::string::npos) out += escape;
    out += c;
  }
  return out;
}

}  // namespace

std::string confLiteral(const std::string& value) {
  // postgresql.conf strings also interpret backslash escapes, so both are doubled.
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  return out + "'";
}

std::string conninfoValue(const std::string& value) {
  return "'" + escapeWith(value, "'\\", '\\') + "'";
}

std::string hbaToken(const std::string& value) {
  // Unquoted keywords mean "every user"/"same user"; quoted they are plain names.
  static const std::set<std::string> kKeywords = {"all", "sameuser", "samerole", "samegroup",
                                                  "replication"};
  bool plain = !value.empty() && kKeywords.count(value) == 0 &&
               std::all_of(value.begin(), value.end(),
                           [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
  if (plain) return value;
  return "\"" + escapeWith(value, "\"", '"') + "\"";
}

std::string socketDirectoryFor(const std::string& folder, int port) {
  std::string socket = fmt::format("{}/.s.PGSQL.{}", folder, port);
  return socket.size() <= kMaxSocketPath ? folder : std::string();
}

std::string localConnectHost(const std::string& listenAddresses, const std::string& socketDir) {
  if (!socketDir.empty()) return socketDir;
  std::vector<std::string> addresses;
  std::string item;
  for (char c : listenAddresses + ",") {
    if (c == ',') {
      if (!item.empty()) addresses.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  for (const auto& address : addresses) {
    if (address == "*" || address == "0.0.0.0" || address == "127.0.0.1" ||
        address == "localhost") {
      return "127.0.0.1";
    }
    if (address == "::" || address == "::1") return "::1";
  }
  return addresses.empty() ? std::string("127.0.0.1") : addresses.front();
}

std::string primaryConninfo(const NodeConfig& config) {
  return fmt::format("host={} port={} user={} passfile={} application_name={} sslmode={}",
                     conninfoValue(config.primaryHost), config.primaryPort,
                     conninfoValue(config.replicationUser), conninfoValue(config.passfilePath()),
                     conninfoValue(config.name), conninfoValue(config.replicationSslmode));
}

std::string pgswarmConf(const NodeConfig& config, const std::string& socketDir, bool standby) {
  std::string text = fmt::format(
      "# Written by `pgswarm node` at every start from its settings; edits here are lost.\n"
      "port = {}\n"
      "listen_addresses = {}\n"
      "unix_socket_directories = {}\n"
      "cluster_name = {}\n"
      "wal_level = replica\n"
      "hot_standby = on\n"
      "max_wal_senders = 10\n"
      "max_replication_slots = 10\n"
      "wal_keep_size = {}\n"
      "hot_standby_feedback = on\n"
      "wal_log_hints = on\n"
      "# A replica asks its primary for a message after 2.5 s of silence, so a\n"
      "# live primary is heard at least that often: the pool does not fail\n"
      "# over while a replica still hears the primary.\n"
      "wal_receiver_timeout = '5s'\n"
      "password_encryption = 'scram-sha-256'\n",
      config.port, confLiteral(config.listenAddresses), confLiteral(socketDir),
      confLiteral(config.name), confLiteral(kWalKeepSize));
  if (standby) {
    text += fmt::format("primary_conninfo = {}\nprimary_slot_name = {}\n",
                        confLiteral(primaryConninfo(config)), confLiteral(config.slot));
  }
  return text;
}

std::string withoutPrimarySettings(const std::string& autoConf) {
  std::string out;
  std::size_t start = 0;
  while (start < autoConf.size()) {
    auto end = autoConf.find('\n', start);
    end = end == std::string::npos ? autoConf.size() : end + 1;
    std::string_view line(autoConf.data() + start, end - start);
    auto text = line.substr(std::min(line.find_first_not_of(" \t"), line.size()));
    auto name = text.substr(0, std::min(text.find_first_of(" \t="), text.size()));
    if (name != "primary_conninfo" && name != "primary_slot_name") out.append(line);
    start = end;
  }
  return out;
}

std::string pgHbaConf(const std::string& replicationUser) {
  std::string user = hbaToken(replicationUser);
  return fmt::format(
      "# Written by `pgswarm node` at initialisation: SCRAM-SHA-256 for every connection.\n"
      "# TYPE  DATABASE     USER  ADDRESS    METHOD\n"
      "local   all          all              scram-sha-256\n"
      "host    all          all   0.0.0.0/0  scram-sha-256\n"
      "host    all          all   ::/0       scram-sha-256\n"
      "local   replication  {0}              scram-sha-256\n"
      "host    replication  {0}   0.0.0.0/0  scram-sha-256\n"
      "host    replication  {0}   ::/0       scram-sha-256\n",
      user);
}

namespace {

std::string passfileField(const std::string& value) {
  return escapeWith(value, ":\\", '\\');
}

}  // namespace

std::string anyHostPassfileLine(const std::string& user, const std::string& password) {
  return fmt::format("*:*:*:{}:{}\n", passfileField(user), passfileField(password));
}

}  // namespace pgswarm::agent
