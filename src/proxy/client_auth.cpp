// Client authentication: see client_auth.hpp.
#include "proxy/client_auth.hpp"

#include <sys/random.h>

#include <spdlog/spdlog.h>

#include "auth/md5.hpp"
#include "auth/scram_server.hpp"
#include "protocol/authentication.hpp"
#include "protocol/frame.hpp"
#include "protocol/sqlstate.hpp"
#include "protocol/writer.hpp"
#include "proxy/access_rules.hpp"
#include "proxy/auth_query.hpp"
#include "proxy/worker.hpp"

namespace pgswarm::proxy {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxLoginMessage = 64 * 1024;

std::chrono::milliseconds until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

template <typename Message>
asio::awaitable<bool> send(runtime::ClientStream& socket, const Message& message) {
  std::string out;
  protocol::Writer writer(out);
  if (message.encode(writer) != protocol::EncodeStatus::kOk) co_return false;
  co_return !(co_await runtime::writeAll(socket, out));
}

asio::awaitable<AuthOutcome> reject(runtime::ClientStream& socket, const std::string& user) {
  co_await sendFatal(socket, protocol::sqlstate::kInvalidPassword,
                     "password authentication failed for user \"" + user + "\"");
  co_return AuthOutcome::kRejected;
}

// The mock key makes an unknown user's exchange look like a real one and
// stay the same across attempts, as PostgreSQL's mock authentication does.
const auth::Bytes& mockKey() {
  static const auth::Bytes key = [] {
    auto made = auth::makeScramMockKey();
    return made ? *made : auth::Bytes(32, 0x5a);
  }();
  return key;
}

asio::awaitable<AuthOutcome> scramExchange(runtime::ClientStream& socket,
                                           runtime::ByteBuffer& input, const std::string& user,
                                           const auth::Secret* secret, Users& users,
                                           Clock::time_point deadline) {
  auto server = auth::ScramServer::forUser(secret, user, mockKey());
  if (!server) co_return co_await reject(socket, user);
  protocol::AuthenticationSasl offer{{"SCRAM-SHA-256"}};
  if (!co_await send(socket, offer)) co_return AuthOutcome::kDisconnected;

  auto first = co_await readLoginMessage(socket, input, deadline);
  if (!first) co_return AuthOutcome::kDisconnected;
  auto initial = protocol::SaslInitialResponse::parse(protocol::asBytes(first->body));
  if (first->type != protocol::kSaslInitialResponse || !initial || !initial->data ||
      initial->mechanism != "SCRAM-SHA-256") {
    co_await sendFatal(socket, protocol::sqlstate::kProtocolViolation,
                       "expected SASLInitialResponse with SCRAM-SHA-256");
    co_return AuthOutcome::kRejected;
  }
  auto serverFirst = server->handleClientFirst(*initial->data);
  if (!serverFirst) co_return co_await reject(socket, user);
  if (!co_await send(socket, protocol::AuthenticationSaslContinue{*serverFirst})) {
    co_return AuthOutcome::kDisconnected;
  }

  auto final = co_await readLoginMessage(socket, input, deadline);
  if (!final) co_return AuthOutcome::kDisconnected;
  auto response = protocol::SaslResponse::parse(protocol::asBytes(final->body));
  if (final->type != protocol::kSaslResponse || !response) co_return co_await reject(socket, user);
  auto verdict = server->handleClientFinal(response->data);
  if (!verdict || verdict->verdict != auth::Verdict::kAuthenticated) {
    co_return co_await reject(socket, user);
  }
  if (auto keys = server->recoveredClientKeys()) users.rememberScramKeys(user, *keys);
  if (!co_await send(socket, protocol::AuthenticationSaslFinal{verdict->message})) {
    co_return AuthOutcome::kDisconnected;
  }
  co_return AuthOutcome::kAuthenticated;
}

asio::awaitable<AuthOutcome> md5Exchange(runtime::ClientStream& socket, runtime::ByteBuffer& input,
                                         const std::string& user, const auth::Secret& secret,
                                         Users& users, Clock::time_point deadline) {
  protocol::AuthenticationMd5Password request;
  auth::Md5Salt salt{};
  (void)::getrandom(salt.data(), salt.size(), 0);
  for (std::size_t i = 0; i < salt.size(); ++i) request.salt[i] = std::byte{salt[i]};
  if (!co_await send(socket, request)) co_return AuthOutcome::kDisconnected;
  auto reply = co_await readLoginMessage(socket, input, deadline);
  if (!reply) co_return AuthOutcome::kDisconnected;
  auto password = protocol::PasswordMessage::parse(protocol::asBytes(reply->body));
  if (reply->type != protocol::kPasswordMessage || !password) {
    co_return co_await reject(socket, user);
  }
  auto verdict = auth::verifyMd5Response(secret, user, salt, password->password);
  if (!verdict || *verdict != auth::Verdict::kAuthenticated)
    co_return co_await reject(socket, user);
  // An auth_query user: the same secret answers the server's md5 requests.
  if (const auto* md5 = std::get_if<auth::Md5Secret>(&secret); md5 && !users.find(user)) {
    users.rememberMd5Secret(user, md5->digest);
  }
  co_return AuthOutcome::kAuthenticated;
}

}  // namespace

