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

}  // namespace

RestApi::RestApi() : server_(std::make_unique<httplib::Server>()) {}

Result<std::unique_ptr<RestApi>> RestApi::start(const std::string& host, int port,
                                                const AgentState& state) {
  std::unique_ptr<RestApi> api(new RestApi());
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

RestApi::~RestApi() {
  // stop() is a no-op until the listen loop has started; give it that moment.
  for (int i = 0; i < 1000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pgswarm::agent
