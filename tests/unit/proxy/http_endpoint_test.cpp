// The HTTP endpoint's dashboard routes, served for real on a loopback port
// of this process (a pool with no workers): the page and its files, the
// JSON, 404s, a bad ?since=, no write methods, and HTTP basic auth when the
// dashboard asks for it (as the pool does on a non-loopback address).
#include "proxy/http_endpoint.hpp"

#include <httplib.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/ports.hpp"

namespace pgswarm::proxy {
namespace {

PoolConfig adminConfig() {
  PoolConfig config;
  config.servers = {{"127.0.0.1", 5432}, {"127.0.0.1", 5433}};
  config.weights = {1, 1};
  config.adminUsers = {"admin"};
  config.seedUser = "admin";
  config.seedPassword = "s3cret";
  return config;
}

class Endpoint {
 public:
  explicit Endpoint(bool dashboardAuth) : shared_(adminConfig()), http_(shared_) {
    EXPECT_TRUE(shared_.users.load(shared_.config));
    auto port = runtime::pickFreePort();
    EXPECT_TRUE(port.ok());
    port_ = *port;
    auto started = http_.start("127.0.0.1", port_, dashboardAuth);
    EXPECT_TRUE(started.ok()) << started.error().message;
  }
  httplib::Result get(const std::string& path, const httplib::Headers& headers = {}) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(5, 0);
    return client.Get(path, headers);
  }
  int port() const { return port_; }

 private:
  ProxyShared shared_;
  HttpEndpoint http_;
  int port_ = 0;
};

TEST(HttpEndpoint, ServesThePageItsFilesAndTheJsonOnLoopback) {
  Endpoint endpoint(false);
  auto page = endpoint.get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("/dashboard.js"), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  auto script = endpoint.get("/dashboard.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  auto missing = endpoint.get("/nothing.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto traversal = endpoint.get("/../etc/passwd");
  ASSERT_TRUE(traversal);
  EXPECT_EQ(traversal->status, 404);

  auto status = endpoint.get("/api/status");
  ASSERT_TRUE(status);
  ASSERT_EQ(status->status, 200);
  auto json = nlohmann::json::parse(status->body);
  EXPECT_EQ(json["nodes"].size(), 2u);
  EXPECT_EQ(json["pool"]["workers"], 0);
  auto bad = endpoint.get("/api/status?since=soon");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);

  httplib::Client client("127.0.0.1", endpoint.port());
  auto posted = client.Post("/api/status", "{}", "application/json");
  ASSERT_TRUE(posted);
  EXPECT_NE(posted->status, 200);
}

TEST(HttpEndpoint, DashboardAuthAsksForAnAdminPassword) {
  Endpoint endpoint(true);
  for (const char* path : {"/", "/api/status", "/dashboard.js"}) {
    auto anonymous = endpoint.get(path);
    ASSERT_TRUE(anonymous);
    EXPECT_EQ(anonymous->status, 401) << path;
    EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate").rfind("Basic ", 0), 0u);
    EXPECT_EQ(anonymous->body.find("nodes"), std::string::npos);

    auto wrong = endpoint.get(path, {httplib::make_basic_authentication_header("admin", "nope")});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401) << path;

    auto admin = endpoint.get(path, {httplib::make_basic_authentication_header("admin", "s3cret")});
    ASSERT_TRUE(admin);
    EXPECT_EQ(admin->status, 200) << path;
  }
  // Scrapers and load balancers are not asked.
  auto health = endpoint.get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace pgswarm::proxy
