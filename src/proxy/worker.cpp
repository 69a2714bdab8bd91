// A pool worker: see worker.hpp.
#include "proxy/worker.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <future>

#include <spdlog/spdlog.h>

#include "proxy/session.hpp"

namespace pgswarm::proxy {

namespace {

// The first configured node stands for the primary until checks tell (or
// for good, with checks off).
std::shared_ptr<const cluster::Topology> uncheckedTopology(
    const std::vector<pool::ServerAddress>& servers) {
  auto fixed = std::make_shared<cluster::Topology>();
  for (const auto& server : servers) {
    fixed->nodes.push_back({.node = {.name = server.host + ":" + std::to_string(server.port),
                                     .host = server.host,
                                     .port = server.port}});
  }
  return fixed;
}

}  // namespace

Worker::Worker(ProxyShared& shared, int index)
    : shared_(shared),
      index_(index),
      parkingLot_(io_, &Session::wakeParked),
      routedNow_(shared.nodeCount(), 0),
      routedTotal_(shared.nodeCount(), 0),
      queriesTotal_(shared.nodeCount(), 0),
      suspectUntil_(shared.nodeCount()) {
  topology_ =
      shared_.monitor ? shared_.monitor->current() : uncheckedTopology(shared_.config.servers);
  for (const auto& group : shared_.shardGroups) {
    groupTopologies_.push_back(group.monitor ? group.monitor->current()
                                             : uncheckedTopology(group.servers));
  }
  if (shared_.shardMap) shardMap_ = shared_.shardMap->current();
}

void Worker::suspectNode(int node) {
  auto period = std::max(shared_.config.healthCheckPeriod, std::chrono::milliseconds(500));
  auto index = static_cast<std::size_t>(node);
  suspectUntil_[index] = std::chrono::steady_clock::now() + 2 * period;
  if (index < 64) suspected_ |= std::uint64_t{1} << index;
  for (auto& [key, pool] : pools_) {
    if (std::get<2>(key) == node) pool->closeIdle();
  }
}

std::uint64_t Worker::suspectedNodes() {
  if (suspected_ == 0) return 0;
  auto now = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < suspectUntil_.size() && i < 64; ++i) {
    if (suspectUntil_[i] <= now) suspected_ &= ~(std::uint64_t{1} << i);
  }
  return suspected_;
}

const cluster::Topology& Worker::topology() {
  if (shared_.monitor && shared_.monitor->version() != topology_->version) {
    topology_ = shared_.monitor->current();
  }
  return *topology_;
}

int Worker::primaryNode() {
  const auto& current = topology();
  if (primaryVersion_ != current.version) {
    primary_ = proxy::primaryNode(current);
    primaryVersion_ = current.version;
  }
  return primary_;
}

const cluster::Topology& Worker::groupTopology(std::size_t group) {
  const auto& monitor = shared_.shardGroups[group].monitor;
  auto& cached = groupTopologies_[group];
  if (monitor && monitor->version() != cached->version) cached = monitor->current();
  return *cached;
}

const shard::ShardMap* Worker::shardMap() {
  if (!shared_.shardMap) return nullptr;
  if (shared_.shardMap->version() != shardMap_->version) shardMap_ = shared_.shardMap->current();
  return shardMap_.get();
}

Worker::~Worker() {
  requestStop();
  join();
  // Pools close their idle connections while io_ still exists.
  pools_.clear();
  authQueryPool_.reset();
}

Status Worker::listen(const asio::ip::tcp::endpoint& endpoint) {
  // No SO_REUSEPORT: it would let a second pool process on the same port
  // silently take half the clients. Workers share this one socket instead.
  std::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return makeError("cannot listen on {}:{}: {}", endpoint.address().to_string(), endpoint.port(),
                     ec.message());
  }
  return Ok{};
}

Status Worker::shareListener(const Worker& first) {
  // A duplicate of the first worker's listening socket: the kernel hands
  // each new connection to one of the workers waiting in accept.
  int fd = ::dup(const_cast<Worker&>(first).acceptor_.native_handle());
  if (fd < 0) return makeError("cannot share the listening socket: {}", std::strerror(errno));
  std::error_code ec;
  acceptor_.assign(first.acceptor_.local_endpoint(ec).protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return makeError("cannot share the listening socket: {}", ec.message());
  }
  return Ok{};
}

void Worker::start() {
  asio::co_spawn(io_, acceptLoop(), asio::detached);
  asio::co_spawn(io_, maintenanceLoop(), asio::detached);
  mailbox_.open();
  thread_ = std::thread([this] {
    runtime::Mailbox::bindToThisThread(&mailbox_);
    io_.run();
  });
}

