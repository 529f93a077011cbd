#include "push/background.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace spate::push {

Background::Background() : thread_([this] { Loop(); }) {}

Background::~Background() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;  // Loop takes no job after it: those left go with jobs_
  }
  cv_.notify_all();
  thread_.join();
}

void Background::Run(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void Background::Loop() {
  // Signals are the daemon's stop thread's (wire/daemon.h), which may be set
  // up after this thread starts: one delivered here would kill the process.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  // Linux nices threads one by one (the tid is a process id to setpriority).
  ::setpriority(PRIO_PROCESS, id_t(::syscall(SYS_gettid)), 19);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // what it holds goes here, not under the lock
    lock.lock();
  }
}

}  // namespace spate::push
