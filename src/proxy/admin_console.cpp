// The admin console's I/O: see admin_console.hpp; the commands and views
// themselves are in admin_commands.cpp.
#include "proxy/admin_console.hpp"

#include <algorithm>
#include <future>

#include <spdlog/spdlog.h>

#include "protocol/authentication.hpp"
#include "protocol/backend.hpp"
#include "protocol/frame.hpp"
#include "protocol/frontend.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/writer.hpp"
#include "proxy/admin_commands.hpp"
#include "proxy/client_auth.hpp"
#include "proxy/size_reload.hpp"
#include "proxy/worker.hpp"

namespace pgswarm::proxy {
namespace {

using namespace std::chrono_literals;

// Console commands are short; anything larger is not one of ours.
constexpr std::size_t kMaxConsoleMessage = std::size_t{1024} * 1024;
// A worker busy past this is reported as not answering rather than waited for.
constexpr std::chrono::milliseconds kGatherTimeout = 2s;

// Removes the console's cancel key however the console ends.
class CancelKeyGuard {
 public:
  CancelKeyGuard(CancelRegistry& registry, CancelKey key) : registry_(registry), key_(key) {}
  ~CancelKeyGuard() { registry_.remove(key_); }
  CancelKeyGuard(const CancelKeyGuard&) = delete;
  CancelKeyGuard& operator=(const CancelKeyGuard&) = delete;
  [[nodiscard]] const CancelKey& key() const { return key_; }

