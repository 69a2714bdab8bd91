// Server login for the pool: see server_connection.hpp.
#include "pool/server_connection.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio/experimental/awaitable_operators.hpp>

#include "auth/md5.hpp"
#include "auth/scram_client.hpp"
#include "protocol/authentication.hpp"
#include "protocol/backend.hpp"
#include "protocol/error_response.hpp"
#include "protocol/frame.hpp"
#include "protocol/frontend.hpp"
#include "protocol/writer.hpp"
#include "runtime/name_resolver.hpp"

namespace pgswarm::pool {
namespace {

using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

std::string_view asText(protocol::Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void setParameterIn(Parameters& parameters, std::string_view name, std::string_view value) {
  auto it = std::find_if(parameters.begin(), parameters.end(),
                         [&](const auto& p) { return p.name == name; });
  if (it != parameters.end()) {
    it->value = std::string(value);
  } else {
    parameters.push_back({std::string(name), std::string(value)});
  }
}

// The login conversation after the startup packet, one server message at a time.
class Login {
 public:
  Login(std::string user, ServerCredentials credentials)
      : user_(std::move(user)), credentials_(std::move(credentials)) {}

  enum class Step { kContinue, kReady, kFailed };

  // Handles one message (`whole`: its bytes with the header); appends any reply to `out`.
  Step handle(const protocol::Frame& frame, protocol::Bytes whole, std::string& out) {
    switch (frame.type) {
      case protocol::kAuthenticationRequest:
        return onAuthentication(frame, out);
      case protocol::kParameterStatus: {
        auto status = protocol::ParameterStatus::parse(frame.body);
        if (!status) return fail("malformed ParameterStatus from server");
        setParameter(std::string(status->name), std::string(status->value));
        return Step::kContinue;
      }
      case protocol::kBackendKeyData: {
        auto key = protocol::BackendKeyData::parse(frame.body);
        if (!key) return fail("malformed BackendKeyData from server");
        pid_ = key->processId;
        secret_ = key->secretKey;
        return Step::kContinue;
      }
      case protocol::kErrorResponse: {
        auto error = protocol::ErrorResponse::parse(frame.body);
        failure_.message = error ? std::string(error->fields.message()) : "server refused login";
        failure_.serverError.assign(asText(whole));
        return Step::kFailed;
      }
      case protocol::kNoticeResponse:
      case protocol::kNegotiateProtocolVersion:
        return Step::kContinue;
      case protocol::kReadyForQuery:
        return Step::kReady;
      default:
        return fail(std::string("unexpected message '") + frame.type + "' during login");
    }
  }

  [[nodiscard]] const ConnectFailure& failure() const { return failure_; }
  [[nodiscard]] Parameters& parameters() { return parameters_; }
  [[nodiscard]] std::int32_t pid() const { return pid_; }
  [[nodiscard]] std::int32_t secret() const { return secret_; }

 private:
  Step fail(std::string message) {
    failure_.message = std::move(message);
    return Step::kFailed;
  }

  void setParameter(std::string_view name, std::string_view value) {
    setParameterIn(parameters_, name, value);
  }

  template <typename Message>
  Step send(const Message& message, std::string& out) {
    protocol::Writer writer(out);
    if (message.encode(writer) != protocol::EncodeStatus::kOk)
      return fail("cannot encode login reply");
    return Step::kContinue;
  }

  Step onAuthentication(const protocol::Frame& frame, std::string& out) {
    auto code = protocol::authenticationCode(frame.body);
    if (!code) return fail("malformed authentication request from server");
    switch (*code) {
      case protocol::kAuthOk:
        return Step::kContinue;
      case protocol::kAuthCleartextPassword:
        return sendCleartext(out);
      case protocol::kAuthMd5Password:
        return sendMd5(frame, out);
      case protocol::kAuthSasl:
        return startScram(frame, out);
      case protocol::kAuthSaslContinue:
        return continueScram(frame, out);
      case protocol::kAuthSaslFinal:
        return finishScram(frame);
      default:
        return fail("server asks for an authentication method the pool does not speak");
    }
  }

  Step sendCleartext(std::string& out) {
    if (credentials_.password.empty()) {
      return fail("server asks for a cleartext password, but the pool knows none for " + user_);
    }
    return send(protocol::PasswordMessage{credentials_.password}, out);
  }

  Step sendMd5(const protocol::Frame& frame, std::string& out) {
    auto request = protocol::AuthenticationMd5Password::parse(frame.body);
    if (!request) return fail("malformed md5 request from server");
    if (credentials_.password.empty() && credentials_.md5Secret.empty()) {
      return fail("server asks for md5, but the pool knows no password for " + user_);
    }
    auth::Md5Salt salt{};
    std::transform(request->salt.begin(), request->salt.end(), salt.begin(),
                   [](std::byte b) { return std::to_integer<std::uint8_t>(b); });
    // The md5 answer needs only the stored form, as PgBouncer uses it.
    auto response = !credentials_.password.empty()
                        ? auth::md5ResponseFromPassword(credentials_.password, user_, salt)
                        : auth::md5Response(credentials_.md5Secret, salt);
    if (!response) return fail(response.error().message);
    return send(protocol::PasswordMessage{*response}, out);
  }

  Step startScram(const protocol::Frame& frame, std::string& out) {
    auto request = protocol::AuthenticationSasl::parse(frame.body);
    if (!request) return fail("malformed SASL request from server");
    auto& mechanisms = request->mechanisms;
    if (std::find(mechanisms.begin(), mechanisms.end(), "SCRAM-SHA-256") == mechanisms.end()) {
      return fail("server offers no SASL mechanism the pool speaks (SCRAM-SHA-256)");
    }
    auto client = !credentials_.password.empty()
                      ? auth::ScramClient::fromPassword(credentials_.password)
                  : credentials_.scramKeys
                      ? auth::ScramClient::fromKeys(*credentials_.scramKeys)
                      : Result<auth::ScramClient>(makeError(
                            "the pool has neither a password nor SCRAM keys for {} (a SCRAM "
                            "secret alone needs one client login first)",
                            user_));
    if (!client) return fail(client.error().message);
    scram_.emplace(std::move(*client));
    return send(protocol::SaslInitialResponse{"SCRAM-SHA-256", scram_->clientFirst()}, out);
  }

  Step continueScram(const protocol::Frame& frame, std::string& out) {
    auto request = protocol::AuthenticationSaslContinue::parse(frame.body);
    if (!request || !scram_) return fail("unexpected SASL continue from server");
    auto final = scram_->handleServerFirst(request->data);
    if (!final) return fail("SCRAM with server failed: " + final.error().message);
    return send(protocol::SaslResponse{*final}, out);
  }

  Step finishScram(const protocol::Frame& frame) {
    auto request = protocol::AuthenticationSaslFinal::parse(frame.body);
    if (!request || !scram_) return fail("unexpected SASL final from server");
    if (auto verified = scram_->handleServerFinal(request->data); !verified) {
      return fail("SCRAM with server failed: " + verified.error().message);
    }
    return Step::kContinue;
  }

  std::string user_;
  ServerCredentials credentials_;
  std::optional<auth::ScramClient> scram_;
  Parameters parameters_;
  std::int32_t pid_ = 0;
  std::int32_t secret_ = 0;
  ConnectFailure failure_;
};

asio::awaitable<std::error_code> connectOnce(runtime::ServerSocket& socket,
                                             const asio::generic::stream_protocol::endpoint& to,
                                             Clock::time_point deadline) {
  std::error_code ec;
  socket.close(ec);
  asio::steady_timer timer(socket.get_executor());
  timer.expires_at(deadline);
  std::error_code timerEc;
  auto winner = co_await (socket.async_connect(to, asio::redirect_error(asio::use_awaitable, ec)) ||
                          timer.async_wait(asio::redirect_error(asio::use_awaitable, timerEc)));
  if (winner.index() == 1) co_return make_error_code(asio::error::timed_out);
  co_return ec;
}

std::string socketPath(const std::string& dir, int port) {
  return dir + "/.s.PGSQL." + std::to_string(port);
}

asio::awaitable<std::error_code> connectUnix(runtime::ServerSocket& socket, const std::string& path,
                                             Clock::time_point deadline) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    co_return make_error_code(std::errc::filename_too_long);
  }
  co_return co_await connectOnce(socket, asio::local::stream_protocol::endpoint(path), deadline);
}

// Logs when a node's socket route fails (TCP from then on) and when it
// works again: once per change for the whole process, not per connection.
// That it works at first the pool said when it started.
void noteSocketRoute(const ServerAddress& address, const std::string& path, std::error_code ec) {
  static std::mutex mutex;
  static std::map<std::string, bool> working;  // by socket path
  {
    std::lock_guard lock(mutex);
    auto [known, first] = working.try_emplace(path, !ec);
    if (first ? !ec : known->second == !ec) return;
    known->second = !ec;
  }
  if (ec) {
    spdlog::warn("cannot connect to {}:{} through its unix socket {} ({}): over TCP until it works",
                 address.host, address.port, path, ec.message());
  } else {
    spdlog::info("server connections to {}:{} go through its unix socket {} again", address.host,
                 address.port, path);
  }
}

// The server's unix socket (its host, or its socket route), or each
// address its name resolves to in turn.
asio::awaitable<std::error_code> connectWithin(runtime::ServerSocket& socket,
                                               const ServerAddress& address,
                                               Clock::time_point deadline) {
  if (address.unixSocket()) {
    co_return co_await connectUnix(socket, socketPath(address.host, address.port), deadline);
  }
  if (!address.socketDir.empty()) {
    auto path = socketPath(address.socketDir, address.port);
    auto ec = co_await connectUnix(socket, path, deadline);
    noteSocketRoute(address, path, ec);
    if (!ec) co_return ec;
  }
  std::error_code notNumeric;
  if (auto ip = asio::ip::make_address(address.host, notNumeric); !notNumeric) {
    co_return co_await connectOnce(
        socket, asio::ip::tcp::endpoint(ip, static_cast<unsigned short>(address.port)), deadline);
  }
  auto resolved =
      co_await runtime::resolveHost(address.host, std::to_string(address.port), deadline);
  if (resolved.ec) co_return resolved.ec;
  std::error_code ec = asio::error::host_not_found;  // no address at all
  for (const auto& entry : resolved.endpoints) {
    ec = co_await connectOnce(socket, entry.endpoint(), deadline);
    if (!ec || ec == asio::error::timed_out) break;
  }
  co_return ec;
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

// Whether a first attempt asks for TLS: not under disable, nor allow (which
// asks only on a retry).
bool tlsFirst(const ServerTlsSettings& tls) {
  return tls.mode != SslMode::kDisable && tls.mode != SslMode::kAllow;
}

// After the TCP connect: SSLRequest, the server's one-byte answer, and on
// 'S' the handshake. Empty when the connection may go on (in TLS, or plain
// where the mode allows it), else why not.
asio::awaitable<std::string> negotiateTls(runtime::ServerStream& stream, runtime::ByteBuffer& input,
                                          const ServerAddress& address,
                                          const ServerTlsSettings& tls,
                                          Clock::time_point deadline) {
  std::string request;
  protocol::Writer writer(request);
  if (protocol::SslRequest{}.encode(writer) != protocol::EncodeStatus::kOk) {
    co_return "cannot encode SSLRequest";
  }
  if (auto ec = co_await runtime::writeAll(stream, request)) {
    co_return "cannot send SSLRequest: " + ec.message();
  }
  if (auto ec = co_await runtime::readSomeWithin(stream, input, remaining(deadline))) {
    co_return "no answer to SSLRequest: " + ec.message();
  }
  auto answer = static_cast<char>(input.data().front());
  // More than the one byte is someone else's, sent before the handshake
  // could protect it (CVE-2021-23222): libpq refuses it too.
  if ((answer == 'S' || answer == 'N') && input.size() > 1) {
    co_return "received unencrypted data after SSL response";
  }
  if (answer == 'N') {
    input.consume(1);
    if (tls.mode >= SslMode::kRequire) {
      co_return std::string("server does not support TLS, and server_tls_sslmode is ") +
          toString(tls.mode);
    }
    co_return "";
  }
  if (answer != 'S') co_return "server answered SSLRequest with neither 'S' nor 'N'";
  input.consume(1);
  bool checkHost = tls.mode == SslMode::kVerifyFull;
  if (auto ec =
          co_await stream.startTls(tls.context, address.host, checkHost, remaining(deadline))) {
    auto refused = stream.verifyFailure();
    co_return refused.empty() ? "TLS handshake failed: " + ec.message()
                              : "TLS handshake failed: server certificate refused (" +
                                    std::string(toString(tls.mode)) + "): " + refused;
  }
  co_return "";
}

}  // namespace

ServerTlsSettings ServerTls::current() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->settings;
}

