// initdb / pg_basebackup and the files of every start: see bootstrap.hpp.
#include "agent/bootstrap.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>

#include "agent/data_dir.hpp"
#include "agent/fencer.hpp"
#include "agent/pg_files.hpp"
#include "agent/tool_output.hpp"
#include "common/files.hpp"

namespace pgswarm::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

constexpr const char* kInitdbPasswordPrefix = ".pgswarm-initdb-pw.";

bool isProgressLine(std::string_view line) {
  return line.find(" kB (") != std::string_view::npos &&
         line.find("tablespace") != std::string_view::npos;
}

// Deletes the initdb password file whatever happens.
class TempSecretFile {
 public:
  explicit TempSecretFile(std::string path) : path_(std::move(path)) {}
  TempSecretFile(const TempSecretFile&) = delete;
  TempSecretFile& operator=(const TempSecretFile&) = delete;
  ~TempSecretFile() { ::unlink(path_.c_str()); }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status ensureIncludeLine(const NodeContext& node) {
  std::string path = node.config.dataDir + "/postgresql.conf";
  auto text = readFile(path);
  if (!text) return text.error();
  if (text->find(kIncludeLine) != std::string::npos) return Ok{};
  if (!text->empty() && text->back() != '\n') *text += '\n';
  *text += std::string("\n# pgswarm: settings the node agent manages\n") + kIncludeLine + "\n";
  return writeOwnedFile(path, *text, 0600, node.runAs);
}

Status writeHba(const NodeContext& node) {
  return writeOwnedFile(node.config.dataDir + "/pg_hba.conf",
                        pgHbaConf(node.config.replicationUser), 0600, node.runAs);
}

// For any host and port: the replication role is the cluster's, and after a
// failover primary_conninfo names another node (the pool rewrites it).
Status writePassfile(const NodeContext& node) {
  const auto& config = node.config;
  return writeOwnedFile(config.passfilePath(),
                        anyHostPassfileLine(config.replicationUser, config.replicationPassword),
                        0600, node.runAs);
}

Result<cluster::PgConnection> connectReplication(const NodeConfig& config, int timeoutSeconds) {
  return cluster::PgConnection::connect({.host = config.primaryHost,
                                         .port = config.primaryPort,
                                         .user = config.replicationUser,
                                         .password = config.replicationPassword,
                                         .applicationName = config.name,
                                         .connectTimeoutSeconds = timeoutSeconds,
                                         .replication = "true"});
}

// A primary that is still initialising refuses us for a while (no role yet,
// not listening yet): every error is retried until the wait is over.
Result<cluster::PgConnection> waitForPrimary(const NodeConfig& config) {
  auto deadline = steady_clock::now() + config.primaryWait;
  spdlog::info("waiting up to {} s for primary {}:{} to accept a replication connection",
               config.primaryWait.count(), config.primaryHost, config.primaryPort);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - steady_clock::now());
    // libpq treats a connect_timeout below 2 s as 2 s.
    auto conn = connectReplication(config, static_cast<int>(std::clamp<long>(left.count(), 2, 5)));
    if (conn) return conn;
    auto now = steady_clock::now();
    if (now >= deadline) {
      return makeError(
          "primary {}:{} did not accept a replication connection as '{}' within {} s: "
          "{}",
          config.primaryHost, config.primaryPort, config.replicationUser,
          config.primaryWait.count(), conn.error().message);
    }
    spdlog::debug("primary not ready: {}", conn.error().message);
    std::this_thread::sleep_for(
        std::min<steady_clock::duration>(std::chrono::seconds(1), deadline - now));
  }
}

// The slot name is validated ([a-z0-9_]) so it needs no quoting here.
Status dropStaleSlot(cluster::PgConnection& conn, const NodeConfig& config) {
  auto slot = conn.query("READ_REPLICATION_SLOT " + config.slot);
  if (!slot)
    return makeError("cannot read replication slot '{}' on the primary: {}", config.slot,
                     slot.error().message);
  if (!slot->get(0, "slot_type")) return Ok{};
  spdlog::info(
      "replication slot '{}' already exists on the primary; dropping it unless it is "
      "in use",
      config.slot);
  if (auto dropped = conn.execute("DROP_REPLICATION_SLOT " + config.slot); !dropped) {
    return makeError(
        "replication slot '{}' already exists on primary {}:{} and cannot be "
        "dropped ({}); does another replica use the slot name '{}'?",
        config.slot, config.primaryHost, config.primaryPort, dropped.error().message, config.slot);
  }
  return Ok{};
}

Status runBasebackup(const NodeContext& node) {
  const auto& config = node.config;
  OutputTail tail;
  ProgressLog progress("pg_basebackup", node.onProgress);
  runtime::SpawnOptions options{
      .argv = {config.binary("pg_basebackup"), "-D", config.dataDir, "-h", config.primaryHost, "-p",
               std::to_string(config.primaryPort), "-U", config.replicationUser, "-X", "stream",
               "-C", "-S", config.slot, "--checkpoint=fast", "-P", "-w"},
      .env = {{"PGPASSFILE", config.passfilePath()},
              {"PGSSLMODE", config.replicationSslmode},
              {"PGAPPNAME", config.name}},
      .unsetEnv = {"PGPASSWORD", "PGDATA"},
      .runAs = node.runAs,
      .dieWithParent = true,
      .closeInheritedFds = true};
  spdlog::info("cloning {}:{} with pg_basebackup (slot '{}')", config.primaryHost,
               config.primaryPort, config.slot);
  auto ran = runtime::runProcess(options, [&](std::string_view line) {
    if (isProgressLine(line)) return progress.line(line);
    tail.add(line);
    spdlog::info("pg_basebackup: {}", line);
  });
  progress.finish(ran && ran->success());
  if (!ran) return ran.error();
  if (!ran->success()) {
    return makeError("pg_basebackup from {}:{} failed ({}):\n{}", config.primaryHost,
                     config.primaryPort, ran->describe(), tail.text());
  }
  return Ok{};
}

