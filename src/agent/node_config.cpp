// Settings of `pgswarm node` and their validation: see node_config.hpp.
#include "agent/node_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "common/files.hpp"
#include "runtime/process.hpp"

namespace pgswarm::agent {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxIdentifierLength = 63;  // PostgreSQL's NAMEDATALEN - 1
constexpr const char* kDebianPgBin = "/usr/lib/postgresql/15/bin";

std::string hostName() {
  std::array<char, 256> buffer{};
  if (::gethostname(buffer.data(), buffer.size() - 1) != 0) return "node";
  std::string name(buffer.data());
  return name.empty() ? "node" : name;
}

std::vector<SettingDef> buildDefs() {
  return {
      {.key = "node.name",
       .flag = "name",
       .defaultValue = hostName(),
       .help = "node name: cluster_name, application_name on the primary, slot name"},
      {.key = "node.data_dir",
       .flag = "data-dir",
       .env = {"PGDATA"},
       .defaultValue = "/var/lib/postgresql/data",
       .help = "postgres data folder"},
      {.key = "node.listen_addresses",
       .flag = "listen",
       .defaultValue = "*",
       .help = "postgres listen_addresses"},
      {.key = "node.port",
       .flag = "port",
       .env = {"PGPORT"},
       .defaultValue = "5432",
       .help = "postgres port"},
      {.key = "node.mode",
       .flag = "mode",
       .env = {"REPLICATION_MODE"},
       .defaultValue = "primary",
       .help = "role at first start: primary|master|replica|slave"},
      {.key = "node.primary_host",
       .flag = "primary-host",
       .env = {"REPLICATION_HOST"},
       .help = "primary to replicate from (replica mode)"},
      {.key = "node.primary_port",
       .flag = "primary-port",
       .env = {"REPLICATION_PORT"},
       .defaultValue = "5432",
       .help = "primary's port"},
      {.key = "node.replication_user",
       .flag = "replication-user",
       .env = {"REPLICATION_USER"},
       .defaultValue = "replicator",
       .help = "replication role"},
      {.key = "node.replication_password",
       .flag = "replication-password",
       .env = {"REPLICATION_PASS"},
       .help = "replication role's password",
       .secret = true},
      {.key = "node.replication_sslmode",
       .flag = "replication-sslmode",
       .env = {"REPLICATION_SSLMODE"},
       .defaultValue = "prefer",
       .help = "sslmode of the replication connection"},
      {.key = "node.password",
       .flag = "password",
       .env = {"PG_PASSWORD"},
       .help = "password of the superuser postgres (required)",
       .secret = true},
      {.key = "node.slot",
       .flag = "slot",
       .help = "replication slot of this replica [default: derived from the name]"},
      {.key = "node.api_listen",
       .flag = "api-listen",
       .defaultValue = "0.0.0.0",
       .help = "REST API address"},
      {.key = "node.api_port", .flag = "api-port", .defaultValue = "8008", .help = "REST API port"},
      {.key = "node.api_token",
       .flag = "api-token",
       .help = "bearer token of the REST API's POST endpoints (promote, rejoin); unset: "
               "they answer 403",
       .secret = true},
      {.key = "node.pg_bin",
       .flag = "pg-bin",
       .help =
           "PostgreSQL binaries [default: /usr/lib/postgresql/15/bin, else pg_config --bindir]"},
      {.key = "node.run_as",
       .flag = "run-as",
       .defaultValue = "postgres",
       .help = "OS user that runs postgres when the agent runs as root"},
      {.key = "node.primary_wait",
       .flag = "primary-wait",
       .defaultValue = "60",
       .help = "seconds a new replica waits for its primary"},
      {.key = "node.max_restarts",
       .flag = "max-restarts",
       .defaultValue = "5",
       .help = "postgres restarts allowed within restart_window before the agent gives up"},
      {.key = "node.restart_window",
       .flag = "restart-window",
       .defaultValue = "60",
       .help = "seconds over which max_restarts is counted"},
      {.key = "node.peers",
       .flag = "peers",
       .help = "comma list of host:port of the other nodes' postgres (and the pool): while "
               "none answers, a primary fences itself [default: none, no fencing]"},
      {.key = "node.fence_timeout_ms",
       .flag = "fence-timeout-ms",
       .defaultValue = "2000",
       .help = "milliseconds without a reachable peer before a primary fences itself; keep it "
               "below the pool's failover_timeout; 0 turns fencing off"},
      {.key = "node.unfence_after_ms",
       .flag = "unfence-after-ms",
       .defaultValue = "30000",
       .help = "milliseconds of reachable peers after which a fenced primary lifts its fence "
               "on its own; before that only the pool's word (POST /unfence) lifts it; 0: at "
               "once, for a node that no pool fails over"},
      {.key = "node.log_level",
       .flag = "log-level",
       .defaultValue = "info",
       .help = "trace, debug, info, warn, error"},
  };
}

std::string lowered(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Token files often end with a newline or stray spaces from an editor.
std::string trimmed(const std::string& text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

bool hasControlCharacter(const std::string& text) {
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return std::iscntrl(c) != 0; });
}

Result<Peer> parsePeer(const std::string& entry) {
  std::string host;
  std::string rest;
  if (!entry.empty() && entry.front() == '[') {
    auto close = entry.find(']');
    if (close == std::string::npos) return makeError("'{}' has no closing ']'", entry);
    host = entry.substr(1, close - 1);
    rest = entry.substr(close + 1);
  } else {
    auto colon = entry.rfind(':');
    if (colon == std::string::npos) return makeError("'{}' has no port (host:port)", entry);
    host = entry.substr(0, colon);
    rest = entry.substr(colon);
    if (host.find(':') != std::string::npos) {
      return makeError("'{}': write an IPv6 address in brackets, [addr]:port", entry);
    }
  }
  if (rest.size() < 2 || rest.front() != ':') {
    return makeError("'{}' has no port (host:port)", entry);
  }
  auto digits = rest.substr(1);
  bool numeric =
      digits.size() <= 5 && std::all_of(digits.begin(), digits.end(),
                                        [](unsigned char c) { return std::isdigit(c) != 0; });
  int port = numeric ? std::stoi(digits) : 0;
  if (port < 1 || port > 65535) return makeError("'{}': '{}' is not a port", entry, digits);
  if (host.empty() || hasControlCharacter(host) ||
      host.find_first_of(" '\\,") != std::string::npos) {
    return makeError("'{}': '{}' is not a host name", entry, host);
  }
  return Peer{.host = host, .port = port};
}

Result<NodeMode> parseMode(const Settings& settings) {
  auto raw = settings.text("node.mode");
  auto mode = lowered(raw);
  if (mode == "primary" || mode == "master") return NodeMode::kPrimary;
  if (mode == "replica" || mode == "slave") return NodeMode::kReplica;
  return makeError("{}: '{}' is not one of primary, master, replica, slave",
                   settings.origin("node.mode"), raw);
}

// Node names end up in file names, cluster_name and application_name.
Status checkName(const Settings& settings, const std::string& name) {
  bool valid = !name.empty() && name.size() <= kMaxIdentifierLength &&
               std::all_of(name.begin(), name.end(), [](unsigned char c) {
                 return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
               });
  if (valid) return Ok{};
  return makeError("{}: '{}' is not a valid node name (1-63 of A-Z a-z 0-9 . _ -)",
                   settings.origin("node.name"), name);
}

Status checkSlot(const Settings& settings, const std::string& slot) {
  bool valid = !slot.empty() && slot.size() <= kMaxIdentifierLength &&
               std::all_of(slot.begin(), slot.end(), [](unsigned char c) {
                 return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
               });
  if (valid) return Ok{};
  return makeError("{}: '{}' is not a valid replication slot name (1-63 of a-z 0-9 _)",
                   settings.origin("node.slot"), slot);
}

Result<std::string> absoluteDataDir(const Settings& settings) {
  auto raw = settings.text("node.data_dir");
  if (raw.empty()) return makeError("{} must not be empty", settings.origin("node.data_dir"));
  std::error_code ec;
  fs::path path = fs::absolute(fs::path(raw), ec).lexically_normal();
  if (ec) return makeError("{}: '{}': {}", settings.origin("node.data_dir"), raw, ec.message());
  std::string text = path.string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  if (fs::path(text).parent_path() == fs::path(text)) {
    return makeError(
        "{}: '{}' cannot be a data folder (it has no parent folder for the agent's "
        "files)",
        settings.origin("node.data_dir"), raw);
  }
  return text;
}

Status checkSslmode(const Settings& settings, const std::string& sslmode) {
  static const std::vector<std::string> kModes = {"disable", "allow",     "prefer",
                                                  "require", "verify-ca", "verify-full"};
  if (std::find(kModes.begin(), kModes.end(), sslmode) != kModes.end()) return Ok{};
  return makeError("{}: '{}' is not one of disable, allow, prefer, require, verify-ca, verify-full",
                   settings.origin("node.replication_sslmode"), sslmode);
}

// Passwords go into a one-line initdb pwfile and a one-line passfile.
Status checkSecret(const Settings& settings, const std::string& key) {
  if (!hasControlCharacter(settings.text(key))) return Ok{};
  return makeError("{}: the password must not contain line breaks or control characters",
                   settings.origin(key));
}

Status checkPlainText(const Settings& settings, const std::string& key) {
  auto value = settings.text(key);
  if (value.empty()) return makeError("{} must not be empty", settings.origin(key));
  if (hasControlCharacter(value) || value.find('\'') != std::string::npos) {
    return makeError("{}: '{}' must not contain quotes or control characters", settings.origin(key),
                     value);
  }
  return Ok{};
}

Status requireReplicaSettings(const Settings& settings, const NodeConfig& config) {
  if (config.mode != NodeMode::kReplica) return Ok{};
  if (config.primaryHost.empty()) {
    return makeError(
        "{} is '{}' but no primary host is given: set --primary-host, "
        "REPLICATION_HOST or PGSWARM_NODE_PRIMARY_HOST",
        settings.origin("node.mode"), settings.text("node.mode"));
  }
  if (config.replicationPassword.empty()) {
    return makeError(
        "{} is '{}' but no replication password is given: set "
        "--replication-password-file, REPLICATION_PASS_FILE or REPLICATION_PASS",
        settings.origin("node.mode"), settings.text("node.mode"));
  }
  return Ok{};
}

Status fillNumbers(const Settings& settings, NodeConfig& config) {
  auto port = settings.integer("node.port", 1, 65535);
  if (!port) return port.error();
  auto primaryPort = settings.integer("node.primary_port", 1, 65535);
  if (!primaryPort) return primaryPort.error();
  auto apiPort = settings.integer("node.api_port", 1, 65535);
  if (!apiPort) return apiPort.error();
  auto wait = settings.integer("node.primary_wait", 0, 86400);
  if (!wait) return wait.error();
  auto restarts = settings.integer("node.max_restarts", 0, 1000);
  if (!restarts) return restarts.error();
  auto window = settings.integer("node.restart_window", 1, 86400);
  if (!window) return window.error();
  auto fenceTimeout = settings.integer("node.fence_timeout_ms", 0, 3600000);
  if (!fenceTimeout) return fenceTimeout.error();
  auto unfenceAfter = settings.integer("node.unfence_after_ms", 0, 86400000);
  if (!unfenceAfter) return unfenceAfter.error();
  config.port = static_cast<int>(*port);
  config.primaryPort = static_cast<int>(*primaryPort);
  config.apiPort = static_cast<int>(*apiPort);
  config.primaryWait = std::chrono::seconds(*wait);
  config.maxRestarts = static_cast<int>(*restarts);
  config.restartWindow = std::chrono::seconds(*window);
  config.fenceTimeout = std::chrono::milliseconds(*fenceTimeout);
  config.unfenceAfter = std::chrono::milliseconds(*unfenceAfter);
  return Ok{};
}

Status fillTexts(const Settings& settings, NodeConfig& config) {
  config.name = settings.text("node.name");
  if (auto ok = checkName(settings, config.name); !ok) return ok;
  auto dataDir = absoluteDataDir(settings);
  if (!dataDir) return dataDir.error();
  config.dataDir = *dataDir;
  config.stateDir = fs::path(config.dataDir).parent_path().string();
  for (const char* key :
       {"node.listen_addresses", "node.replication_user", "node.api_listen", "node.run_as"}) {
    if (auto ok = checkPlainText(settings, key); !ok) return ok;
  }
  config.listenAddresses = settings.text("node.listen_addresses");
  config.replicationUser = settings.text("node.replication_user");
  config.apiListen = settings.text("node.api_listen");
  config.runAs = settings.text("node.run_as");
  config.primaryHost = settings.text("node.primary_host");
  if (hasControlCharacter(config.primaryHost) ||
      config.primaryHost.find('\'') != std::string::npos) {
    return makeError("{}: '{}' is not a host name", settings.origin("node.primary_host"),
                     config.primaryHost);
  }
  config.replicationSslmode = settings.text("node.replication_sslmode");
  if (auto ok = checkSslmode(settings, config.replicationSslmode); !ok) return ok;
  config.slot = settings.has("node.slot") ? settings.text("node.slot") : slotNameFor(config.name);
  if (auto ok = checkSlot(settings, config.slot); !ok) return ok;
  config.pgBin = settings.text("node.pg_bin");
  config.logLevel = settings.text("node.log_level");
  auto peers = parsePeers(settings.text("node.peers"));
  if (!peers) return makeError("{}: {}", settings.origin("node.peers"), peers.error().message);
  config.peers = std::move(*peers);
  return Ok{};
}

Status fillSecrets(const Settings& settings, NodeConfig& config) {
  for (const char* key : {"node.password", "node.replication_password"}) {
    if (auto ok = checkSecret(settings, key); !ok) return ok;
  }
  config.password = settings.text("node.password");
  if (config.password.empty()) {
    return makeError(
        "the password of the superuser postgres is required: set --password-file, "
        "PG_PASSWORD_FILE, PG_PASSWORD or PGSWARM_NODE_PASSWORD");
  }
  config.replicationPassword = settings.text("node.replication_password");
  config.apiToken = trimmed(settings.text("node.api_token"));
  if (hasControlCharacter(config.apiToken) || config.apiToken.find(' ') != std::string::npos) {
    return makeError("{}: the API token must be one word without control characters",
                     settings.origin("node.api_token"));
  }
  return Ok{};
}

bool hasServerBinaries(const std::string& dir) {
  return ::access((dir + "/postgres").c_str(), X_OK) == 0 &&
         ::access((dir + "/initdb").c_str(), X_OK) == 0;
}

std::string findInPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string pgConfigBindir() {
  auto pgConfig = findInPath("pg_config");
  if (pgConfig.empty()) return {};
  std::string bindir;
  auto ran = runtime::runProcess({.argv = {pgConfig, "--bindir"}},
                                 [&](std::string_view line) { bindir = std::string(line); });
  if (!ran || !ran->success()) return {};
  return bindir;
}

}  // namespace

