// HealthMonitor against a real 1+1 cluster started by `pgswarm up` (roles,
// timelines, replay progress and pause, a replica stopped and started again,
// a wrong password), and against local sockets that misbehave: nothing
// listening, a listener that never answers the startup, a fake server that
// never answers the probe query. One cluster is shared by the cases.
#include "cluster/health_monitor.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "harness.hpp"
#include "runtime/ports.hpp"
#include "runtime/process.hpp"

namespace pgswarm::test {
namespace {

using namespace std::chrono_literals;
using cluster::HealthMonitor;
using cluster::HealthMonitorOptions;
using cluster::MonitoredNode;
using cluster::NodeHealth;
using cluster::NodeObservation;
using cluster::NodeRole;
using cluster::Topology;
using Clock = std::chrono::steady_clock;

constexpr auto kPeriod = 100ms;

HealthMonitorOptions optionsFor(const std::vector<int>& ports, const std::string& password) {
  HealthMonitorOptions options;
  for (int port : ports) options.nodes.push_back(MonitoredNode{.host = "127.0.0.1", .port = port});
  options.password = password;
  options.period = kPeriod;
  options.connectTimeout = 1000ms;
  options.queryTimeout = 1000ms;
  return options;
}

// Polls the published snapshot every 5 ms (waitUntil's 100 ms step is too
// coarse for the timings checked here); the last snapshot seen either way.
std::shared_ptr<const Topology> waitForTopology(
    const HealthMonitor& monitor, const std::function<bool(const Topology&)>& condition,
    std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto topology = monitor.current();
    if (condition(*topology) || Clock::now() >= deadline) return topology;
    std::this_thread::sleep_for(5ms);
  }
}

std::string describe(const NodeObservation& node) {
  return node.node.name + " " + cluster::toString(node.health) + " " +
         cluster::toString(node.role) + " tl " + std::to_string(node.timeline) + " replay " +
         (node.replayLsn ? cluster::formatLsn(*node.replayLsn) : "-") + " lag " +
         (node.lagBytes ? std::to_string(*node.lagBytes) : "-") + " error '" + node.lastError + "'";
}

std::string describe(const Topology& topology) {
  std::string text = "v" + std::to_string(topology.version);
  for (const auto& node : topology.nodes) text += "\n  " + describe(node);
  return text;
}

bool bothUp(const Topology& topology) {
  return topology.nodes.size() == 2 && topology.nodes[0].health == NodeHealth::kUp &&
         topology.nodes[1].health == NodeHealth::kUp;
}

std::chrono::milliseconds timeToStop(HealthMonitor& monitor) {
  auto begin = Clock::now();
  monitor.stop();
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - begin);
}

// A listening socket on 127.0.0.1 that accepts nobody: the kernel completes
// the TCP handshake, then libpq's startup waits for an answer forever.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Just enough of a PostgreSQL server to let libpq in (no SSL, trust auth,
// ReadyForQuery) and then never answer a query; counts startups and the
// cancel requests that arrive.
class StallingServer {
 public:
  StallingServer() : acceptor_([this] { acceptLoop(); }) {}
  ~StallingServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& session : sessions_) session.join();
  }
  StallingServer(const StallingServer&) = delete;
  StallingServer& operator=(const StallingServer&) = delete;
  [[nodiscard]] int port() const { return listener_.port(); }
  [[nodiscard]] int startups() const { return startups_.load(); }
  [[nodiscard]] int cancels() const { return cancels_.load(); }

 private:
  static constexpr std::uint32_t kSslRequest = 80877103;
  static constexpr std::uint32_t kGssEncRequest = 80877104;
  static constexpr std::uint32_t kCancelRequest = 80877102;

  void acceptLoop() {
    while (!stop_) {
      pollfd ready{.fd = listener_.fd(), .events = POLLIN, .revents = 0};
      if (::poll(&ready, 1, 20) <= 0) continue;
      int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      timeval tick{.tv_sec = 0, .tv_usec = 20000};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick));
      sessions_.emplace_back([this, fd] {
        session(fd);
        ::close(fd);
      });
    }
  }

  bool readExactly(int fd, void* buffer, std::size_t size) {
    auto* bytes = static_cast<char*>(buffer);
    while (size > 0) {
      if (stop_) return false;
      auto got = ::recv(fd, bytes, size, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0) return false;
      bytes += got;
      size -= static_cast<std::size_t>(got);
    }
    return true;
  }

  static void put32(std::string& out, std::uint32_t value) {
    value = htonl(value);
    out.append(reinterpret_cast<const char*>(&value), 4);
  }

  void session(int fd) {
    for (;;) {
      std::uint32_t length = 0;
      if (!readExactly(fd, &length, 4)) return;
      length = ntohl(length);
      if (length < 8 || length > 10000) return;
      std::string body(length - 4, '\0');
      if (!readExactly(fd, body.data(), body.size())) return;
      std::uint32_t code = 0;
      std::memcpy(&code, body.data(), 4);
      code = ntohl(code);
      if (code == kCancelRequest) {
        ++cancels_;
        return;
      }
      if (code == kSslRequest || code == kGssEncRequest) {
        if (::send(fd, "N", 1, MSG_NOSIGNAL) != 1) return;
        continue;
      }
      break;  // a StartupMessage
    }
    std::string reply = "R";
    put32(reply, 8);
    put32(reply, 0);  // AuthenticationOk
    reply += 'K';
    put32(reply, 12);
    put32(reply, 4242);  // backend PID
    put32(reply, 1717);  // cancel key
    reply += 'Z';
    put32(reply, 5);
    reply += 'I';
    if (::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(reply.size()))
      return;
    ++startups_;
    char sink[512];
    while (!stop_) {  // swallow the query, never answer
      auto got = ::recv(fd, sink, sizeof(sink), 0);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return;
    }
  }

  SilentListener listener_;
  std::atomic<bool> stop_{false};
  std::atomic<int> startups_{0};
  std::atomic<int> cancels_{0};
  std::vector<std::thread> sessions_;  // touched by the acceptor, then the destructor
  std::thread acceptor_;               // last: starts once the members above exist
};

