// Headless Chromium (Debian's `chromium`) for tests that check what a page
// shows. A missing browser fails the test and names the package.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/cluster.h"

namespace spate::testing {

class Browser {
 public:
  explicit Browser(const TempDir& dir);
  // The DOM after the page's scripts ran for `budget_ms` of virtual time.
  std::string DumpDom(const std::string& url, int budget_ms = 3000);
  // Saves a PNG of the rendered page.
  void Screenshot(const std::string& url, const std::string& png, int budget_ms = 3000, int width = 1400,
                  int height = 1000);

 private:
  std::string Run(std::vector<std::string> args);
  std::string profile_;
};

// One page kept open in a running Chromium and read in real time, for tests
// that change the world under a page (stop a daemon, start it again) and
// watch the same page react. Browser::DumpDom loads a fresh page per call and
// fast-forwards its timers, so it cannot show that. Driven over the DevTools
// protocol on a pipe (--remote-debugging-pipe): no port, nothing to race for.
// The browser has its own profile, so it never hands a URL to (or takes one
// from) a Browser running beside it. Closed (and its processes reaped) on
// destruction.
class LivePage {
 public:
  LivePage(const TempDir& dir, const std::string& url);
  ~LivePage();
  LivePage(const LivePage&) = delete;
  LivePage& operator=(const LivePage&) = delete;

  // The value of a JavaScript expression in the page (a promise is awaited);
  // fails the test if it throws.
  nlohmann::json Eval(const std::string& expression);
  // The serialized DOM now.
  std::string Dom();
  // Polls `expression` every 200 ms until it is true; false after `timeout`.
  bool WaitFor(const std::string& expression, std::chrono::milliseconds timeout);

 private:
  void Close();
  nlohmann::json Call(const std::string& method, const nlohmann::json& params, const std::string& session = "");

  pid_t pid_ = -1;
  int to_browser_ = -1, from_browser_ = -1;
  std::string buffer_;  // bytes read past the last message
  int next_id_ = 1;
  std::string session_;
  std::string log_;
};

}  // namespace spate::testing
