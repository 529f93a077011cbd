// Process plumbing every daemon shares: logging, stop signals, the ready file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "wire/status.h"

namespace spate {

// Sets the spdlog pattern and level ("debug", "info", "warn", ...) with `name` as the logger tag.
Status InitLogging(const std::string& name, const std::string& level);

// Raises the soft limit on open files (RLIMIT_NOFILE) to the hard limit and
// returns the soft limit now in force. A tracker holds a descriptor per
// host's long poll, so 10,000 hosts need more than the usual soft 1024, and
// wire/http.h sizes its connection cap from this limit. The hard limit is the
// operator's (LimitNOFILE=, ulimit -Hn) and is never exceeded.
uint64_t RaiseFileLimit();

// Runs `on_stop` once, from a dedicated thread, when SIGINT or SIGTERM arrives.
// SIGPIPE is ignored. Call before starting other threads.
void OnStopSignal(std::function<void()> on_stop);

// Atomically writes a JSON ready file (e.g. {"http":"127.0.0.1:4567"}) so scripts
// and tests learn bound ports without racing the log. No-op if `path` is empty.
Status WriteReadyFile(const std::string& path, const std::string& json);

}  // namespace spate

namespace spate {

// Exit codes shared by every subcommand.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // the job failed (push incomplete, upload refused, ...)
  kExitUsage = 2,        // bad flags or configuration
  kExitInterrupted = 130,
};

}  // namespace spate