Status cloneWithPassfile(const NodeContext& node) {
  const auto& config = node.config;
  auto conn = waitForPrimary(config);
  if (!conn) return conn.error();
  if (auto ok = dropStaleSlot(*conn, config); !ok) return ok;
  if (auto ok = runBasebackup(node); !ok) return ok;
  removeCopiedSocketLocks(config.dataDir);
  // A primary fences itself with ALTER SYSTEM: a backup taken while it was
  // fenced (a lone primary before its first peer answers) carries the fence
  // in postgresql.auto.conf, and this replica would refuse every write the
  // day it is promoted.
  if (auto ok = clearFenceFiles(node); !ok) return ok;
  if (auto ok = writeOwnedFile(config.dataDir + "/standby.signal", "", 0600, node.runAs); !ok) {
    return ok;
  }
  if (auto ok = writeHba(node); !ok) return ok;
  return ensureIncludeLine(node);
}

}  // namespace

// The primary's socket lock files come along in the backup; a stale one
// naming a PID that is alive here would stop our postmaster from starting.
void removeCopiedSocketLocks(const std::string& dataDir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dataDir, ec)) {
    auto name = entry.path().filename().string();
    if (name.rfind(".s.PGSQL.", 0) == 0) fs::remove(entry.path(), ec);
  }
}

Status initPrimary(const NodeContext& node) {
  const auto& config = node.config;
  TempSecretFile pwfile(fmt::format("{}/{}{}", config.stateDir, kInitdbPasswordPrefix, ::getpid()));
  if (auto written = writeOwnedFile(pwfile.path(), config.password + "\n", 0600, node.runAs);
      !written) {
    return written;
  }
  OutputTail tail;
  runtime::SpawnOptions options{
      .argv = {config.binary("initdb"), "-D", config.dataDir, "--data-checksums",
               "--auth=scram-sha-256", "-U", "postgres", "--pwfile=" + pwfile.path(), "-E", "UTF8",
               "--locale=C"},
      .unsetEnv = {"PGDATA"},
      .runAs = node.runAs,
      .dieWithParent = true,
      .closeInheritedFds = true};
  spdlog::info("initialising a new primary in {} (initdb, data checksums, SCRAM)", config.dataDir);
  auto ran = runtime::runProcess(options, [&](std::string_view line) {
    tail.add(line);
    spdlog::debug("initdb: {}", line);
  });
  if (!ran) return ran.error();
  if (!ran->success()) return makeError("initdb failed ({}):\n{}", ran->describe(), tail.text());
  if (auto ok = writeHba(node); !ok) return ok;
  return ensureIncludeLine(node);
}

void removeStaleInitdbPasswordFiles(const std::string& stateDir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(stateDir, ec)) {
    if (entry.path().filename().string().rfind(kInitdbPasswordPrefix, 0) == 0) {
      spdlog::info("removing '{}' left by an interrupted initdb", entry.path().string());
      fs::remove(entry.path(), ec);
    }
  }
}

Status cloneReplica(const NodeContext& node) {
  if (auto ok = writePassfile(node); !ok) return ok;
  auto cloned = cloneWithPassfile(node);
  // The passfile holds a secret: it stays only for a replica that exists.
  if (!cloned) ::unlink(node.config.passfilePath().c_str());
  return cloned;
}

Status writeStartFiles(const NodeContext& node, bool standby) {
  const auto& config = node.config;
  if (standby && config.primaryHost.empty()) {
    return makeError(
        "data folder '{}' is a standby (standby.signal) but no primary host is "
        "configured: set --primary-host or REPLICATION_HOST",
        config.dataDir);
  }
  if (!config.primaryHost.empty() && !config.replicationPassword.empty()) {
    if (auto ok = writePassfile(node); !ok) return ok;
  }
  if (auto ok = ensureIncludeLine(node); !ok) return ok;
  return writeOwnedFile(config.dataDir + "/" + kPgswarmConfName,
                        pgswarmConf(config, node.socketDir, standby), 0600, node.runAs);
}

cluster::ConnectTarget superuserTarget(const NodeConfig& config, std::string host, int port,
                                       std::string applicationName, int connectTimeoutSeconds) {
  return {.host = std::move(host),
          .port = port,
          .user = "postgres",
          .password = config.password,
          .dbname = "postgres",
          .applicationName = std::move(applicationName),
          .connectTimeoutSeconds = connectTimeoutSeconds};
}

cluster::ConnectTarget localTarget(const NodeContext& node) {
  return superuserTarget(node.config, localConnectHost(node.config.listenAddresses, node.socketDir),
                         node.config.port, "pgswarm-agent", 2);
}

Status ensureReplicationRole(cluster::PgConnection& conn, const NodeConfig& config) {
  auto verifier = conn.encryptPassword(config.replicationUser, config.replicationPassword);
  if (!verifier) return verifier.error();
  auto existing = conn.query("SELECT 1 FROM pg_roles WHERE rolname = $1", {config.replicationUser});
  if (!existing) return existing.error();
  std::string verb = existing->empty() ? "CREATE" : "ALTER";
  auto done = conn.execute(fmt::format("{} ROLE {} LOGIN REPLICATION PASSWORD {}", verb,
                                       cluster::quoteIdentifier(config.replicationUser),
                                       cluster::quoteLiteral(*verifier)));
  if (!done) {
    return makeError("cannot {} replication role '{}': {}", verb, config.replicationUser,
                     done.error().message);
  }
  return Ok{};
}

}  // namespace pgswarm::agent