 private:
  CancelRegistry& registry_;
  CancelKey key_;
};

void appendReady(std::string& out) {
  protocol::Writer writer(out);
  (void)protocol::ReadyForQuery{protocol::TransactionStatus::kIdle}.encode(writer);
}

void appendError(std::string& out, std::string_view sqlState, std::string_view message,
                 std::string_view hint = {}) {
  protocol::Writer writer(out);
  protocol::appendErrorResponse(writer, {.severity = protocol::Severity::kError,
                                         .sqlState = sqlState,
                                         .message = message,
                                         .hint = hint});
}

void appendNotice(std::string& out, std::string_view message, std::string_view detail = {}) {
  protocol::NoticeResponse notice;
  notice.fields.fields = {{protocol::field::kSeverity, "NOTICE"},
                          {protocol::field::kSeverityNonLocalized, "NOTICE"},
                          {protocol::field::kCode, protocol::sqlstate::kSuccessfulCompletion},
                          {protocol::field::kMessage, message}};
  if (!detail.empty()) notice.fields.fields.push_back({protocol::field::kDetail, detail});
  protocol::Writer writer(out);
  (void)notice.encode(writer);
}

void appendCommandComplete(std::string& out, std::string_view tag) {
  protocol::Writer writer(out);
  (void)protocol::CommandComplete{tag}.encode(writer);
}

std::string welcome(const CancelKey& key) {
  std::string out;
  protocol::Writer writer(out);
  (void)protocol::AuthenticationOk{}.encode(writer);
  const std::pair<std::string_view, std::string_view> parameters[] = {
      {"server_version", "15.0 (pgswarm)"}, {"server_encoding", "UTF8"},
      {"client_encoding", "UTF8"},          {"DateStyle", "ISO, MDY"},
      {"integer_datetimes", "on"},          {"standard_conforming_strings", "on"},
      {"application_name", "pgswarm"},
  };
  for (const auto& [name, value] : parameters) {
    (void)protocol::ParameterStatus{name, value}.encode(writer);
  }
  (void)protocol::BackendKeyData{key.pid, key.secret}.encode(writer);
  (void)protocol::ReadyForQuery{protocol::TransactionStatus::kIdle}.encode(writer);
  return out;
}

bool needsSnapshot(AdminCommand command) {
  switch (command) {
    case AdminCommand::kShowPools:
    case AdminCommand::kShowDatabases:
    case AdminCommand::kShowClients:
    case AdminCommand::kShowServers:
    case AdminCommand::kShowStats:
    case AdminCommand::kShowTotals:
    case AdminCommand::kShowLists:
    case AdminCommand::kShowNodes:
    case AdminCommand::kShowFailover:
    case AdminCommand::kShowShards:
    case AdminCommand::kShowShardMap:
      return true;
    default:
      return false;
  }
}

ResultTable viewOf(AdminCommand command, const ProxySnapshot& snapshot, const PoolConfig& config) {
  switch (command) {
    case AdminCommand::kShowPools:
      return showPools(snapshot, config);
    case AdminCommand::kShowDatabases:
      return showDatabases(snapshot, config);
    case AdminCommand::kShowClients:
      return showClients(snapshot);
    case AdminCommand::kShowServers:
      return showServers(snapshot);
    case AdminCommand::kShowStats:
      return showStats(snapshot);
    case AdminCommand::kShowTotals:
      return showTotals(snapshot);
    case AdminCommand::kShowLists:
      return showLists(snapshot);
    case AdminCommand::kShowConfig:
      return showConfig(config);
    case AdminCommand::kShowNodes:
      return showNodes(snapshot, config);
    case AdminCommand::kShowFailover:
      return showFailover(snapshot);
    case AdminCommand::kShowShards:
      return showShards(snapshot);
    case AdminCommand::kShowShardMap:
      return showShardMap(snapshot);
    default:
      return showVersion();
  }
}

asio::awaitable<void> reload(ProxyShared& shared, std::string& out) {
  auto reloaded = reloadAuthentication(shared);
  if (!reloaded) {
    spdlog::error("RELOAD failed, keeping the old users and access rules: {}",
                  reloaded.error().message);
    appendError(
        out, protocol::sqlstate::kSystemError,
        "reload failed, keeping the old users and access rules: " + reloaded.error().message);
    co_return;
  }
  spdlog::info("reloaded users ({} users) and access rules from the admin console",
               shared.users.size());
  if (auto sizes = reloadPoolSizes(shared); !sizes) {
    spdlog::error("RELOAD: keeping the old pool sizes: {}", sizes.error().message);
    appendError(
        out, protocol::sqlstate::kSystemError,
        "reloaded users and access rules, but kept the old pool sizes: " + sizes.error().message);
    co_return;
  }
  bool tlsChanged = false;
  if (auto tls = shared.tls.reload(shared.config, &tlsChanged); !tls) {
    spdlog::error("RELOAD: keeping the old TLS certificate: {}", tls.error().message);
    appendError(out, protocol::sqlstate::kSystemError,
                "reloaded users and access rules, but kept the old TLS certificate: " +
                    tls.error().message);
    co_return;
  }
  if (tlsChanged) spdlog::info("reloaded the TLS certificate and key");
  bool serverTlsChanged = false;
  if (auto serverTls = reloadServerTls(shared, &serverTlsChanged); !serverTls) {
    spdlog::error("RELOAD: keeping the old server TLS settings: {}", serverTls.error().message);
    appendError(out, protocol::sqlstate::kSystemError,
                "reloaded users and access rules, but kept the old server TLS settings: " +
                    serverTls.error().message);
    co_return;
  }
  if (serverTlsChanged) spdlog::info("reloaded the server TLS settings and files");
  appendCommandComplete(out, "RELOAD");
}

asio::awaitable<void> setPaused(ProxyShared& shared, bool paused, std::string& out) {
  shared.paused = paused;
  int confirmed = co_await applyPauseEverywhere(shared, kGatherTimeout);
  spdlog::info("{} from the admin console", paused ? "PAUSE" : "RESUME");
  if (confirmed < static_cast<int>(shared.workers.size())) {
    appendNotice(out, fmt::format("{} of {} workers confirmed in time; the rest follow when free",
                                  confirmed, shared.workers.size()));
  }
  appendCommandComplete(out, paused ? "PAUSE" : "RESUME");
}

// Sum of the transactions now running on servers, over every worker.
asio::awaitable<std::int64_t> runningTransactions(ProxyShared& shared) {
  auto snapshot = co_await gatherSnapshot(shared, kGatherTimeout);
  std::int64_t running = 0;
  for (const auto& worker : snapshot.workers) {
    for (auto count : worker.routedNow) running += count;
  }
  co_return running;
}

// A group's nodes by the names its monitor gives them (host:port), which
// SHOW NODES, SHOW SHARDS and SHOW FAILOVER show.
std::vector<std::string> nodeNames(const cluster::HealthMonitor* monitor,
                                   const std::vector<pool::ServerAddress>& servers) {
  std::vector<std::string> names;
  if (monitor != nullptr) {
    for (const auto& node : monitor->options().nodes) names.push_back(node.name);
    return names;
  }
  for (const auto& server : servers) {
    names.push_back(server.host + ":" + std::to_string(server.port));
  }
  return names;
}

// What SWITCHOVER and PROMOTE can name: the coordinator's group first,
// then each shard group, in ProxyShared::shardGroups order.
std::vector<SwitchoverGroup> switchoverGroups(const ProxyShared& shared) {
  std::vector<SwitchoverGroup> groups{{"", nodeNames(shared.monitor.get(), shared.config.servers)}};
  for (const auto& group : shared.shardGroups) {
    groups.push_back({group.name, nodeNames(group.monitor.get(), group.servers)});
  }
  return groups;
}

// Group `index` of switchoverGroups(): a shard group, or nullptr for the
// coordinator's.
const ShardGroup* shardGroupAt(const ProxyShared& shared, std::size_t index) {
  return index == 0 ? nullptr : &shared.shardGroups[index - 1];
}

// The failover coordinator of `group` (nullptr: the coordinator's group);
// null when the group has none.
cluster::FailoverCoordinator* failoverOf(ProxyShared& shared, const ShardGroup* group) {
  return group ? group->failover.get() : shared.failover.get();
}

// Why SWITCHOVER and PROMOTE cannot act on a group without a coordinator.
std::string noFailoverReason(const ShardGroup* group) {
  return group ? fmt::format(
                     "shard group {} has no failover coordinator (failover needs health "
                     "checks and two nodes in the group)",
                     group->name)
               : "no failover coordinator runs (failover needs health checks and two hosts)";
}

// PROMOTE 'node': the operator's override, for the group that has the node
// (the coordinator's or a shard group's), while that group's primary is
// lost or its failover was refused. The group's coordinator promotes on
// its own thread (SHOW FAILOVER follows it) and nothing pauses, exactly as
// in an automatic failover: a shard group's direct statements follow the
// new primary once the checks see it, and the pool re-points the
// coordinator's foreign server pgswarm_<group> at it (ForeignServerKeeper).
void promote(ProxyShared& shared, const std::string& node, std::string& out) {
  auto choice = choosePromotion(switchoverGroups(shared), node);
  if (!choice) {
    appendError(out, protocol::sqlstate::kUndefinedObject, choice.error().message);
    return;
  }
  const auto* group = shardGroupAt(shared, *choice);
  auto* coordinator = failoverOf(shared, group);
  if (coordinator == nullptr) {
    appendError(out, protocol::sqlstate::kObjectNotInPrerequisiteState, noFailoverReason(group));
    return;
  }
  const std::string label = group ? "shard group " + group->name + ": " : "";
  if (auto accepted = coordinator->promote(node); !accepted) {
    appendError(out, protocol::sqlstate::kObjectNotInPrerequisiteState,
                label + accepted.error().message);
    return;
  }
  spdlog::warn("PROMOTE '{}' {}from the admin console", node,
               group ? "(shard group " + group->name + ") " : "");
  appendNotice(out, fmt::format("{}promoting {}; SHOW FAILOVER follows it", label, node));
  if (group && shared.foreignServers) {
    appendNotice(out, fmt::format("the coordinator's server pgswarm_{} follows once the pool's "
                                  "checks see {} as the primary",
                                  group->name, node));
  }
  appendCommandComplete(out, "PROMOTE");
}

asio::awaitable<void> sleepFor(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(duration);
  std::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Waits, up to `timeout`, for the transactions running on servers to end;
// the reason it gave up, else empty.
asio::awaitable<std::string> drainTransactions(ProxyShared& shared,
                                               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (co_await runningTransactions(shared) > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return fmt::format("transactions still running after {} ms (switchover_timeout_ms)",
                            timeout.count());
    }
    co_await sleepFor(std::chrono::milliseconds(50));
  }
  co_return std::string();
}

// Runs the coordinator's switchover on its thread without blocking this one.
asio::awaitable<Result<std::string>> switchOver(cluster::FailoverCoordinator& coordinator,
                                                std::optional<std::string> target,
                                                std::chrono::milliseconds timeout) {
  auto future = coordinator.switchover(std::move(target), timeout);
  while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    co_await sleepFor(std::chrono::milliseconds(50));
  }
  co_return future.get();
}

// After shard group `index`'s switchover to `primary`: statements through
// the coordinator reach the group over its foreign server, so the pool
// stays paused until the keeper has re-pointed it there (or `timeout`).
asio::awaitable<bool> awaitForeignServer(ProxyShared& shared, std::size_t index,
                                         const std::string& primary,
                                         std::chrono::milliseconds timeout) {
  if (!shared.foreignServers) co_return true;
  const auto& nodes = shared.shardGroups[index].monitor->options().nodes;
  auto node = std::ranges::find(nodes, primary, &cluster::MonitoredNode::name);
  if (node == nodes.end()) co_return false;
  shared.foreignServers->checkNow();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto confirmed = shared.foreignServers->confirmed(index);
    if (confirmed && confirmed->host == node->host && confirmed->port == node->port) co_return true;
    co_await sleepFor(std::chrono::milliseconds(20));
  }
  co_return false;
}