void ServerTls::replace(ServerTlsSettings settings) {
  std::lock_guard lock(shared_->mutex);
  shared_->settings = std::move(settings);
}

const char* toString(SslMode mode) {
  switch (mode) {
    case SslMode::kDisable:
      return "disable";
    case SslMode::kAllow:
      return "allow";
    case SslMode::kPrefer:
      return "prefer";
    case SslMode::kRequire:
      return "require";
    case SslMode::kVerifyCa:
      return "verify-ca";
    case SslMode::kVerifyFull:
      return "verify-full";
  }
  return "?";
}

void ServerConnection::close() {
  std::error_code ignored;
  socket().shutdown(asio::socket_base::shutdown_both, ignored);
  socket().close(ignored);
}

bool ServerConnection::closedByServer() {
  if (!socket().is_open() || !input_.empty()) return true;
  return !stream_.quiet(input_);
}

// One connection and login, in TLS when `useTls` and the server takes it
// (never over a unix socket); a friend of ServerConnection.
asio::awaitable<ConnectResult> connectAndLogin(asio::any_io_executor executor,
                                               const ServerAddress& address,
                                               SharedParameters startup,
                                               ServerCredentials credentials,
                                               const ServerTlsSettings& tls, bool useTls,
                                               Clock::time_point deadline);

