// Per-worker server pool over process-wide slots: see server_pool.hpp.
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
                       ServerAddress address, PoolLimits limits, PoolSlots& slots, int worker)
    : executor_(std::move(executor)),
      user_(std::move(user)),
      database_(std::move(database)),
      address_(std::move(address)),
      limits_(std::move(limits)),
      slots_(slots),
      worker_(worker),
      mailbox_(runtime::Mailbox::current()) {
  // Last: other workers may post to this pool from now on.
  slots_.attach(worker_, this);
}

ServerPool::~ServerPool() {
  shutdown();
  slots_.attach(worker_, nullptr);
}

std::unique_ptr<ServerConnection> ServerPool::takeIdle(const Parameters& startup,
                                                       const std::string* settings) {
  // Most recently used first: keeps the working set small and warm.
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    if (!(*it)->startedWith(startup)) continue;
    if (settings != nullptr && (*it)->appliedSettings != *settings) continue;
    auto conn = std::move(*it);
    // Mostly the most recent one: pop_back is a tenth of erase's cost.
    if (it == idle_.rbegin()) {
      idle_.pop_back();
    } else {
      idle_.erase(std::next(it).base());
    }
    publishIdle();
    // One peek (a syscall) per lease: a backend ended while idle (admin
    // command, server restart) must not take a client's query with it.
    if (!conn->closedByServer()) return conn;
    conn->close();
    onSlotFreed();
    return takeIdle(startup, settings);
  }
  return nullptr;
}

// The caller holds a slot for it (counted in no counter yet).
asio::awaitable<AcquireResult> ServerPool::openNew(const SharedParameters& startup,
                                                   const ServerCredentials& credentials) {
  ++connecting_;
  auto result = co_await connectServer(executor_, address_, startup, credentials, limits_.tls,
                                       limits_.connectTimeout);
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
  if (!fillTemplate_) {
    // Only after a login worked: a pool for a missing database never fills.
    // Kept even without min_pool_size: RELOAD may set one.
    fillTemplate_ = FillTemplate{startup, credentials};
    startFill();
  }
  co_return Lease(this, std::move(conn));
}

asio::awaitable<AcquireResult> ServerPool::acquire(SharedParameters startup,
                                                   const ServerCredentials& credentials,
                                                   Clock::time_point deadline) {
  if (shuttingDown_) co_return AcquireFailure{AcquireFailure::Kind::kShutdown, {}};
  if (paused_) {
    if (auto failure = co_await waitWhilePaused(deadline)) co_return std::move(*failure);
  }
  if (auto lease = acquireIdle(*startup)) co_return std::move(*lease);
  // Nobody of this worker in line yet: no newcomer overtakes a waiter.
  if (waiters_.empty()) {
    if (slots_.tryTake()) co_return co_await openNew(startup, credentials);
    if (!idle_.empty()) {
      // All slots taken, but an idle connection with other startup
      // parameters can make room: its slot is reused for ours.
      idle_.front()->close();
      idle_.pop_front();
      publishIdle();
      co_return co_await openNew(startup, credentials);
    }
  }
  co_return co_await waitForServer(startup, credentials, deadline);
}

std::optional<Lease> ServerPool::acquireIdle(const Parameters& startup,
                                             const std::string* settings) {
  if (shuttingDown_ || paused_) return std::nullopt;
  auto conn = takeIdle(startup, settings);
  if (!conn) return std::nullopt;
  ++active_;
  return Lease(this, std::move(conn));
}

