// The client session: see session.hpp.
#include "proxy/session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "pool/server_connection.hpp"
#include "protocol/authentication.hpp"
#include "protocol/codes.hpp"
#include "protocol/error_response.hpp"
#include "protocol/frame.hpp"
#include "protocol/frontend.hpp"
#include "protocol/reader.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/startup.hpp"
#include "protocol/writer.hpp"
#include "proxy/admin_console.hpp"
#include "proxy/client_auth.hpp"
#include "proxy/hba.hpp"
#include "proxy/prepared_statements.hpp"
#include "proxy/worker.hpp"
#include "runtime/reactor_wait.hpp"
#include "sql/classifier.hpp"
#include "sql/relation_rename.hpp"
#include "sql/session_prefilter.hpp"

namespace pgswarm::proxy {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kHeaderLength = 5;  // type byte + int32 length

// Server messages the relay must see whole; everything else may be
// forwarded as soon as its header is known.
bool serverTypeNeedsWholeMessage(char type) {
  return type == protocol::kReadyForQuery || type == protocol::kParameterStatus ||
         type == protocol::kCommandComplete;
}

// A read is sent again after its replica failed at most this often, and
// only while its bytes fit here.
constexpr int kMaxReadRetries = 2;
// A session-mode read waits this long for a replica connection before it
// runs on the session's own primary instead.
constexpr std::chrono::milliseconds kBorrowWait{50};
constexpr std::chrono::milliseconds kFailoverPoll{50};
constexpr int kMaxPrimaryMoves = 3;
constexpr std::size_t kMaxRetryBytes = std::size_t{64} * 1024;

// A FATAL or PANIC ErrorResponse: the server ends the connection after it.
bool endsSession(std::span<const std::byte> body) {
  auto fields = protocol::ErrorFields::parse(body);
  if (!fields) return false;
  auto severity = fields->severity();
  return severity == protocol::Severity::kFatal || severity == protocol::Severity::kPanic;
}

// Query and Parse texts up to this size are classified (and so held whole
// until they have arrived); longer ones are streamed through unclassified.
constexpr std::size_t kMaxClassifiedMessage = sql::kDefaultMaxParseBytes + kHeaderLength + 1;

// Settings no client has: a server left by a client's own RESET ALL or
// DISCARD ALL gets the client's settings replayed by the next one.
constexpr std::string_view kDivergedSettings = "\x01diverged";

// The message types a backend accepts after login (PostgreSQL's SocketBackend).
bool isFrontendType(char type) {
  switch (type) {
    case protocol::kQuery:
    case protocol::kFunctionCall:
    case protocol::kTerminate:
    case protocol::kBind:
    case protocol::kClose:
    case protocol::kDescribe:
    case protocol::kExecute:
    case protocol::kFlush:
    case protocol::kParse:
    case protocol::kSync:
    case protocol::kCopyData:
    case protocol::kCopyDone:
    case protocol::kCopyFail:
      return true;
    default:
      return false;
  }
}

// PostgreSQL's cap for messages that carry no data.
constexpr std::size_t kMaxClientSmallMessage = 10000;

// As PostgreSQL: only messages that carry data may be long.
std::size_t maxClientMessage(char type, std::size_t configured) {
  constexpr std::size_t kSmallMessageLimit = kMaxClientSmallMessage;
  switch (type) {
    case protocol::kQuery:
    case protocol::kParse:
    case protocol::kBind:
    case protocol::kFunctionCall:
    case protocol::kCopyData:
      return configured;
    default:
      return std::min(configured, kSmallMessageLimit);
  }
}

std::string_view asText(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::size_t messageLength(std::span<const std::byte> data) {
  auto b = [&](std::size_t i) { return std::to_integer<std::uint32_t>(data[i]); };
  return 1 + ((b(1) << 24) | (b(2) << 16) | (b(3) << 8) | b(4));
}

}  // namespace

const char* toString(SessionState state) {
  switch (state) {
    case SessionState::kLogin:
      return "login";
    case SessionState::kIdle:
      return "idle";
    case SessionState::kWaiting:
      return "waiting";
    case SessionState::kActive:
      return "active";
    case SessionState::kClosing:
      return "closing";
  }
  return "?";
}

Session::Session(Worker& worker, runtime::Socket socket)
    : worker_(worker), client_(std::move(socket)) {
  worker_.addSession(this);
}

const std::string& Session::user() const {
  static const std::string kNone;
  return identity_ ? (*identity_)[0].value : kNone;
}

const std::string& Session::database() const {
  static const std::string kNone;
  return identity_ ? (*identity_)[1].value : kNone;
}

// Asked of the socket each time (logs, SHOW CLIENTS): an idle client
// keeps no copy; "?" once the socket is closed.
std::string Session::peer() const {
  std::error_code ec;
  asio::ip::tcp::endpoint endpoint;
  if (parked_) {  // asio does not have the socket
    socklen_t length = endpoint.capacity();
    if (::getpeername(parkedFd_, endpoint.data(), &length) != 0) return "?";
    endpoint.resize(length);
  } else {
    endpoint = client_.socket().remote_endpoint(ec);
  }
  return ec ? "?" : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

Session::~Session() {
  worker_.removeSession(this);
  // Parked when its io_context is destroyed: the kernel takes the fd out
  // of the lot's set as it closes.
  if (parkedFd_ >= 0) ::close(parkedFd_);
  if (cancel_.slot) worker_.shared().cancels.remove(cancel_.key);
}

void Session::abort() {
  closing_ = true;
  if (parked_) {
    // No coroutine runs to see the close: the session ends here, once the
    // caller (who may be going through the worker's sessions) is done.
    std::error_code ignored;
    auto self = leaveLot(/*reopen=*/false, ignored);
    asio::post(client_.get_executor(), [self = std::move(self)] { self->endSession(); });
    return;
  }
  std::error_code ignored;
  client_.socket().shutdown(asio::socket_base::shutdown_both, ignored);
  client_.socket().close(ignored);
  if (transit_ && transit_->server) transit_->server->close();
}

void Session::dropServerOn(std::uint64_t nodes) {
  if (!transit_) return;  // parked: no server
  int node = transit_->routed.node();
  if (!transit_->server || node < 0 || node >= 64 || (nodes >> node & 1U) == 0) return;
  spdlog::warn("closing the server connection to {}:{}: the node is lost",
               transit_->server->address().host, transit_->server->address().port);
  transit_->server->close();
  // A transaction block between statements has no loop to see the close.
  if (relaying_ && !transit_->serverLoopRunning && !closing_) startServerLoop();
}

// Nothing in flight either way: the session waits for the client's next message.
bool Session::waitingForClient() const {
  if (!transit_) return !closing_;  // parked
  return state_ != SessionState::kLogin && state_ != SessionState::kWaiting &&
         state_ != SessionState::kClosing && transit_->pendingSyncs == 0 && !transit_->unsynced &&
         transit_->clientPassthrough == 0 && transit_->serverPassthrough == 0 && !closing_;
}

void Session::enforceIdleTimeouts(Clock::time_point now) {
  if (!waitingForClient()) return;
  const auto& config = worker_.shared().config;
  bool inTransaction = txStatus_ != protocol::TransactionStatus::kIdle;
  auto limit = inTransaction ? config.idleTransactionTimeout : config.clientIdleTimeout;
  if (limit.count() <= 0 || now - idleSince_ < limit) return;
  auto self = shared_from_this();
  // A parked client has no relay to end it once the error is written.
  bool parked = parked_;
  if (parked) {
    std::error_code failed;
    (void)leaveLot(/*reopen=*/true, failed);
    if (failed) {
      endSession();
      return;
    }
  }
  closing_ = true;  // once
  // PostgreSQL's own codes for its idle_in_transaction_session_timeout and
  // idle_session_timeout, so clients handle them the same way.
  auto ending = inTransaction ? endIdle(protocol::sqlstate::kIdleInTransactionSessionTimeout,
                                        "terminating connection due to idle-in-transaction timeout "
                                        "(idle_transaction_timeout)")
                              : endIdle(protocol::sqlstate::kIdleSessionTimeout,
                                        "terminating connection due to idle-session timeout "
                                        "(client_idle_timeout)");
  // The handler keeps the session alive until the error is written.
  asio::co_spawn(client_.get_executor(), std::move(ending),
                 [self = std::move(self), parked](const std::exception_ptr&) {
                   if (parked) self->endSession();
                 });
}

asio::awaitable<void> Session::endIdle(std::string_view sqlState, std::string message) {
  spdlog::info("client {} ({}@{}): {}", peer(), user(), database(), message);
  co_await fatal(sqlState, message);
  abort();
}

asio::awaitable<void> Session::fatal(std::string_view sqlState, std::string_view message) {
  co_await sendFatal(client_, sqlState, message);
}

asio::awaitable<void> Session::run() {
  runtime::tuneSocket(client_.socket());
  auto& shared = worker_.shared();
  int clients = ++shared.clients;
  if (clients > shared.config.maxClientConnections) {
    --shared.clients;
    co_await fatal(protocol::sqlstate::kTooManyConnections,
                   "no more connections allowed (max_client_conn)");
    co_return;
  }
  if (co_await startup() && co_await login()) co_await relay();
  if (!parked_) endSession();
}

void Session::endSession() {
  state_ = SessionState::kClosing;
  --worker_.shared().clients;
  std::error_code ignored;
  client_.socket().close(ignored);
}

// A plain connection only: TLS may hold decrypted bytes no reactor wait sees.
void Session::parkIfIdle(Clock::time_point now) {
  if (!transit_ || !awaitingClient_ || parkRequested_ || transit_->server || client_.tls() ||
      !waitingForClient() || !transit_->clientIn.empty() || transit_->serverLoopRunning ||
      transit_->retrying || transit_->parkedPrimary || now - idleSince_ < kParkAfter) {
    return;
  }
  parkRequested_ = true;
  std::error_code ignored;
  client_.socket().cancel(ignored);  // clientLoop's read ends with operation_aborted
}

// Bytes that came since the cancelled read wake the lot at once: it
// watches level-triggered.
void Session::waitParked() {
  transit_.reset();  // the coroutines have ended: nothing refers to it
  if (tracker_ && tracker_->pristine()) {
    tracker_.reset();
    rebuildTracker_ = true;
  }
  auto& socket = client_.socket();
  std::error_code ec;
  bool v6 = socket.local_endpoint(ec).protocol() == asio::ip::tcp::v6();
  int fd = ec ? -1 : socket.release(ec);
  if (!ec) ec = worker_.parkingLot().park(fd, this);
  if (ec) {  // run()'s or unpark()'s completion ends the session
    spdlog::warn("client {}@{}: cannot park its idle connection: {}", user(), database(),
                 ec.message());
    if (fd >= 0) ::close(fd);
    parked_ = false;
    return;
  }
  parkedFd_ = fd;
  parkedV6_ = v6;
  parkedSelf_ = shared_from_this();
}

void Session::wakeParked(void* session) {
  static_cast<Session*>(session)->unpark();
}

std::shared_ptr<Session> Session::leaveLot(bool reopen, std::error_code& failed) {
  worker_.parkingLot().leave(parkedFd_, this);
  parked_ = false;
  int fd = std::exchange(parkedFd_, -1);
  if (reopen) {
    client_.socket().assign(parkedV6_ ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd, failed);
    if (!failed) return std::move(parkedSelf_);
    spdlog::warn("client {}@{}: cannot watch its connection again: {}", user(), database(),
                 failed.message());
  }
  ::close(fd);
  return std::move(parkedSelf_);
}

void Session::unpark() {
  std::error_code failed;
  auto self = leaveLot(/*reopen=*/true, failed);  // the relay's completion holds it from here
  if (failed) {
    endSession();
    return;
  }
  if (std::exchange(rebuildTracker_, false)) {
    // The same parameters gave settings at login.
    tracker_ = std::make_unique<StateTracker>(startupSettings(*startupParameters_).value());
  }
  transit_ = std::make_unique<Transit>();
  client_.setMaybeUnread(true);  // asio saw no edge for what woke the lot: read first
  asio::co_spawn(client_.get_executor(), relay(),
                 [self = shared_from_this()](const std::exception_ptr&) {
                   if (!self->parked_) self->endSession();
                 });
}

// Reads startup packets until a StartupMessage; false when the connection ends here.
asio::awaitable<bool> Session::startup() {
  auto deadline = Clock::now() + worker_.shared().config.clientLoginTimeout;
  for (;;) {
    auto frame = protocol::splitStartupFrame(transit_->clientIn.data());
    if (frame.status == protocol::FrameStatus::kMalformed) {
      co_await fatal(protocol::sqlstate::kProtocolViolation,
                     std::string("invalid startup packet: ") + std::string(frame.reason));
      co_return false;
    }
    if (frame.status == protocol::FrameStatus::kNeedMore) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 ||
          co_await runtime::readSomeWithin(client_, transit_->clientIn, left, 16384)) {
        co_return false;  // gone, or silent past client_login_timeout
      }
      continue;
    }
    auto body = frame.frame.body;
    auto kind = protocol::classifyStartupPacket(body);
    if (!kind) {
      co_await fatal(protocol::sqlstate::kProtocolViolation, "invalid startup packet");
      co_return false;
    }
    if (client_.tls() && (*kind == protocol::StartupPacketKind::kSslRequest ||
                          *kind == protocol::StartupPacketKind::kGssEncRequest)) {
      // PostgreSQL negotiates encryption once; inside TLS it is an unknown protocol.
      co_await fatal(protocol::sqlstate::kProtocolViolation,
                     "encryption requested inside an encrypted connection");
      co_return false;
    }
    switch (*kind) {
      case protocol::StartupPacketKind::kSslRequest:
        transit_->clientIn.consume(frame.frame.length);
        if (!co_await negotiateTls(deadline)) co_return false;
        continue;
      case protocol::StartupPacketKind::kGssEncRequest:
        transit_->clientIn.consume(frame.frame.length);
        if (co_await runtime::writeAll(client_, std::string_view("N"))) co_return false;
        continue;
      case protocol::StartupPacketKind::kCancelRequest: {
        auto cancel = protocol::CancelRequest::parse(body);
        if (cancel) co_await handleCancel({cancel->processId, cancel->secretKey});
        co_return false;
      }
      case protocol::StartupPacketKind::kUnsupportedProtocol:
        co_await fatal(protocol::sqlstate::kProtocolViolation, "unsupported frontend protocol");
        co_return false;
      case protocol::StartupPacketKind::kStartupMessage: {
        auto message = protocol::StartupMessage::parse(body);
        transit_->clientIn.consume(frame.frame.length);
        if (!message) {
          co_await fatal(
              protocol::sqlstate::kProtocolViolation,
              std::string("invalid startup packet: ") + std::string(message.error().reason));
          co_return false;
        }
        identity_ =
            worker_.parameterSets().intern({{"user", std::string(message->user())},
                                            {"database", std::string(message->database())}});
        if (!client_.tls() && worker_.shared().config.tlsMode == ClientTlsMode::kRequire) {
          co_await refusePlain();
          co_return false;
        }
        pool::Parameters parameters;
        for (const auto& parameter : message->parameters) {
          if (parameter.name == "replication") {
            co_await fatal(protocol::sqlstate::kFeatureNotSupported,
                           "replication connections are not supported through the pool");
            co_return false;
          }
          if (parameter.name.rfind("_pq_.", 0) == 0) continue;  // protocol options
          parameters.push_back(parameter);
        }
        auto& sets = worker_.parameterSets();
        startupParameters_ = sets.intern(std::move(parameters));
        const auto& config = worker_.shared().config;
        if (config.mode == PoolMode::kSession) {
          serverStartup_ = startupParameters_;
          // Reads borrow replica connections: the tracker knows what pins
          // the session to its primary and which settings to replay there.
          if (config.loadBalance && config.servers.size() > 1) {
            if (auto settings = startupSettings(*startupParameters_)) {
              tracker_ = std::make_unique<StateTracker>(std::move(*settings));
            }
          }
        } else {
          auto settings = startupSettings(*startupParameters_);
          if (!settings) {
            co_await fatal(protocol::sqlstate::kFeatureNotSupported, settings.error().message);
            co_return false;
          }
          tracker_ = std::make_unique<StateTracker>(std::move(*settings));
          // Server connections start with the server's defaults; each
          // client's own parameters are applied by the tracker's replay.
          serverStartup_ = identity_;
        }
        co_return true;
      }
    }
  }
}

