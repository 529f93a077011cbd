// Test support: real processes on loopback, temp dirs, ready files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace spate::testing {

// Path of the spate binary under test (set by CMake).
std::string SpateBinary();

// A directory removed (recursively) on destruction unless SPATE_KEEP_TEST_DIRS is set.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "spate-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }

 private:
  std::filesystem::path path_;
};

// The first line of a sanitizer report (ASan, LSan, UBSan, TSan) in a process's
// log, or "" if there is none. Sanitizer builds (scripts/test --sanitize) print
// them to the child's stderr, which the tests would otherwise never read.
std::string SanitizerReport(const std::string& log);

// A child process; stdout+stderr go to `log_path`. Killed (SIGTERM, then SIGKILL)
// on destruction, which then fails the running test if its log holds a sanitizer report.
class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_path, std::vector<std::string> env = {});
  ~Process();
  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;  // terminates the process it held
  Process(const Process&) = delete;
  pid_t pid() const { return pid_; }
  // True while the process has not exited.
  bool Running();
  // Waits up to `timeout` for exit; returns the exit code, or -1 on timeout (128+N if killed by signal N).
  int Wait(std::chrono::milliseconds timeout);
  void Terminate();  // SIGTERM and wait up to 10 s, then SIGKILL
  // SIGTERM without waiting, so several processes can stop at once; a later
  // Terminate() (or the destructor) then only waits.
  void SignalTerm();
  void Kill();       // SIGKILL (a crash: no clean shutdown) and reap
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool term_sent_ = false;
  std::string log_path_;
};

// Runs a command to completion (bounded by `timeout`); captures combined output.
struct RunResult {
  int exit_code = -1;  // -1 on timeout
  std::string output;
};
RunResult Run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::vector<std::string>& env = {});

// Waits for a daemon's --ready-file to appear and parses it. Fails the test
// (throws) if it does not appear in time or the process dies first.
nlohmann::json WaitReady(Process& p, const std::string& ready_file,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Writes `size` pseudo-random bytes (seeded) to `path`.
void WriteRandomFile(const std::string& path, uint64_t size, uint32_t seed);
std::string ReadAll(const std::string& path);

}  // namespace spate::testing
