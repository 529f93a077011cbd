#include "wire/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "wire/fs.h"

namespace spate {

Status InitLogging(const std::string& name, const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return Status::Invalid("unknown log level '" + level + "' (want trace, debug, info, warn, error)");
  auto logger = spdlog::stderr_color_mt(name);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  spdlog::set_level(lvl);
  spdlog::flush_on(spdlog::level::info);
  return Status::Ok();
}

uint64_t RaiseFileLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      r = raised;
    } else {
      spdlog::warn("cannot raise the open-file limit from {} to {}: {}", r.rlim_cur, r.rlim_max, std::strerror(errno));
    }
  }
  return r.rlim_cur == RLIM_INFINITY ? UINT64_MAX : uint64_t(r.rlim_cur);
}

void OnStopSignal(std::function<void()> on_stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread([set, on_stop = std::move(on_stop)] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("received signal {}, stopping", sig);
    on_stop();
  }).detach();
}

Status WriteReadyFile(const std::string& path, const std::string& json) {
  if (path.empty()) return Status::Ok();
  return WriteFileAtomic(path, json + "\n");
}

}  // namespace spate