// Answers an SSLRequest: 'N' without a TLS context, else 'S' and the
// handshake. False when the connection ends here.
asio::awaitable<bool> Session::negotiateTls(Clock::time_point deadline) {
  auto context = worker_.shared().tls.current();
  if (!context) co_return !co_await runtime::writeAll(client_, std::string_view("N"));
  // Bytes after the SSLRequest were sent in the clear before the handshake:
  // acting on them lets a man in the middle inject a plaintext prefix
  // (CVE-2021-23222), so they end the connection instead.
  std::error_code ec;
  std::size_t unread = client_.socket().available(ec);
  if (!transit_->clientIn.empty() || unread > 0) {
    co_await sendFatal(client_, protocol::sqlstate::kProtocolViolation,
                       "received unencrypted data after SSL request",
                       "This could be either a client-software bug or evidence of an attempted "
                       "man-in-the-middle attack.");
    co_return false;
  }
  if (co_await runtime::writeAll(client_, std::string_view("S"))) co_return false;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (auto failed = co_await client_.startTls(std::move(context), left)) {
    spdlog::debug("client {}: TLS handshake failed: {}", peer(), failed.message());
    co_return false;
  }
  spdlog::debug("client {}: {}", peer(), client_.tlsDescription());
  co_return true;
}

// tls_mode require: the words PostgreSQL uses when only hostssl lines match.
asio::awaitable<void> Session::refusePlain() {
  auto address = clientAddress(client_);
  HbaClient client{
      .address = address ? *address : IpAddress{}, .database = database(), .user = user()};
  auto message = hbaNoEntryMessage(client);
  spdlog::info("{} (tls_mode require)", message);
  co_await fatal(protocol::sqlstate::kInvalidAuthorizationSpecification, message);
}

asio::awaitable<void> Session::handleCancel(const CancelKey& key) {
  // Forwarded only while that client's query runs on a server; a wrong key
  // finds nothing and does nothing, and the sender learns nothing either way.
  auto target = worker_.shared().cancels.find(key);
  if (!target) co_return;
  co_await pool::sendCancelRequest(client_.get_executor(), target->address,
                                   worker_.shared().serverTls, target->backendPid,
                                   target->backendSecret);
}

asio::awaitable<bool> Session::login() {
  auto& shared = worker_.shared();
  auto deadline = Clock::now() + shared.config.clientLoginTimeout;
  auto outcome = co_await authenticateClient(worker_, client_, transit_->clientIn, user(),
                                             database(), deadline);
  if (outcome != AuthOutcome::kAuthenticated) co_return false;
  if (database() == kAdminDatabase) {
    co_await runAdminConsole(worker_, client_, transit_->clientIn, user());
    co_return false;
  }
  // Read once per session (after authentication, which may have recovered
  // SCRAM keys), not once per transaction.
  credentials_ = shared.users.credentials(user());
  routing_ = routingActive();
  shardFences_.resize(shared.shardGroups.size());
  // A server connection first, in both modes: its ParameterStatus set is the
  // client's welcome, and a missing database or role fails here, at login.
  if (!co_await attachServer(worker_.primaryNode())) co_return false;
  for (const auto& parameter : transit_->server->parameters())
    noteParameter(parameter.name, parameter.value);
  bool sessionMode = shared.config.mode == PoolMode::kSession;
  cancel_ = shared.cancels.add(sessionMode ? transit_->server->backendPid() : 0);
  cancel_.slot->attach(transit_->server->cancelTarget());

  std::string welcome;
  protocol::Writer writer(welcome);
  (void)protocol::AuthenticationOk{}.encode(writer);
  for (const auto& parameter : transit_->server->parameters()) {
    (void)protocol::ParameterStatus{parameter.name, parameter.value}.encode(writer);
  }
  (void)protocol::BackendKeyData{cancel_.key.pid, cancel_.key.secret}.encode(writer);
  (void)protocol::ReadyForQuery{protocol::TransactionStatus::kIdle}.encode(writer);
  if (!sessionMode) releaseServer();
  if (co_await runtime::writeAll(client_, welcome)) co_return false;
  idleSince_ = Clock::now();
  spdlog::debug("client {} logged in as {} to {}", peer(), user(), database());
  co_return true;
}

asio::awaitable<bool> Session::waitOutFailover(std::optional<int> failed,
                                               Clock::time_point deadline) {
  const auto& config = worker_.shared().config;
  if (!worker_.shared().failover) co_return !failed.has_value();
  auto since = Clock::now();
  // A crash is seen by the next check, up to a period (plus its timeout) away.
  auto noticeBy = since + 2 * config.healthCheckPeriod + config.healthCheckTimeout;
  asio::steady_timer timer(client_.get_executor());
  for (;;) {
    const auto& topology = worker_.topology();
    int primary = topology.primaryIndex();
    if (!topology.awaitingPrimary) {
      if (!failed) co_return true;
      if (primary >= 0 && (primary != *failed ||
                           topology.nodes[static_cast<std::size_t>(primary)].observedAt > since)) {
        co_return true;  // promoted elsewhere, or the old primary answers again
      }
      if (Clock::now() >= noticeBy) co_return false;  // no failover is coming
    }
    if (Clock::now() >= deadline) co_return false;
    timer.expires_after(kFailoverPoll);
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (closing_) co_return false;
  }
}