// ---- Without a cluster -------------------------------------------------------

TEST(HealthMonitorSockets, NothingListeningIsDownAtOnce) {
  auto port = runtime::pickFreePort();
  ASSERT_TRUE(port.ok());
  HealthMonitor monitor(optionsFor({*port}, "secret"));
  EXPECT_EQ(monitor.current()->nodes[0].health, NodeHealth::kUnknown);
  EXPECT_EQ(monitor.version(), 0u);
  auto begin = Clock::now();
  monitor.start();
  auto topology = waitForTopology(
      monitor, [](const Topology& t) { return t.nodes[0].health == NodeHealth::kDown; }, 2s);
  auto elapsed = Clock::now() - begin;
  const auto& node = topology->nodes[0];
  ASSERT_EQ(node.health, NodeHealth::kDown) << describe(*topology);
  EXPECT_LT(elapsed, 500ms);
  EXPECT_NE(node.lastError.find("127.0.0.1:" + std::to_string(*port)), std::string::npos)
      << node.lastError;
  EXPECT_NE(node.lastError.find("connect failed"), std::string::npos) << node.lastError;
  EXPECT_NE(node.lastError.find("Connection refused"), std::string::npos) << node.lastError;
  EXPECT_EQ(node.role, NodeRole::kUnknown);
  EXPECT_GE(node.failures, 1u);
  EXPECT_EQ(node.failures, node.probes);
  EXPECT_EQ(monitor.version(), topology->version);
  EXPECT_LT(timeToStop(monitor), 1s);
  EXPECT_NE(node.lastError.find("refused; Is the server"), std::string::npos)
      << "libpq's lines joined into one: " << node.lastError;

  // start() after stop() resumes with the same counters and growing versions.
  auto stoppedAt = monitor.current();
  monitor.start();
  auto resumed = waitForTopology(
      monitor, [&](const Topology& t) { return t.nodes[0].probes > stoppedAt->nodes[0].probes; },
      2s);
  EXPECT_GT(resumed->version, stoppedAt->version);
  EXPECT_EQ(resumed->nodes[0].healthSince, stoppedAt->nodes[0].healthSince);
  EXPECT_LT(timeToStop(monitor), 1s);
}

TEST(HealthMonitorSockets, UnansweredStartupTimesOutAndStopDoesNotWait) {
  SilentListener listener;
  auto options = optionsFor({listener.port()}, "secret");
  options.connectTimeout = 300ms;
  HealthMonitor monitor(options);
  auto begin = Clock::now();
  monitor.start();
  auto topology = waitForTopology(
      monitor, [](const Topology& t) { return t.nodes[0].health == NodeHealth::kDown; }, 3s);
  auto elapsed = Clock::now() - begin;
  ASSERT_EQ(topology->nodes[0].health, NodeHealth::kDown) << describe(*topology);
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 800ms);
  EXPECT_NE(topology->nodes[0].lastError.find("connect timed out after 300 ms"), std::string::npos)
      << topology->nodes[0].lastError;
  EXPECT_LT(timeToStop(monitor), 1s);

  // Long timeouts: stop() wakes a thread in the middle of its connect.
  options.connectTimeout = 20s;
  options.queryTimeout = 20s;
  HealthMonitor slow(options);
  slow.start();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(slow.current()->nodes[0].health, NodeHealth::kUnknown);
  EXPECT_LT(timeToStop(slow), 1s);
  EXPECT_EQ(slow.current()->nodes[0].health, NodeHealth::kUnknown)
      << "an abandoned probe must not be published";
}

