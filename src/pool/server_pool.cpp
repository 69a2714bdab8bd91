// Per-worker server pool: see server_pool.hpp.
#include "pool/server_pool.hpp"

#include <algorithm>

namespace pgswarm::pool {

using Clock = std::chrono::steady_clock;

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    discard();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
  }
  return *this;
}

Lease::~Lease() {
  discard();
}

void Lease::giveBack() {
  if (conn_ && pool_ != nullptr) pool_->returnConnection(std::move(conn_), true);
}

void Lease::discard() {
  if (conn_ && pool_ != nullptr) pool_->returnConnection(std::move(conn_), false);
}

ServerPool::ServerPool(asio::any_io_executor executor, std::string user, std::string database,
                       ServerAddress address, PoolLimits limits)
    : executor_(std::move(executor)),
      user_(std::move(user)),
      database_(std::move(database)),
      address_(std::move(address)),
      limits_(limits) {}

ServerPool::~ServerPool() {
  shutdown();
}

std::unique_ptr<ServerConnection> ServerPool::takeIdle(const Parameters& startup) {
  // Most recently used first: keeps the working set small and warm.
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    if ((*it)->startupParameters() == startup) {
      auto conn = std::move(*it);
      idle_.erase(std::next(it).base());
      return conn;
    }
  }
  return nullptr;
}

asio::awaitable<AcquireResult> ServerPool::openNew(const Parameters& startup,
                                                   const ServerCredentials& credentials) {
  ++connecting_;
  auto result =
      co_await connectServer(executor_, address_, startup, credentials, limits_.connectTimeout);
  --connecting_;
  if (auto* failure = std::get_if<ConnectFailure>(&result)) {
    ++counters_.connectFailures;
    onSlotFreed();
    co_return AcquireFailure{AcquireFailure::Kind::kConnect, std::move(*failure)};
  }
  auto conn = std::move(std::get<std::unique_ptr<ServerConnection>>(result));
  conn->id = nextId_++;
  ++counters_.connectsMade;
  ++active_;
  co_return Lease(this, std::move(conn));
}

asio::awaitable<AcquireResult> ServerPool::acquire(const Parameters& startup,
                                                   const ServerCredentials& credentials,
                                                   Clock::time_point deadline) {
  if (shuttingDown_) co_return AcquireFailure{AcquireFailure::Kind::kShutdown, {}};
  if (paused_) {
    if (auto failure = co_await waitWhilePaused(deadline)) co_return std::move(*failure);
  }
  if (auto conn = takeIdle(startup)) {
    ++active_;
    co_return Lease(this, std::move(conn));
  }
  if (total() >= limits_.maxServers && !idle_.empty()) {
    // Full, but an idle connection with other startup parameters can make room.
    idle_.front()->close();
    idle_.pop_front();
  }
  if (total() < limits_.maxServers) co_return co_await openNew(startup, credentials);

  ++counters_.waits;
  auto waitStart = Clock::now();
  Waiter waiter(executor_);
  waiter.timer.expires_at(deadline);
  auto position = waiters_.insert(waiters_.end(), &waiter);
  std::error_code ec;
  co_await waiter.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (!waiter.handed && !waiter.slotFreed && !waiter.shutdown) waiters_.erase(position);
  counters_.waitTime +=
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - waitStart);
  // A handed connection is still counted in active_ and a granted slot in
  // connecting_ (see returnConnection/onSlotFreed), so no newcomer can take
  // them between the wake-up and this point.
  if (waiter.handed) {
    if (waiter.handed->startupParameters() == startup)
      co_return Lease(this, std::move(waiter.handed));
    waiter.handed->close();  // its slot becomes a new connection with our parameters
    waiter.handed.reset();
    --active_;
    co_return co_await openNew(startup, credentials);
  }
  if (waiter.slotFreed) {
    --connecting_;
    if (waiter.shutdown) co_return AcquireFailure{AcquireFailure::Kind::kShutdown, {}};
    co_return co_await openNew(startup, credentials);
  }
  if (waiter.shutdown) co_return AcquireFailure{AcquireFailure::Kind::kShutdown, {}};
  ++counters_.waitTimeouts;
  co_return AcquireFailure{AcquireFailure::Kind::kTimeout, {}};
}