asio::awaitable<AcquireResult> ServerPool::waitForServer(const SharedParameters& startup,
                                                         const ServerCredentials& credentials,
                                                         Clock::time_point deadline) {
  ++counters_.waits;
  Waiter waiter(executor_);
  auto position = waiters_.insert(waiters_.end(), &waiter);
  publishDemand();
  // After publishing: a slot another worker gave back just before is taken
  // here, or that worker saw our demand (see PoolSlots).
  serveFromFreeSlots();
  // Checkpoints besides the deadline: once the wait reaches rebalanceAfter,
  // ask a worker with idle connections for one; after reserveTimeout, try
  // a reserve slot.
  bool askedForIdle = false;
  bool reserveTried = slots_.reserve() == 0;
  auto askAt = waiter.since + limits_.rebalanceAfter;
  auto reserveAt = waiter.since + limits_.reserveTimeout;
  while (!waiter.woken()) {
    auto wakeAt = deadline;
    if (!askedForIdle) wakeAt = std::min(wakeAt, askAt);
    if (!reserveTried) wakeAt = std::min(wakeAt, reserveAt);
    waiter.timer.expires_at(wakeAt);
    std::error_code ec;
    co_await waiter.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (waiter.woken()) break;
    auto now = Clock::now();
    if (now >= deadline) break;
    if (!askedForIdle && now >= askAt) {
      askedForIdle = true;
      askForIdle();
    }
    if (!reserveTried && now >= reserveAt) {
      reserveTried = true;
      if (slots_.tryTakeReserve()) {
        waiters_.erase(position);
        publishDemand();
        ++counters_.reserveConnects;
        waiter.slotFreed = true;
        ++connecting_;
      }
    }
  }
  if (!waiter.woken()) {
    waiters_.erase(position);
    publishDemand();
  }
  counters_.waitTime +=
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - waiter.since);
  // A handed connection is still counted in active_ and a granted slot in
  // connecting_ (see returnConnection/grantToFront), so no newcomer can take
  // them between the wake-up and this point.
  if (waiter.handed) {
    if (waiter.handed->startedWith(*startup)) co_return Lease(this, std::move(waiter.handed));
    waiter.handed->close();  // its slot becomes a new connection with our parameters
    waiter.handed.reset();
    --active_;
    co_return co_await openNew(startup, credentials);
  }
  if (waiter.slotFreed) {
    --connecting_;
    if (shuttingDown_) {
      slots_.give();
      co_return AcquireFailure{AcquireFailure::Kind::kShutdown, {}};
    }
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
  // A client of another worker has waited rebalanceAfter longer than now
  // (nobody waits here) or starvationAfter longer than our oldest waiter:
  // its worker gets the slot. The socket stays on this thread, so the
  // connection is closed, not moved. While clients wait on both workers a
  // small difference is not worth it: under saturation each move costs a
  // new backend, which lengthens every wait and makes more moves (80
  // clients over 40 servers fell to a third of the throughput with 50 ms).
  auto remote = slots_.oldestDemand(worker_);
  auto localSince = waiters_.empty() ? now : waiters_.front()->since;
  auto margin = waiters_.empty() ? limits_.rebalanceAfter : limits_.starvationAfter;
  // Above a size or cap RELOAD lowered, or wanted by another pool under a
  // full cap (max_db_connections, max_user_connections): closed, and its
  // slot goes where it is due.
  if (slots_.overCeiling() || capWaiterFirst(localSince, margin)) {
    --active_;
    conn->close();
    onSlotFreed();
    return;
  }
  if (remote && remote->since + margin <= localSince) {
    --active_;
    conn->close();
    ++counters_.slotsMoved;
    passSlot(remote);
    return;
  }
  if (!waiters_.empty()) {
    // Handed straight over and still counted as active: the waiter owns it.
    Waiter* next = waiters_.front();
    waiters_.pop_front();
    publishDemand();
    next->handed = std::move(conn);
    next->timer.cancel();
    return;
  }
  --active_;
  idle_.push_back(std::move(conn));
  publishIdle();
}

void ServerPool::grantToFront() {
  Waiter* next = waiters_.front();
  waiters_.pop_front();
  publishDemand();
  next->slotFreed = true;
  ++connecting_;  // reserved for that waiter until it opens its connection
  next->timer.cancel();
}