TEST(HealthMonitorSockets, UnansweredQueryTimesOutIsCancelledAndStopDoesNotWait) {
  StallingServer server;
  auto options = optionsFor({server.port()}, "");
  options.queryTimeout = 300ms;
  HealthMonitor monitor(options);
  monitor.start();
  auto topology = waitForTopology(
      monitor, [](const Topology& t) { return t.nodes[0].health == NodeHealth::kDown; }, 3s);
  const auto& node = topology->nodes[0];
  ASSERT_EQ(node.health, NodeHealth::kDown) << describe(*topology);
  EXPECT_NE(node.lastError.find("probe query timed out after 300 ms"), std::string::npos)
      << node.lastError;
  EXPECT_GE(server.startups(), 1);
  EXPECT_TRUE(waitUntil([&] { return server.cancels() >= 1; }, 3s))
      << "no cancel request reached the server";
  EXPECT_LT(timeToStop(monitor), 1s);

  options.queryTimeout = 20s;
  HealthMonitor slow(options);
  int before = server.startups();
  slow.start();
  ASSERT_TRUE(waitUntil([&] { return server.startups() > before; }, 3s));
  std::this_thread::sleep_for(100ms);  // now inside the query wait
  EXPECT_LT(timeToStop(slow), 1s);
}

// ---- Against a real cluster --------------------------------------------------

class HealthMonitorCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster(1);  // NOLINT: lives for the suite, freed in TearDownTestSuite
    auto result = cluster_->up();
    ASSERT_EQ(result.exitCode, 0) << result.output;
    up_ = true;
  }
  static void TearDownTestSuite() {
    delete cluster_;  // NOLINT
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (cluster_ == nullptr || !up_) GTEST_SKIP() << "cluster did not come up";
  }

  static HealthMonitorOptions clusterOptions() {
    return optionsFor({cluster_->nodePort(0), cluster_->nodePort(1)}, cluster_->password());
  }

  static cluster::Lsn primaryLsn() {
    auto rows = cluster_->connect(0).query("SELECT pg_current_wal_lsn()::text AS lsn");
    if (!rows) throw std::runtime_error(rows.error().message);
    return cluster::parseLsn(rows->text(0, "lsn")).value();
  }

  static inline LocalCluster* cluster_ = nullptr;
  static inline bool up_ = false;
};