asio::awaitable<bool> Session::attachServer(int node) {
  auto& shared = worker_.shared();
  state_ = SessionState::kWaiting;
  auto deadline = Clock::now() + shared.config.queryWaitTimeout;
  const bool forPrimary = node == worker_.primaryNode();
  if (forPrimary && worker_.topology().awaitingPrimary) {
    (void)co_await waitOutFailover(std::nullopt, deadline);
    node = worker_.primaryNode();
  }
  const bool forGroupPrimary = node == groupPrimaryOf(node);
  transit_->pool = &poolOn(node);
  // The relay tries attachIdleServer() first: this is the path that may wait.
  auto result = co_await transit_->pool->acquire(serverStartup_, *credentials_, deadline);
  // The primary changed while this waited (a switchover pauses the pool):
  // the connection goes back and the write follows the new primary.
  for (int moves = 0; forGroupPrimary && moves < kMaxPrimaryMoves; ++moves) {
    int current = groupPrimaryOf(node);
    auto* lease = std::get_if<pool::Lease>(&result);
    if (current == node || lease == nullptr) break;
    lease->giveBack();
    node = current;
    transit_->pool = &poolOn(node);
    result = co_await transit_->pool->acquire(serverStartup_, *credentials_, deadline);
  }
  int primary = worker_.primaryNode();
  // The primary is gone: after a failover the write goes to the new one.
  for (auto* failure = std::get_if<pool::AcquireFailure>(&result);
       failure != nullptr && failure->kind == pool::AcquireFailure::Kind::kConnect &&
       failure->connect.serverError.empty() && node == primary;
       failure = std::get_if<pool::AcquireFailure>(&result)) {
    spdlog::warn("{}; waiting for a failover", failure->connect.message);
    if (!co_await waitOutFailover(node, deadline)) break;
    node = primary = worker_.primaryNode();
    transit_->pool = &poolOn(node);
    result = co_await transit_->pool->acquire(serverStartup_, *credentials_, deadline);
  }
  if (auto* failure = std::get_if<pool::AcquireFailure>(&result);
      failure != nullptr && failure->kind == pool::AcquireFailure::Kind::kConnect &&
      node != primary) {
    // A replica the last health check still saw: the read goes to the
    // primary rather than failing; the next check takes the replica out.
    spdlog::warn("{}; reading from the primary instead", failure->connect.message);
    node = primary;
    transit_->pool = &poolOn(node);
    result = co_await transit_->pool->acquire(serverStartup_, *credentials_, deadline);
  }
  if (auto* failure = std::get_if<pool::AcquireFailure>(&result)) {
    switch (failure->kind) {
      case pool::AcquireFailure::Kind::kTimeout:
        co_await fatal(protocol::sqlstate::kConnectionFailure, "query_wait_timeout");
        break;
      case pool::AcquireFailure::Kind::kShutdown:
        co_await fatal(protocol::sqlstate::kAdminShutdown, "the pool is shutting down");
        break;
      case pool::AcquireFailure::Kind::kConnect:
        spdlog::warn("{}", failure->connect.message);
        if (!failure->connect.serverError.empty()) {
          (void)co_await runtime::writeAll(client_, failure->connect.serverError);
        } else {
          co_await fatal(protocol::sqlstate::kConnectionFailure, failure->connect.message);
        }
        break;
    }
    co_return false;
  }
  adoptServer(std::move(std::get<pool::Lease>(result)), node, primary);
  if (transactionMode() && transit_->server->appliedSettings != tracker_->settingsKey() &&
      !co_await replaySettings()) {
    co_return false;
  }
  activateServer();
  co_return true;
}

// The usual attachment, with no coroutine frame: an idle connection of the
// node's pool that has this client's settings already, and no failover to
// wait out. false: attachServer() does it (waits, moves, replays).
bool Session::attachIdleServer(int node) {
  int primary = worker_.primaryNode();
  if (node == primary && worker_.topology().awaitingPrimary) return false;
  auto& pool = poolOn(node);
  auto lease =
      pool.acquireIdle(*serverStartup_, transactionMode() ? &tracker_->settingsKey() : nullptr);
  if (!lease) return false;
  transit_->pool = &pool;
  adoptServer(std::move(*lease), node, primary);
  activateServer();
  return true;
}

void Session::adoptServer(pool::Lease lease, int node, int primary) {
  transit_->server = std::move(lease);
  transit_->routed.set(worker_, node);
  transit_->shardGroup = worker_.shared().groupIndexOf(node);
  transit_->shardReplica = transit_->shardGroup >= 0 && node != groupPrimaryOf(node);
  transit_->onReplica = node != primary && transit_->shardGroup < 0;
  // Only a read that opens the attachment can be sent again: nothing of a
  // transaction is behind it.
  transit_->retryArmed = transit_->onReplica && relaying_ && transit_->retries < kMaxReadRetries;
  transit_->retryBytes.clear();
  transit_->attachmentWrote = false;
  transit_->stayUntilRelease = false;
}

void Session::activateServer() {
  state_ = SessionState::kActive;
  if (cancel_.slot) {
    cancel_.slot->attach(transit_->server->cancelTarget());
  }
}

// Pools live as long as their worker: the last one looked up is kept, since
// a client mostly goes back to the same node (a map lookup by user and
// database strings costs about 100 instructions).
pool::ServerPool& Session::poolOn(int node) {
  if (transit_->lastPool == nullptr || transit_->lastPoolNode != node) {
    transit_->lastPool = &worker_.poolFor(user(), database(), node);
    transit_->lastPoolNode = node;
  }
  return *transit_->lastPool;
}

// The node index of the primary of `node`'s group (the coordinator's or a
// shard group's).
int Session::groupPrimaryOf(int node) {
  int group = worker_.shared().groupIndexOf(node);
  if (group < 0) return worker_.primaryNode();
  auto index = static_cast<std::size_t>(group);
  return worker_.shared().shardGroups[index].base + primaryNode(worker_.groupTopology(index));
}

// Brings the server just acquired to this client's settings; on failure
// the client gets the server's error and the session ends.
asio::awaitable<bool> Session::replaySettings() {
  auto outcome = co_await pool::runInternalQuery(*transit_->server, tracker_->replayQuery(),
                                                 worker_.shared().config.serverConnectTimeout);
  if (outcome.usable && outcome.errorResponse.empty()) {
    transit_->server->appliedSettings = tracker_->settingsKey();
    co_return true;
  }
  transit_->server.discard();
  transit_->routed.clear();
  state_ = SessionState::kClosing;
  if (outcome.errorResponse.empty()) {
    co_await fatal(protocol::sqlstate::kConnectionFailure,
                   "could not apply the client's settings on a server connection");
  } else {
    (void)co_await runtime::writeAll(client_, outcome.errorResponse);
  }
  co_return false;
}

// What the server holds now, so the next client can tell whether to replay.
// Assigned in place: a conditional expression would copy the key into a
// temporary, an allocation per transaction.
void Session::noteServerSettings() {
  auto& applied = transit_->server->appliedSettings;
  if (tracker_->takeServerDiverged()) {
    applied = kDivergedSettings;
  } else {
    applied = tracker_->settingsKey();
  }
}

void Session::releaseServer(bool reusable) {
  if (cancel_.slot) cancel_.slot->detach();
  if (tracker_) noteServerSettings();
  if (reusable) {
    transit_->server.giveBack();
  } else {
    transit_->server.discard();
  }
  if (transit_->attachmentWrote) noteAttachmentWrite();
  transit_->routed.clear();
  transit_->onReplica = false;
  transit_->shardGroup = -1;
  transit_->shardReplica = false;
  state_ = SessionState::kIdle;
}

// Acknowledged by now: any primary position observed from here on covers
// it. A write through the coordinator may have reached any shard group
// (postgres_fdw writes to the shard primaries), so every group's reads
// wait for it too; a direct write concerns its own group only.
void Session::noteAttachmentWrite() {
  auto now = Clock::now();
  if (transit_->shardGroup >= 0) {
    shardFences_[static_cast<std::size_t>(transit_->shardGroup)].noteWrite(now);
    return;
  }
  fence_.noteWrite(now);
  for (auto& fence : shardFences_) fence.noteWrite(now);
}

void Session::RoutedNode::set(Worker& worker, int node) {
  clear();
  worker_ = &worker;
  node_ = node;
  worker.countRouted(node, 1);
}

void Session::RoutedNode::clear() {
  if (worker_ != nullptr) worker_->countRouted(node_, -1);
  worker_ = nullptr;
  node_ = -1;
}

// PostgreSQL 14+ reports default_transaction_read_only, so the client's
// own SET (and its startup options) reach the pool as ParameterStatus.
void Session::noteParameter(std::string_view name, std::string_view value) {
  if (name == "default_transaction_read_only") readOnlyByDefault_ = value == "on";
  if (name == "client_encoding") clientEncoding_ = worker_.encodingName(value);
  if (name == "server_encoding") serverEncoding_ = worker_.encodingName(value);
}

bool Session::routingActive() const {
  const auto& shared = worker_.shared();
  bool directShards = transactionMode() && shared.shardMap != nullptr;
  return tracker_ &&
         ((shared.config.loadBalance && shared.config.servers.size() > 1) || directShards);
}

bool Session::transactionMode() const {
  return worker_.shared().config.mode == PoolMode::kTransaction;
}

std::optional<int> Session::chooseNode() {
  if (!routingActive()) return worker_.primaryNode();
  auto batch = batchRoute(transit_->clientIn.data());
  if (!batch) return std::nullopt;
  transit_->routedBatch = batch;
  if (batch->shardGroup >= 0) return routeToShard(batch->shardGroup, batch->shardRead);
  auto intent = batch->intent;
  bool read = intent == sql::ReadIntent::kReplica || intent == sql::ReadIntent::kBeginReadOnly ||
              (intent == sql::ReadIntent::kBegin && readOnlyByDefault_);
  return routeNow(read);
}

// A node of the shard group, chosen as routeNow() chooses among the
// coordinator's nodes: writes to the group's primary, reads spread over
// its replicas that replayed this client's last write there.
int Session::routeToShard(int group, bool read) {
  const auto& shared = worker_.shared();
  auto index = static_cast<std::size_t>(group);
  const auto& shardGroup = shared.shardGroups[index];
  auto base = static_cast<std::size_t>(shardGroup.base);
  auto suspected = base < 64 ? worker_.suspectedNodes() >> base : 0;
  int node = route(worker_.groupTopology(index), shardGroup.routing,
                   {.read = read,
                    .outstanding = worker_.routedNow().subspan(base, shardGroup.servers.size()),
                    .rotation = read ? worker_.nextRotation() : 0U,
                    .excluded = suspected},
                   shardFences_[index]);
  return shardGroup.base + node;
}

int Session::routeNow(bool read) {
  return route(worker_.topology(), worker_.shared().routing,
               {.read = read,
                .outstanding = worker_.routedNow(),
                .rotation = read ? worker_.nextRotation() : 0U,
                .excluded = worker_.suspectedNodes()},
               fence_);
}

namespace {

// A batch's intent from its statements in order: reads after a first
// statement keep its intent; anything else sends the batch to the primary.
sql::ReadIntent combineIntent(std::optional<sql::ReadIntent> before, sql::ReadIntent next) {
  if (!before) return next;
  return next == sql::ReadIntent::kReplica ? *before : sql::ReadIntent::kPrimary;
}

// Looked ahead at most this far for the end of a batch: beyond it (huge
// Binds, say) the batch goes to the primary unclassified.
constexpr std::size_t kMaxRouteLookahead = 1 << 20;

// Parameter `index` of a Bind body and its format, checked as strictly as
// Bind::parse checks the whole message, but without building its vectors:
// this runs for every Execute the pool may route to a shard. nullopt for a
// NULL, a missing or a malformed parameter.
std::optional<shard::KeyValue> bindParameter(std::span<const std::byte> body, std::size_t index) {
  auto reader = protocol::Reader::forBody(body);
  if (!reader.cstring() || !reader.cstring()) return std::nullopt;
  auto formats = reader.count16(2);
  if (!formats) return std::nullopt;
  std::int16_t format = 0;  // no formats: every parameter is text
  for (std::size_t i = 0; i < *formats; ++i) {
    auto read = reader.int16();
    if (!read) return std::nullopt;
    if (i == 0 || i == index) format = *read;  // a single format applies to all
  }
  auto values = reader.count16(4);
  if (!values || index >= *values || (*formats > 1 && *formats != *values)) return std::nullopt;
  std::optional<std::string_view> value;
  for (std::size_t i = 0; i < *values; ++i) {
    auto length = reader.int32();
    if (!length) return std::nullopt;
    if (*length == protocol::kNullLength) continue;
    if (*length < 0) return std::nullopt;
    auto bytes = reader.text(static_cast<std::size_t>(*length));
    if (!bytes) return std::nullopt;
    if (i == index) value = *bytes;
  }
  auto results = reader.count16(2);
  if (!results) return std::nullopt;
  for (std::size_t i = 0; i < *results; ++i) {
    if (!reader.int16()) return std::nullopt;
  }
  if (!reader.expectEnd() || !value) return std::nullopt;
  return shard::KeyValue{.binary = format == 1, .bytes = *value};
}

}  // namespace