void ServerPool::onSlotFreed() {
  if (shuttingDown_) {
    slots_.give();
    return;
  }
  auto now = Clock::now();
  // Ours: the oldest waiter of this (user, database) on any worker. A pool
  // under a full cap that has waited starvationAfter longer gets the slot
  // (given back, so its take can succeed); nobody of ours waits: at once.
  std::optional<Clock::time_point> ours;
  if (!waiters_.empty()) ours = waiters_.front()->since;
  if (auto remote = slots_.oldestDemand(worker_); remote && (!ours || remote->since < *ours)) {
    ours = remote->since;
  }
  if (slots_.overCeiling() ||
      capWaiterFirst(ours.value_or(now),
                     ours ? limits_.starvationAfter : std::chrono::milliseconds(0))) {
    passSlot(std::nullopt);
    return;
  }
  if (slots_.used() > slots_.limit()) {
    // A reserve slot: only for a client that has waited reserve_pool_timeout,
    // else the pool shrinks back to default_pool_size.
    if (!waiters_.empty() && now - waiters_.front()->since >= limits_.reserveTimeout) {
      grantToFront();
    } else {
      passSlot(std::nullopt);
    }
    return;
  }
  // No connection to keep: strictly the oldest waiter of any worker.
  auto remote = slots_.oldestDemand(worker_);
  if (!waiters_.empty() && (!remote || waiters_.front()->since <= remote->since)) {
    grantToFront();
    return;
  }
  passSlot(remote);
}

void ServerPool::passSlot(std::optional<PoolSlots::Demand> remote) {
  if (remote) {
    if (ServerPool* peer = slots_.member(remote->worker)) {
      // Still counted in PoolSlots: the slot changes hands, so no newcomer
      // anywhere can take it on the way.
      peer->postHere([peer] { peer->onSlotGranted(); });
      return;
    }
  }
  giveSlot();
}

void ServerPool::giveSlot() {
  slots_.give();
  if (shuttingDown_) return;
  // A pool waiting on a cap this slot also held first: it was given back
  // for it. Demand is read after the give, so a waiter that published its
  // demand before the give is seen, and one after it finds the slot free.
  if (auto capped = slots_.oldestCapDemand(false)) {
    if (ServerPool* peer = capped->slots->member(capped->worker)) {
      peer->postHere([peer] { peer->serveFromFreeSlots(); });
    }
  }
  // Read again after giving: a worker that published its demand after the
  // read above may have failed its tryTake before our give.
  if (auto again = slots_.oldestDemand(worker_)) {
    if (ServerPool* peer = slots_.member(again->worker)) {
      peer->postHere([peer] { peer->serveFromFreeSlots(); });
    }
  }
}

bool ServerPool::capWaiterFirst(Clock::time_point since, std::chrono::milliseconds margin) const {
  if (!slots_.capFull()) return false;
  auto capped = slots_.oldestCapDemand(true);
  return capped && capped->since + margin <= since;
}

void ServerPool::onSlotGranted() {
  if (!shuttingDown_ && !waiters_.empty()) {
    grantToFront();
    return;
  }
  // The waiter it was meant for is gone (served, timed out, took a reserve
  // slot): pass it on.
  passSlot(shuttingDown_ ? std::nullopt : slots_.oldestDemand(worker_));
}

void ServerPool::serveFromFreeSlots() {
  while (!shuttingDown_ && !waiters_.empty() && slots_.tryTake()) grantToFront();
}

void ServerPool::askForIdle() {
  if (auto worker = slots_.workerWithIdle(worker_)) {
    if (ServerPool* peer = slots_.member(*worker)) {
      peer->postHere([peer] { peer->onIdleWanted(); });
      return;
    }
  }
  // Our own pool has nothing idle; a full cap may be held by idle
  // connections of another pool under it (PgBouncer evicts those too).
  if (!slots_.capFull()) return;
  if (ServerPool* peer = slots_.capMemberWithIdle()) {
    peer->postHere([peer] { peer->onCapIdleWanted(); });
  }
}

void ServerPool::onCapIdleWanted() {
  if (shuttingDown_ || idle_.empty() || !slots_.capFull()) return;
  auto capped = slots_.oldestCapDemand(true);
  if (!capped || capped->since + limits_.rebalanceAfter > Clock::now()) return;
  idle_.front()->close();
  idle_.pop_front();
  publishIdle();
  ++counters_.slotsMoved;
  giveSlot();
}

