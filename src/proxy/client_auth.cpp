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

namespace pgswarm::proxy {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxLoginMessage = 64 * 1024;

std::chrono::milliseconds until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

template <typename Message>
asio::awaitable<bool> send(runtime::Socket& socket, const Message& message) {
  std::string out;
  protocol::Writer writer(out);
  if (message.encode(writer) != protocol::EncodeStatus::kOk) co_return false;
  co_return !(co_await runtime::writeAll(socket, out));
}

asio::awaitable<AuthOutcome> reject(runtime::Socket& socket, const std::string& user) {
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

asio::awaitable<AuthOutcome> scramExchange(runtime::Socket& socket, runtime::ByteBuffer& input,
                                           const std::string& user, Users& users,
                                           Clock::time_point deadline) {
  auto secret = users.find(user);
  auto server = auth::ScramServer::forUser(secret ? &*secret : nullptr, user, mockKey());
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

asio::awaitable<AuthOutcome> md5Exchange(runtime::Socket& socket, runtime::ByteBuffer& input,
                                         const std::string& user, Users& users,
                                         Clock::time_point deadline) {
  protocol::AuthenticationMd5Password request;
  auth::Md5Salt salt{};
  (void)::getrandom(salt.data(), salt.size(), 0);
  for (std::size_t i = 0; i < salt.size(); ++i) request.salt[i] = std::byte{salt[i]};
  if (!co_await send(socket, request)) co_return AuthOutcome::kDisconnected;
  auto reply = co_await readLoginMessage(socket, input, deadline);
  if (!reply) co_return AuthOutcome::kDisconnected;
  auto password = protocol::PasswordMessage::parse(protocol::asBytes(reply->body));
  auto secret = users.find(user);
  if (reply->type != protocol::kPasswordMessage || !password || !secret) {
    co_return co_await reject(socket, user);
  }
  auto verdict = auth::verifyMd5Response(*secret, user, salt, password->password);
  if (!verdict || *verdict != auth::Verdict::kAuthenticated)
    co_return co_await reject(socket, user);
  co_return AuthOutcome::kAuthenticated;
}

}  // namespace

asio::awaitable<void> sendFatal(runtime::Socket& socket, std::string_view sqlState,
                                std::string_view message, std::string_view detail) {
  auto bytes = protocol::makeErrorResponse(protocol::Severity::kFatal, sqlState, message, detail);
  (void)co_await runtime::writeAll(socket, bytes);
}

asio::awaitable<std::optional<OwnedMessage>> readLoginMessage(runtime::Socket& socket,
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

asio::awaitable<AuthOutcome> authenticateClient(runtime::Socket& socket, runtime::ByteBuffer& input,
                                                const std::string& user, ClientAuthMethod method,
                                                Users& users, Clock::time_point deadline) {
  switch (method) {
    case ClientAuthMethod::kTrust:
      co_return AuthOutcome::kAuthenticated;
    case ClientAuthMethod::kMd5:
      co_return co_await md5Exchange(socket, input, user, users, deadline);
    case ClientAuthMethod::kScramSha256:
      co_return co_await scramExchange(socket, input, user, users, deadline);
  }
  co_return AuthOutcome::kRejected;
}

}  // namespace pgswarm::proxy
