// pg_rewind, or a fresh clone, towards a new primary: see rejoin.hpp.
#include "agent/rejoin.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "agent/data_dir.hpp"
#include "agent/fencer.hpp"
#include "agent/pg_files.hpp"
#include "agent/tool_output.hpp"
#include "common/files.hpp"

namespace pgswarm::agent {
namespace {

namespace fs = std::filesystem;

constexpr int kConnectTimeoutSeconds = 5;
constexpr const char* kIdentitySql =
    "SELECT pg_is_in_recovery() AS recovering, system_identifier::text AS id, "
    "pg_postmaster_start_time()::text AS started FROM pg_control_system()";

std::string overridePath(const NodeConfig& config) {
  return config.stateDir + "/pgswarm-" + config.name + ".primary.json";
}

struct Identity {
  bool recovering = false;
  std::string id;
  std::string started;
};

Result<Identity> identityOf(const cluster::ConnectTarget& target) {
  auto conn = cluster::PgConnection::connect(target);
  if (!conn) return conn.error();
  auto rows = conn->query(kIdentitySql);
  if (!rows) return rows.error();
  return Identity{rows->text(0, "recovering") == "t", rows->text(0, "id"),
                  rows->text(0, "started")};
}

cluster::ConnectTarget primaryTarget(const NodeConfig& config) {
  return superuserTarget(config, config.primaryHost, config.primaryPort, "pgswarm-agent",
                         kConnectTimeoutSeconds);
}

// Our own postgres may be down (that is often why we rejoin): then only the
// new primary's side is checked.
Status checkIdentity(const NodeContext& node, const Identity& primary) {
  const auto& config = node.config;
  if (primary.recovering) {
    return makeError("{}:{} is not a primary (it is in recovery)", config.primaryHost,
                     config.primaryPort);
  }
  auto local = identityOf(localTarget(node));
  if (!local) return Ok{};
  if (local->id != primary.id) {
    return makeError("{}:{} belongs to another cluster (system identifier {}, ours is {})",
                     config.primaryHost, config.primaryPort, primary.id, local->id);
  }
  if (local->started == primary.started) {
    return makeError("{}:{} is this node itself", config.primaryHost, config.primaryPort);
  }
  return Ok{};
}

// Physical slots are not replicated, so a promoted replica has none of ours.
Status checkpointAndEnsureSlot(const NodeConfig& config) {
  auto conn = cluster::PgConnection::connect(primaryTarget(config));
  if (!conn) return conn.error();
  // A just-promoted primary's pg_control still names the old timeline until
  // its first checkpoint; pg_rewind reads it there and would see nothing to do.
  if (auto checkpoint = conn->execute("CHECKPOINT"); !checkpoint) {
    return makeError("CHECKPOINT on {}:{} failed: {}", config.primaryHost, config.primaryPort,
                     checkpoint.error().message);
  }
  auto created = conn->query(
      "SELECT pg_create_physical_replication_slot($1, true) FROM (SELECT 1) AS one "
      "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
      {config.slot});
  if (!created) {
    return makeError("cannot create replication slot '{}' on {}:{}: {}", config.slot,
                     config.primaryHost, config.primaryPort, created.error().message);
  }
  if (!created->empty())
    spdlog::info("created replication slot '{}' on the new primary", config.slot);
  return Ok{};
}

bool isRewindProgress(std::string_view line) {
  return line.find(" kB (") != std::string_view::npos &&
         line.find("copied") != std::string_view::npos;
}

std::string sourceConninfo(const NodeConfig& config) {
  return fmt::format("host={} port={} user=postgres dbname=postgres application_name={} sslmode={}",
                     conninfoValue(config.primaryHost), config.primaryPort,
                     conninfoValue(config.name + "-rewind"),
                     conninfoValue(config.replicationSslmode));
}

// The password reaches pg_rewind in its environment, never in argv.
Status runRewind(const NodeContext& node) {
  const auto& config = node.config;
  OutputTail tail;
  ProgressLog progress("pg_rewind", node.onProgress);
  runtime::SpawnOptions options{
      .argv = {config.binary("pg_rewind"), "--target-pgdata=" + config.dataDir,
               "--source-server=" + sourceConninfo(config), "--progress"},
      .env = {{"PGPASSWORD", config.password},
              {"PGCONNECT_TIMEOUT", std::to_string(kConnectTimeoutSeconds)}},
      .unsetEnv = {"PGDATA", "PGPASSFILE"},
      .runAs = node.runAs,
      .dieWithParent = true,
      .closeInheritedFds = true};
  spdlog::info("rewinding '{}' from {}:{} with pg_rewind", config.dataDir, config.primaryHost,
               config.primaryPort);
  auto ran = runtime::runProcess(options, [&](std::string_view line) {
    if (isRewindProgress(line)) return progress.line(line);
    tail.add(line);
    spdlog::info("pg_rewind: {}", line);
  });
  progress.finish(ran && ran->success());
  if (!ran) return ran.error();
  if (!ran->success()) return makeError("pg_rewind failed ({}):\n{}", ran->describe(), tail.text());
  return Ok{};
}

// The old folder is kept aside until the clone has succeeded: it may hold
// the only copy of writes that never reached the new primary. A folder
// missing since an earlier failed clone leaves the one set aside then alone.
Status recloneDataDir(const NodeContext& node) {
  const auto& config = node.config;
  std::string aside = config.dataDir + ".rejoin-old";
  std::error_code ec;
  if (fs::exists(config.dataDir, ec)) {
    fs::remove_all(aside, ec);
    fs::rename(config.dataDir, aside, ec);
    if (ec) {
      return makeError("cannot move '{}' aside to '{}': {}", config.dataDir, aside, ec.message());
    }
    spdlog::warn("moved the data folder aside to '{}' for a fresh clone", aside);
  }
  auto created = createDataDir(config.dataDir, node.runAs);
  if (!created) return created.error();
  if (auto cloned = cloneReplica(node); !cloned) {
    removeHalfMadeDataDir(config.dataDir, true);
    return makeError("{}\n(the old data folder is kept in '{}')", cloned.error().message, aside);
  }
  fs::remove_all(aside, ec);
  return Ok{};
}

// Slots the node kept from its time as a primary would pin WAL here for
// ever: a replica serves no one. postgres is stopped, so removing them is safe.
void dropOwnSlots(const std::string& dataDir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dataDir + "/pg_replslot", ec)) {
    spdlog::info("removing replication slot '{}' left from the old timeline",
                 entry.path().filename().string());
    fs::remove_all(entry.path(), ec);
  }
}