Result<std::vector<Peer>> parsePeers(const std::string& text) {
  std::vector<Peer> peers;
  std::stringstream entries(text);
  for (std::string entry; std::getline(entries, entry, ',');) {
    entry = trimmed(entry);
    if (entry.empty()) continue;
    auto peer = parsePeer(entry);
    if (!peer) return peer.error();
    if (std::find(peers.begin(), peers.end(), *peer) == peers.end()) peers.push_back(*peer);
  }
  return peers;
}

const char* toString(NodeMode mode) {
  return mode == NodeMode::kPrimary ? "primary" : "replica";
}

const std::vector<SettingDef>& nodeSettingDefs() {
  static const std::vector<SettingDef> kDefs = buildDefs();
  return kDefs;
}

std::string slotNameFor(const std::string& nodeName) {
  std::string slot;
  for (unsigned char c : nodeName) {
    char lower = static_cast<char>(std::tolower(c));
    bool keep = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') || lower == '_';
    slot += keep ? lower : '_';
  }
  if (slot.size() > kMaxIdentifierLength) slot.resize(kMaxIdentifierLength);
  return slot;
}

Result<NodeConfig> nodeConfigFromSettings(const Settings& settings) {
  NodeConfig config;
  auto mode = parseMode(settings);
  if (!mode) return mode.error();
  config.mode = *mode;
  if (auto ok = fillTexts(settings, config); !ok) return ok.error();
  if (auto ok = fillNumbers(settings, config); !ok) return ok.error();
  if (auto ok = fillSecrets(settings, config); !ok) return ok.error();
  if (auto ok = requireReplicaSettings(settings, config); !ok) return ok.error();
  return config;
}

