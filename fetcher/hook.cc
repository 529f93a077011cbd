#include "fetcher/hook.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>

extern char** environ;

namespace spate {

namespace {

using Clock = std::chrono::steady_clock;

// Output kept while the hook runs; only the tail is reported, but a chatty hook must not grow memory.
constexpr size_t kKeepBytes = 64 * 1024;

// In the child after fork: async-signal-safe calls only.
[[noreturn]] void ExecChild(int devnull, int out, const char* const* argv, const char* const* envp) {
  ::setpgid(0, 0);
  ::dup2(devnull, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  if (::close_range(3, ~0U, 0) != 0) {
    long max = ::sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = 3; fd < max; ++fd) ::close(fd);
  }
  ::execve(argv[0], const_cast<char* const*>(argv), const_cast<char* const*>(envp));
  ::_exit(127);
}

// "60s", "0.5s": operators set timeouts in whole seconds, and read them back so.
std::string Secs(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", d.count() / 1000.0);
  return buf;
}

}  // namespace

std::string Tail(const std::string& text, int lines, size_t bytes) {
  size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "";
  std::string s = text.substr(0, end + 1);
  size_t start = s.size();
  int n = 0;
  while (start > 0) {
    size_t nl = s.rfind('\n', start - 1);
    if (nl == std::string::npos) {
      start = 0;
      break;
    }
    if (++n == lines) {
      start = nl + 1;
      break;
    }
    start = nl;
  }
  s = s.substr(start);
  if (s.size() > bytes) s = s.substr(s.size() - bytes);
  return s;
}

Result<HookResult> RunHook(const std::string& command, const std::vector<std::pair<std::string, std::string>>& env,
                           std::chrono::milliseconds timeout, const std::atomic<bool>* cancel) {
  // Everything the child needs is built before fork: it may not allocate.
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    bool overridden = false;
    for (const auto& [k, v] : env) overridden |= kv.compare(0, k.size() + 1, k + "=") == 0;
    if (!overridden) env_strings.push_back(std::move(kv));
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<const char*> envp;
  for (const auto& s : env_strings) envp.push_back(s.c_str());
  envp.push_back(nullptr);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::Io(std::string("pipe: ") + std::strerror(errno));
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::Io(std::string("open /dev/null: ") + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid == 0) ExecChild(devnull, fds[1], argv, envp.data());
  int fork_errno = errno;
  ::close(fds[1]);
  ::close(devnull);
  if (pid < 0) {
    ::close(fds[0]);
    return Status::Io(std::string("fork: ") + std::strerror(fork_errno));
  }
  ::setpgid(pid, pid);  // also here, so a kill right after fork already reaches the group

  HookResult r;
  std::string out;
  auto deadline = Clock::now() + timeout;
  int status = 0;
  bool reaped = false, eof = false;
  while (true) {
    if (!eof) {
      pollfd p{fds[0], POLLIN, 0};
      int n = ::poll(&p, 1, 50);
      if (n > 0) {
        char buf[4096];
        ssize_t got = ::read(fds[0], buf, sizeof buf);
        if (got > 0) {
          out.append(buf, size_t(got));
          if (out.size() > 2 * kKeepBytes) out.erase(0, out.size() - kKeepBytes);
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
          eof = true;
        }
      }
    } else {
      ::usleep(20000);
    }
    if (!reaped) {
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) reaped = true;
    }
    // Done when the shell has exited and its output is read. A hook that
    // starts a daemon leaves the pipe open in it: stop at the shell's exit
    // plus whatever is already buffered, not at EOF.
    if (reaped) {
      pollfd p{fds[0], POLLIN, 0};
      while (!eof && ::poll(&p, 1, 0) > 0) {
        char buf[4096];
        ssize_t got = ::read(fds[0], buf, sizeof buf);
        if (got <= 0) break;
        out.append(buf, size_t(got));
      }
      break;
    }
    bool cancelled = cancel && cancel->load();
    if (cancelled || Clock::now() >= deadline) {
      (cancelled ? r.cancelled : r.timed_out) = true;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      reaped = true;
      break;
    }
  }
  ::close(fds[0]);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.tail = Tail(out, kHookTailLines, kHookTailBytes);
  return r;
}

std::string DescribeFailure(const std::string& what, const HookResult& r, std::chrono::milliseconds timeout) {
  std::string s;
  if (r.cancelled)
    s = what + " interrupted by fetcher shutdown";
  else if (r.timed_out)
    s = what + " timed out after " + Secs(timeout);
  else if (r.signal)
    s = what + " killed by signal " + std::to_string(r.signal);
  else if (r.exit_code == 127 && r.tail.empty())
    s = what + " exited 127 (cannot run /bin/sh?)";
  else
    s = what + " exited " + std::to_string(r.exit_code);
  if (!r.tail.empty()) s += ": " + r.tail;
  return s;
}

}  // namespace spate
