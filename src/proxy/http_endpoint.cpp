// The pool's HTTP endpoint: see http_endpoint.hpp.
#include "proxy/http_endpoint.hpp"

#include <charconv>
#include <optional>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "proxy/dashboard.hpp"
#include "proxy/metrics.hpp"
#include "proxy/worker.hpp"

namespace pgswarm::proxy {
namespace {

using namespace std::chrono_literals;

// A scrape waits this long for the workers; a partial answer is refused
// (503) because summed counters that go down would look like a reset.
constexpr std::chrono::milliseconds kGatherTimeout = 2s;

// What every dashboard answer carries: nothing cached, nothing framed, and
// only our own files run (the page loads no other origin's code).
void setPageHeaders(httplib::Response& response) {
  response.set_header("Cache-Control", "no-store");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("X-Frame-Options", "DENY");
  response.set_header("Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
}

std::optional<std::int64_t> sinceParameter(const httplib::Request& request, bool& valid) {
  valid = true;
  if (!request.has_param("since")) return std::nullopt;
  auto text = request.get_param_value("since");
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    valid = false;
    return std::nullopt;
  }
  return value;
}

}  // namespace

HttpEndpoint::HttpEndpoint(ProxyShared& shared)
    : shared_(shared),
      server_(std::make_unique<httplib::Server>()),
      status_(std::make_unique<StatusService>(shared)) {}

HttpEndpoint::~HttpEndpoint() {
  stop();
}

Status HttpEndpoint::start(const std::string& host, int port, bool dashboardAuth) {
  // Two requests at a time are plenty for scrapes and a few dashboards, and
  // keep the pool's thread count predictable (httplib's default pool has at
  // least eight threads). A connection serves one request and closes, and
  // a silent one is dropped after 2 s: a browser polling every second over
  // keep-alive (or a preconnected socket that never speaks) would otherwise
  // hold a thread and starve the scrapes. httplib owns the queue it is given.
  server_->new_task_queue = [] {
    return new httplib::ThreadPool(2);  // NOLINT(cppcoreguidelines-owning-memory): httplib's API
  };
  server_->set_keep_alive_max_count(1);
  server_->set_read_timeout(2, 0);
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    auto snapshot = gatherSnapshotBlocking(shared_, kGatherTimeout);
    if (snapshot.workers.size() < static_cast<std::size_t>(snapshot.workersAsked)) {
      response.status = 503;
      response.set_content("some workers did not answer in time\n", "text/plain");
      return;
    }
    response.set_content(renderMetrics(snapshot, shared_.config) +
                             renderEventCounts(shared_.events->countsByKind()) +
                             renderOperationProgress(status_->agentProgress()),
                         std::string(kMetricsContentType));
  });
  server_->Get("/health", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain");
  });
  routeDashboard(dashboardAuth);
  if (!server_->bind_to_port(host, port)) {
    return makeError("cannot listen on {}:{} for /metrics and the dashboard", host, port);
  }
  status_->start();
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    finished_ = true;
  });
  return Ok{};
}

void HttpEndpoint::routeDashboard(bool requireAuth) {
  // Off this machine the dashboard shows the cluster's layout and load to
  // whoever reaches the port: then only admin_users may look.
  auto allowed = [this, requireAuth](const httplib::Request& request, httplib::Response& response) {
    if (!requireAuth || basicAuthAllows(shared_, request.get_header_value("Authorization"))) {
      return true;
    }
    response.status = 401;
    response.set_header("WWW-Authenticate", "Basic realm=\"pgswarm\", charset=\"UTF-8\"");
    response.set_content("admin credentials required\n", "text/plain");
    return false;
  };
  server_->Get(
      "/api/status", [this, allowed](const httplib::Request& request, httplib::Response& response) {
        setPageHeaders(response);
        if (!allowed(request, response)) return;
        bool valid = true;
        auto since = sinceParameter(request, valid);
        if (!valid) {
          response.status = 400;
          response.set_content("since must be milliseconds since the epoch\n", "text/plain");
          return;
        }
        response.set_content(status_->status(since).dump(), "application/json");
      });
  // The page and its files; any other path stays a 404.
  server_->Get(R"(/|/[a-z_]+\.(html|js|css|svg))",
               [allowed](const httplib::Request& request, httplib::Response& response) {
                 setPageHeaders(response);
                 if (!allowed(request, response)) return;
                 const auto* asset = findWebAsset(request.path);
                 if (asset == nullptr) {
                   response.status = 404;
                   return;
                 }
                 response.set_content(std::string(asset->body), std::string(asset->contentType));
               });
}

void HttpEndpoint::stop() {
  status_->stop();
  if (!thread_.joinable()) return;
  // httplib's stop() does nothing before the loop has started running.
  while (!server_->is_running() && !finished_) std::this_thread::sleep_for(1ms);
  server_->stop();
  thread_.join();
}

}  // namespace pgswarm::proxy
