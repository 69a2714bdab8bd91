#include "common/periodic_thread.hpp"

#include <utility>

namespace pgswarm::common {

PeriodicThread::~PeriodicThread() {
  stop();
}

void PeriodicThread::start(std::chrono::milliseconds period, std::function<void()> work) {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, period, work = std::move(work)] { loop(period, work); });
}

void PeriodicThread::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicThread::nudge() {
  {
    std::lock_guard lock(mutex_);
    nudged_ = true;
  }
  wake_.notify_all();
}

bool PeriodicThread::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void PeriodicThread::loop(std::chrono::milliseconds period, const std::function<void()>& work) {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    nudged_ = false;
    lock.unlock();
    work();
    lock.lock();
    wake_.wait_for(lock, period, [this] { return stopping_ || nudged_; });
  }
}

}  // namespace pgswarm::common
