// Running a host's activation hook or health check: a shell command with a
// deadline, its output kept for the failure reason.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "wire/status.h"

namespace spate {

struct HookResult {
  bool timed_out = false;
  bool cancelled = false;  // the caller asked to stop (fetcher shutdown)
  int exit_code = -1;      // when it exited normally
  int signal = 0;          // when a signal ended it
  std::string tail;        // last lines of stdout+stderr (kHookTailLines / kHookTailBytes)

  bool ok() const { return !timed_out && !cancelled && signal == 0 && exit_code == 0; }
};

inline constexpr int kHookTailLines = 20;
inline constexpr size_t kHookTailBytes = 2048;

// Runs `/bin/sh -c command` in its own process group, with the environment
// of this process plus `env`, stdin from /dev/null, stdout+stderr captured.
// Only fds 0-2 reach it: libtorrent 2.0.8 opens files and sockets without
// O_CLOEXEC, and a hook inheriting them could hold a port or a file open.
// On timeout or `cancel`, the whole process group is killed. Returns an error
// only when the command could not be started at all.
Result<HookResult> RunHook(const std::string& command, const std::vector<std::pair<std::string, std::string>>& env,
                           std::chrono::milliseconds timeout, const std::atomic<bool>* cancel = nullptr);

// "health check exited 3: <tail>", "activation hook timed out after 60s", ...
std::string DescribeFailure(const std::string& what, const HookResult& r, std::chrono::milliseconds timeout);

// The last `lines` lines of `text`, at most `bytes` bytes, trailing blank space dropped.
std::string Tail(const std::string& text, int lines, size_t bytes);

}  // namespace spate
