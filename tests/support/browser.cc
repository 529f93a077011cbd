#include "tests/support/browser.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

namespace spate::testing {

namespace {
const char* kChromium = "/usr/bin/chromium";

// Root needs --no-sandbox; no GPU, no /dev/shm limits, nothing fetched from outside.
std::vector<std::string> BaseArgs(const std::string& profile) {
  return {kChromium,         "--headless",     "--no-sandbox",
          "--disable-gpu",   "--disable-dev-shm-usage", "--no-first-run",
          "--disable-background-networking", "--disable-sync", "--user-data-dir=" + profile};
}

void RequireChromium() {
  if (!std::filesystem::exists(kChromium))
    FAIL("headless browser /usr/bin/chromium missing: apt-get install chromium (scripts/install-deps installs it)");
}
}  // namespace

Browser::Browser(const TempDir& dir) : profile_(dir / "chromium-profile") { RequireChromium(); }

std::string Browser::Run(std::vector<std::string> args) {
  std::vector<std::string> argv = BaseArgs(profile_);
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = spate::testing::Run(argv, std::chrono::seconds(90));
  INFO(r.output.substr(0, 4000));
  REQUIRE(r.exit_code == 0);
  return r.output;
}

std::string Browser::DumpDom(const std::string& url, int budget_ms) {
  // stdout and stderr come mixed (chromium logs D-Bus noise); the DOM is what lies between the html tags.
  std::string out = Run({"--virtual-time-budget=" + std::to_string(budget_ms), "--dump-dom", url});
  size_t begin = out.find("<html"), end = out.rfind("</html>");
  INFO(out.substr(0, 4000));
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  return out.substr(begin, end + 7 - begin);
}

void Browser::Screenshot(const std::string& url, const std::string& png, int budget_ms, int width, int height) {
  Run({"--virtual-time-budget=" + std::to_string(budget_ms), "--hide-scrollbars",
       "--window-size=" + std::to_string(width) + "," + std::to_string(height), "--screenshot=" + png, url});
  REQUIRE(std::filesystem::exists(png));
}

LivePage::LivePage(const TempDir& dir, const std::string& url) {
  RequireChromium();
  static int n = 0;
  std::string profile = dir / ("chromium-live-" + std::to_string(++n));
  log_ = profile + ".log";
  // The protocol: the browser reads commands on fd 3 and writes answers and
  // events on fd 4, each a JSON text ended by a NUL byte.
  int in[2], out[2];
  REQUIRE(pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  // The child's ends above 4, so the dup2 onto 3 and 4 below always copies
  // (a dup2 onto itself would keep O_CLOEXEC and lose the pipe at exec).
  for (int* fd : {&in[0], &out[1]}) {
    int high = fcntl(*fd, F_DUPFD_CLOEXEC, 10);
    REQUIRE(high >= 0);
    close(*fd);
    *fd = high;
  }
  std::vector<std::string> argv = BaseArgs(profile);
  argv.insert(argv.end(), {"--remote-debugging-pipe", "about:blank"});
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_ = fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    // Its own process group, so the renderers and helpers go with it at the end.
    setpgid(0, 0);
    int log = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int devnull = open("/dev/null", O_RDONLY);
    if (log >= 0) dup2(log, 1), dup2(log, 2);
    if (devnull >= 0) dup2(devnull, 0);
    // dup2 clears O_CLOEXEC on the copies: of the pipes only fds 3 and 4 survive exec.
    dup2(in[0], 3);
    dup2(out[1], 4);
    execv(kChromium, args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  to_browser_ = in[1];
  from_browser_ = out[0];
  // Writing to a browser that died must fail the test, not kill it.
  signal(SIGPIPE, SIG_IGN);
  try {
    auto target = Call("Target.createTarget", {{"url", url}});
    auto attached = Call("Target.attachToTarget", {{"targetId", target["targetId"]}, {"flatten", true}});
    session_ = attached["sessionId"].get<std::string>();
  } catch (...) {
    Close();
    throw;
  }
}

LivePage::~LivePage() { Close(); }

void LivePage::Close() {
  if (pid_ <= 0) return;
  // Ask politely (the browser then reaps its own helpers), then by force.
  std::string close = nlohmann::json{{"id", next_id_++}, {"method", "Browser.close"}}.dump();
  close.push_back('\0');
  (void)!write(to_browser_, close.data(), close.size());
  ::close(to_browser_);
  ::close(from_browser_);
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      kill(-pid_, SIGKILL);  // a helper that outlived the browser, if any
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(-pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

nlohmann::json LivePage::Call(const std::string& method, const nlohmann::json& params, const std::string& session) {
  const int id = next_id_++;
  nlohmann::json msg{{"id", id}, {"method", method}, {"params", params}};
  if (!session.empty()) msg["sessionId"] = session;
  std::string bytes = msg.dump();
  bytes.push_back('\0');
  for (size_t done = 0; done < bytes.size();) {
    ssize_t w = write(to_browser_, bytes.data() + done, bytes.size() - done);
    if (w <= 0) FAIL("chromium stopped reading DevTools commands (log: " << log_ << ")");
    done += size_t(w);
  }
  // Events (console, target and page notices) come interleaved; only our id answers.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    size_t nul;
    while ((nul = buffer_.find('\0')) != std::string::npos) {
      auto answer = nlohmann::json::parse(buffer_.substr(0, nul), nullptr, false);
      buffer_.erase(0, nul + 1);
      if (answer.is_discarded() || !answer.contains("id") || answer["id"] != id) continue;
      INFO(method << ": " << answer.dump().substr(0, 2000));
      REQUIRE_FALSE(answer.contains("error"));
      return answer["result"];
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) FAIL("chromium did not answer " << method << " in 30 s (log: " << log_ << ")");
    pollfd p{from_browser_, POLLIN, 0};
    if (poll(&p, 1, int(left.count())) <= 0) continue;
    char chunk[65536];
    ssize_t r = read(from_browser_, chunk, sizeof chunk);
    if (r <= 0) FAIL("chromium closed the DevTools pipe during " << method << " (log: " << log_ << ")");
    buffer_.append(chunk, size_t(r));
  }
}

nlohmann::json LivePage::Eval(const std::string& expression) {
  auto r = Call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}},
                session_);
  INFO(expression << " -> " << r.dump().substr(0, 2000));
  REQUIRE_FALSE(r.contains("exceptionDetails"));
  return r["result"].value("value", nlohmann::json());
}

std::string LivePage::Dom() { return Eval("document.documentElement.outerHTML").get<std::string>(); }

bool LivePage::WaitFor(const std::string& expression, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // A page mid-load has no DOM to ask yet: an exception is "not yet".
    auto r = Call("Runtime.evaluate", {{"expression", "(() => { try { return !!(" + expression + "); } catch (e) { "
                                                     "return false; } })()"},
                                       {"returnByValue", true}},
                  session_);
    if (r["result"].value("value", false)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace spate::testing