// The route of the client's next batch at the start of `data`: a Query's
// text, or what an extended-protocol batch executes up to its Sync or
// Flush. nullopt while the batch is still arriving. Only a batch of one
// statement can go to a shard: a Query, or one Execute ended by a Sync.
std::optional<Session::BatchRoute> Session::batchRoute(std::span<const std::byte> data) {
  using sql::ReadIntent;
  constexpr BatchRoute kCoordinator{.intent = ReadIntent::kPrimary};
  std::optional<ReadIntent> combined;
  std::optional<BatchRoute> single;  // the one Execute's route
  int executes = 0;
  bool settingsOnly = true;  // every Execute so far
  struct Portal {
    std::string_view name;
    std::string_view text;
    std::span<const std::byte> bind;  // the Bind's body
    std::string_view statement;       // the statement it binds
  };
  // The batch's Parses and Binds, in vectors kept by the worker's thread:
  // two allocations per extended batch otherwise. Nothing here suspends or
  // calls batchRoute() again, so one pair per thread is enough. A long
  // pipeline's capacity is not kept.
  thread_local std::vector<std::pair<std::string_view, std::string_view>> statements;
  thread_local std::vector<Portal> portals;
  constexpr std::size_t kKeptCapacity = 64;
  statements.clear();
  portals.clear();
  if (statements.capacity() > kKeptCapacity) statements.shrink_to_fit();
  if (portals.capacity() > kKeptCapacity) portals.shrink_to_fit();
  auto textOf = [&](std::string_view name) -> std::optional<std::string_view> {
    for (auto it = statements.rbegin(); it != statements.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return std::nullopt;
  };
  auto portalOf = [&](std::string_view name) -> const Portal* {
    for (auto it = portals.rbegin(); it != portals.rend(); ++it) {
      if (it->name == name) return &*it;
    }
    return nullptr;
  };
  std::size_t pos = 0;
  while (data.size() - pos >= kHeaderLength) {
    auto rest = data.subspan(pos);
    auto type = static_cast<char>(rest[0]);
    auto length = messageLength(rest);
    if (length < kHeaderLength) return kCoordinator;  // malformed: scanClient says so
    bool classifiable = type != protocol::kQuery && type != protocol::kParse
                            ? length <= kMaxClientSmallMessage
                            : length <= kMaxClassifiedMessage;
    if (!classifiable) return kCoordinator;
    if (length > rest.size()) break;
    auto body = rest.subspan(kHeaderLength, length - kHeaderLength);
    auto reader = protocol::Reader::forBody(body);
    switch (type) {
      case protocol::kQuery: {
        if (pos != 0) return kCoordinator;
        auto text = reader.cstring();
        return text ? routeStatement(*text, std::nullopt) : kCoordinator;
      }
      case protocol::kParse: {
        auto name = reader.cstring();
        auto text = name ? reader.cstring() : name;
        if (!text) return kCoordinator;
        // Session mode: a named statement must exist on the primary.
        if (!name->empty() && !transactionMode()) return kCoordinator;
        statements.emplace_back(*name, *text);
        break;
      }
      case protocol::kBind: {
        auto portal = reader.cstring();
        auto statement = portal ? reader.cstring() : portal;
        if (!statement) return kCoordinator;
        auto text = textOf(*statement);
        if (!text) {
          const auto* known = knownStatement(*statement);
          if (known == nullptr) return kCoordinator;  // parsed in an earlier batch
          text = known->sql;
        }
        portals.push_back({*portal, *text, body, *statement});
        break;
      }
      case protocol::kExecute: {
        auto name = reader.cstring();
        const auto* portal = name ? portalOf(*name) : nullptr;
        if (portal == nullptr) return kCoordinator;
        auto route = routeStatement(portal->text, portal->bind, portal->statement);
        combined = combineIntent(combined, route.intent);
        settingsOnly = settingsOnly && route.settingsOnly;
        if (++executes == 1) single = route;
        break;
      }
      case protocol::kSync:
        if (executes == 1 && single->shardGroup >= 0) return single;
        // An unnamed statement is renamed in its Parse: only when that is
        // the batch's one Parse.
        if (executes == 1 && single->rename &&
            (!single->rename->statement.empty() || statements.size() == 1)) {
          return single;
        }
        // Parse and Describe alone run nothing: any node may answer them.
        return BatchRoute{.intent = combined.value_or(ReadIntent::kReplica),
                          .settingsOnly = executes > 0 && settingsOnly};
      case protocol::kFlush:
        return BatchRoute{.intent = combined.value_or(ReadIntent::kReplica),
                          .settingsOnly = executes > 0 && settingsOnly};
      case protocol::kDescribe:
      case protocol::kClose:
        break;
      default:
        return kCoordinator;  // FunctionCall, COPY data, Terminate
    }
    pos += length;
  }
  if (data.size() >= kMaxRouteLookahead) return kCoordinator;
  return std::nullopt;
}

// The map is stale when a shard refuses a statement for a reason only a
// `shard move` (the table dropped there) or `shard split` (the range CHECK
// of the half that stayed) gives: it is read again now rather than at the
// next period.
void Session::noteShardError(std::span<const std::byte> body) {
  auto fields = protocol::ErrorFields::parse(body);
  if (!fields) return;
  bool moved = fields->sqlState() == protocol::sqlstate::kUndefinedTable;
  bool split = fields->sqlState() == protocol::sqlstate::kCheckViolation &&
               fields->get(protocol::field::kConstraintName) == shard::kRangeCheck;
  if (!moved && !split) return;
  if (auto* watcher = worker_.shared().shardMap.get()) watcher->requestRefresh();
}

// One statement's route; `bind` is its Bind's body (extended protocol) and
// `statement` the name that Bind binds.
Session::BatchRoute Session::routeStatement(std::string_view text,
                                            std::optional<std::span<const std::byte>> bind,
                                            std::string_view statement) {
  const auto* routes = shardRoutes();
  auto relations = routes ? std::span<const sql::ShardedRelation>(routes->relations)
                          : std::span<const sql::ShardedRelation>();
  auto route = worker_.classifier().route(text, relations);
  BatchRoute out{.intent = route.intent, .settingsOnly = route.settingsOnly};
  if (route.shardKey) {
    placeShardKey(*routes, *route.shardKey, text, bind, out);
    out.shardRead = route.shardKey->readOnly;
    if (out.rename) out.rename->statement = statement;
  }
  return out;
}

// The sharded tables this session's statements may name, or nullptr when
// none may go to a shard directly: no map for its database, or a session
// whose search_path may make a table name mean another table.
const shard::ShardRoutes* Session::shardRoutes() {
  const auto* map = transactionMode() ? worker_.shardMap() : nullptr;
  if (map == nullptr || tracker_->mayHaveChanged("search_path")) return nullptr;
  return map->find(database());
}

// The group that owns the key's row (out.shardGroup; -1: the coordinator
// decides), and when that row is in a coordinator partition a statement may
// name, the text renamed to it (out.rename).
void Session::placeShardKey(const shard::ShardRoutes& routes, const sql::ShardKeyUse& key,
                            std::string_view text, std::optional<std::span<const std::byte>> bind,
                            BatchRoute& out) {
  if (key.relation >= routes.tables.size()) return;
  const auto& table = routes.tables[key.relation];
  // Text keys are hashed as the server stores them: in its encoding.
  bool textKey =
      table.hashType == shard::HashKeyType::kText || table.hashType == shard::HashKeyType::kBpchar;
  if (textKey && clientEncoding_ != serverEncoding_) return;
  std::optional<shard::KeyValue> value;
  if (key.parameter < 0) {
    value = shard::KeyValue{.bytes = key.literal};
  } else if (bind) {
    value = bindParameter(*bind, static_cast<std::size_t>(key.parameter));
  }
  if (!value) return;
  out.shardGroup = shard::groupFor(table, *value);
  if (out.shardGroup >= 0) return;
  if (const auto* local = shard::localNameFor(table, *value)) {
    if (auto renamed = sql::renameRelation(text, routes.relations[key.relation], *local)) {
      out.rename = LocalRename{.text = std::move(*renamed), .statement = {}};
    }
  }
}

bool Session::admitBatch(std::span<const std::byte> rest) {
  using sql::ReadIntent;
  auto reads = [](ReadIntent intent) {
    return intent == ReadIntent::kReplica || intent == ReadIntent::kBeginReadOnly;
  };
  // What a later read must wait for: data written, not a SET or a SHOW.
  auto mayWrite = [&](const std::optional<BatchRoute>& batch) {
    return !batch || !(reads(batch->intent) || batch->settingsOnly);
  };
  // The batch chooseNode() routed was classified there already.
  auto routedBatch = std::exchange(transit_->routedBatch, std::nullopt);
  transit_->rename = routedBatch ? std::move(routedBatch->rename) : std::nullopt;
  if (!routedBatch && transit_->shardGroup < 0 && shardRoutes() != nullptr) {
    // A later batch of the attachment (a transaction block's statements):
    // it runs on the coordinator's nodes whatever it says, so only the
    // renaming is asked, and only of a batch that is all here already.
    if (auto batch = batchRoute(rest); batch && batch->shardGroup < 0) {
      transit_->rename = std::move(batch->rename);
    }
  }
  std::optional<ReadIntent> routed;
  if (routedBatch) routed = routedBatch->intent;
  if (transit_->shardGroup >= 0) return admitOnShard(rest, routedBatch);
  if (transit_->onReplica) {
    if (transit_->stayUntilRelease) return true;
    if (transit_->pendingSyncs == 0 && txStatus_ != protocol::TransactionStatus::kIdle) {
      transit_->stayUntilRelease = true;  // the client's read-only transaction is open there
      return true;
    }
    auto intent = routed ? routed : batchIntentOf(rest);
    if (!intent) return false;  // wait for the rest of the batch
    if (reads(*intent)) return true;
    transit_->holdForRoute = true;
    return false;
  }
  if (!transactionMode() && transit_->pendingSyncs == 0 && !closing_ &&
      !std::exchange(transit_->noBorrow, false) &&
      txStatus_ == protocol::TransactionStatus::kIdle && !tracker_->pinned()) {
    // Session mode between transactions: a read may borrow a replica.
    auto batch = batchRoute(rest);
    if (!batch) return false;
    if (reads(batch->intent)) {
      int node = routeNow(true);
      if (node != transit_->routed.node()) {
        transit_->borrowNode = node;
        return false;
      }
    }
    transit_->attachmentWrote = transit_->attachmentWrote || mayWrite(batch);
    return true;
  }
  if (!transit_->attachmentWrote && worker_.shared().config.readYourWrites) {
    transit_->attachmentWrote = mayWrite(routedBatch ? routedBatch : batchRoute(rest));
  }
  return true;
}

std::optional<sql::ReadIntent> Session::batchIntentOf(std::span<const std::byte> data) {
  auto batch = batchRoute(data);
  if (!batch) return std::nullopt;
  return batch->intent;
}

// A shard node runs the one statement it was chosen for, and any later
// batch for the same group (pipelined) that it may run; anything else
// waits until it answered and is routed afresh.
bool Session::admitOnShard(std::span<const std::byte> rest,
                           const std::optional<BatchRoute>& routed) {
  if (transit_->stayUntilRelease) return true;
  if (transit_->pendingSyncs == 0 && txStatus_ != protocol::TransactionStatus::kIdle) {
    transit_->stayUntilRelease = true;  // a transaction is open there: it takes everything
    return true;
  }
  auto batch = routed ? routed : batchRoute(rest);
  if (!batch) return false;  // wait for the rest of the batch
  if (batch->shardGroup == transit_->shardGroup && (!transit_->shardReplica || batch->shardRead)) {
    transit_->attachmentWrote = transit_->attachmentWrote || !batch->shardRead;
    return true;
  }
  transit_->holdForRoute = true;
  return false;
}

// Session mode: the primary stays the session's; a read runs on a replica
// connection borrowed from that replica's pool until the read is answered.
asio::awaitable<void> Session::borrowReplica(int node) {
  // Stop the primary's reader first; its connection waits, untouched.
  transit_->parking = true;
  std::error_code ignored;
  transit_->server->socket().cancel(ignored);
  while (transit_->serverLoopRunning) co_await awaitServerSignal();
  transit_->parking = false;
  if (closing_) co_return;
  auto* pool = &poolOn(node);
  auto result = co_await pool->acquire(serverStartup_, *credentials_, Clock::now() + kBorrowWait);
  auto* lease = std::get_if<pool::Lease>(&result);
  if (lease != nullptr && lease->get()->appliedSettings != tracker_->settingsKey()) {
    auto outcome = co_await pool::runInternalQuery(**lease, tracker_->replayQuery(),
                                                   worker_.shared().config.serverConnectTimeout);
    if (outcome.usable && outcome.errorResponse.empty()) {
      lease->get()->appliedSettings = tracker_->settingsKey();
    } else {
      lease->discard();
      lease = nullptr;
    }
  }
  if (lease == nullptr) {  // no replica connection now: the primary reads
    transit_->noBorrow = true;
    startServerLoop();
    co_return;
  }
  transit_->parkedPrimary = std::move(transit_->server);
  transit_->parkedPool = transit_->pool;
  transit_->parkedNode = transit_->routed.node();
  transit_->server = std::move(*lease);
  transit_->pool = pool;
  transit_->routed.set(worker_, node);
  transit_->onReplica = true;
  transit_->stayUntilRelease = false;
  transit_->retryArmed = true;
  transit_->retries = 0;
  transit_->retryBytes.clear();
  if (cancel_.slot) {
    cancel_.slot->attach(transit_->server->cancelTarget());
  }
  startServerLoop();
}

// The borrowed replica answered: it goes back, the primary is the session's again.
void Session::returnReplica(bool reusable) {
  if (reusable) {
    noteServerSettings();
    transit_->server.giveBack();
  } else {
    transit_->server.discard();
  }
  transit_->server = std::move(transit_->parkedPrimary);
  transit_->pool = transit_->parkedPool;
  transit_->routed.set(worker_, transit_->parkedNode);
  transit_->onReplica = false;
  transit_->retryArmed = false;
  if (cancel_.slot) {
    cancel_.slot->attach(transit_->server->cancelTarget());
  }
}

// Until the server answered everything sent so far (or is gone).
asio::awaitable<void> Session::waitServerSettled() {
  while (transit_->server && transit_->serverLoopRunning && transit_->pendingSyncs > 0 &&
         !closing_) {
    transit_->settleWaiting = true;
    co_await awaitServerSignal();
  }
  transit_->settleWaiting = false;
}

bool Session::serverIdle() const {
  return transit_->pendingSyncs == 0 && !transit_->unsynced &&
         txStatus_ == protocol::TransactionStatus::kIdle && transit_->clientPassthrough == 0 &&
         transit_->serverPassthrough == 0;
}

// One server loop per attachment: it runs while a server is attached and
// ends when the server goes back (transaction mode) or the session closes,
// so an idle client keeps no suspended reader and needs no wake-up.
void Session::startServerLoop() {
  if (transit_->serverLoopRunning) return;
  transit_->serverLoopRunning = true;
  asio::co_spawn(client_.get_executor(), serverLoop(false),
                 [self = shared_from_this()](const std::exception_ptr&, bool) {});
}

// The batch just sent ends with its Sync (or is one Query) and nothing
// else of the client's is buffered: until its reply comes there is nothing
// for clientLoop to do, so it reads that reply itself and spares a spawned
// loop (a co_spawn costs about a quarter of a select's instructions). Not
// while anything else is pending: a COPY, a held batch, a borrowed replica.
bool Session::replyReadableInline() const {
  return transactionMode() && transit_->server && !transit_->serverLoopRunning && !closing_ &&
         !transit_->parkedPrimary && transit_->pendingSyncs == 1 && !transit_->unsynced &&
         transit_->clientPassthrough == 0 && transit_->serverPassthrough == 0 &&
         transit_->clientIn.empty() && !transit_->holdForRoute && transit_->borrowNode < 0;
}

// Whether an attached server that has answered everything may still send
// something nobody asked for, so that a loop must read it. Between the
// statements of a transaction block it does not: notifications need a
// LISTEN, which pins the session (and keeps its loop); a backend that is
// terminated meanwhile sends its FATAL, which the client gets with its next
// statement, as it would on a direct connection. Leaving no loop there
// spares a spawned coroutine per transaction.
bool Session::serverMaySpeakUnasked() const {
  return !transactionMode() || tracker_->pinned() || transit_->pendingSyncs != 0 ||
         transit_->unsynced || transit_->clientPassthrough != 0 ||
         transit_->serverPassthrough != 0 || !transit_->server->input().empty() ||
         transit_->parkedPrimary || closing_;
}

asio::awaitable<void> Session::relay() {
  relaying_ = true;
  if (transit_->server) startServerLoop();  // session mode: attached since login
  co_await clientLoop();
  if (parked_) {
    waitParked();
    co_return;
  }
  closing_ = true;
  if (transit_->server && serverIdle()) {
    std::error_code ignored;
    transit_->server->socket().cancel(ignored);  // stop the idle read; the connection stays usable
  } else if (transit_->server) {
    transit_->serverBroken = true;
    transit_->server->close();
  }
  while (transit_->serverLoopRunning) co_await awaitServerSignal();
  // Only now: serverLoop may have been writing to the client until it ended.
  if (!transit_->malformed.empty())
    co_await fatal(protocol::sqlstate::kProtocolViolation, transit_->malformed);
  co_await finishServer();
}

// Session ends: a clean, idle server goes back to the pool after the reset
// query (session mode) so the next client inherits nothing; anything else is closed.
asio::awaitable<void> Session::finishServer() {
  if (transit_->parkedPrimary) {
    // The primary was parked between transactions: it is clean whatever
    // became of the borrowed replica.
    bool answered = serverIdle() && !transit_->serverBroken && transit_->server->input().empty();
    returnReplica(answered);
    forgetInFlight();
    transit_->serverBroken = false;
  }
  if (!transit_->server) co_return;
  if (cancel_.slot) cancel_.slot->detach();
  const auto& config = worker_.shared().config;
  bool sessionMode = config.mode == PoolMode::kSession;
  // A transaction-mode client that leaves state behind that no replay can
  // undo (a lock, a LISTEN, a temp table, a role) takes its server with it.
  if (transit_->serverBroken || !serverIdle() || !transit_->server->input().empty() ||
      (sessionMode && config.serverReset == ServerReset::kReconnect) ||
      (transactionMode() && tracker_->pinned())) {
    transit_->server.discard();
    transit_->routed.clear();
    co_return;
  }
  if (sessionMode && !config.serverResetQuery.empty()) {
    auto outcome = co_await pool::runInternalQuery(*transit_->server, config.serverResetQuery,
                                                   std::chrono::seconds(10));
    if (!outcome.usable || !outcome.errorResponse.empty()) {
      transit_->server.discard();
      transit_->routed.clear();
      co_return;
    }
  }
  if (transactionMode()) noteServerSettings();
  transit_->server.giveBack();
  transit_->routed.clear();
}

// Bytes of the client buffer in [0, consumed) go to the server: as they are,
// or (once a statement message had to be renamed) as rebuilt in transit_->toServer.
void Session::emitToServer(std::span<const std::byte> bytes) {
  if (transit_->rewriting)
    transit_->toServer.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void Session::startRewriting(std::span<const std::byte> before) {
  if (transit_->rewriting) return;
  transit_->rewriting = true;
  transit_->toServer.assign(reinterpret_cast<const char*>(before.data()), before.size());
}

void Session::countQuery() {
  worker_.stats().countQuery();
  if (transit_->pool != nullptr) transit_->pool->countQuery();
  if (transit_->routed.node() >= 0) worker_.countQueryOn(transit_->routed.node());
}

void Session::countClientMessage(char type) {
  switch (type) {
    case protocol::kQuery:
      countQuery();
      [[fallthrough]];
    case protocol::kSync:
      ++transit_->pendingSyncs;
      transit_->unsynced = false;
      break;
    case protocol::kCopyData:
    case protocol::kCopyDone:
    case protocol::kCopyFail:
      break;
    case protocol::kExecute:
      countQuery();
      transit_->unsynced = true;
      break;
    default:
      transit_->unsynced = true;  // Parse, Bind, Describe, Close, Flush, FunctionCall
  }
}

Session::Scan Session::scanClient(std::size_t& consumed) {
  auto data = transit_->clientIn.data();
  const auto maxPacket = worker_.shared().config.maxPacketSize;
  const bool track = tracker_ && transit_->server;
  // Session mode keeps the client's statement names: they live on its primary.
  const bool rename = track && transactionMode();
  consumed = 0;
  transit_->rewriting = false;
  transit_->toServer.clear();
  while (consumed < data.size()) {
    if (transit_->clientPassthrough > 0) {
      auto n = std::min(transit_->clientPassthrough, data.size() - consumed);
      emitToServer(data.subspan(consumed, n));
      transit_->clientPassthrough -= n;
      consumed += n;
      continue;
    }
    auto rest = data.subspan(consumed);
    if (rest.size() < kHeaderLength) break;
    char type = static_cast<char>(rest[0]);
    if (!isFrontendType(type)) {
      transit_->malformed =
          "invalid frontend message type " + std::to_string(static_cast<int>(type));
      return Scan::kMalformed;
    }
    auto frame =
        protocol::splitFrame(rest, {.maxMessageLength = maxClientMessage(type, maxPacket)});
    if (frame.status == protocol::FrameStatus::kMalformed) {
      transit_->malformed = "invalid message length";
      return Scan::kMalformed;
    }
    if (type == protocol::kTerminate) return Scan::kTerminate;
    if (routing_ && !transit_->unsynced && transit_->server && !admitBatch(rest)) {
      transit_->rename.reset();
      break;
    }
    if (track && !trackClientMessage(type, rest, frame.status == protocol::FrameStatus::kReady)) {
      break;  // the tracker needs more of this message
    }
    countClientMessage(type);
    if (rename && !namedStatementsSeen_ && type == protocol::kParse) {
      if (rest.size() <= kHeaderLength) break;  // the name's first byte decides
      noteParse(static_cast<char>(rest[kHeaderLength]) != '\0');
    }
    if (transit_->rename && frame.status == protocol::FrameStatus::kReady &&
        emitLocalRename(type, frame.frame, data.first(consumed))) {
      if (rename && namedStatementsSeen_ && type == protocol::kParse) {
        transit_->pendingParses.push_back({"", "", false});  // as rewriteParse counts it
      }
      consumed += frame.frame.length;
      continue;
    }
    if (rename && namedStatementsSeen_ && namesStatement(type)) {
      if (frame.status == protocol::FrameStatus::kNeedMore) break;  // renamed whole, or not at all
      auto whole = rest.first(frame.frame.length);
      if (!rewriteStatementMessage(frame.frame, whole, data.first(consumed)))
        return Scan::kMalformed;
      consumed += frame.frame.length;
      continue;
    }
    if (frame.status == protocol::FrameStatus::kNeedMore) {
      // A big message (a COPY chunk, a huge Bind): forward what is here now.
      emitToServer(rest);
      transit_->clientPassthrough = messageLength(rest) - rest.size();
      consumed = data.size();
      break;
    }
    emitToServer(rest.first(frame.frame.length));
    consumed += frame.frame.length;
  }
  return Scan::kOk;
}

// Tells the state tracker what the client sends; false when it must see
// more of the message first. Called once per message, or again only where
// the call is idempotent (a Parse or Bind the renaming waits for).
bool Session::trackClientMessage(char type, std::span<const std::byte> rest, bool whole) {
  auto& tracker = *tracker_;
  const auto declared = messageLength(rest);
  auto body = rest.first(std::min(rest.size(), declared)).subspan(kHeaderLength);
  auto reader = protocol::Reader::forBody(body);
  // Most texts are unique (inlined literals), so the cache would miss: a
  // lexical check first keeps the parser off the common path.
  auto classify = [&](std::string_view text) -> std::shared_ptr<const sql::Classification> {
    if (!sql::mayAffectSession(text)) return nullptr;
    return worker_.classifier().classify(text);
  };
  switch (type) {
    case protocol::kQuery:
      if (!whole && declared <= kMaxClassifiedMessage) return false;
      tracker.query(whole ? classify(asText(body.first(body.empty() ? 0 : body.size() - 1)))
                          : nullptr);
      return true;
    case protocol::kParse: {
      if (!whole && declared <= kMaxClassifiedMessage) return false;
      auto name = reader.cstring();
      if (!name) return true;  // malformed: the server will say so
      auto text = whole ? reader.cstring() : protocol::ParseResult<std::string_view>(name.error());
      tracker.parse(*name, text ? classify(*text) : nullptr);
      return true;
    }
    case protocol::kBind: {
      auto portal = reader.cstring();
      auto statement = portal ? reader.cstring() : portal;
      if (!statement) return whole;  // wait for both names
      tracker.bind(*portal, *statement);
      return true;
    }
    case protocol::kExecute: {
      if (!whole) return false;
      auto portal = reader.cstring();
      tracker.execute(portal ? *portal : std::string_view{});
      return true;
    }
    case protocol::kClose: {
      if (!whole) return false;
      auto kind = reader.byte();
      auto name = kind ? reader.cstring() : protocol::ParseResult<std::string_view>(kind.error());
      if (!name) return true;
      if (*kind == 'S') tracker.closeStatement(*name);
      if (*kind == 'P') tracker.closePortal(*name);
      return true;
    }
    case protocol::kSync:
    case protocol::kFunctionCall:  // answered with its own ReadyForQuery
      tracker.sync();
      return true;
    default:
      return true;
  }
}

const PreparedStatement* Session::knownStatement(std::string_view name) const {
  if (name.empty() || !clientStatements_) return nullptr;
  auto it = clientStatements_->find(std::string(name));
  return it == clientStatements_->end() ? nullptr : it->second.get();
}

template <typename Message>
bool Session::encodeToServer(const Message& message) {
  protocol::Writer writer(transit_->toServer);
  return message.encode(writer) == protocol::EncodeStatus::kOk;
}

// Injects a Parse of the server-wide name when this server lacks it; its
// ParseComplete is swallowed by scanServer.
void Session::ensurePreparedOnServer(const PreparedStatement& statement) {
  auto& prepared = transit_->server->preparedStatements;
  if (prepared.count(statement.serverName) != 0) return;
  protocol::Parse parse{statement.serverName, statement.sql, statement.parameterTypes};
  (void)encodeToServer(parse);
  prepared.insert(statement.serverName);
  transit_->pendingParses.push_back({statement.serverName, "", true});
}

bool Session::rewriteParse(const protocol::Parse& parse, std::span<const std::byte> whole,
                           std::span<const std::byte> before) {
  std::string serverName;
  if (!parse.statement.empty()) serverName = serverStatementName(parse.sql, parse.parameterTypes);
  if (serverName.empty()) {  // unnamed, or no digest: as the client sent it
    emitToServer(whole);
    transit_->pendingParses.push_back({"", "", false});
    return true;
  }
  if (!clientStatements_) clientStatements_ = std::make_unique<ClientStatements>();
  (*clientStatements_)[std::string(parse.statement)] = std::make_shared<const PreparedStatement>(
      PreparedStatement{serverName, std::string(parse.sql), parse.parameterTypes});
  startRewriting(before);
  auto& prepared = transit_->server->preparedStatements;
  if (prepared.count(serverName) != 0) {
    // Already there (another client prepared the same text): the client still
    // expects a ParseComplete, which an unnamed Parse of the text gives.
    transit_->pendingParses.push_back({"", std::string(parse.statement), false});
    return encodeToServer(protocol::Parse{"", parse.sql, parse.parameterTypes});
  }
  prepared.insert(serverName);
  transit_->pendingParses.push_back({serverName, std::string(parse.statement), false});
  return encodeToServer(protocol::Parse{serverName, parse.sql, parse.parameterTypes});
}

// Until a client names a statement, nothing is renamed or tracked (the
// common case costs nothing); its unnamed Parses are only counted, so the
// ParseCompletes still owed line up once tracking starts.
void Session::noteParse(bool named) {
  if (!named) {
    ++transit_->untrackedParses;
    return;
  }
  namedStatementsSeen_ = true;
  for (; transit_->untrackedParses > 0; --transit_->untrackedParses)
    transit_->pendingParses.push_back({});
}

bool Session::namesStatement(char type) {
  return type == protocol::kParse || type == protocol::kBind || type == protocol::kDescribe ||
         type == protocol::kClose;
}

// Parse/Bind/Describe/Close of a named statement, renamed to the server-wide
// name; false when the message is malformed.
bool Session::rewriteStatementMessage(const protocol::Frame& frame,
                                      std::span<const std::byte> whole,
                                      std::span<const std::byte> before) {
  switch (frame.type) {
    case protocol::kParse: {
      auto parse = protocol::Parse::parse(frame.body);
      if (!parse) return false;
      return rewriteParse(*parse, whole, before);
    }
    case protocol::kBind: {
      auto reader = protocol::Reader::forBody(frame.body);
      auto portal = reader.cstring();
      auto name =
          portal ? reader.cstring() : protocol::ParseResult<std::string_view>(portal.error());
      if (!name) return false;
      return renameStatement(whole, *name, before);
    }
    case protocol::kDescribe:
    case protocol::kClose: {
      auto reader = protocol::Reader::forBody(frame.body);
      auto kind = reader.byte();
      auto name = kind ? reader.cstring() : protocol::ParseResult<std::string_view>(kind.error());
      if (!name) return false;
      if (*kind != static_cast<std::uint8_t>(protocol::ObjectKind::kStatement)) break;
      if (frame.type == protocol::kDescribe) return renameStatement(whole, *name, before);
      if (!knownStatement(*name)) break;
      // The server statement stays for other clients; closing a name that
      // does not exist still answers CloseComplete, which the client expects.
      clientStatements_->erase(std::string(*name));  // known, so the map exists
      startRewriting(before);
      emitRenamed(whole, *name, "pgswarm_closed");
      return true;
    }
    default:
      break;
  }
  emitToServer(whole);
  return true;
}

// The batch's Query or unnamed Parse with the text of transit_->rename;
// false for any other message (a Bind renames in renameStatement).
bool Session::emitLocalRename(char type, const protocol::Frame& frame,
                              std::span<const std::byte> before) {
  const auto& rename = *transit_->rename;
  if (type == protocol::kQuery) {
    startRewriting(before);
    bool encoded = encodeToServer(protocol::Query{rename.text});
    transit_->rename.reset();
    return encoded;
  }
  if (type != protocol::kParse || !rename.statement.empty()) return false;
  auto parse = protocol::Parse::parse(frame.body);
  if (!parse || !parse->statement.empty()) return false;
  startRewriting(before);
  parse->sql = rename.text;
  bool encoded = encodeToServer(*parse);
  transit_->rename.reset();
  return encoded;
}

// `statement` under the text `text`: a server-wide statement of its own,
// made once per text.
const PreparedStatement& Session::localVariant(const PreparedStatement& statement,
                                               const std::string& text) {
  auto& cached = statement.localVariant;
  if (cached && cached->sql == text) return *cached;
  auto serverName = serverStatementName(text, statement.parameterTypes);
  if (serverName.empty()) return statement;
  cached = std::make_shared<const PreparedStatement>(
      PreparedStatement{std::move(serverName), text, statement.parameterTypes, nullptr});
  return *cached;
}

// A Bind or Describe of a client statement goes out with the statement's
// server-wide name, prepared on this server first if it lacks it.
bool Session::renameStatement(std::span<const std::byte> whole, std::string_view name,
                              std::span<const std::byte> before) {
  const auto* statement = knownStatement(name);
  if (statement == nullptr) {
    emitToServer(whole);
    return true;
  }
  auto& rename = transit_->rename;
  if (rename && !rename->statement.empty() && rename->statement == name &&
      static_cast<char>(whole[0]) == protocol::kBind) {
    statement = &localVariant(*statement, rename->text);
    rename.reset();
  }
  startRewriting(before);
  ensurePreparedOnServer(*statement);
  emitRenamed(whole, name, statement->serverName);
  return true;
}

// Copies the message `whole` with `name` (a view into it) replaced by
// `newName`: the bytes around the name go out as they came, so a Bind's
// parameters are never decoded and re-encoded.
void Session::emitRenamed(std::span<const std::byte> whole, std::string_view name,
                          std::string_view newName) {
  const auto* begin = reinterpret_cast<const char*>(whole.data());
  const auto nameAt = static_cast<std::size_t>(name.data() - begin);
  const auto afterName = nameAt + name.size();  // its NUL goes with the tail
  protocol::Writer writer(transit_->toServer);
  writer.begin(static_cast<char>(whole[0]));
  writer.putBytes(std::string_view(begin + kHeaderLength, nameAt - kHeaderLength));
  writer.putBytes(newName);
  writer.putBytes(std::string_view(begin + afterName, whole.size() - afterName));
  (void)writer.finish();
}

// Bytes [offset, offset+length) of the server buffer go to the client;
// adjacent pieces merge, so usually the whole read is one piece.
void Session::forwardToClient(std::size_t offset, std::size_t length) {
  transit_->retryArmed = false;  // the client has seen part of the answer: no retry from here
  const auto* bytes = transit_->server->input().data().data() + offset;
  if (!transit_->toClient.empty() &&
      static_cast<const std::byte*>(transit_->toClient.back().data()) +
              transit_->toClient.back().size() ==
          bytes) {
    transit_->toClient.back() = asio::const_buffer(transit_->toClient.back().data(),
                                                   transit_->toClient.back().size() + length);
  } else {
    transit_->toClient.emplace_back(bytes, length);
  }
}

// After an ErrorResponse the server skips to Sync: Parses not yet confirmed
// did not create their statements.
void Session::forgetUnconfirmedParses() {
  for (const auto& pending : transit_->pendingParses) {
    if (!pending.serverName.empty()) transit_->server->preparedStatements.erase(pending.serverName);
    if (!pending.clientName.empty() && clientStatements_) {
      clientStatements_->erase(pending.clientName);
    }
  }
  transit_->pendingParses.clear();
}

// Returns false for a ParseComplete the pool caused (not forwarded).
bool Session::onServerMessage(char type) {
  switch (type) {
    case protocol::kParseComplete: {
      if (transit_->pendingParses.empty()) {
        if (transit_->untrackedParses > 0) --transit_->untrackedParses;
        return true;
      }
      bool injected = transit_->pendingParses.front().injected;
      transit_->pendingParses.pop_front();
      return !injected;
    }
    case protocol::kErrorResponse:
      if (tracker_) tracker_->error();
      forgetUnconfirmedParses();
      transit_->untrackedParses = 0;
      return true;
    default:
      return true;
  }
}

// The server's bytes go to the client in one run (one piece of toClient),
// cut only where a message is kept back (a ParseComplete the pool caused).
// The header is read here rather than by protocol::splitFrame: every
// relayed message passes, and a DataRow needs no more than its length.
Session::Scan Session::scanServer(std::size_t& consumed) {
  auto data = transit_->server->input().data();
  consumed = 0;
  transit_->toClient.clear();
  std::size_t runStart = 0;  // the run's first byte not yet handed to forwardToClient
  auto endRun = [&] {
    if (consumed > runStart) forwardToClient(runStart, consumed - runStart);
    runStart = consumed;
  };
  if (transit_->serverPassthrough > 0) {
    consumed = std::min(transit_->serverPassthrough, data.size());
    transit_->serverPassthrough -= consumed;
  }
  while (data.size() - consumed >= kHeaderLength) {
    const std::byte* header = data.data() + consumed;
    const auto type = static_cast<char>(header[0]);
    const std::int32_t lengthWord = protocol::bigEndianInt32(header + 1);
    if (lengthWord < 4 ||
        static_cast<std::size_t>(lengthWord) > protocol::kDefaultMaxMessageLength) {
      return Scan::kMalformed;
    }
    const std::size_t length = 1 + static_cast<std::size_t>(lengthWord);
    const std::size_t available = data.size() - consumed;
    if (available < length) {
      if (serverTypeNeedsWholeMessage(type)) break;
      // A long message (DataRow, CopyData, a notice) goes on as it arrives.
      (void)onServerMessage(type);
      transit_->serverPassthrough = length - available;
      consumed = data.size();
      break;
    }
    if (type != protocol::kDataRow) {
      const auto body = data.subspan(consumed + kHeaderLength, length - kHeaderLength);
      if (type == protocol::kErrorResponse) {
        // A replica ending the session (shutting down) before any of the
        // read's reply left the pool: what this scan holds back so far (a
        // RowDescription flushed with the FATAL) never reaches the client,
        // and the read goes elsewhere.
        if (canRetryRead() && endsSession(body)) {
          return Scan::kRetry;
        }
        endRun();  // what reached the client rules out a retry
      }
      switch (noteServerMessage(type, body)) {
        case ServerMessageFate::kForward:
          break;
        case ServerMessageFate::kKeepBack:
          endRun();
          runStart = consumed + length;
          break;
        case ServerMessageFate::kMalformed:
          return Scan::kMalformed;
      }
    }
    consumed += length;
    // The server goes back here: what follows is not the client's (see
    // finishServerPass).
    if (type == protocol::kReadyForQuery && releasesAtReady()) break;
  }
  endRun();
  return Scan::kOk;
}

Session::ServerMessageFate Session::noteServerMessage(char type, std::span<const std::byte> body) {
  switch (type) {
    case protocol::kReadyForQuery:
      return noteReadyForQuery(body) ? ServerMessageFate::kForward : ServerMessageFate::kMalformed;
    case protocol::kParameterStatus:
      if (auto status = protocol::ParameterStatus::parse(body)) {
        transit_->server->setParameter(status->name, status->value);
        noteParameter(status->name, status->value);
      }
      return ServerMessageFate::kForward;
    case protocol::kCommandComplete:
      // The tag is read only when a tracked statement waits for it.
      if (tracker_ && tracker_->awaitsCompletion()) {
        auto tag = protocol::Reader::forBody(body).cstring();
        tracker_->commandComplete(tag ? *tag : std::string_view{});
      }
      return ServerMessageFate::kForward;
    case protocol::kEmptyQueryResponse:
    case protocol::kPortalSuspended:
      if (tracker_) tracker_->statementDone();
      return ServerMessageFate::kForward;
    case protocol::kErrorResponse:
      if (transit_->shardGroup >= 0) noteShardError(body);
      break;
    case protocol::kParseComplete:
      break;
    default:
      return ServerMessageFate::kForward;
  }
  return onServerMessage(type) ? ServerMessageFate::kForward : ServerMessageFate::kKeepBack;
}

bool Session::noteReadyForQuery(std::span<const std::byte> body) {
  if (body.size() != 1) return false;
  switch (static_cast<char>(body[0])) {
    case 'I':
      txStatus_ = protocol::TransactionStatus::kIdle;
      break;
    case 'T':
      txStatus_ = protocol::TransactionStatus::kInTransaction;
      break;
    case 'E':
      txStatus_ = protocol::TransactionStatus::kFailed;
      break;
    default:
      return false;
  }
  transit_->pendingParses.clear();
  transit_->untrackedParses = 0;
  if (transit_->pendingSyncs > 0) --transit_->pendingSyncs;
  if (transit_->pendingSyncs == 0) idleSince_ = Clock::now();
  if (txStatus_ == protocol::TransactionStatus::kIdle) {
    worker_.stats().countTransaction();
    transit_->pool->countTransaction();
    // Session mode never releases its primary: a write ends here.
    if (!transactionMode() && transit_->attachmentWrote && !transit_->onReplica) {
      fence_.noteWrite(Clock::now());
      transit_->attachmentWrote = false;
    }
  }
  if (tracker_) {
    tracker_->readyForQuery(static_cast<char>(txStatus_));
    if (tracker_->takeStatementsDeallocated()) {  // DEALLOCATE ALL, DISCARD ALL
      transit_->server->preparedStatements.clear();
      clientStatements_.reset();
    }
  }
  return true;
}

// True when the buffer starts with a message the server must see (so a
// server is needed): not a Terminate, and not one that is malformed.
bool Session::hasMessageForServer() const {
  auto data = transit_->clientIn.data();
  if (transit_->clientPassthrough > 0) return true;
  if (data.size() < kHeaderLength) return false;
  auto type = static_cast<char>(data[0]);
  if (type == protocol::kTerminate || !isFrontendType(type)) return false;
  auto limit = maxClientMessage(type, worker_.shared().config.maxPacketSize);
  return protocol::splitFrame(data, {.maxMessageLength = limit}).status !=
         protocol::FrameStatus::kMalformed;
}

asio::awaitable<void> Session::clientLoop() {
  bool read = true;
  for (;;) {
    if (read) {
      awaitingClient_ = true;
      auto ec = runtime::noError();
      if (runtime::inlineReads(client_)) {  // no frame of its own
        if (auto wait = runtime::readWait(client_, transit_->clientIn, /*idle=*/true, ec)) {
          co_await *wait;
        }
        if (!ec)
          ec = runtime::readAfterWait(client_, transit_->clientIn, runtime::ByteBuffer::kChunk,
                                      /*idle=*/true);
      } else {
        ec = co_await runtime::readSomeWhenReady(client_, transit_->clientIn);
      }
      awaitingClient_ = false;
      if (std::exchange(parkRequested_, false) && ec == asio::error::operation_aborted &&
          !closing_) {
        parked_ = true;
        co_return;
      }
      if (ec) co_return;
    }
    read = true;
    if (transit_->retrying) co_await waitRetryDone();
    if (closing_) co_return;
    // Attach before scanning: renaming statements depends on what that
    // server has prepared.
    if (!transit_->server && hasMessageForServer()) {
      auto node = chooseNode();
      if (!node) continue;  // the transaction's first statement is still arriving
      transit_->retries = 0;
      if (!attachIdleServer(*node)) {
        if (!co_await attachServer(*node)) co_return;
      }
    }
    auto send = startClientSend();
    if (!send.now.done) co_await writeRestToServer(send);
    auto scan = finishClientSend(send);
    if (!scan) {
      // The server is gone. With no loop reading it (between the
      // statements of a transaction block), read what it said last (a
      // FATAL) and tell the client, as the loop would have.
      if (transit_->server && !transit_->serverLoopRunning && !closing_)
        (void)co_await serverLoop(true);
      co_return;
    }
    if (*scan != Scan::kOk) co_return;
    // Attached by this pass (the only time no loop reads an attached
    // server): its loop starts now that the batch is out.
    if (transit_->server && !transit_->serverLoopRunning) {
      if (!replyReadableInline()) {
        startServerLoop();
      } else {
        bool handOver = false;  // the attachment outlives the reply: a spawned loop reads on
        auto& conn = *transit_->server;
        if (!runtime::inlineReads(conn.stream())) {
          handOver = co_await serverLoop(true);
        } else {
          // serverLoop(true)'s usual pass, with no frame of its own: the
          // reply read, forwarded as the socket takes it, the server
          // released. Errors, retries and borrowed replicas go to serverLoop.
          transit_->serverLoopRunning = true;
          auto ec = runtime::noError();
          if (auto wait = runtime::readWait(conn.stream(), conn.input(), /*idle=*/false, ec)) {
            co_await *wait;
          }
          if (!ec)
            ec = runtime::readAfterWait(conn.stream(), conn.input(), runtime::ByteBuffer::kChunk,
                                        /*idle=*/false);
          if (ec || transit_->parking || transit_->retryArmed) {
            handOver = co_await serverLoop(true, ec);
          } else {
            auto pass = startServerPass();  // no kRetry: no retry is armed
            if (pass.scan == Scan::kMalformed) {
              transit_->serverBroken = true;
              abort();
            } else {
              if (!pass.now.done) {
                pass.now.ec =
                    co_await runtime::writeRest(client_, transit_->toClient, pass.now.sent);
              }
              if (pass.now.ec) {
                abort();
              } else {
                handOver = !finishServerPass(pass.consumed);
              }
            }
            endServerLoop();
          }
        }
        if (handOver && transit_->server && serverMaySpeakUnasked()) startServerLoop();
        if (closing_) co_return;
        continue;
      }
    }
    if (transit_->borrowNode >= 0) {
      co_await borrowReplica(std::exchange(transit_->borrowNode, -1));
      if (closing_) co_return;
      read = false;
      continue;
    }
    if (transit_->holdForRoute) {
      // A write after reads on a replica: once the replica answered them,
      // either its transaction is still open (the batch goes there) or
      // the server went back and the batch is routed afresh.
      co_await waitServerSettled();
      transit_->holdForRoute = false;
      if (closing_) co_return;
      if (transit_->server) transit_->stayUntilRelease = true;
      read = false;
    }
  }
}

// The write itself is mostly done here, with no frame: the caller awaits
// writeRest() only when the socket did not take it all, then finishes.
Session::ClientSend Session::startClientSend() {
  ClientSend send;
  send.scan = scanClient(send.consumed);
  if (send.consumed == 0) {
    send.now.done = true;  // nothing to write
    return send;
  }
  transit_->writingToServer = true;
  send.out = transit_->rewriting ? asio::buffer(transit_->toServer)
                                 : asio::buffer(transit_->clientIn.data().data(), send.consumed);
  send.now = runtime::writeNow(transit_->server->stream(), {&send.out, 1});
  return send;
}

asio::awaitable<void> Session::writeRestToServer(ClientSend& send) {
  if (send.now.done) co_return;
  send.now.ec =
      co_await runtime::writeRest(transit_->server->stream(), {&send.out, 1}, send.now.sent);
}

std::optional<Session::Scan> Session::finishClientSend(const ClientSend& send) {
  if (send.consumed == 0) return send.scan;
  transit_->writingToServer = false;
  if (transit_->retryArmed) {
    // Whole messages only: a read is sent again from its first byte.
    transit_->retryBytes.append(reinterpret_cast<const char*>(transit_->clientIn.data().data()),
                                send.consumed);
    transit_->retryArmed =
        transit_->clientPassthrough == 0 && transit_->retryBytes.size() <= kMaxRetryBytes;
  }
  if (send.now.ec && !transit_->retryArmed) {
    transit_->serverBroken = true;
    return std::nullopt;
  }
  // With a retry armed, the server loop sees the failure too and retries.
  transit_->clientIn.consume(send.consumed);
  return send.scan;
}

// Transaction mode, one autocommit statement (a Query, or one extended
// batch up to Sync) out, and nothing of its answer half-sent: the client can
// be told and keep its connection. Inside a transaction block it cannot (a
// later statement it sends would run outside the lost transaction).
bool Session::survivesServerLoss() const {
  return transactionMode() && txStatus_ == protocol::TransactionStatus::kIdle &&
         transit_->pendingSyncs == 1 && !transit_->unsynced && transit_->clientPassthrough == 0 &&
         transit_->serverPassthrough == 0 && !closing_;
}

// The statement's outcome is unknown (a COMMIT may have been applied):
// the client gets an error, never a silent resend, and its next
// transaction goes to whatever node is primary by then.
asio::awaitable<void> Session::reportLostStatement() {
  if (cancel_.slot) cancel_.slot->detach();
  transit_->server.discard();
  transit_->routed.clear();
  transit_->onReplica = false;
  transit_->shardGroup = -1;
  forgetInFlight();
  state_ = SessionState::kIdle;
  std::string out = protocol::makeErrorResponse(
      protocol::Severity::kError, protocol::sqlstate::kConnectionFailure,
      "the server connection was lost during this statement; whether it took effect is unknown",
      "The pool keeps this connection; the next statement goes to a server connection of the "
      "current primary.");
  protocol::Writer writer(out);
  (void)protocol::ReadyForQuery{protocol::TransactionStatus::kIdle}.encode(writer);
  if (co_await runtime::writeAll(client_, out)) abort();
  idleSince_ = Clock::now();
}

bool Session::canRetryRead() const {
  return transit_->retryArmed && !transit_->writingToServer && !closing_ &&
         transit_->retries < kMaxReadRetries;
}

asio::awaitable<bool> Session::retryRead() {
  transit_->retrying = true;
  int failed = transit_->routed.node();
  spdlog::info("a read on {}:{} failed before any reply; sending it elsewhere",
               transit_->server->address().host, transit_->server->address().port);
  worker_.suspectNode(failed);
  if (!transit_->parkedPrimary) {
    transit_->server.discard();
    transit_->routed.clear();
    if (cancel_.slot) cancel_.slot->detach();
  }
  forgetInFlight();
  transit_->clientIn.prepend({reinterpret_cast<const std::byte*>(transit_->retryBytes.data()),
                              transit_->retryBytes.size()});
  transit_->retryBytes.clear();
  ++transit_->retries;
  bool sent = true;
  if (transit_->parkedPrimary) {
    returnReplica(false);  // session mode: the session's primary reads it
  } else {
    auto node = chooseNode();  // the read is whole: its intent is known
    sent = co_await attachServer(node.value_or(worker_.primaryNode()));
  }
  if (sent) {
    auto send = startClientSend();
    co_await writeRestToServer(send);
    sent = finishClientSend(send).has_value();
  }
  transit_->retrying = false;
  signalServerDone();  // clientLoop may wait for this
  co_return sent;
}

// What was sent to a server that will never answer it: the relay starts
// again from a clean state (the bytes themselves are the caller's).
void Session::forgetInFlight() {
  transit_->pendingSyncs = 0;
  transit_->unsynced = false;
  txStatus_ = protocol::TransactionStatus::kIdle;
  transit_->clientPassthrough = transit_->serverPassthrough = 0;
  transit_->pendingParses.clear();
  transit_->untrackedParses = 0;
  if (tracker_) tracker_->abandonInFlight();
}

asio::awaitable<void> Session::yieldUntilWritten() {
  // The write's completion is already queued on this thread: a few turns do.
  for (int turn = 0; turn < 1000 && transit_->writingToServer; ++turn) {
    co_await asio::post(client_.get_executor(), asio::use_awaitable);
  }
}

asio::awaitable<void> Session::waitRetryDone() {
  while (transit_->retrying && !closing_) co_await awaitServerSignal();
}

// Until serverLoop signals (transit_->serverDone cancelled: it ended, settled or
// finished a retry); callers wait in a loop on their own condition.
asio::awaitable<void> Session::awaitServerSignal() {
  if (!transit_->serverDone)
    transit_->serverDone = std::make_unique<asio::steady_timer>(client_.get_executor());
  transit_->serverDone->expires_at(Clock::time_point::max());
  std::error_code ec;
  co_await transit_->serverDone->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void Session::signalServerDone() {
  if (transit_->serverDone) transit_->serverDone->cancel();
}

void Session::endServerLoop() {
  transit_->serverLoopRunning = false;
  signalServerDone();  // relay() may be waiting for this loop
}

Session::ServerPass Session::startServerPass() {
  ServerPass pass;
  pass.scan = scanServer(pass.consumed);
  if (pass.scan != Scan::kOk || pass.consumed == 0) {
    pass.now.done = true;  // nothing to write
    return pass;
  }
  // No frame for the usual write, which the socket takes whole.
  pass.now = runtime::writeNow(client_, transit_->toClient);
  return pass;
}

bool Session::finishServerPass(std::size_t consumed) {
  auto& conn = *transit_->server;
  conn.input().consume(consumed);
  if (transit_->settleWaiting && transit_->pendingSyncs == 0) signalServerDone();
  if (transit_->parkedPrimary && serverIdle() && conn.input().empty() && !closing_) {
    returnReplica(true);
    return false;
  }
  if (releasesAtReady() && !closing_) {
    // What the server sent after the ReadyForQuery that ended the
    // transaction is its own (a FATAL as it shuts down), not the client's:
    // the connection is closed rather than reused.
    releaseServer(/*reusable=*/conn.input().empty());
    return true;
  }
  return false;
}

// In transaction mode the server goes back at a ReadyForQuery that answers
// everything the client sent, outside a transaction, with nothing pinned.
bool Session::releasesAtReady() const {
  return transactionMode() && serverIdle() && !tracker_->pinned();
}

asio::awaitable<bool> Session::serverLoop(bool inClientLoop,
                                          std::optional<std::error_code> firstRead) {
  // Runs at every exit, before anything else can attach a server again.
  struct Finished {
    Session& session;
    ~Finished() { session.endServerLoop(); }
  } finished{*this};
  transit_->serverLoopRunning = true;  // already, unless clientLoop runs it
  while (transit_->server && !closing_) {
    auto& conn = *transit_->server;
    auto ec = runtime::noError();
    if (firstRead) {
      ec = *std::exchange(firstRead, std::nullopt);
    } else if (runtime::inlineReads(conn.stream())) {  // no frame of its own
      if (auto wait = runtime::readWait(conn.stream(), conn.input(), /*idle=*/false, ec)) {
        co_await *wait;
      }
      if (!ec)
        ec = runtime::readAfterWait(conn.stream(), conn.input(), runtime::ByteBuffer::kChunk,
                                    /*idle=*/false);
    } else {
      ec = co_await runtime::readSome(conn.stream(), conn.input());
    }
    if (transit_->parking) co_return false;  // borrowReplica() took over; the connection is fine
    // A dead server answers before the client's bytes were even taken:
    // let that write finish so the read can be sent again whole.
    if (transit_->retryArmed && transit_->writingToServer) co_await yieldUntilWritten();
    if (ec) {
      if (closing_) co_return false;
      if (canRetryRead()) {
        if (co_await retryRead()) {
          if (inClientLoop) co_return true;
          continue;
        }
        abort();
        co_return false;
      }
      transit_->serverBroken = true;
      spdlog::warn("server connection {}:{} lost: {}", conn.address().host, conn.address().port,
                   ec.message());
      if (survivesServerLoss()) {
        co_await reportLostStatement();
        co_return false;
      }
      co_await fatal(protocol::sqlstate::kConnectionFailure,
                     "server connection closed unexpectedly");
      abort();
      co_return false;
    }
    auto pass = startServerPass();
    if (pass.scan == Scan::kRetry) {
      if (co_await retryRead()) {
        if (inClientLoop) co_return true;
        continue;
      }
      abort();
      co_return false;
    }
    if (pass.scan == Scan::kMalformed) {
      transit_->serverBroken = true;
      abort();
      co_return false;
    }
    if (!pass.now.done) {
      pass.now.ec = co_await runtime::writeRest(client_, transit_->toClient, pass.now.sent);
    }
    if (pass.now.ec) {
      abort();
      co_return false;
    }
    if (finishServerPass(pass.consumed)) co_return false;  // the server went back
    // Not over with this read (a longer reply, a COPY, a pinned server):
    // clientLoop must go back to the client, a spawned loop reads on.
    if (inClientLoop) co_return true;
  }
  co_return false;
}

}  // namespace pgswarm::proxy
