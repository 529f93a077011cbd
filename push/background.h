// One low-priority thread for work that must not hold the io thread: the
// JSON of a 10,000-host push takes about 100 ms to build, `spate push` asks
// for it every second, and meanwhile every report and long poll would wait.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace spate::push {

class Background {
 public:
  // Starts the thread at nice 19, so on a busy core the io thread comes
  // first and the jobs take what it leaves (at nice 10 they still took a
  // tenth of a saturated core from a tracker at nice 0).
  Background();
  // Jobs not started by then are dropped unrun.
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  // Runs `job` on the thread, after those queued before it.
  void Run(std::function<void()> job);

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace spate::push