Status writeStandbyFiles(const NodeContext& node) {
  const auto& dataDir = node.config.dataDir;
  removeCopiedSocketLocks(dataDir);
  dropOwnSlots(dataDir);
  // A fenced old primary's settings must not come along into the replica:
  // promoted later, it would refuse or hang every write.
  if (auto cleared = clearFenceFiles(node); !cleared) return cleared;
  std::string autoConf = dataDir + "/postgresql.auto.conf";
  if (auto text = readFile(autoConf)) {
    auto stripped = withoutPrimarySettings(*text);
    if (stripped != *text) {
      if (auto ok = writeOwnedFile(autoConf, stripped, 0600, node.runAs); !ok) return ok;
    }
  }
  return writeOwnedFile(dataDir + "/standby.signal", "", 0600, node.runAs);
}

Status savePrimaryOverride(const NodeConfig& config) {
  nlohmann::json json{{"host", config.primaryHost}, {"port", config.primaryPort}};
  return writeFileAtomic(overridePath(config), json.dump() + "\n", 0644);
}

}  // namespace

NodeContext withPrimary(const NodeContext& node, const RejoinTarget& target) {
  NodeContext moved = node;
  moved.config.primaryHost = target.host;
  moved.config.primaryPort = target.port;
  return moved;
}

Status prepareRejoin(const NodeContext& node) {
  const auto& config = node.config;
  auto primary = identityOf(primaryTarget(config));
  if (!primary) {
    return makeError("cannot reach the new primary {}:{} as postgres: {}", config.primaryHost,
                     config.primaryPort, primary.error().message);
  }
  if (auto ok = checkIdentity(node, *primary); !ok) return ok;
  return checkpointAndEnsureSlot(config);
}

const char* toString(RejoinMethod method) {
  return method == RejoinMethod::kRewind ? "pg_rewind" : "a fresh clone";
}

Result<RejoinMethod> rewindOrClone(const NodeContext& node, const StageReport& stage) {
  stage("rejoining: pg_rewind");
  auto method = RejoinMethod::kRewind;
  if (auto rewound = runRewind(node); !rewound) {
    spdlog::warn("{}", rewound.error().message);
    spdlog::warn("pg_rewind could not rewind '{}'; cloning the new primary instead",
                 node.config.dataDir);
    stage("rejoining: pg_basebackup");
    if (auto cloned = recloneDataDir(node); !cloned) return cloned.error();
    method = RejoinMethod::kClone;
  }
  stage("rejoining: writing standby files");
  if (auto ok = writeStandbyFiles(node); !ok) return ok.error();
  if (auto ok = savePrimaryOverride(node.config); !ok) return ok.error();
  return method;
}

void applyPrimaryOverride(NodeConfig& config) {
  auto text = readFile(overridePath(config));
  if (!text) return;
  auto json = nlohmann::json::parse(*text, nullptr, false);
  if (json.is_discarded() || !json.contains("host") || !json.contains("port") ||
      !json["host"].is_string() || !json["port"].is_number_integer()) {
    spdlog::warn("ignoring '{}': not a primary override", overridePath(config));
    return;
  }
  config.primaryHost = json["host"].get<std::string>();
  config.primaryPort = json["port"].get<int>();
  spdlog::info("following primary {}:{} chosen by an earlier rejoin ({})", config.primaryHost,
               config.primaryPort, overridePath(config));
}

}  // namespace pgswarm::agent