asio::awaitable<std::optional<AcquireFailure>> ServerPool::waitWhilePaused(
    Clock::time_point deadline) {
  // A loop: PAUSE may come back between RESUME and this coroutine running.
  while (paused_ && !shuttingDown_) {
    ++counters_.waits;
    Waiter waiter(executor_);
    waiter.timer.expires_at(deadline);
    auto position = pausedWaiters_.insert(pausedWaiters_.end(), &waiter);
    std::error_code ec;
    co_await waiter.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!waiter.resumed && !waiter.shutdown) pausedWaiters_.erase(position);
    counters_.waitTime +=
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - waiter.since);
    if (waiter.shutdown) co_return AcquireFailure{AcquireFailure::Kind::kShutdown, {}};
    if (!waiter.resumed) {
      ++counters_.waitTimeouts;
      co_return AcquireFailure{AcquireFailure::Kind::kTimeout, {}};
    }
  }
  if (shuttingDown_) co_return AcquireFailure{AcquireFailure::Kind::kShutdown, {}};
  co_return std::nullopt;
}

void ServerPool::setPaused(bool paused) {
  paused_ = paused;
  if (paused) return;
  for (Waiter* waiter : pausedWaiters_) {
    waiter->resumed = true;
    waiter->timer.cancel();
  }
  pausedWaiters_.clear();
}

std::vector<const ServerConnection*> ServerPool::idleConnections() const {
  std::vector<const ServerConnection*> conns;
  conns.reserve(idle_.size());
  for (const auto& conn : idle_) conns.push_back(conn.get());
  return conns;
}

std::optional<Clock::time_point> ServerPool::oldestWaitSince() const {
  std::optional<Clock::time_point> oldest;
  for (const auto* list : {&pausedWaiters_, &waiters_}) {
    if (!list->empty() && (!oldest || list->front()->since < *oldest)) {
      oldest = list->front()->since;
    }
  }
  return oldest;
}

void ServerPool::returnConnection(std::unique_ptr<ServerConnection> conn, bool reusable) {
  auto now = Clock::now();
  bool tooOld = now - conn->createdAt() > limits_.lifetime;
  if (!reusable || shuttingDown_ || tooOld || !conn->isOpen() || !(conn->address() == address_)) {
    --active_;
    conn->close();
    onSlotFreed();
    return;
  }
  conn->lastUsed = now;
  if (!waiters_.empty()) {
    // Handed straight over and still counted as active: the waiter owns it.
    Waiter* next = waiters_.front();
    waiters_.pop_front();
    next->handed = std::move(conn);
    next->timer.cancel();
    return;
  }
  --active_;
  idle_.push_back(std::move(conn));
}

void ServerPool::onSlotFreed() {
  if (waiters_.empty()) return;
  Waiter* next = waiters_.front();
  waiters_.pop_front();
  next->slotFreed = true;
  ++connecting_;  // reserved for that waiter until it opens its connection
  next->timer.cancel();
}

void ServerPool::closeExpired() {
  auto now = Clock::now();
  std::erase_if(idle_, [&](std::unique_ptr<ServerConnection>& conn) {
    bool expired = now - conn->lastUsed > limits_.idleTimeout ||
                   now - conn->createdAt() > limits_.lifetime || !conn->isOpen();
    if (expired) conn->close();
    return expired;
  });
}

void ServerPool::shutdown() {
  shuttingDown_ = true;
  for (auto* list : {&waiters_, &pausedWaiters_}) {
    for (Waiter* waiter : *list) {
      waiter->shutdown = true;
      waiter->timer.cancel();
    }
    list->clear();
  }
  for (auto& conn : idle_) conn->close();
  idle_.clear();
}

void ServerPool::setAddress(ServerAddress address) {
  address_ = std::move(address);
  for (auto& conn : idle_) conn->close();
  idle_.clear();
  onSlotFreed();
}

}  // namespace pgswarm::pool
