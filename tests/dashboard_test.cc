// The push dashboard in a real browser (Debian's headless Chromium) during and
// after a real push on loopback: what the page shows is read from its DOM.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/support/browser.h"
#include "tests/support/spate_cluster.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The text of the element with id `id` (no nested tags expected).
std::string TextOf(const std::string& dom, const std::string& id) {
  std::smatch m;
  if (std::regex_search(dom, m, std::regex("id=\"" + id + "\">([^<]*)<"))) return m[1];
  return "";
}

}  // namespace

TEST_CASE("dashboard: a real browser shows the push live and after, with rack cells, counts and a failure's reason") {
  TempDir dir("spate-dashboard");
  Browser browser(dir);
  SpateCluster c(dir);
  c.StartSeeder("", {"--upload-rate", "4MiB"});
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = 1; host <= 3; ++host) c.StartFetcher(rack, host, {"--download-rate", "2MiB", "--upload-rate", "2MiB"});
  c.WaitForHosts(6);
  // r2h3 cannot create <install>/app: its push fails with the reason.
  std::ofstream(c.installs[5] + "/app") << "in the way\n";
  std::string file = dir / "app.bin";
  WriteRandomFile(file, 8u << 20, 21);
  c.Upload(file);

  Process push({SpateBinary(), "push", "app@1.0", "--tracker", c.tracker, "--timeout", "120s"}, dir / "push.log",
               SpateCluster::kEnv);
  // Mid-push: every host has a cell in its rack, and the page names the push.
  for (int i = 0; i < 50; ++i) {
    auto r = spate::http::Call("GET", c.tracker + "/api/v1/pushes/1", "");
    if (r.ok() && r->status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  std::string live = browser.DumpDom(c.tracker + "/pushes/1", 2500);
  INFO(live.substr(0, 6000));
  CHECK(live.find("data-rack=\"dc1/pod1/rack1\"") != std::string::npos);
  CHECK(live.find("data-rack=\"dc1/pod2/rack2\"") != std::string::npos);
  CHECK(Count(live, "class=\"cell s-") == 6);
  CHECK(live.find("Push 1: app@1.0") != std::string::npos);
  CHECK(live.find("<canvas") != std::string::npos);
  browser.Screenshot(c.tracker + "/pushes/1", fs::absolute("dashboard-live.png").string(), 2500);

  REQUIRE(push.Wait(150s) == 1);  // one host failed
  auto rec = spate::http::Call("GET", c.tracker + "/api/v1/pushes/1", "");
  REQUIRE(rec.ok());
  std::string reason;
  auto record = nlohmann::json::parse(rec->body);
  for (const auto& h : record["hosts"])
    if (h["host"] == "r2h3") reason = h["error"].get<std::string>();
  REQUIRE_FALSE(reason.empty());

  std::string after = browser.DumpDom(c.tracker + "/pushes/1", 2500);
  INFO(after.substr(0, 8000));
  CHECK(TextOf(after, "count-installed") == "5 / 6");
  CHECK(TextOf(after, "count-failed") == "1");
  CHECK(Count(after, "class=\"cell s-installed\"") == 5);
  CHECK(after.find("data-host=\"r2h3\" data-state=\"failed\"") != std::string::npos);
  for (const char* host : {"r1h1", "r1h2", "r1h3", "r2h1", "r2h2"})
    CHECK(after.find("data-host=\"" + std::string(host) + "\" data-state=\"installed\"") != std::string::npos);
  // The failure and its reason are listed (HTML-escaped as the DOM serializes it).
  std::string shown = std::regex_replace(reason, std::regex("&"), "&amp;");
  shown = std::regex_replace(shown, std::regex("<"), "&lt;");
  shown = std::regex_replace(shown, std::regex(">"), "&gt;");
  CHECK(after.find("<td class=\"reason\">" + shown + "</td>") != std::string::npos);
  browser.Screenshot(c.tracker + "/pushes/1", fs::absolute("dashboard-push.png").string(), 3000);

  std::string list = browser.DumpDom(c.tracker + "/", 2000);
  INFO(list.substr(0, 4000));
  CHECK(list.find("data-push=\"1\"") != std::string::npos);
  CHECK(list.find("data-state=\"failed\"") != std::string::npos);  // the push's own state

  std::string fleet = browser.DumpDom(c.tracker + "/fleet", 2000);
  INFO(fleet.substr(0, 4000));
  CHECK(fleet.find("<td>dc1/pod1/rack1</td><td>app</td><td>1.0 (3)</td>") != std::string::npos);
  CHECK(fleet.find("<td>dc1/pod2/rack2</td><td>app</td><td>1.0 (2)</td>") != std::string::npos);
}
