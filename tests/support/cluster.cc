#include "tests/support/cluster.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <catch2/catch.hpp>

namespace spate::testing {

namespace fs = std::filesystem;

std::string SpateBinary() { return SPATE_BINARY; }

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (std::getenv("SPATE_KEEP_TEST_DIRS")) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path, const std::vector<std::string>& env) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    for (const auto& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int Decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}
}  // namespace

Process::Process(std::vector<std::string> argv, std::string log_path, std::vector<std::string> env)
    : log_path_(std::move(log_path)) {
  pid_ = Spawn(argv, log_path_, env);
}

Process::Process(Process&& o) noexcept
    : pid_(o.pid_), status_(o.status_), term_sent_(o.term_sent_), log_path_(std::move(o.log_path_)) {
  o.pid_ = -1;
}

Process& Process::operator=(Process&& o) noexcept {
  if (this == &o) return *this;
  if (pid_ > 0) Terminate();
  pid_ = o.pid_;
  status_ = o.status_;
  term_sent_ = o.term_sent_;
  log_path_ = std::move(o.log_path_);
  o.pid_ = -1;
  return *this;
}

Process::~Process() {
  if (pid_ <= 0) return;
  Terminate();
  // Every child goes through here (or Run), so a sanitizer report from any
  // daemon, even one printed while it shut down, fails the test that ran it.
  std::string report = SanitizerReport(Log());
  if (!report.empty()) FAIL_CHECK("sanitizer report in " << log_path_ << ": " << report);
}

std::string SanitizerReport(const std::string& log) {
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                             "ERROR: ThreadSanitizer", "runtime error:", "ERROR: UndefinedBehaviorSanitizer"}) {
    size_t at = log.find(marker);
    if (at == std::string::npos) continue;
    size_t begin = log.rfind('\n', at);
    begin = begin == std::string::npos ? 0 : begin + 1;
    return log.substr(begin, log.find('\n', at) - begin);
  }
  return "";
}

bool Process::Running() {
  if (pid_ <= 0 || status_ != -1) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = Decode(st);
    return false;
  }
  return true;
}

int Process::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

void Process::SignalTerm() {
  if (!Running() || term_sent_) return;
  kill(pid_, SIGTERM);
  term_sent_ = true;
}

void Process::Terminate() {
  if (!Running()) return;
  SignalTerm();
  if (Wait(std::chrono::seconds(10)) == -1) {
    kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(5));
  }
}

void Process::Kill() {
  if (!Running()) return;
  kill(pid_, SIGKILL);
  Wait(std::chrono::seconds(10));
}

std::string Process::Log() const { return ReadAll(log_path_); }

RunResult Run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::vector<std::string>& env) {
  char tmpl[] = "/tmp/spate-run-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  RunResult r;
  {
    Process p(argv, tmpl, env);
    r.exit_code = p.Wait(timeout);
    if (r.exit_code == -1) p.Terminate();
    r.output = p.Log();
  }  // ~Process checks the output for sanitizer reports
  unlink(tmpl);
  return r;
}

nlohmann::json WaitReady(Process& p, const std::string& ready_file, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(ready_file)) {
      auto j = nlohmann::json::parse(ReadAll(ready_file), nullptr, false);
      if (!j.is_discarded()) return j;
    }
    if (!p.Running()) throw std::runtime_error("process exited before ready; log:\n" + p.Log());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("timed out waiting for " + ready_file + "; log:\n" + p.Log());
}

void WriteRandomFile(const std::string& path, uint64_t size, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::ofstream out(path, std::ios::binary);
  std::vector<uint64_t> block(1 << 14);
  while (size > 0) {
    for (auto& w : block) w = rng();
    uint64_t n = std::min<uint64_t>(size, block.size() * sizeof(uint64_t));
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    size -= n;
  }
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace spate::testing