// SWITCHOVER ['node' | group]: PAUSE everything, wait for running
// transactions (switchover_timeout), let the group's coordinator change
// its primary (a shard group's: and re-point the coordinator's foreign
// server), RESUME. A client between transactions only waits. The whole
// pool pauses even for one shard group: simpler, and no transaction can
// span the change.
asio::awaitable<void> switchover(ProxyShared& shared, std::optional<std::string> argument,
                                 std::string& out) {
  auto choice = chooseSwitchover(switchoverGroups(shared), argument);
  if (!choice) {
    appendError(out, protocol::sqlstate::kUndefinedObject, choice.error().message);
    co_return;
  }
  const auto* group = shardGroupAt(shared, choice->group);
  auto* coordinator = failoverOf(shared, group);
  if (coordinator == nullptr) {
    appendError(out, protocol::sqlstate::kObjectNotInPrerequisiteState, noFailoverReason(group));
    co_return;
  }
  if (shared.paused.exchange(true)) {
    appendError(out, protocol::sqlstate::kObjectNotInPrerequisiteState,
                "the pool is paused: RESUME it first");
    co_return;
  }
  const std::string label = group ? group->name + " " : "";
  spdlog::warn("SWITCHOVER {}{}from the admin console: pausing", label,
               choice->target ? "to " + *choice->target + " " : "");
  (void)co_await applyPauseEverywhere(shared, kGatherTimeout);
  const auto timeout = shared.config.switchoverTimeout;
  auto failure = co_await drainTransactions(shared, timeout);
  std::optional<Result<std::string>> result;
  if (failure.empty()) {
    result = co_await switchOver(*coordinator, choice->target, timeout);
    if (!*result) failure = result->error().message;
  }
  bool repointed = true;
  if (failure.empty() && group) {
    repointed = co_await awaitForeignServer(shared, choice->group - 1, **result, timeout);
  }
  shared.paused = false;
  (void)co_await applyPauseEverywhere(shared, kGatherTimeout);
  if (!failure.empty()) {
    spdlog::error("SWITCHOVER {}failed: {}; resumed", label, failure);
    appendError(out, protocol::sqlstate::kObjectNotInPrerequisiteState,
                label + "switchover failed: " + failure);
    co_return;
  }
  spdlog::warn("SWITCHOVER {}done: {} is the primary; resumed", label, **result);
  appendNotice(out, fmt::format("{}{} is the primary", label, **result));
  if (!repointed) {
    auto line = fmt::format(
        "the coordinator's server pgswarm_{} does not point at {} yet: statements through the "
        "coordinator to {} fail until the pool re-points it (it keeps trying)",
        group->name, **result, group->name);
    spdlog::warn("SWITCHOVER {}: {}", group->name, line);
    appendNotice(out, line);
  }
  appendCommandComplete(out, "SWITCHOVER");
}