void Worker::requestStop() {
  mailbox_.post([this] { stopInLoop(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::addSession(Session* session) {
  session->workerSlot_ = static_cast<std::uint32_t>(sessions_.size());
  sessions_.push_back(session);
}

void Worker::removeSession(Session* session) {
  auto slot = session->workerSlot_;
  sessions_[slot] = sessions_.back();
  sessions_[slot]->workerSlot_ = slot;
  sessions_.pop_back();
}

void Worker::stopInLoop() {
  if (stopping_) return;
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  maintenance_.cancel();
  mailbox_.close();
  for (auto& [key, pool] : pools_) pool->shutdown();
  if (authQueryPool_) authQueryPool_->shutdown();
  // Copy: aborting a session may end it and take it out of the list.
  auto sessions = sessions_;
  for (Session* session : sessions) session->abort();
}

pool::ServerPool& Worker::poolFor(const std::string& user, const std::string& database, int node) {
  auto key = std::make_tuple(user, database, node);
  auto it = pools_.find(key);
  if (it != pools_.end()) return *it->second;
  const auto& config = shared_.config;
  pool::PoolLimits limits{
      .reserveTimeout = config.reservePoolTimeout,
      .connectTimeout = config.serverConnectTimeout,
      .idleTimeout = config.serverIdleTimeout,
      .lifetime = config.serverLifetime,
      .tls = shared_.serverTls,
  };
  // The one lock of this path, once per (user, database) and worker.
  auto& slots = shared_.slots.slotsFor(user, database, node);
  auto made = std::make_unique<pool::ServerPool>(io_.get_executor(), user, database,
                                                 shared_.nodeAddress(node), limits, slots, index_);
  // A pool made during PAUSE starts paused; RESUME reaches it through applyPause.
  made->setPaused(shared_.paused.load());
  return *pools_.emplace(key, std::move(made)).first->second;
}

pool::ServerPool& Worker::authQueryPool() {
  if (!authQueryPool_) {
    const auto& config = shared_.config;
    // Two per worker, this worker's alone: lookups are short, and the cache
    // absorbs repeats.
    pool::PoolLimits limits{.connectTimeout = config.serverConnectTimeout,
                            .idleTimeout = config.serverIdleTimeout,
                            .lifetime = config.serverLifetime,
                            .tls = shared_.serverTls};
    authQuerySlots_ = std::make_unique<pool::PoolSlots>(2, 0, 1);
    authQueryPool_ =
        std::make_unique<pool::ServerPool>(io_.get_executor(), config.authUser, config.authDbname,
                                           config.servers.front(), limits, *authQuerySlots_, 0);
  }
  return *authQueryPool_;
}

void Worker::postSnapshot(std::function<void(WorkerSnapshot)> done) {
  mailbox_.post([this, done = std::move(done)] { done(snapshotInLoop()); });
}

void Worker::postApplyPause(std::function<void(bool)> done) {
  mailbox_.post([this, done = std::move(done)] {
    bool paused = shared_.paused.load();
    for (auto& [key, pool] : pools_) pool->setPaused(paused);
    done(paused);
  });
}

namespace {

using Clock = std::chrono::steady_clock;

// Steady-clock instants as wall-clock times, for display.
struct WallClockOf {
  Clock::time_point steadyNow = Clock::now();
  WallClock::time_point wallNow = WallClock::now();
  WallClock::time_point operator()(Clock::time_point t) const {
    return wallNow - std::chrono::duration_cast<WallClock::duration>(steadyNow - t);
  }
};

std::pair<std::string, int> splitPeer(const std::string& peer) {
  auto colon = peer.rfind(':');
  if (colon == std::string::npos) return {peer, 0};
  return {peer.substr(0, colon), std::atoi(peer.c_str() + colon + 1)};
}

std::pair<std::string, int> localEndpoint(const pool::ServerConnection& conn) {
  std::error_code ec;
  auto endpoint = conn.socket().local_endpoint(ec);
  if (ec) return {"", 0};
  // The generic endpoint's bytes are a sockaddr of its family.
  if (endpoint.protocol().family() == AF_INET || endpoint.protocol().family() == AF_INET6) {
    asio::ip::tcp::endpoint tcp;
    std::memcpy(tcp.data(), endpoint.data(), endpoint.size());
    tcp.resize(endpoint.size());
    return {tcp.address().to_string(), tcp.port()};
  }
  return {"unix", 0};
}

ServerSnapshot serverSnapshot(const pool::ServerConnection& conn, const pool::ServerPool& pool,
                              const WallClockOf& wall, int worker) {
  ServerSnapshot server{.user = pool.user(),
                        .database = pool.database(),
                        .state = "idle",
                        .addr = conn.address().host,
                        .port = conn.address().port,
                        .connectTime = wall(conn.createdAt()),
                        .requestTime = wall(conn.lastUsed),
                        .backendPid = conn.backendPid(),
                        .id = conn.id,
                        .worker = worker,
                        .tls = conn.tlsDescription()};
  std::tie(server.localAddr, server.localPort) = localEndpoint(conn);
  return server;
}

}  // namespace

WorkerSnapshot Worker::snapshotInLoop() const {
  WallClockOf wall;
  WorkerSnapshot snapshot{.index = index_,
                          .queries = stats_.queries(),
                          .transactions = stats_.transactions(),
                          .routedTotal = routedTotal_,
                          .routedNow = routedNow_,
                          .queriesTotal = queriesTotal_};
  for (const auto& [key, pool] : pools_) {
    auto oldest = pool->oldestWaitSince();
    snapshot.pools.push_back(PoolSnapshot{
        .user = pool->user(),
        .database = pool->database(),
        .active = pool->activeCount(),
        .idle = static_cast<int>(pool->idleCount()),
        .connecting = pool->connectingCount(),
        .waiting = static_cast<int>(pool->waitingCount()),
        .maxServers = pool->poolLimit(),
        .maxWait =
            oldest ? std::chrono::duration_cast<std::chrono::microseconds>(wall.steadyNow - *oldest)
                   : std::chrono::microseconds(0),
        .paused = pool->paused(),
        .counters = pool->counters()});
    for (const auto* conn : pool->idleConnections()) {
      snapshot.servers.push_back(serverSnapshot(*conn, *pool, wall, index_));
    }
  }
  for (const Session* session : sessions_) {
    auto [addr, port] = splitPeer(session->peer());
    ClientSnapshot client{.user = session->user(),
                          .database = session->database(),
                          .state = toString(session->state()),
                          .addr = addr,
                          .port = port,
                          .connectTime = wall(session->connectedAt()),
                          .worker = index_,
                          .pinned = session->pinReason(),
                          .tls = session->tls(),
                          .parked = session->parked()};
    if (const auto* conn = session->server()) {
      auto [localAddr, localPort] = localEndpoint(*conn);
      client.link = localAddr + ":" + std::to_string(localPort);
      if (const auto* pool = session->serverPool()) {
        auto server = serverSnapshot(*conn, *pool, wall, index_);
        server.state = "active";
        server.link = session->peer();
        snapshot.servers.push_back(std::move(server));
      }
    }
    snapshot.clients.push_back(std::move(client));
  }
  return snapshot;
}

asio::awaitable<void> Worker::acceptLoop() {
  for (;;) {
    std::error_code ec;
    auto socket =
        co_await acceptor_.async_accept(io_, asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    auto session = std::make_shared<Session>(*this, std::move(socket));
    // The completion handler owns the session until its coroutine ends.
    asio::co_spawn(io_, session->run(), [session](const std::exception_ptr&) {});
  }
}

// Idle timeouts first: a client they end is not parked.
void Worker::tendIdleClients() {
  const auto& config = shared_.config;
  bool timeouts = config.clientIdleTimeout.count() > 0 || config.idleTransactionTimeout.count() > 0;
  auto now = std::chrono::steady_clock::now();
  auto sessions = sessions_;  // a session may end while we look
  for (Session* session : sessions) {
    if (timeouts) session->enforceIdleTimeouts(now);
    session->parkIfIdle(now);
  }
}

asio::awaitable<void> Worker::maintenanceLoop() {
  while (!stopping_) {
    // Every second: min_pool_size refills soon after a server connection dies.
    maintenance_.expires_after(std::chrono::seconds(1));
    std::error_code ec;
    co_await maintenance_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    for (auto& [key, pool] : pools_) pool->maintain();
    if (authQueryPool_) authQueryPool_->maintain();
    tendIdleClients();
    dropServersOfLostNodes();
  }
}

// A statement running on a node that stopped answering would wait for TCP
// to give up (minutes on a cut link). Once the node is fenced, or has been
// down for failover_timeout (a node that shuts down cleanly ends its own
// sessions sooner), the server connections sessions hold there are closed:
// a read not yet answered goes elsewhere, an autocommit write gets 08006
// and its client keeps its connection.
void Worker::dropServersOfLostNodes() {
  if (!shared_.monitor) return;
  const auto& nodes = topology().nodes;
  auto now = std::chrono::steady_clock::now();
  std::uint64_t lost = 0;
  for (std::size_t i = 0; i < nodes.size() && i < 64; ++i) {
    bool down = nodes[i].health == cluster::NodeHealth::kDown &&
                now - nodes[i].healthSince >= shared_.config.failoverTimeout;
    if (nodes[i].fenced || down) lost |= std::uint64_t{1} << i;
  }
  if (lost == 0) return;
  auto sessions = sessions_;  // a session may end while we look
  for (Session* session : sessions) session->dropServerOn(lost);
}

namespace {

// Answers from every worker, collected on the caller's thread. Only that
// thread touches it (workers post their answer back), and the deadline
// timer ends the wait even if a stopped worker never answers.
template <typename T>
struct Gathering {
  explicit Gathering(const asio::any_io_executor& executor, std::size_t workers)
      : answers(workers), pending(workers), timer(executor) {}
  std::vector<std::optional<T>> answers;
  std::size_t pending;
  asio::steady_timer timer;
};

template <typename T, typename Ask>
asio::awaitable<std::vector<std::optional<T>>> askWorkers(ProxyShared& shared,
                                                          std::chrono::milliseconds timeout,
                                                          Ask ask) {
  auto executor = co_await asio::this_coro::executor;
  auto* mailbox = runtime::Mailbox::current();  // a worker's admin console asks from its loop
  auto gathering = std::make_shared<Gathering<T>>(executor, shared.workers.size());
  if (shared.workers.empty()) co_return gathering->answers;
  gathering->timer.expires_after(timeout);
  for (std::size_t i = 0; i < shared.workers.size(); ++i) {
    // Workers hold only a weak reference: the caller's coroutine owns the
    // gathering (and its timer, bound to the caller's loop), so it is always
    // destroyed there, even when a late answer arrives after the deadline.
    std::weak_ptr<Gathering<T>> weak = gathering;
    ask(*shared.workers[i], [mailbox, executor, weak, i](T answer) {
      // std::function needs a copyable task: the answer is shared.
      auto held = std::make_shared<T>(std::move(answer));
      runtime::postTo(mailbox, executor, [weak, i, held] {
        auto alive = weak.lock();
        if (!alive) return;
        alive->answers[i] = std::move(*held);
        if (--alive->pending == 0) alive->timer.cancel();
      });
    });
  }
  std::error_code ec;
  co_await gathering->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return std::move(gathering->answers);
}

ProxySnapshot assemble(ProxyShared& shared, std::vector<std::optional<WorkerSnapshot>> answers) {
  ProxySnapshot snapshot{.workersAsked = static_cast<int>(answers.size()),
                         .clientConnections = shared.clients.load(),
                         .users = shared.users.size(),
                         .paused = shared.paused.load()};
  if (shared.monitor) snapshot.topology = shared.monitor->current();
  if (shared.failover) snapshot.failover = shared.failover->status();
  for (const auto& group : shared.shardGroups) {
    snapshot.shardGroups.push_back(
        {.name = group.name,
         .base = group.base,
         .servers = group.servers,
         .topology = group.monitor ? group.monitor->current() : nullptr,
         .failover = group.failover ? std::optional(group.failover->status()) : std::nullopt});
  }
  if (shared.shardMap) {
    snapshot.shardMap = shared.shardMap->current();
    snapshot.shardOperations = shared.shardMap->operations();
  }
  for (auto& answer : answers) {
    if (answer) snapshot.workers.push_back(std::move(*answer));
  }
  return snapshot;
}

}  // namespace

asio::awaitable<ProxySnapshot> gatherSnapshot(ProxyShared& shared,
                                              std::chrono::milliseconds timeout) {
  auto answers = co_await askWorkers<WorkerSnapshot>(
      shared, timeout, [](Worker& worker, std::function<void(WorkerSnapshot)> done) {
        worker.postSnapshot(std::move(done));
      });
  co_return assemble(shared, std::move(answers));
}

ProxySnapshot gatherSnapshotBlocking(ProxyShared& shared, std::chrono::milliseconds timeout) {
  std::vector<std::future<WorkerSnapshot>> futures;
  for (Worker* worker : shared.workers) {
    auto promise = std::make_shared<std::promise<WorkerSnapshot>>();
    futures.push_back(promise->get_future());
    worker->postSnapshot(
        [promise](WorkerSnapshot snapshot) { promise->set_value(std::move(snapshot)); });
  }
  auto deadline = Clock::now() + timeout;
  std::vector<std::optional<WorkerSnapshot>> answers(futures.size());
  for (std::size_t i = 0; i < futures.size(); ++i) {
    if (futures[i].wait_until(deadline) == std::future_status::ready) answers[i] = futures[i].get();
  }
  return assemble(shared, std::move(answers));
}

asio::awaitable<int> applyPauseEverywhere(ProxyShared& shared, std::chrono::milliseconds timeout) {
  auto answers = co_await askWorkers<bool>(shared, timeout,
                                           [](Worker& worker, std::function<void(bool)> done) {
                                             worker.postApplyPause(std::move(done));
                                           });
  co_return static_cast<int>(std::count_if(answers.begin(), answers.end(),
                                           [](const auto& answer) { return answer.has_value(); }));
}

}  // namespace pgswarm::proxy