void ServerPool::onIdleWanted() {
  if (shuttingDown_ || idle_.empty()) return;
  // Only for a waiter that is still there and has waited long enough.
  auto remote = slots_.oldestDemand(worker_);
  if (!remote || remote->since + limits_.rebalanceAfter > Clock::now()) return;
  idle_.front()->close();  // the least recently used
  idle_.pop_front();
  publishIdle();
  ++counters_.slotsMoved;
  onSlotFreed();
}

void ServerPool::publishDemand() {
  std::optional<Clock::time_point> demand;
  if (!waiters_.empty()) demand = waiters_.front()->since;
  if (demand == publishedDemand_) return;
  publishedDemand_ = demand;
  slots_.setDemand(worker_, demand);
}

void ServerPool::publishIdle() {
  slots_.setIdle(worker_, static_cast<int>(idle_.size()));
}

void ServerPool::maintain() {
  closeExpired();
  // Slots a RELOAD added (or a cap's waiter missed in a race) serve
  // waiters; a waiter held by a full cap asks again for an idle connection.
  serveFromFreeSlots();
  if (!waiters_.empty()) askForIdle();
  startFill();
}

void ServerPool::closeExpired() {
  auto now = Clock::now();
  int freed = 0;
  int excess = slots_.excess();  // RELOAD lowered a size or a cap: idle ones go first
  std::erase_if(idle_, [&](std::unique_ptr<ServerConnection>& conn) {
    // Idle past idleTimeout is closed only above min_pool_size; a
    // connection the server ended (pg_terminate_backend, restart) always.
    bool expired = (now - conn->lastUsed > limits_.idleTimeout &&
                    slots_.used() - freed > slots_.minServers()) ||
                   now - conn->createdAt() > limits_.lifetime || conn->closedByServer() ||
                   freed < excess;
    if (expired) {
      conn->close();
      ++freed;
    }
    return expired;
  });
  if (freed == 0) return;
  publishIdle();
  for (int i = 0; i < freed; ++i) onSlotFreed();
}

void ServerPool::startFill() {
  if (filling_ || !fillTemplate_ || shuttingDown_ || slots_.minServers() <= 0) return;
  if (slots_.used() >= std::min(slots_.minServers(), slots_.limit())) return;
  filling_ = true;
  asio::co_spawn(executor_, fill(), asio::detached);
}

asio::awaitable<void> ServerPool::fill() {
  // tryTakeBelow is one atomic step, so workers filling at once never open
  // more than min_pool_size between them.
  while (!shuttingDown_ && slots_.tryTakeBelow(slots_.minServers())) {
    ++connecting_;
    auto result =
        co_await connectServer(executor_, address_, fillTemplate_->startup,
                               fillTemplate_->credentials, limits_.tls, limits_.connectTimeout);
    --connecting_;
    if (std::holds_alternative<ConnectFailure>(result)) {
      ++counters_.connectFailures;
      onSlotFreed();
      break;  // the next maintenance tick tries again
    }
    auto conn = std::move(std::get<std::unique_ptr<ServerConnection>>(result));
    conn->id = nextId_++;
    conn->lastUsed = Clock::now();
    ++counters_.connectsMade;
    ++active_;
    returnConnection(std::move(conn), true);  // to a waiter, or idle
  }
  filling_ = false;
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
  publishDemand();
  for (auto& conn : idle_) {
    conn->close();
    slots_.give();
  }
  idle_.clear();
  publishIdle();
}

void ServerPool::setAddress(ServerAddress address) {
  address_ = std::move(address);
  closeIdle();
}

void ServerPool::closeIdle() {
  auto closed = idle_.size();
  for (auto& conn : idle_) conn->close();
  idle_.clear();
  publishIdle();
  for (std::size_t i = 0; i < closed; ++i) onSlotFreed();
}

}  // namespace pgswarm::pool
