// The pool's HTTP port: GET /metrics (Prometheus), GET /health, and the
// read-only dashboard (GET / and its files, GET /api/status), served by
// cpp-httplib on one thread of its own. It reads the workers only through
// snapshots posted to their loops, never their state directly, and never
// touches a client or server connection. Bound elsewhere than loopback, the
// dashboard asks for an admin user's password (HTTP basic auth).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "proxy/shared_state.hpp"

namespace httplib {
class Server;
}

namespace pgswarm::proxy {

class StatusService;

class HttpEndpoint {
 public:
  explicit HttpEndpoint(ProxyShared& shared);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds host:port now (so a taken port is reported here), then serves on
  // a thread until stop(). `dashboardAuth`: the page and /api/status need an
  // admin_users password (the pool sets it for a non-loopback host).
  [[nodiscard]] Status start(const std::string& host, int port, bool dashboardAuth);
  // Stops serving and joins the thread; waits for a request in progress.
  void stop();

 private:
  void routeDashboard(bool requireAuth);

  ProxyShared& shared_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<StatusService> status_;  // the dashboard's sampler, started with the server
  std::atomic<bool> finished_{false};      // the serving loop has returned
  std::thread thread_;
};

}  // namespace pgswarm::proxy