// Runs one console command and appends its whole answer except ReadyForQuery.
asio::awaitable<void> execute(ProxyShared& shared, std::string_view sql, std::string& out) {
  auto command = parseAdminCommand(sql);
  switch (command) {
    case AdminCommand::kEmpty: {
      protocol::Writer writer(out);
      (void)protocol::EmptyQueryResponse{}.encode(writer);
      co_return;
    }
    case AdminCommand::kUnknown:
      appendError(out, protocol::sqlstate::kSyntaxError,
                  fmt::format("invalid command '{}', use SHOW HELP;",
                              sql.substr(0, std::min<std::size_t>(sql.size(), 200))),
                  "commands: " + adminCommandList());
      co_return;
    case AdminCommand::kShowHelp:
      appendNotice(out, "Console usage", adminCommandList());
      appendCommandComplete(out, "SHOW");
      co_return;
    case AdminCommand::kReload:
      co_await reload(shared, out);
      co_return;
    case AdminCommand::kPause:
    case AdminCommand::kResume:
      co_await setPaused(shared, command == AdminCommand::kPause, out);
      co_return;
    case AdminCommand::kPromote:
      promote(shared, *commandArgument(sql, "PROMOTE"), out);
      co_return;
    case AdminCommand::kSwitchover:
      co_await switchover(shared, commandArgument(sql, "SWITCHOVER"), out);
      co_return;
    default:
      break;
  }
  ProxySnapshot snapshot;
  if (needsSnapshot(command)) {
    snapshot = co_await gatherSnapshot(shared, kGatherTimeout);
    if (snapshot.workers.size() < static_cast<std::size_t>(snapshot.workersAsked)) {
      appendNotice(out, fmt::format("only {} of {} workers answered in time; rows are partial",
                                    snapshot.workers.size(), snapshot.workersAsked));
    }
  }
  // The sizes in effect (RELOAD may have changed them), not the first ones.
  PoolConfig config = shared.config;
  config.sizes = shared.slots.sizes();
  encodeResult(viewOf(command, snapshot, config), "SHOW", out);
}

