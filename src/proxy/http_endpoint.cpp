// The pool's HTTP endpoint: see http_endpoint.hpp.
#include "proxy/http_endpoint.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "proxy/metrics.hpp"
#include "proxy/worker.hpp"

namespace pgswarm::proxy {
namespace {

using namespace std::chrono_literals;

// A scrape waits this long for the workers; a partial answer is refused
// (503) because summed counters that go down would look like a reset.
constexpr std::chrono::milliseconds kGatherTimeout = 2s;

}  // namespace

HttpEndpoint::HttpEndpoint(ProxyShared& shared)
    : shared_(shared), server_(std::make_unique<httplib::Server>()) {}

HttpEndpoint::~HttpEndpoint() {
  stop();
}

Status HttpEndpoint::start(const std::string& host, int port) {
  // One request at a time is plenty for scrapes and keeps the pool's thread
  // count predictable (httplib's default pool has at least eight threads).
  // httplib owns and deletes the queue it is given.
  server_->new_task_queue = [] {
    return new httplib::ThreadPool(1);  // NOLINT(cppcoreguidelines-owning-memory): httplib's API
  };
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    auto snapshot = gatherSnapshotBlocking(shared_, kGatherTimeout);
    if (snapshot.workers.size() < static_cast<std::size_t>(snapshot.workersAsked)) {
      response.status = 503;
      response.set_content("some workers did not answer in time\n", "text/plain");
      return;
    }
    response.set_content(renderMetrics(snapshot, shared_.config), std::string(kMetricsContentType));
  });
  server_->Get("/health", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain");
  });
  if (!server_->bind_to_port(host, port)) {
    return makeError("cannot listen on {}:{} for /metrics", host, port);
  }
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    finished_ = true;
  });
  return Ok{};
}

void HttpEndpoint::stop() {
  if (!thread_.joinable()) return;
  // httplib's stop() does nothing before the loop has started running.
  while (!server_->is_running() && !finished_) std::this_thread::sleep_for(1ms);
  server_->stop();
  thread_.join();
}

}  // namespace pgswarm::proxy