TEST_F(HealthMonitorCluster, SeesPrimaryAndReplicaAndReplayProgress) {
  HealthMonitor monitor(clusterOptions());
  std::atomic<int> calls{0};
  std::atomic<std::uint64_t> lastVersion{0};
  std::atomic<bool> ordered{true};
  monitor.setListener([&](const Topology& topology) {
    if (topology.version <= lastVersion.load()) ordered = false;
    lastVersion = topology.version;
    ++calls;
  });
  monitor.start();
  auto topology = waitForTopology(monitor, bothUp, 5s);
  ASSERT_TRUE(bothUp(*topology)) << describe(*topology);
  const auto& primary = topology->nodes[0];
  const auto& replica = topology->nodes[1];
  EXPECT_EQ(primary.node.name, "127.0.0.1:" + std::to_string(cluster_->nodePort(0)));
  EXPECT_EQ(primary.role, NodeRole::kPrimary);
  EXPECT_EQ(replica.role, NodeRole::kReplica);
  EXPECT_GT(primary.timeline, 0);
  EXPECT_EQ(replica.timeline, primary.timeline);
  EXPECT_EQ(topology->primaryIndex(), 0);
  EXPECT_TRUE(primary.currentLsn.has_value());
  EXPECT_FALSE(primary.replayLsn.has_value());
  EXPECT_FALSE(primary.lagBytes.has_value());
  EXPECT_TRUE(replica.receiveLsn.has_value());
  ASSERT_TRUE(replica.replayLsn.has_value());
  EXPECT_FALSE(replica.replayPaused);
  EXPECT_TRUE(replica.replayDelaySeconds.has_value());
  EXPECT_TRUE(replica.lastError.empty()) << replica.lastError;
  EXPECT_LE(replica.healthSince, Clock::now());
  EXPECT_GT(calls.load(), 0);

  auto before = *replica.replayLsn;
  auto primaryConn = cluster_->connect(0);
  ASSERT_TRUE(primaryConn.execute("CREATE TABLE hm_rows (id int)").ok());
  ASSERT_TRUE(primaryConn.execute("INSERT INTO hm_rows SELECT generate_series(1, 1000)").ok());
  auto written = primaryLsn();
  ASSERT_GT(written, before);
  topology = waitForTopology(
      monitor,
      [&](const Topology& t) {
        const auto& r = t.nodes[1];
        return r.health == NodeHealth::kUp && r.replayLsn >= written && r.lagBytes == 0u &&
               r.replayDelaySeconds == 0.0;
      },
      5s);
  EXPECT_GE(topology->nodes[1].replayLsn, written) << describe(*topology);
  EXPECT_EQ(topology->nodes[1].lagBytes, 0u) << describe(*topology);
  EXPECT_EQ(topology->nodes[1].replayDelaySeconds, 0.0) << describe(*topology);
  // It keeps probing (the replay can be seen by the second probe already).
  topology = waitForTopology(
      monitor, [](const Topology& t) { return t.nodes[1].probes > 2; }, 2s);
  EXPECT_GT(topology->nodes[1].probes, 2u);
  EXPECT_EQ(topology->nodes[1].failures, 0u);
  EXPECT_EQ(monitor.version(), monitor.current()->version);
  EXPECT_LT(timeToStop(monitor), 1s);
  EXPECT_TRUE(ordered.load()) << "listener saw versions out of order";
}

TEST_F(HealthMonitorCluster, ReplayPauseAndLagAreReported) {
  HealthMonitor monitor(clusterOptions());
  monitor.start();
  ASSERT_TRUE(bothUp(*waitForTopology(monitor, bothUp, 5s)));
  // A replayed commit first, so the replay delay has a time stamp to start from.
  auto primaryConn = cluster_->connect(0);
  ASSERT_TRUE(primaryConn.execute("CREATE TABLE hm_before_pause (id int)").ok());
  auto written = primaryLsn();
  auto caughtUp = waitForTopology(
      monitor, [&](const Topology& t) { return t.nodes[1].replayLsn >= written; }, 5s);
  ASSERT_GE(caughtUp->nodes[1].replayLsn, written) << describe(*caughtUp);

  auto replicaConn = cluster_->connect(1);
  ASSERT_TRUE(replicaConn.execute("SELECT pg_wal_replay_pause()").ok());
  struct Resume {  // whatever fails below, later cases need a replaying replica
    cluster::PgConnection& conn;
    ~Resume() { (void)conn.execute("SELECT pg_wal_replay_resume()"); }
  } resume{replicaConn};

  auto topology = waitForTopology(
      monitor, [](const Topology& t) { return t.nodes[1].replayPaused; }, 2s);
  EXPECT_TRUE(topology->nodes[1].replayPaused) << describe(*topology);
  ASSERT_TRUE(primaryConn.execute("CREATE TABLE hm_paused (id int)").ok());
  ASSERT_TRUE(primaryConn.execute("INSERT INTO hm_paused VALUES (1)").ok());
  topology = waitForTopology(
      monitor,
      [](const Topology& t) {
        return t.nodes[1].lagBytes > 0u && t.nodes[1].replayDelaySeconds > 0.0;
      },
      3s);
  EXPECT_GT(topology->nodes[1].lagBytes, 0u) << describe(*topology);
  EXPECT_GT(topology->nodes[1].replayDelaySeconds, 0.0) << describe(*topology);

  ASSERT_TRUE(replicaConn.execute("SELECT pg_wal_replay_resume()").ok());
  topology = waitForTopology(
      monitor,
      [](const Topology& t) { return !t.nodes[1].replayPaused && t.nodes[1].lagBytes == 0u; }, 3s);
  EXPECT_FALSE(topology->nodes[1].replayPaused) << describe(*topology);
  EXPECT_EQ(topology->nodes[1].lagBytes, 0u) << describe(*topology);
}

