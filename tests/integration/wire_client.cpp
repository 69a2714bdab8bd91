// Raw-socket test client: see wire_client.hpp.
#include "wire_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "auth/scram_client.hpp"
#include "protocol/authentication.hpp"
#include "protocol/copy.hpp"
#include "protocol/error_response.hpp"
#include "protocol/frame.hpp"
#include "protocol/frontend.hpp"
#include "protocol/startup.hpp"

namespace pgswarm::test {
namespace {

using Clock = std::chrono::steady_clock;

template <typename Message>
std::string encoded(const Message& message) {
  std::string out;
  protocol::Writer writer(out);
  if (message.encode(writer) != protocol::EncodeStatus::kOk) {
    throw std::logic_error("test message does not encode");
  }
  return out;
}

}  // namespace

WireClient::WireClient(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("connect to port " + std::to_string(port) + " failed");
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

WireClient::~WireClient() {
  close();
}

void WireClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void WireClient::shutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool WireClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

WireRead WireClient::read(WireMessage& message, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto frame = protocol::splitFrame(protocol::asBytes(in_));
    if (frame.status == protocol::FrameStatus::kMalformed) return WireRead::kMalformed;
    if (frame.status == protocol::FrameStatus::kReady) {
      message.type = frame.frame.type;
      message.body = std::string(protocol::asText(frame.frame.body));
      in_.erase(0, frame.frame.length);
      return WireRead::kMessage;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return WireRead::kTimeout;
    pollfd poller{.fd = fd_, .events = POLLIN, .revents = 0};
    int ready = ::poll(&poller, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return WireRead::kTimeout;
    char buffer[65536];
    auto n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return WireRead::kClosed;
    in_.append(buffer, static_cast<std::size_t>(n));
  }
}

WireRead WireClient::readUntilReady(std::vector<WireMessage>& out, int count,
                                    std::chrono::milliseconds timeout, std::optional<char> until) {
  auto deadline = Clock::now() + timeout;
  int seen = 0;
  for (;;) {
    WireMessage message;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto outcome = read(message, std::max(left, std::chrono::milliseconds(0)));
    if (outcome != WireRead::kMessage) return outcome;
    out.push_back(message);
    if (until && message.type == *until) return WireRead::kMessage;
    if (!until && message.type == protocol::kReadyForQuery && ++seen == count) {
      return WireRead::kMessage;
    }
  }
}

std::pair<std::string, WireRead> WireClient::awaitErrorAndClose(std::chrono::milliseconds timeout,
                                                                std::chrono::milliseconds grace) {
  auto deadline = Clock::now() + timeout;
  std::string state;
  for (;;) {
    WireMessage message;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto outcome = read(message, std::max(left, std::chrono::milliseconds(0)));
    if (outcome != WireRead::kMessage) return {state, outcome};
    if (message.type == protocol::kErrorResponse && state.empty()) {
      state = sqlState(message);
      deadline = std::min(deadline, Clock::now() + grace);
    }
  }
}

std::vector<WireMessage> WireClient::login(
    const std::string& user, const std::string& password, const std::string& database,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::pair<std::string, std::string>> parameters{{"user", user},
                                                              {"database", database}};
  parameters.insert(parameters.end(), extra.begin(), extra.end());
  if (!send(wire::startup(parameters))) throw std::runtime_error("startup: connection lost");
  std::optional<auth::ScramClient> scram;
  std::vector<WireMessage> welcome;
  for (;;) {
    WireMessage message;
    if (read(message, std::chrono::seconds(10)) != WireRead::kMessage) {
      throw std::runtime_error("login: no answer");
    }
    auto body = protocol::asBytes(message.body);
    if (message.type == protocol::kErrorResponse) {
      auto error = protocol::ErrorResponse::parse(body);
      throw std::runtime_error("login refused: " +
                               (error ? std::string(error->fields.message()) : message.body));
    }
    if (!welcome.empty() || message.type != protocol::kAuthenticationRequest) {
      welcome.push_back(message);
      if (message.type == protocol::kReadyForQuery) return welcome;
      continue;
    }
    auto code = protocol::authenticationCode(body);
    if (!code) throw std::runtime_error("login: malformed authentication request");
    switch (*code) {
      case protocol::kAuthOk:
        welcome.push_back(message);
        break;
      case protocol::kAuthCleartextPassword:
        send(encoded(protocol::PasswordMessage{password}));
        break;
      case protocol::kAuthSasl: {
        auto client = auth::ScramClient::fromPassword(password);
        if (!client) throw std::runtime_error(client.error().message);
        scram.emplace(std::move(*client));
        send(encoded(protocol::SaslInitialResponse{"SCRAM-SHA-256", scram->clientFirst()}));
        break;
      }
      case protocol::kAuthSaslContinue: {
        auto request = protocol::AuthenticationSaslContinue::parse(body);
        if (!request || !scram) throw std::runtime_error("login: unexpected SASL continue");
        auto final = scram->handleServerFirst(request->data);
        if (!final) throw std::runtime_error(final.error().message);
        send(encoded(protocol::SaslResponse{*final}));
        break;
      }
      case protocol::kAuthSaslFinal: {
        auto request = protocol::AuthenticationSaslFinal::parse(body);
        if (!request || !scram || !scram->handleServerFinal(request->data)) {
          throw std::runtime_error("login: the server did not prove it knows the secret");
        }
        break;
      }
      default:
        throw std::runtime_error("login: unsupported authentication request " +
                                 std::to_string(*code));
    }
  }
}

std::string sqlState(const WireMessage& message) {
  auto fields = protocol::ErrorFields::parse(protocol::asBytes(message.body));
  return fields ? std::string(fields->sqlState()) : std::string();
}

namespace wire {

std::string startup(const std::vector<std::pair<std::string, std::string>>& parameters) {
  protocol::StartupMessage message;
  for (const auto& [name, value] : parameters) message.parameters.push_back({name, value});
  return encoded(message);
}

std::string query(std::string_view sql) {
  return encoded(protocol::Query{sql});
}

std::string parse(std::string_view name, std::string_view sql, const std::vector<int>& types) {
  protocol::Parse message{name, sql, {}};
  for (int type : types) message.parameterTypes.push_back(type);
  return encoded(message);
}

std::string bind(std::string_view portal, std::string_view statement,
                 const std::vector<std::optional<std::string>>& parameters) {
  protocol::Bind message{portal, statement, {}, {}, {}};
  for (const auto& parameter : parameters) {
    message.parameters.emplace_back(parameter ? std::optional<std::string_view>(*parameter)
                                              : std::nullopt);
  }
  return encoded(message);
}

std::string describeStatement(std::string_view name) {
  return encoded(protocol::Describe{protocol::ObjectKind::kStatement, name});
}
std::string describePortal(std::string_view name) {
  return encoded(protocol::Describe{protocol::ObjectKind::kPortal, name});
}
std::string execute(std::string_view portal, int maxRows) {
  return encoded(protocol::Execute{portal, maxRows});
}
std::string closeStatement(std::string_view name) {
  return encoded(protocol::Close{protocol::ObjectKind::kStatement, name});
}
std::string sync() {
  return encoded(protocol::Sync{});
}
std::string flush() {
  return encoded(protocol::Flush{});
}
std::string copyData(std::string_view data) {
  return encoded(protocol::CopyData{data});
}
std::string copyDone() {
  return encoded(protocol::CopyDone{});
}
std::string copyFail(std::string_view message) {
  return encoded(protocol::CopyFail{message});
}
std::string terminate() {
  return encoded(protocol::Terminate{});
}

}  // namespace wire
}  // namespace pgswarm::test