enum class ConsoleStep {
  kContinue,  // answered (or ignored) one message
  kEnd,       // Terminate, EOF, or a protocol violation already reported
};

asio::awaitable<ConsoleStep> serveOne(ProxyShared& shared, runtime::ClientStream& client,
                                      runtime::ByteBuffer& input, bool& skipToSync) {
  auto frame = protocol::splitFrame(input.data(), {.maxMessageLength = kMaxConsoleMessage});
  while (frame.status == protocol::FrameStatus::kNeedMore) {
    if (co_await runtime::readSome(client, input)) co_return ConsoleStep::kEnd;
    frame = protocol::splitFrame(input.data(), {.maxMessageLength = kMaxConsoleMessage});
  }
  if (frame.status == protocol::FrameStatus::kMalformed) {
    co_await sendFatal(client, protocol::sqlstate::kProtocolViolation,
                       std::string("invalid message: ") + std::string(frame.reason));
    co_return ConsoleStep::kEnd;
  }
  // The body is a view into `input`: copy what we need before consuming.
  char type = frame.frame.type;
  std::string out;
  switch (type) {
    case protocol::kTerminate:
      co_return ConsoleStep::kEnd;
    case protocol::kQuery: {
      auto query = protocol::Query::parse(frame.frame.body);
      std::string sql = query ? std::string(query->sql) : std::string();
      input.consume(frame.frame.length);
      if (!query) {
        appendError(out, protocol::sqlstate::kProtocolViolation, "invalid Query message");
      } else {
        co_await execute(shared, sql, out);
      }
      appendReady(out);
      break;
    }
    case protocol::kSync:
      input.consume(frame.frame.length);
      skipToSync = false;
      appendReady(out);
      break;
    case protocol::kParse:
    case protocol::kBind:
    case protocol::kDescribe:
    case protocol::kExecute:
    case protocol::kClose:
    case protocol::kFlush:
    case protocol::kFunctionCall:
      input.consume(frame.frame.length);
      // One error per batch, as PostgreSQL does after an extended-protocol error.
      if (!skipToSync) {
        appendError(out, protocol::sqlstate::kFeatureNotSupported,
                    "the admin console accepts only the simple query protocol");
      }
      skipToSync = true;
      break;
    case protocol::kCopyData:
    case protocol::kCopyDone:
    case protocol::kCopyFail:
      input.consume(frame.frame.length);  // ignored outside COPY, as PostgreSQL does
      break;
    default:
      co_await sendFatal(client, protocol::sqlstate::kProtocolViolation,
                         fmt::format("invalid frontend message type {}", static_cast<int>(type)));
      co_return ConsoleStep::kEnd;
  }
  if (!out.empty() && co_await runtime::writeAll(client, out)) co_return ConsoleStep::kEnd;
  co_return ConsoleStep::kContinue;
}

}  // namespace

asio::awaitable<void> runAdminConsole(Worker& worker, runtime::ClientStream& client,
                                      runtime::ByteBuffer& input, const std::string& user) {
  auto& shared = worker.shared();
  const auto& admins = shared.config.adminUsers;
  if (std::find(admins.begin(), admins.end(), user) == admins.end()) {
    spdlog::info("admin console refused to {}: not in pool.admin_users", user);
    co_await sendFatal(client, protocol::sqlstate::kInsufficientPrivilege,
                       "not allowed: user \"" + user + "\" is not an admin user");
    co_return;
  }
  CancelKeyGuard key(shared.cancels, shared.cancels.add(0).key);
  if (co_await runtime::writeAll(client, welcome(key.key()))) co_return;
  spdlog::debug("admin console opened for {}", user);
  bool skipToSync = false;
  while (co_await serveOne(shared, client, input, skipToSync) == ConsoleStep::kContinue) {
  }
}

}  // namespace pgswarm::proxy