asio::awaitable<ConnectResult> connectServer(asio::any_io_executor executor, ServerAddress address,
                                             SharedParameters startup,
                                             ServerCredentials credentials, ServerTls shared,
                                             std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  // Once, so both attempts under allow use the same setting whatever a
  // RELOAD does meanwhile.
  auto tls = shared.current();
  auto result = co_await connectAndLogin(executor, address, startup, credentials, tls,
                                         tlsFirst(tls), deadline);
  // allow: plain first, and TLS only when the server refused that login
  // (a hostssl-only pg_hba.conf), as libpq does it.
  auto* failure = std::get_if<ConnectFailure>(&result);
  if (failure != nullptr && !failure->serverError.empty() && tls.mode == SslMode::kAllow &&
      !address.unixSocket()) {
    result = co_await connectAndLogin(executor, address, std::move(startup), std::move(credentials),
                                      tls, true, deadline);
  }
  co_return result;
}

asio::awaitable<ConnectResult> connectAndLogin(asio::any_io_executor executor,
                                               const ServerAddress& address,
                                               SharedParameters startup,
                                               ServerCredentials credentials,
                                               const ServerTlsSettings& tls, bool useTls,
                                               Clock::time_point deadline) {
  auto where = address.host + ":" + std::to_string(address.port);
  auto conn = std::make_unique<ServerConnection>(runtime::ServerSocket(executor), address);
  if (auto ec = co_await connectWithin(conn->socket(), address, deadline)) {
    co_return ConnectFailure{"cannot connect to server " + where + ": " + ec.message(), {}};
  }
  runtime::tuneSocket(conn->socket());
  // libpq's rule: a unix socket is never encrypted, whatever the mode. Asked
  // of the connected socket, not the address, so a socket route and a host
  // that is a socket directory are treated alike.
  if (useTls && !runtime::overUnixSocket(conn->socket())) {
    auto refused = co_await negotiateTls(conn->stream(), conn->input(), address, tls, deadline);
    if (!refused.empty()) co_return ConnectFailure{"server " + where + ": " + refused, {}};
  }
  conn->startup_ = std::move(startup);
  std::string out;
  protocol::Writer writer(out);
  protocol::StartupMessage message{.parameters = *conn->startup_};
  if (message.encode(writer) != protocol::EncodeStatus::kOk) {
    co_return ConnectFailure{"cannot encode startup packet for " + where, {}};
  }
  std::string user(message.user());
  Login login(user, std::move(credentials));
  for (;;) {
    if (!out.empty()) {
      if (auto ec = co_await runtime::writeAll(conn->stream(), out)) {
        co_return ConnectFailure{"login to " + where + " failed: " + ec.message(), {}};
      }
      out.clear();
    }
    auto& input = conn->input_;
    auto frame = protocol::splitFrame(input.data());
    while (frame.status == protocol::FrameStatus::kReady) {
      auto step = login.handle(frame.frame, input.data().first(frame.frame.length), out);
      input.consume(frame.frame.length);
      if (step == Login::Step::kFailed) {
        auto failure = login.failure();
        failure.message =
            fmt::format("server {} refused login of {}: {}", where, user, failure.message);
        co_return failure;
      }
      if (step == Login::Step::kReady) {
        conn->parameters_ = std::move(login.parameters());
        conn->backendPid_ = login.pid();
        conn->backendSecret_ = login.secret();
        conn->lastUsed = Clock::now();
        co_return std::move(conn);
      }
      frame = protocol::splitFrame(input.data());
    }
    if (frame.status == protocol::FrameStatus::kMalformed) {
      co_return ConnectFailure{"server " + where + " sent a malformed message during login", {}};
    }
    if (!out.empty()) continue;
    if (auto ec = co_await runtime::readSomeWithin(conn->stream(), input, remaining(deadline))) {
      co_return ConnectFailure{"login to " + where + " failed: " + ec.message(), {}};
    }
  }
}

