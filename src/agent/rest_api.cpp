// REST endpoints over cpp-httplib: see rest_api.hpp.
#include "agent/rest_api.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "runtime/ports.hpp"

namespace pgswarm::agent {
namespace {

constexpr std::size_t kWorkerThreads = 2;  // health checks are tiny; httplib's default is 8+
constexpr int kIoTimeoutSeconds = 5;

// httplib's default sets SO_REUSEPORT, which would let a second agent bind the
// same API port silently; and it leaves sockets inheritable by postgres.
void socketOptions(int fd) {
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

using Answer = int (*)(const AgentSnapshot&);

void route(httplib::Server& server, const std::string& path, const AgentState& state,
           Answer answer) {
  server.Get(path, [&state, answer](const httplib::Request&, httplib::Response& response) {
    auto snapshot = state.snapshot();
    response.status = answer(snapshot);
    response.set_content(statusJson(snapshot, std::chrono::steady_clock::now()).dump() + "\n",
                         "application/json");
  });
}

int alwaysOk(const AgentSnapshot&) {
  return 200;
}

constexpr int kAccepted = 202;
constexpr int kBadRequest = 400;
constexpr int kUnavailable = 503;

// Another request claimed the operation slot since our snapshot was taken.
ApiAnswer busyAnswer() {
  return errorAnswer(409, "another operation is running");
}

void send(httplib::Response& response, const ApiAnswer& answer) {
  response.status = answer.status;
  response.set_content(answer.body.dump() + "\n", "application/json");
}

}  // namespace

RestApi::RestApi(AgentState& state, std::string apiToken)
    : state_(state), apiToken_(std::move(apiToken)), server_(std::make_unique<httplib::Server>()) {}

Result<std::unique_ptr<RestApi>> RestApi::start(const std::string& host, int port,
                                                AgentState& state, std::string apiToken) {
  std::unique_ptr<RestApi> api(new RestApi(state, std::move(apiToken)));
  auto& server = *api->server_;
  // httplib takes ownership of the queue it is given.
  server.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  server.set_socket_options(socketOptions);
  server.set_read_timeout(kIoTimeoutSeconds);
  server.set_write_timeout(kIoTimeoutSeconds);
  route(server, "/health", state, healthCode);
  route(server, "/primary", state, primaryCode);
  route(server, "/replica", state, replicaCode);
  route(server, "/status", state, alwaysOk);
  api->routeFailover();
  server.set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr) {
        spdlog::warn("REST API: {} {} failed", request.method, request.path);
        response.status = 500;
      });
  if (!server.bind_to_port(host, port)) {
    auto reason = runtime::checkPortFree(host == "0.0.0.0" ? "*" : host, port);
    return makeError("cannot listen on REST API address {}:{}: {}", host, port,
                     reason ? std::string("address not available") : reason.error().message);
  }
  api->thread_ = std::thread([&server] { server.listen_after_bind(); });
  spdlog::info("REST API listening on {}:{}", host, port);
  return api;
}

void RestApi::setActions(FailoverActions actions) {
  std::lock_guard lock(actionsMutex_);
  actions_ = std::move(actions);
}

void RestApi::routeFailover() {
  server_->Post("/promote", [this](const httplib::Request& request, httplib::Response& response) {
    send(response, promote(request));
  });
  server_->Post("/rejoin", [this](const httplib::Request& request, httplib::Response& response) {
    send(response, rejoin(request));
  });
  server_->Post("/unfence", [this](const httplib::Request& request, httplib::Response& response) {
    send(response, unfence(request));
  });
}

ApiAnswer RestApi::unfence(const httplib::Request& request) {
  if (auto refused = checkBearer(apiToken_, request.get_header_value("Authorization"))) {
    return *refused;
  }
  if (auto shortcut = unfenceShortcut(state_.snapshot())) return *shortcut;
  auto now = std::chrono::steady_clock::now();
  bool first = false;
  state_.update([&](AgentSnapshot& s) {
    first = now - s.unfenceRequestedAt > std::chrono::seconds(5);
    s.unfenceRequestedAt = now;
  });
  if (first) {
    spdlog::warn(
        "REST API: the pool vouches for this primary (POST /unfence): the fence lifts at the "
        "next check if a peer is reachable and none is a newer primary");
  }
  return unfenceAccepted();
}

ApiAnswer RestApi::promote(const httplib::Request& request) {
  if (auto refused = checkBearer(apiToken_, request.get_header_value("Authorization"))) {
    return *refused;
  }
  if (auto refused = promoteRefusal(state_.snapshot())) return *refused;
  if (!state_.beginOperation("promoting")) return busyAnswer();
  std::lock_guard lock(actionsMutex_);
  if (!actions_.promote) {
    state_.endOperation("");
    return errorAnswer(kUnavailable, "the agent is not supervising postgres yet");
  }
  return actions_.promote();
}

ApiAnswer RestApi::rejoin(const httplib::Request& request) {
  if (auto refused = checkBearer(apiToken_, request.get_header_value("Authorization"))) {
    return *refused;
  }
  auto target = parseRejoinBody(request.body);
  if (!target) return errorAnswer(kBadRequest, target.error().message);
  if (auto shortcut = rejoinShortcut(state_.snapshot(), *target)) return *shortcut;
  if (!state_.beginOperation("rejoining: queued")) return busyAnswer();
  std::lock_guard lock(actionsMutex_);
  if (!actions_.rejoin) {
    state_.endOperation("");
    return errorAnswer(kUnavailable, "the agent is not supervising postgres yet");
  }
  spdlog::info("REST API: rejoin requested towards {}:{}", target->host, target->port);
  actions_.rejoin(*target);
  return {kAccepted, {{"rejoining", true}}};
}

RestApi::~RestApi() {
  // stop() is a no-op until the listen loop has started; give it that moment.
  for (int i = 0; i < 1000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pgswarm::agent
