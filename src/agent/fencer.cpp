// Fencing I/O: see fencer.hpp. Peers are reached with non-blocking connects
// polled together, so one check costs at most kReachTimeout however many
// peers there are.
#include "agent/fencer.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/data_dir.hpp"
#include "common/files.hpp"
#include "runtime/process.hpp"

namespace pgswarm::agent {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kReachTimeout{300};
constexpr milliseconds kReloadWait{2000};
constexpr int kPeerConnectTimeoutSeconds = 2;
constexpr int kStatementTimeoutMs = 2000;
// The pool repeats its word every half second while it sees the fence; an
// older one may predate an election it has started since.
constexpr milliseconds kPoolWordValid{2000};

// A primary's timeline is that of the WAL it writes now (pg_control_checkpoint
// lags until the first checkpoint after a promotion), as in node_probe.cpp.
constexpr const char* kPeerSql =
    "SELECT r AS recovering, "
    "CASE WHEN r THEN (SELECT timeline_id FROM pg_control_checkpoint())::bigint "
    "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint "
    "END AS timeline FROM (SELECT pg_is_in_recovery() AS r) AS state";

constexpr const char* kTerminateClientsSql =
    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";

// A closed socket descriptor on every path out.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&&) = delete;
  Socket(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_;
};

// Starts a non-blocking connect to the peer's first address; -1 when it
// failed at once (no such host, refused on the spot).
int startConnect(const Peer& peer, bool& connected) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto port = std::to_string(peer.port);
  if (::getaddrinfo(peer.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    found->ai_protocol);
  if (fd < 0) return -1;
  if (::connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
    connected = true;
  } else if (errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool connectSucceeded(int fd) {
  int error = 0;
  socklen_t length = sizeof(error);
  return ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
}

cluster::ConnectTarget peerTarget(const NodeConfig& config, const Peer& peer) {
  return superuserTarget(config, peer.host, peer.port, "pgswarm-fence", kPeerConnectTimeoutSeconds);
}

std::string autoConfPath(const NodeConfig& config) {
  return config.dataDir + "/postgresql.auto.conf";
}

Result<int64_t> dataDirTimeline(const NodeConfig& config) {
  std::string output;
  auto ran = runtime::runProcess({.argv = {config.binary("pg_controldata"), "-D", config.dataDir},
                                  .env = {{"LC_ALL", "C"}},
                                  .unsetEnv = {"PGDATA"}},
                                 [&](std::string_view line) { output.append(line).append("\n"); });
  if (!ran) return ran.error();
  if (!ran->success()) return makeError("pg_controldata failed ({}): {}", ran->describe(), output);
  auto timeline = controlDataTimeline(output);
  if (!timeline) return makeError("no TimeLineID in pg_controldata's output");
  return *timeline;
}

// "SET" with the value to restore, or "RESET" when it was the default.
std::string restoreStatement(const char* name, const std::optional<std::string>& previous) {
  if (!previous) return fmt::format("ALTER SYSTEM RESET {}", name);
  return fmt::format("ALTER SYSTEM SET {} = {}", name, cluster::quoteLiteral(*previous));
}

// pg_reload_conf() only signals the postmaster; a backend sees the new value
// once it has processed that signal. Until then a fresh connection could still
// start with the old settings.
Status waitForSetting(cluster::PgConnection& conn, const char* name, const std::string& wanted) {
  auto deadline = Clock::now() + kReloadWait;
  while (Clock::now() < deadline) {
    auto rows = conn.query("SELECT current_setting($1) AS v", {name});
    if (!rows) return rows.error();
    if (rows->text(0, "v") == wanted) return Ok{};
    std::this_thread::sleep_for(milliseconds(20));
  }
  return makeError("{} did not become '{}' within {} ms of pg_reload_conf()", name, wanted,
                   kReloadWait.count());
}

}  // namespace

Fencer::Fencer(const NodeContext& node, AgentState& state)
    : node_(node), state_(state), lastReachable_(Clock::now()) {
  auto text = readFile(node_.config.fenceStatePath());
  if (!text) return;
  auto record = parseFenceRecord(*text);
  if (!record) {
    spdlog::error("fence record '{}' is unreadable ({}); treating postgres as fenced",
                  node_.config.fenceStatePath(), record.error().message);
    record_ = FenceRecord{.reason = "unreadable fence record"};
  } else {
    record_ = *record;
  }
  fencedAt_ = Clock::now();
  spdlog::error(
      "postgres was FENCED by an earlier run of this agent ({}); it stays fenced until the pool "
      "vouches for it (or peers answer for unfence_after_ms) and no peer is a newer primary, or "
      "a rejoin",
      record_->reason.empty() ? "no reason recorded" : record_->reason);
  if (!node_.config.fencingEnabled()) {
    spdlog::error(
        "fencing is off (no node.peers or node.fence_timeout_ms 0), so nothing lifts "
        "the fence: rejoin the node, or remove '{}' and ALTER SYSTEM RESET {} and {}",
        node_.config.fenceStatePath(), kSyncNamesSetting, kReadOnlySetting);
  }
  publish();
}

void Fencer::publish() {
  bool fenced = record_.has_value();
  state_.update([&](AgentSnapshot& s) { s.fenced = fenced; });
}

std::vector<PeerView> Fencer::reachPeers() const {
  std::vector<PeerView> views;
  std::vector<Socket> sockets;
  std::vector<pollfd> pending;
  std::vector<std::size_t> owners;  // views index of each pending entry
  for (const auto& peer : node_.config.peers) {
    views.push_back(PeerView{.peer = peer});
    bool connected = false;
    int fd = startConnect(peer, connected);
    if (fd < 0) continue;
    sockets.emplace_back(fd);
    if (connected) {
      views.back().reachable = true;
    } else {
      pending.push_back({.fd = fd, .events = POLLOUT, .revents = 0});
      owners.push_back(views.size() - 1);
    }
  }
  auto deadline = Clock::now() + kReachTimeout;
  std::size_t open = pending.size();
  while (open > 0) {
    auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    int ready = ::poll(pending.data(), pending.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (pending[i].fd < 0 || pending[i].revents == 0) continue;
      views[owners[i]].reachable = connectSucceeded(pending[i].fd);
      pending[i].fd = -1;  // poll() ignores negative descriptors
      --open;
    }
  }
  return views;
}

void Fencer::askPeers(std::vector<PeerView>& views) const {
  for (auto& view : views) {
    if (!view.reachable) continue;
    auto conn = cluster::PgConnection::connect(peerTarget(node_.config, view.peer));
    if (!conn) {
      spdlog::debug("fence: {}:{} is reachable but does not answer the superuser: {}",
                    view.peer.host, view.peer.port, conn.error().message);
      continue;
    }
    if (!conn->setStatementTimeout(kStatementTimeoutMs)) continue;
    auto rows = conn->query(kPeerSql);
    if (!rows || rows->size() != 1) continue;
    int64_t timeline = 0;
    try {
      timeline = std::stoll(rows->text(0, "timeline"));
    } catch (const std::exception&) {
      continue;
    }
    view.role = rows->text(0, "recovering") == "t" ? cluster::NodeRole::kReplica
                                                   : cluster::NodeRole::kPrimary;
    view.timeline = timeline;
  }
}

void Fencer::check(cluster::NodeRole role, int64_t timeline) {
  auto now = Clock::now();
  // A node that just became the primary gets the whole timeout of grace.
  if (role == cluster::NodeRole::kPrimary && lastRole_ != role) lastReachable_ = now;
  lastRole_ = role;
  bool fenced = record_.has_value();
  if (role == cluster::NodeRole::kReplica && !fenced) return;
  auto views = reachPeers();
  bool reached = false;
  for (const auto& view : views) reached = reached || view.reachable;
  if (reached && !reachedLastCheck_) reachableSince_ = now;
  reachedLastCheck_ = reached;
  if (reached) lastReachable_ = now;
  if (fenced && reached) askPeers(views);
  auto vouchedAt = state_.snapshot().unfenceRequestedAt;
  auto decision = decideFence(
      FenceFacts{.role = role,
                 .timeline = timeline,
                 .fenced = fenced,
                 .lastReachable = lastReachable_,
                 .reachableSince = reachableSince_,
                 .now = now,
                 .timeout = node_.config.fenceTimeout,
                 .liftAfter = node_.config.unfenceAfter,
                 .poolVouches = vouchedAt > fencedAt_ && now - vouchedAt <= kPoolWordValid,
                 .peers = std::move(views)});
  switch (decision.action) {
    case FenceAction::kStay:
      if (!decision.reason.empty() && decision.reason != lastReason_) {
        spdlog::error("postgres stays FENCED: {}", decision.reason);
      }
      lastReason_ = decision.reason;
      return;
    case FenceAction::kFence:
      if (auto done = fence(decision.reason); !done) {
        spdlog::error("FENCING postgres failed (retried): {}", done.error().message);
      }
      return;
    case FenceAction::kUnfence:
      if (auto done = unfence(decision.reason); !done) {
        spdlog::error("unfencing postgres failed (retried): {}", done.error().message);
      }
      return;
  }
}

// The record is written before postgres is touched: an agent that dies half
// way then still knows that postgres may be fenced, never the other way round.
Status Fencer::fence(const std::string& reason) {
  spdlog::error("FENCING postgres: {}; commits that write will wait, no longer acknowledged",
                reason);
  auto conn = cluster::PgConnection::connect(localTarget(node_));
  if (!conn) return conn.error();
  if (auto local = conn->execute("SET synchronous_commit = local"); !local) return local;
  auto current = conn->query(
      "SELECT current_setting('synchronous_standby_names') AS sync, "
      "current_setting('default_transaction_read_only') AS ro");
  if (!current) return current.error();
  FenceRecord record{.syncNames = previousSyncNames(current->text(0, "sync")),
                     .readOnly = previousReadOnly(current->text(0, "ro")),
                     .reason = reason};
  if (auto saved = writeFileAtomic(node_.config.fenceStatePath(), fenceRecordJson(record), 0600);
      !saved) {
    return saved;
  }
  auto applied = [&]() -> Status {
    for (const auto& sql : {fmt::format("ALTER SYSTEM SET {} = {}", kSyncNamesSetting,
                                        cluster::quoteLiteral(kFencedStandbyName)),
                            fmt::format("ALTER SYSTEM SET {} = on", kReadOnlySetting),
                            std::string("SELECT pg_reload_conf()")}) {
      if (auto done = conn->execute(sql); !done) return done;
    }
    return waitForSetting(*conn, kSyncNamesSetting, kFencedStandbyName);
  }();
  if (!applied) {
    std::error_code ec;
    fs::remove(node_.config.fenceStatePath(), ec);
    return applied;
  }
  record_ = std::move(record);
  fencedAt_ = Clock::now();
  lastReason_.clear();
  // Sessions that began before the fence may still write: end them before
  // anyone is told that the node is fenced.
  auto terminated = conn->query(kTerminateClientsSql);
  publish();
  spdlog::error("postgres is FENCED ({} = {}, {} = on); terminated {} client sessions",
                kSyncNamesSetting, kFencedStandbyName, kReadOnlySetting,
                terminated ? terminated->text(0, "n") : "no (" + terminated.error().message + ")");
  return Ok{};
}

Status Fencer::unfence(const std::string& reason) {
  auto conn = cluster::PgConnection::connect(localTarget(node_));
  if (!conn) return conn.error();
  for (const auto& sql : {restoreStatement(kSyncNamesSetting, record_->syncNames),
                          restoreStatement(kReadOnlySetting, record_->readOnly),
                          std::string("SELECT pg_reload_conf()")}) {
    if (auto done = conn->execute(sql); !done) return done;
  }
  if (auto reloaded = waitForSetting(*conn, kSyncNamesSetting, record_->syncNames.value_or(""));
      !reloaded) {
    return reloaded;
  }
  std::error_code ec;
  fs::remove(node_.config.fenceStatePath(), ec);
  if (ec) return makeError("cannot remove '{}': {}", node_.config.fenceStatePath(), ec.message());
  record_.reset();
  lastReason_.clear();
  publish();
  spdlog::error("postgres is UNFENCED: {}; {} and {} are restored", reason, kSyncNamesSetting,
                kReadOnlySetting);
  return Ok{};
}

void Fencer::fenceBeforeStart() {
  const auto& config = node_.config;
  if (!config.fencingEnabled() && !record_) return;
  std::string why;
  if (record_) {
    why = "the fence of an earlier run still holds";
  } else {
    auto ours = dataDirTimeline(config);
    if (!ours) {
      spdlog::warn("fence: cannot read the data folder's timeline: {}", ours.error().message);
      return;
    }
    auto views = reachPeers();
    askPeers(views);
    auto newer = newerPrimary(views, *ours);
    if (!newer) return;
    why = fmt::format("{}:{} is a primary on timeline {}, newer than this data folder's ({})",
                      newer->peer.host, newer->peer.port, newer->timeline, *ours);
  }
  auto autoConf = readFile(autoConfPath(config));
  std::string text = autoConf ? *autoConf : std::string();
  if (!record_) {
    FenceRecord record{.syncNames = autoConfValue(text, kSyncNamesSetting),
                       .readOnly = autoConfValue(text, kReadOnlySetting),
                       .reason = why};
    if (record.syncNames == kFencedStandbyName) record.syncNames.reset();
    if (auto saved = writeFileAtomic(config.fenceStatePath(), fenceRecordJson(record), 0600);
        !saved) {
      spdlog::error("cannot write the fence record: {}", saved.error().message);
      return;
    }
    record_ = std::move(record);
    fencedAt_ = Clock::now();
  }
  if (auto written =
          writeOwnedFile(autoConfPath(config), withFenceSettings(text), 0600, node_.runAs);
      !written) {
    spdlog::error("cannot write the fenced settings: {}", written.error().message);
    return;
  }
  publish();
  spdlog::error("starting postgres FENCED: {}; it acknowledges no write until a rejoin", why);
}

void Fencer::forget() {
  if (!record_) return;
  record_.reset();
  lastReason_.clear();
  publish();
  spdlog::error("postgres is UNFENCED: the rejoin made it a replica");
}

Status clearFenceFiles(const NodeContext& node) {
  const auto& config = node.config;
  std::error_code ec;
  fs::remove(config.fenceStatePath(), ec);
  if (ec) return makeError("cannot remove '{}': {}", config.fenceStatePath(), ec.message());
  auto text = readFile(autoConfPath(config));
  if (!text) return Ok{};
  auto stripped = withoutFenceSettings(*text);
  if (stripped == *text) return Ok{};
  return writeOwnedFile(autoConfPath(config), stripped, 0600, node.runAs);
}

}  // namespace pgswarm::agent
