// A background thread that runs one piece of work at once, then again every
// `period` or as soon as it is nudged, until stopped. The shard map watcher
// and the foreign server keeper run their catalog work this way: a nudge
// (a switchover, a moved table) must not wait out the period, and stop()
// must not wait for it either.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace pgswarm::common {

class PeriodicThread {
 public:
  PeriodicThread() = default;
  ~PeriodicThread();  // stop()
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Starts the thread; does nothing while it runs. After stop() it starts
  // again. Call start() and stop() from one thread.
  void start(std::chrono::milliseconds period, std::function<void()> work);
  // Wakes the thread and joins it: at once while it sleeps, else after the
  // work in progress, which should check stopping() between its steps.
  void stop();
  // Runs the work again as soon as the run in progress (if any) ends.
  void nudge();
  [[nodiscard]] bool stopping() const;

 private:
  void loop(std::chrono::milliseconds period, const std::function<void()>& work);

  mutable std::mutex mutex_;  // guards stopping_ and nudged_
  std::condition_variable wake_;
  bool stopping_ = false;
  bool nudged_ = false;  // nudge() was called since the last run began
  std::thread thread_;
};

}  // namespace pgswarm::common