std::optional<IpAddress> clientAddress(const runtime::ClientStream& socket) {
  std::error_code ec;
  auto endpoint = socket.socket().remote_endpoint(ec);
  if (ec) return std::nullopt;
  auto address = endpoint.address();
  // A pool listening on "::" sees IPv4 clients as ::ffff:a.b.c.d; rules name them as IPv4.
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return IpAddress::parse(address.to_string());
}

namespace {

ClientAuthMethod fromHba(HbaMethod method) {
  switch (method) {
    case HbaMethod::kMd5:
      return ClientAuthMethod::kMd5;
    case HbaMethod::kTrust:
      return ClientAuthMethod::kTrust;
    case HbaMethod::kCert:
      return ClientAuthMethod::kCert;
    case HbaMethod::kScramSha256:
    case HbaMethod::kReject:
      break;
  }
  return ClientAuthMethod::kScramSha256;
}

// What this client must pass: a method and, from hba's clientcert=, a
// certificate check beside it.
struct ChosenAuth {
  ClientAuthMethod method = ClientAuthMethod::kScramSha256;
  HbaClientCert clientCert = HbaClientCert::kNone;
};

// The method for this client, or nullopt once a 28000 refusal has been sent.
asio::awaitable<std::optional<ChosenAuth>> chooseMethod(ProxyShared& shared,
                                                        runtime::ClientStream& socket,
                                                        const std::string& user,
                                                        const std::string& database) {
  auto rules = shared.access.current();
  if (!rules) co_return ChosenAuth{.method = shared.config.authType};
  auto address = clientAddress(socket);
  if (!address) co_return std::nullopt;  // the client is already gone
  HbaClient client{.address = *address, .ssl = socket.tls(), .database = database, .user = user};
  client.sameHost = rules->usesSameHost() && isOwnAddress(*address);
  const auto* rule = findHbaRule(*rules, client);
  if (rule == nullptr || rule->method == HbaMethod::kReject) {
    auto message = rule == nullptr ? hbaNoEntryMessage(client) : hbaRejectMessage(client);
    spdlog::info("{}{}", message,
                 rule == nullptr ? "" : fmt::format(" ({}:{})", rules->source, rule->line));
    co_await sendFatal(socket, protocol::sqlstate::kInvalidAuthorizationSpecification, message);
    co_return std::nullopt;
  }
  spdlog::debug("client {} user {} database {}: {}:{} says {}", address->toString(), user, database,
                rules->source, rule->line, toString(rule->method));
  co_return ChosenAuth{.method = fromHba(rule->method), .clientCert = rule->clientCert};
}

// Runs auth_query on one of the worker's auth_user connections.
asio::awaitable<AuthQueryResult> lookUp(Worker& worker, const std::string& user,
                                        Clock::time_point deadline) {
  auto& shared = worker.shared();
  const auto& config = shared.config;
  auto startup = std::make_shared<const pool::Parameters>(
      pool::Parameters{{"user", config.authUser},
                       {"database", config.authDbname},
                       {"application_name", "pgswarm auth_query"}});
  auto credentials = shared.users.credentials(config.authUser);
  auto acquired = co_await worker.authQueryPool().acquire(startup, *credentials, deadline);
  if (auto* failure = std::get_if<pool::AcquireFailure>(&acquired)) {
    co_return AuthQueryResult{.error = failure->kind == pool::AcquireFailure::Kind::kConnect
                                           ? failure->connect.message
                                           : std::string("no auth_user connection in time")};
  }
  auto& lease = std::get<pool::Lease>(acquired);
  bool reusable = false;
  auto result = co_await runAuthQuery(*lease, config.authQuery, user, deadline, reusable);
  if (reusable) {
    lease.giveBack();
  } else {
    lease.discard();
  }
  co_return result;
}

// The user's secret from the auth file, else (auth_user set) from the cache
// or auth_query. nullopt: unknown, which gets the mock exchange.
asio::awaitable<std::optional<auth::Secret>> findSecret(Worker& worker, const std::string& user,
                                                        Clock::time_point deadline) {
  auto& shared = worker.shared();
  if (auto secret = shared.users.find(user)) co_return secret;
  if (shared.config.authUser.empty()) co_return std::nullopt;
  if (auto cached = shared.authCache.find(user, Clock::now())) co_return *cached;
  // Bounded by the connect timeout too: a dead primary must not hold the
  // login for all of client_login_timeout.
  auto lookUpDeadline = std::min(deadline, Clock::now() + 2 * shared.config.serverConnectTimeout);
  auto result = co_await lookUp(worker, user, lookUpDeadline);
  switch (result.kind) {
    case AuthQueryResult::Kind::kFound:
      shared.authCache.store(user, result.secret, Clock::now());
      co_return result.secret;
    case AuthQueryResult::Kind::kNotFound:
      shared.authCache.store(user, std::nullopt, Clock::now());
      co_return std::nullopt;
    case AuthQueryResult::Kind::kFailed:
      break;
  }
  // Not cached: the next login tries again. The client sees the same
  // failure as for a wrong password, so nothing about the user leaks.
  spdlog::warn("auth_query for user \"{}\" failed: {}", user, result.error);
  co_return std::nullopt;
}

// hba's cert method: the handshake verified the certificate against
// tls_ca_file; its CN must be the user name. PostgreSQL's messages.
asio::awaitable<AuthOutcome> certificateLogin(runtime::ClientStream& socket,
                                              const std::string& user) {
  auto name = socket.certificateCommonName();
  if (name.empty()) {
    spdlog::info("user \"{}\": no valid client certificate (hba cert)", user);
    co_await sendFatal(socket, protocol::sqlstate::kInvalidAuthorizationSpecification,
                       "connection requires a valid client certificate");
    co_return AuthOutcome::kRejected;
  }
  if (name != user) {
    spdlog::info(
        "certificate authentication failed for user \"{}\": provided user name ({}) and "
        "authenticated user name ({}) do not match",
        user, user, name);
    co_await sendFatal(socket, protocol::sqlstate::kInvalidAuthorizationSpecification,
                       "certificate authentication failed for user \"" + user + "\"");
    co_return AuthOutcome::kRejected;
  }
  co_return AuthOutcome::kAuthenticated;
}

// clientcert=: checked before the method runs, as PostgreSQL does.
asio::awaitable<bool> hasRequiredCertificate(runtime::ClientStream& socket,
                                             const std::string& user) {
  if (socket.hasVerifiedCertificate()) co_return true;
  spdlog::info("user \"{}\": no valid client certificate (hba clientcert)", user);
  co_await sendFatal(socket, protocol::sqlstate::kInvalidAuthorizationSpecification,
                     "connection requires a valid client certificate");
  co_return false;
}

// clientcert=verify-full: checked once the method has passed, before
// AuthenticationOk. The client hears the method's own failure, as from
// PostgreSQL; the log says why.
asio::awaitable<AuthOutcome> checkCertificateName(runtime::ClientStream& socket,
                                                  const std::string& user,
                                                  ClientAuthMethod method) {
  if (socket.certificateCommonName() == user) co_return AuthOutcome::kAuthenticated;
  spdlog::info(
      "certificate validation (clientcert=verify-full) failed for user \"{}\": CN mismatch", user);
  if (method == ClientAuthMethod::kTrust) {
    co_await sendFatal(socket, protocol::sqlstate::kInvalidAuthorizationSpecification,
                       "certificate authentication failed for user \"" + user + "\"");
  } else {
    co_await sendFatal(socket, protocol::sqlstate::kInvalidPassword,
                       "password authentication failed for user \"" + user + "\"");
  }
  co_return AuthOutcome::kRejected;
}

asio::awaitable<AuthOutcome> runMethod(Worker& worker, runtime::ClientStream& socket,
                                       runtime::ByteBuffer& input, const std::string& user,
                                       ClientAuthMethod method, Clock::time_point deadline) {
  auto& shared = worker.shared();
  if (method == ClientAuthMethod::kTrust) co_return AuthOutcome::kAuthenticated;
  if (method == ClientAuthMethod::kCert) co_return co_await certificateLogin(socket, user);
  auto secret = co_await findSecret(worker, user, deadline);
  // md5 needs an md5 or plaintext secret; with a SCRAM secret (or none, as
  // with PostgreSQL's default password_encryption) the exchange is SCRAM.
  if (method == ClientAuthMethod::kMd5 && secret &&
      auth::kindOf(*secret) != auth::SecretKind::kScram) {
    co_return co_await md5Exchange(socket, input, user, *secret, shared.users, deadline);
  }
  co_return co_await scramExchange(socket, input, user, secret ? &*secret : nullptr, shared.users,
                                   deadline);
}

}  // namespace