Status keepDefaultName(NodeConfig& config, bool nameGiven) {
  if (nameGiven) return Ok{};
  auto record = config.stateDir + "/pgswarm-node-name";
  if (auto stored = readFile(record)) {
    auto name = trimmed(*stored);
    bool valid = !name.empty() && name.size() <= kMaxIdentifierLength &&
                 std::all_of(name.begin(), name.end(), [](unsigned char c) {
                   return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
                 });
    if (!valid) return makeError("'{}' does not hold a valid node name", record);
    // A slot derived from the hostname follows the kept name; a given one stays.
    if (config.slot == slotNameFor(config.name)) config.slot = slotNameFor(name);
    config.name = name;
    return Ok{};
  }
  std::error_code ec;
  if (!fs::is_directory(config.stateDir, ec)) return Ok{};
  if (auto written = writeFileAtomic(record, config.name + "\n", 0644); !written) {
    return makeError("cannot record the node name in '{}': {}", record, written.error().message);
  }
  return Ok{};
}

Status locatePgBin(NodeConfig& config) {
  if (!config.pgBin.empty()) {
    if (hasServerBinaries(config.pgBin)) return Ok{};
    return makeError(
        "PostgreSQL binaries folder '{}' (node.pg_bin) has no executable postgres "
        "and initdb",
        config.pgBin);
  }
  for (const auto& candidate : {std::string(kDebianPgBin), pgConfigBindir()}) {
    if (!candidate.empty() && hasServerBinaries(candidate)) {
      config.pgBin = candidate;
      return Ok{};
    }
  }
  return makeError(
      "no PostgreSQL server binaries found in {} or `pg_config --bindir`; "
      "install postgresql-15 or set --pg-bin",
      kDebianPgBin);
}

}  // namespace pgswarm::agent
