// Headless Chromium (Debian's `chromium`) for tests that check what a page
// shows. A missing browser fails the test and names the package.
#pragma once

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

}  // namespace spate::testing