asio::awaitable<void> sendFatal(runtime::ClientStream& socket, std::string_view sqlState,
                                std::string_view message, std::string_view detail) {
  auto bytes = protocol::makeErrorResponse(protocol::Severity::kFatal, sqlState, message, detail);
  (void)co_await runtime::writeAll(socket, bytes);
}

asio::awaitable<std::optional<OwnedMessage>> readLoginMessage(runtime::ClientStream& socket,
                                                              runtime::ByteBuffer& input,
                                                              Clock::time_point deadline) {
  for (;;) {
    auto frame = protocol::splitFrame(input.data(), {.maxMessageLength = kMaxLoginMessage});
    if (frame.status == protocol::FrameStatus::kReady) {
      OwnedMessage message{frame.frame.type,
                           std::string(reinterpret_cast<const char*>(frame.frame.body.data()),
                                       frame.frame.body.size())};
      input.consume(frame.frame.length);
      co_return message;
    }
    if (frame.status == protocol::FrameStatus::kMalformed) {
      co_await sendFatal(socket, protocol::sqlstate::kProtocolViolation,
                         std::string("invalid message during login: ") + std::string(frame.reason));
      co_return std::nullopt;
    }
    if (co_await runtime::readSomeWithin(socket, input, until(deadline))) co_return std::nullopt;
  }
}

asio::awaitable<AuthOutcome> authenticateClient(Worker& worker, runtime::ClientStream& socket,
                                                runtime::ByteBuffer& input, const std::string& user,
                                                const std::string& database,
                                                Clock::time_point deadline) {
  auto chosen = co_await chooseMethod(worker.shared(), socket, user, database);
  if (!chosen) co_return AuthOutcome::kRejected;
  bool certificateToo = chosen->clientCert != HbaClientCert::kNone &&
                        chosen->method != ClientAuthMethod::kCert;  // cert checks its own
  if (certificateToo && !co_await hasRequiredCertificate(socket, user)) {
    co_return AuthOutcome::kRejected;
  }
  auto outcome = co_await runMethod(worker, socket, input, user, chosen->method, deadline);
  if (outcome == AuthOutcome::kAuthenticated && certificateToo &&
      chosen->clientCert == HbaClientCert::kVerifyFull) {
    outcome = co_await checkCertificateName(socket, user, chosen->method);
  }
  co_return outcome;
}

}  // namespace pgswarm::proxy