// The node answered: a refused login is the pool's configuration, not a
// node down, so nothing fails over or closes connections on it.
TEST_F(HealthMonitorCluster, WrongPasswordLeavesHealthUnknownWithTheServersMessage) {
  const std::string wrong = "not-the-password-7391";
  HealthMonitor monitor(optionsFor({cluster_->nodePort(0)}, wrong));
  monitor.start();
  auto topology = waitForTopology(
      monitor, [](const Topology& t) { return t.nodes[0].failures >= 2; }, 5s);
  const auto& node = topology->nodes[0];
  ASSERT_GE(node.failures, 2u) << describe(*topology);
  EXPECT_EQ(node.health, NodeHealth::kUnknown) << describe(*topology);
  EXPECT_NE(node.lastError.find("28P01"), std::string::npos) << node.lastError;
  EXPECT_NE(node.lastError.find("password authentication failed for user \"postgres\""),
            std::string::npos)
      << node.lastError;
  EXPECT_EQ(node.lastError.find("LOCATION"), std::string::npos) << node.lastError;
  EXPECT_EQ(node.lastError.find(wrong), std::string::npos) << node.lastError;
  EXPECT_EQ(node.lastError.find(cluster_->password()), std::string::npos) << node.lastError;
}

TEST_F(HealthMonitorCluster, MissingDatabaseLeavesHealthUnknown) {
  auto options = optionsFor({cluster_->nodePort(0)}, cluster_->password());
  options.dbname = "no_such_database_hm";
  HealthMonitor monitor(options);
  monitor.start();
  auto topology = waitForTopology(
      monitor, [](const Topology& t) { return t.nodes[0].failures >= 1; }, 5s);
  EXPECT_EQ(topology->nodes[0].health, NodeHealth::kUnknown) << describe(*topology);
  EXPECT_NE(topology->nodes[0].lastError.find("3D000"), std::string::npos)
      << topology->nodes[0].lastError;
}

TEST_F(HealthMonitorCluster, WithoutAPasswordLibpqUsesThePassfile) {
  ASSERT_EQ(::setenv("PGPASSFILE", (cluster_->dir() + "/pgpass").c_str(), 1), 0);
  HealthMonitor monitor(optionsFor({cluster_->nodePort(0)}, ""));
  monitor.start();
  auto topology = waitForTopology(
      monitor, [](const Topology& t) { return t.nodes[0].health != NodeHealth::kUnknown; }, 3s);
  monitor.stop();  // before the variable goes: libpq reads it on every connect
  ::unsetenv("PGPASSFILE");
  EXPECT_EQ(topology->nodes[0].health, NodeHealth::kUp) << describe(*topology);
}

// Last: it stops and restarts the replica.
TEST_F(HealthMonitorCluster, StoppedReplicaIsDownWithinTwoPeriodsAndComesBack) {
  HealthMonitor monitor(clusterOptions());
  monitor.start();
  ASSERT_TRUE(bothUp(*waitForTopology(monitor, bothUp, 5s)));

  // The replica's agent, by the PID it wrote, and only if it is ours; it
  // stops its postgres (fast shutdown) before it exits.
  std::ifstream pidFile(cluster_->dir() + "/node1/agent.pid");
  pid_t agent = 0;
  ASSERT_TRUE(pidFile >> agent) << "no agent.pid for node1";
  ASSERT_NE(runtime::processCommandLine(agent).find(cluster_->dir()), std::string::npos)
      << "pid " << agent << " is not node1's agent: " << runtime::processCommandLine(agent);
  ASSERT_TRUE(runtime::stopProcess(agent, 30s));
  auto topology = waitForTopology(
      monitor, [](const Topology& t) { return t.nodes[1].health == NodeHealth::kDown; },
      2 * kPeriod + 200ms);
  ASSERT_EQ(topology->nodes[1].health, NodeHealth::kDown) << describe(*topology);
  EXPECT_FALSE(topology->nodes[1].lastError.empty());
  EXPECT_FALSE(topology->nodes[1].lagBytes.has_value());
  EXPECT_EQ(topology->nodes[1].role, NodeRole::kReplica) << "as of the last good probe";
  EXPECT_EQ(topology->nodes[0].health, NodeHealth::kUp);
  EXPECT_EQ(topology->primaryIndex(), 0);

  auto restarted = cluster_->up();  // restarts what is stopped, waits for streaming
  ASSERT_EQ(restarted.exitCode, 0) << restarted.output;
  topology = waitForTopology(monitor, bothUp, 2s);
  ASSERT_TRUE(bothUp(*topology)) << describe(*topology);
  EXPECT_EQ(topology->nodes[1].role, NodeRole::kReplica);
  EXPECT_TRUE(topology->nodes[1].lastError.empty());
  EXPECT_GE(topology->nodes[1].failures, 1u);
  EXPECT_LT(timeToStop(monitor), 1s);
}

}  // namespace
}  // namespace pgswarm::test
