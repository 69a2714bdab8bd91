// A pool worker: see worker.hpp.
#include "proxy/worker.hpp"

#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include "proxy/session.hpp"

namespace pgswarm::proxy {

Worker::Worker(ProxyShared& shared, int index) : shared_(shared), index_(index) {}

Worker::~Worker() {
  requestStop();
  join();
  // Pools close their idle connections while io_ still exists.
  pools_.clear();
}

Status Worker::listen(const asio::ip::tcp::endpoint& endpoint) {
  std::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) {
    int one = 1;
    if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec = std::error_code(errno, std::generic_category());
    }
  }
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return makeError("cannot listen on {}:{}: {}", endpoint.address().to_string(), endpoint.port(),
                     ec.message());
  }
  return Ok{};
}

void Worker::start() {
  asio::co_spawn(io_, acceptLoop(), asio::detached);
  asio::co_spawn(io_, maintenanceLoop(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

void Worker::requestStop() {
  asio::post(io_, [this] { stopInLoop(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::stopInLoop() {
  if (stopping_) return;
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  maintenance_.cancel();
  for (auto& [key, pool] : pools_) pool->shutdown();
  // Copy: aborting a session may end it and erase it from the set.
  auto sessions = sessions_;
  for (Session* session : sessions) session->abort();
}

pool::ServerPool& Worker::poolFor(const std::string& user, const std::string& database) {
  auto key = std::make_pair(user, database);
  auto it = pools_.find(key);
  if (it != pools_.end()) return *it->second;
  const auto& config = shared_.config;
  int workers = std::max(config.workers, 1);
  pool::PoolLimits limits{
      // Each worker owns a share of the pool: ceil(size / workers).
      .maxServers = std::max(1, (config.defaultPoolSize + workers - 1) / workers),
      .connectTimeout = config.serverConnectTimeout,
      .idleTimeout = config.serverIdleTimeout,
      .lifetime = config.serverLifetime,
  };
  auto made = std::make_unique<pool::ServerPool>(io_.get_executor(), user, database,
                                                 config.servers.front(), limits);
  return *pools_.emplace(key, std::move(made)).first->second;
}

asio::awaitable<void> Worker::acceptLoop() {
  for (;;) {
    std::error_code ec;
    auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
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

asio::awaitable<void> Worker::maintenanceLoop() {
  while (!stopping_) {
    maintenance_.expires_after(std::chrono::seconds(5));
    std::error_code ec;
    co_await maintenance_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    for (auto& [key, pool] : pools_) pool->closeExpired();
  }
}

}  // namespace pgswarm::proxy