const std::shared_ptr<const CancelTarget>& ServerConnection::cancelTarget() {
  if (!cancelTarget_) {
    cancelTarget_ =
        std::make_shared<const CancelTarget>(CancelTarget{address_, backendPid_, backendSecret_});
  }
  return cancelTarget_;
}

void ServerConnection::setParameter(std::string_view name, std::string_view value) {
  setParameterIn(parameters_, name, value);
}

asio::awaitable<InternalQueryOutcome> runInternalQuery(ServerConnection& conn, std::string_view sql,
                                                       std::chrono::milliseconds timeout) {
  InternalQueryOutcome outcome;
  std::string query;
  protocol::Writer writer(query);
  if (protocol::Query{sql}.encode(writer) != protocol::EncodeStatus::kOk ||
      co_await runtime::writeAll(conn.stream(), query)) {
    outcome.usable = false;
    co_return outcome;
  }
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto frame = protocol::splitFrame(conn.input().data());
    if (frame.status == protocol::FrameStatus::kReady) {
      char type = frame.frame.type;
      if (type == protocol::kErrorResponse && outcome.errorResponse.empty()) {
        auto whole = conn.input().data().first(frame.frame.length);
        outcome.errorResponse.assign(reinterpret_cast<const char*>(whole.data()), whole.size());
      } else if (type == protocol::kParameterStatus) {
        if (auto status = protocol::ParameterStatus::parse(frame.frame.body)) {
          conn.setParameter(status->name, status->value);
        }
      }
      conn.input().consume(frame.frame.length);
      if (type == protocol::kReadyForQuery) break;
      continue;
    }
    if (frame.status == protocol::FrameStatus::kMalformed ||
        co_await runtime::readSomeWithin(conn.stream(), conn.input(), remaining(deadline))) {
      outcome.usable = false;
      co_return outcome;
    }
  }
  outcome.usable = conn.input().empty();
  co_return outcome;
}

asio::awaitable<void> sendCancelRequest(asio::any_io_executor executor, ServerAddress address,
                                        ServerTls shared, std::int32_t pid, std::int32_t secret) {
  auto tls = shared.current();
  runtime::ServerStream stream{runtime::ServerSocket(executor)};
  auto deadline = Clock::now() + std::chrono::seconds(5);
  if (co_await connectWithin(stream.socket(), address, deadline)) co_return;
  runtime::ByteBuffer input(64);
  if (tlsFirst(tls) && !runtime::overUnixSocket(stream.socket())) {
    // Not sent at all rather than in plain text against the mode.
    if (!(co_await negotiateTls(stream, input, address, tls, deadline)).empty()) co_return;
  }
  std::string out;
  protocol::Writer writer(out);
  if (protocol::CancelRequest{pid, secret}.encode(writer) != protocol::EncodeStatus::kOk) co_return;
  (void)co_await runtime::writeAll(stream, out);
  // PostgreSQL closes the connection after reading the request.
  (void)co_await runtime::readSomeWithin(stream, input, remaining(deadline));
}

}  // namespace pgswarm::pool
