#include "tests/support/browser.h"

#include <catch2/catch.hpp>
#include <filesystem>

namespace spate::testing {

namespace {
const char* kChromium = "/usr/bin/chromium";
}

Browser::Browser(const TempDir& dir) : profile_(dir / "chromium-profile") {
  if (!std::filesystem::exists(kChromium))
    FAIL("headless browser /usr/bin/chromium missing: apt-get install chromium (scripts/install-deps installs it)");
}

std::string Browser::Run(std::vector<std::string> args) {
  // Root needs --no-sandbox; no GPU, no /dev/shm limits, nothing fetched from outside.
  std::vector<std::string> argv{kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                "--no-first-run", "--disable-background-networking", "--disable-sync",
                                "--user-data-dir=" + profile_};
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

}  // namespace spate::testing
