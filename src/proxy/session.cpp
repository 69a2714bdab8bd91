// The client session: see session.hpp.
#include "proxy/session.hpp"

#include <spdlog/spdlog.h>

#include "pool/server_connection.hpp"
#include "protocol/authentication.hpp"
#include "protocol/codes.hpp"
#include "protocol/frame.hpp"
#include "protocol/frontend.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/startup.hpp"
#include "protocol/writer.hpp"
#include "proxy/admin_console.hpp"
#include "proxy/client_auth.hpp"
#include "proxy/worker.hpp"

namespace pgswarm::proxy {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kHeaderLength = 5;  // type byte + int32 length

// Server messages the relay must see whole; everything else may be
// forwarded as soon as its header is known.
bool serverTypeNeedsWholeMessage(char type) {
  return type == protocol::kReadyForQuery || type == protocol::kParameterStatus;
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
    : worker_(worker),
      client_(std::move(socket)),
      serverWake_(client_.get_executor()),
      serverDone_(client_.get_executor()) {
  std::error_code ec;
  auto endpoint = client_.remote_endpoint(ec);
  peer_ = ec ? "?" : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  worker_.addSession(this);
}

Session::~Session() {
  worker_.removeSession(this);
  if (cancelKey_) worker_.shared().cancels.remove(*cancelKey_);
}

void Session::abort() {
  closing_ = true;
  std::error_code ignored;
  client_.shutdown(asio::socket_base::shutdown_both, ignored);
  client_.close(ignored);
  if (server_) server_->close();
  wakeServerLoop();
}

asio::awaitable<void> Session::fatal(std::string_view sqlState, std::string_view message) {
  co_await sendFatal(client_, sqlState, message);
}

asio::awaitable<void> Session::run() {
  runtime::tuneSocket(client_);
  auto& shared = worker_.shared();
  int clients = ++shared.clients;
  if (clients > shared.config.maxClientConnections) {
    --shared.clients;
    co_await fatal(protocol::sqlstate::kTooManyConnections,
                   "no more connections allowed (max_client_conn)");
    co_return;
  }
  if (co_await startup() && co_await login()) co_await relay();
  state_ = SessionState::kClosing;
  --shared.clients;
  std::error_code ignored;
  client_.close(ignored);
}

// Reads startup packets until a StartupMessage; false when the connection ends here.
asio::awaitable<bool> Session::startup() {
  auto deadline = Clock::now() + worker_.shared().config.clientLoginTimeout;
  for (;;) {
    auto frame = protocol::splitStartupFrame(clientIn_.data());
    if (frame.status == protocol::FrameStatus::kMalformed) {
      co_await fatal(protocol::sqlstate::kProtocolViolation,
                     std::string("invalid startup packet: ") + std::string(frame.reason));
      co_return false;
    }
    if (frame.status == protocol::FrameStatus::kNeedMore) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || co_await runtime::readSomeWithin(client_, clientIn_, left, 16384)) {
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
    switch (*kind) {
      case protocol::StartupPacketKind::kSslRequest:
      case protocol::StartupPacketKind::kGssEncRequest:
        clientIn_.consume(frame.frame.length);
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
        clientIn_.consume(frame.frame.length);
        if (!message) {
          co_await fatal(
              protocol::sqlstate::kProtocolViolation,
              std::string("invalid startup packet: ") + std::string(message.error().reason));
          co_return false;
        }
        user_ = std::string(message->user());
        database_ = std::string(message->database());
        for (const auto& parameter : message->parameters) {
          if (parameter.name == "replication") {
            co_await fatal(protocol::sqlstate::kFeatureNotSupported,
                           "replication connections are not supported through the pool");
            co_return false;
          }
          if (parameter.name.rfind("_pq_.", 0) == 0) continue;  // protocol options
          startupParameters_.push_back(parameter);
        }
        co_return true;
      }
    }
  }
}

asio::awaitable<void> Session::handleCancel(const CancelKey& key) {
  // Forwarded only while that client's query runs on a server; a wrong key
  // finds nothing and does nothing, and the sender learns nothing either way.
  auto target = worker_.shared().cancels.find(key);
  if (!target) co_return;
  co_await pool::sendCancelRequest(client_.get_executor(), target->address, target->backendPid,
                                   target->backendSecret);
}

asio::awaitable<bool> Session::login() {
  auto& shared = worker_.shared();
  auto deadline = Clock::now() + shared.config.clientLoginTimeout;
  auto outcome = co_await authenticateClient(client_, clientIn_, user_, shared.config.authType,
                                             shared.users, deadline);
  if (outcome != AuthOutcome::kAuthenticated) co_return false;
  if (database_ == kAdminDatabase) {
    co_await runAdminConsole(worker_, client_, clientIn_, user_);
    co_return false;
  }
  pool_ = &worker_.poolFor(user_, database_);
  // A server connection first, in both modes: its ParameterStatus set is the
  // client's welcome, and a missing database or role fails here, at login.
  if (!co_await attachServer()) co_return false;
  bool sessionMode = shared.config.mode == PoolMode::kSession;
  cancelKey_ = shared.cancels.add(sessionMode ? server_->backendPid() : 0);

  std::string welcome;
  protocol::Writer writer(welcome);
  (void)protocol::AuthenticationOk{}.encode(writer);
  for (const auto& parameter : server_->parameters()) {
    (void)protocol::ParameterStatus{parameter.name, parameter.value}.encode(writer);
  }
  (void)protocol::BackendKeyData{cancelKey_->pid, cancelKey_->secret}.encode(writer);
  (void)protocol::ReadyForQuery{protocol::TransactionStatus::kIdle}.encode(writer);
  if (!sessionMode) releaseServer();
  if (co_await runtime::writeAll(client_, welcome)) co_return false;
  spdlog::debug("client {} logged in as {} to {}", peer_, user_, database_);
  co_return true;
}

asio::awaitable<bool> Session::attachServer() {
  auto& shared = worker_.shared();
  state_ = SessionState::kWaiting;
  auto deadline = Clock::now() + shared.config.queryWaitTimeout;
  auto result =
      co_await pool_->acquire(startupParameters_, shared.users.credentials(user_), deadline);
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
  server_ = std::move(std::get<pool::Lease>(result));
  state_ = SessionState::kActive;
  if (cancelKey_) {
    shared.cancels.attach(*cancelKey_,
                          {server_->address(), server_->backendPid(), server_->backendSecret()});
  }
  wakeServerLoop();
  co_return true;
}

void Session::releaseServer() {
  if (cancelKey_) worker_.shared().cancels.detach(*cancelKey_);
  server_.giveBack();
  state_ = SessionState::kIdle;
}

bool Session::serverIdle() const {
  return pendingSyncs_ == 0 && !unsynced_ && txStatus_ == protocol::TransactionStatus::kIdle &&
         clientPassthrough_ == 0 && serverPassthrough_ == 0;
}

void Session::wakeServerLoop() {
  serverWake_.cancel();
}

asio::awaitable<void> Session::relay() {
  serverLoopRunning_ = true;
  serverDone_.expires_at(Clock::time_point::max());
  asio::co_spawn(client_.get_executor(), serverLoop(), [this](const std::exception_ptr&) {
    serverLoopRunning_ = false;
    serverDone_.cancel();
  });
  co_await clientLoop();
  closing_ = true;
  if (server_ && serverIdle()) {
    std::error_code ignored;
    server_->socket().cancel(ignored);  // stop the idle read; the connection stays usable
  } else if (server_) {
    serverBroken_ = true;
    server_->close();
  }
  wakeServerLoop();
  while (serverLoopRunning_) {
    std::error_code ec;
    co_await serverDone_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_await finishServer();
}

// Session ends: a clean, idle server goes back to the pool after the reset
// query (session mode) so the next client inherits nothing; anything else is closed.
asio::awaitable<void> Session::finishServer() {
  if (!server_) co_return;
  if (cancelKey_) worker_.shared().cancels.detach(*cancelKey_);
  const auto& config = worker_.shared().config;
  bool sessionMode = config.mode == PoolMode::kSession;
  if (serverBroken_ || !serverIdle() || !server_->input().empty() ||
      (sessionMode && config.serverReset == ServerReset::kReconnect)) {
    server_.discard();
    co_return;
  }
  if (sessionMode && !config.serverResetQuery.empty()) {
    std::string query;
    protocol::Writer writer(query);
    (void)protocol::Query{config.serverResetQuery}.encode(writer);
    auto& conn = *server_;
    if (co_await runtime::writeAll(conn.socket(), query)) {
      server_.discard();
      co_return;
    }
    for (;;) {
      auto frame = protocol::splitFrame(conn.input().data());
      if (frame.status == protocol::FrameStatus::kReady) {
        char type = frame.frame.type;
        conn.input().consume(frame.frame.length);
        if (type == protocol::kErrorResponse) serverBroken_ = true;
        if (type == protocol::kReadyForQuery) break;
        continue;
      }
      if (frame.status == protocol::FrameStatus::kMalformed ||
          co_await runtime::readSomeWithin(conn.socket(), conn.input(), std::chrono::seconds(10))) {
        serverBroken_ = true;
        break;
      }
    }
    if (serverBroken_ || !conn.input().empty()) {
      server_.discard();
      co_return;
    }
  }
  server_.giveBack();
}

Session::Scan Session::scanClient(std::size_t& forward) {
  auto data = clientIn_.data();
  const auto maxPacket = worker_.shared().config.maxPacketSize;
  forward = 0;
  while (forward < data.size()) {
    if (clientPassthrough_ > 0) {
      auto n = std::min(clientPassthrough_, data.size() - forward);
      clientPassthrough_ -= n;
      forward += n;
      continue;
    }
    auto rest = data.subspan(forward);
    if (rest.size() < kHeaderLength) break;
    char type = static_cast<char>(rest[0]);
    auto frame = protocol::splitFrame(rest, {.maxMessageLength = maxPacket});
    if (frame.status == protocol::FrameStatus::kMalformed) return Scan::kMalformed;
    switch (type) {
      case protocol::kTerminate:
        return Scan::kTerminate;
      case protocol::kQuery:
        worker_.stats().countQuery();
        if (pool_ != nullptr) pool_->countQuery();
        [[fallthrough]];
      case protocol::kSync:
        ++pendingSyncs_;
        unsynced_ = false;
        break;
      case protocol::kCopyData:
      case protocol::kCopyDone:
      case protocol::kCopyFail:
        break;
      case protocol::kExecute:
        worker_.stats().countQuery();
        if (pool_ != nullptr) pool_->countQuery();
        unsynced_ = true;
        break;
      default:
        unsynced_ = true;  // Parse, Bind, Describe, Close, Flush, FunctionCall
    }
    if (frame.status == protocol::FrameStatus::kNeedMore) {
      // A big message (a COPY chunk, a huge Bind): forward what is here now.
      clientPassthrough_ = messageLength(rest) - rest.size();
      forward = data.size();
      break;
    }
    forward += frame.frame.length;
  }
  return Scan::kOk;
}

Session::Scan Session::scanServer(std::size_t& forward) {
  auto& input = server_->input();
  auto data = input.data();
  forward = 0;
  while (forward < data.size()) {
    if (serverPassthrough_ > 0) {
      auto n = std::min(serverPassthrough_, data.size() - forward);
      serverPassthrough_ -= n;
      forward += n;
      continue;
    }
    auto rest = data.subspan(forward);
    if (rest.size() < kHeaderLength) break;
    char type = static_cast<char>(rest[0]);
    auto frame = protocol::splitFrame(rest);
    if (frame.status == protocol::FrameStatus::kMalformed) return Scan::kMalformed;
    if (frame.status == protocol::FrameStatus::kNeedMore) {
      if (serverTypeNeedsWholeMessage(type)) break;
      serverPassthrough_ = messageLength(rest) - rest.size();
      forward = data.size();
      break;
    }
    if (type == protocol::kReadyForQuery) {
      auto ready = protocol::ReadyForQuery::parse(frame.frame.body);
      if (!ready) return Scan::kMalformed;
      txStatus_ = ready->status;
      if (pendingSyncs_ > 0) --pendingSyncs_;
      if (txStatus_ == protocol::TransactionStatus::kIdle) {
        worker_.stats().countTransaction();
        pool_->countTransaction();
      }
    }
    forward += frame.frame.length;
  }
  return Scan::kOk;
}

asio::awaitable<void> Session::clientLoop() {
  const bool transactionMode = worker_.shared().config.mode == PoolMode::kTransaction;
  for (;;) {
    if (co_await runtime::readSome(client_, clientIn_)) co_return;
    std::size_t forward = 0;
    auto scan = scanClient(forward);
    if (scan == Scan::kMalformed && !server_) {
      co_await fatal(protocol::sqlstate::kProtocolViolation, "invalid message length");
      co_return;
    }
    if (forward > 0) {
      if (!server_ && !co_await attachServer()) co_return;
      if (co_await runtime::writeAll(server_->socket(), clientIn_.data().first(forward))) {
        serverBroken_ = true;
        co_return;
      }
      clientIn_.consume(forward);
    }
    if (scan != Scan::kOk) co_return;
    // In transaction mode a server that is idle again was given back by
    // serverLoop; nothing to do here until the client sends more.
    (void)transactionMode;
  }
}

asio::awaitable<void> Session::serverLoop() {
  const bool transactionMode = worker_.shared().config.mode == PoolMode::kTransaction;
  while (!closing_) {
    if (!server_) {
      serverWake_.expires_at(Clock::time_point::max());
      std::error_code ec;
      co_await serverWake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto& conn = *server_;
    if (auto ec = co_await runtime::readSome(conn.socket(), conn.input())) {
      if (closing_) co_return;
      serverBroken_ = true;
      spdlog::warn("server connection {}:{} lost: {}", conn.address().host, conn.address().port,
                   ec.message());
      co_await fatal(protocol::sqlstate::kConnectionFailure,
                     "server connection closed unexpectedly");
      abort();
      co_return;
    }
    std::size_t forward = 0;
    if (scanServer(forward) == Scan::kMalformed) {
      serverBroken_ = true;
      abort();
      co_return;
    }
    if (forward > 0) {
      if (co_await runtime::writeAll(client_, conn.input().data().first(forward))) {
        abort();
        co_return;
      }
      conn.input().consume(forward);
    }
    if (transactionMode && serverIdle() && conn.input().empty() && !closing_) releaseServer();
  }
}

}  // namespace pgswarm::proxy
