// The push dashboard in a real browser (Debian's headless Chromium) during and
// after real pushes on loopback: what the page shows is read from its DOM.
// Screenshots land in the working directory (the build's tests/ folder);
// docs/ holds copies for the README.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
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
  if (std::regex_search(dom, m, std::regex("id=\"" + id + "\"[^>]*>([^<]*)<"))) return m[1];
  return "";
}

// `text` as the DOM serializes it inside an element.
std::string Escaped(std::string text) {
  text = std::regex_replace(text, std::regex("&"), "&amp;");
  text = std::regex_replace(text, std::regex("<"), "&lt;");
  return std::regex_replace(text, std::regex(">"), "&gt;");
}

// A call to the control API with the push token (which may also read); the answer's JSON.
nlohmann::json Api(const SpateCluster& c, const std::string& method, const std::string& path,
                   const nlohmann::json& body = nullptr) {
  spate::http::ClientOptions o;
  o.headers = {{"Authorization", std::string("Bearer ") + SpateCluster::kPushToken},
               {"Content-Type", "application/json"}};
  auto r = spate::http::Call(method, c.tracker + "/api/v1" + path, body.is_null() ? "" : body.dump(), o);
  REQUIRE(r.ok());
  INFO(method << " " << path << ": " << r->body);
  REQUIRE(r->status / 100 == 2);
  return nlohmann::json::parse(r->body);
}

// Polls GET /pushes/ID until `done` holds for its answer; fails after 90 s.
nlohmann::json WaitForPush(const SpateCluster& c, int id, const std::function<bool(const nlohmann::json&)>& done) {
  nlohmann::json p;
  for (auto deadline = std::chrono::steady_clock::now() + 90s; std::chrono::steady_clock::now() < deadline;) {
    p = Api(c, "GET", "/pushes/" + std::to_string(id));
    if (done(p)) return p;
    std::this_thread::sleep_for(200ms);
  }
  INFO(p.dump().substr(0, 4000));
  FAIL("push " << id << " did not get there in 90 s");
  return p;
}

int CountState(const nlohmann::json& push, const std::string& state) {
  int n = 0;
  for (const auto& h : push["hosts"]) n += h["state"] == state;
  return n;
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
    auto r = spate::http::Call("GET", c.tracker + "/api/v1/pushes/1", "", SpateCluster::As());
    if (r.ok() && r->status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  std::string live = browser.DumpDom(c.Page("/pushes/1"), 2500);
  INFO(live.substr(0, 6000));
  CHECK(live.find("data-rack=\"dc1/pod1/rack1\"") != std::string::npos);
  CHECK(live.find("data-rack=\"dc1/pod2/rack2\"") != std::string::npos);
  CHECK(Count(live, "class=\"cell s-") == 6);
  CHECK(live.find("Push 1: app@1.0") != std::string::npos);
  CHECK(live.find("<canvas") != std::string::npos);
  browser.Screenshot(c.Page("/pushes/1"), fs::absolute("dashboard-live.png").string(), 2500);

  REQUIRE(push.Wait(150s) == 1);  // one host failed
  auto rec = spate::http::Call("GET", c.tracker + "/api/v1/pushes/1", "", SpateCluster::As());
  REQUIRE(rec.ok());
  std::string reason;
  auto record = nlohmann::json::parse(rec->body);
  for (const auto& h : record["hosts"])
    if (h["host"] == "r2h3") reason = h["error"].get<std::string>();
  REQUIRE_FALSE(reason.empty());

  std::string after = browser.DumpDom(c.Page("/pushes/1"), 2500);
  INFO(after.substr(0, 8000));
  CHECK(TextOf(after, "count-installed") == "5 / 6");
  CHECK(TextOf(after, "count-failed") == "1");
  CHECK(Count(after, "class=\"cell s-installed\"") == 5);
  CHECK(after.find("data-host=\"r2h3\" data-state=\"failed\"") != std::string::npos);
  for (const char* host : {"r1h1", "r1h2", "r1h3", "r2h1", "r2h2"})
    CHECK(after.find("data-host=\"" + std::string(host) + "\" data-state=\"installed\"") != std::string::npos);
  // The failure and its reason are listed.
  CHECK(after.find("<td class=\"reason\">" + Escaped(reason) + "</td>") != std::string::npos);
  CHECK(TextOf(after, "wave") == "wave 1/1");
  browser.Screenshot(c.Page("/pushes/1"), fs::absolute("dashboard-push.png").string(), 3000);

  std::string list = browser.DumpDom(c.Page("/"), 2000);
  INFO(list.substr(0, 4000));
  CHECK(list.find("data-push=\"1\"") != std::string::npos);
  CHECK(list.find("data-state=\"failed\"") != std::string::npos);  // the push's own state

  std::string fleet = browser.DumpDom(c.Page("/fleet"), 2000);
  INFO(fleet.substr(0, 4000));
  // Rack, hosts known there, artifact, versions with their host counts.
  CHECK(fleet.find("<td>dc1/pod1/rack1</td><td>3</td><td>app</td><td>1.0 (3)</td>") != std::string::npos);
  CHECK(fleet.find("<td>dc1/pod2/rack2</td><td>3</td><td>app</td><td>1.0 (2)</td>") != std::string::npos);
  CHECK(TextOf(fleet, "skew") == "no version skew: app 1.0 on 5 hosts");
}

TEST_CASE("dashboard: a waved push held by its canary shows the wave, the pause reason and the staged hosts") {
  TempDir dir("spate-dashboard-waves");
  Browser browser(dir);
  SpateCluster c(dir);
  c.StartSeeder();
  // Version 2 fails its health check while the file `broken` exists, on any
  // host: whichever host is the canary fails, and the push pauses after it.
  const std::string broken = dir / "broken";
  const std::string check =
      "[ \"$SPATE_VERSION\" != 2 ] || [ ! -e '" + broken + "' ] || { echo port 8080 refused; exit 3; }";
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = 1; host <= 3; ++host) c.StartFetcher(rack, host, {"--health-check", check, "--min-free", "off"});
  c.WaitForHosts(6);
  WriteRandomFile(dir / "app1.bin", 2u << 20, 1);
  WriteRandomFile(dir / "app2.bin", 2u << 20, 2);
  c.Upload(dir / "app1.bin", "1");
  c.Upload(dir / "app2.bin", "2");
  Api(c, "POST", "/pushes", {{"artifact", "app@1"}, {"started_by", "alice"}});
  WaitForPush(c, 1, [](const nlohmann::json& p) { return p["state"] == "succeeded"; });

  std::ofstream(broken) << "health check fails\n";
  Api(c, "POST", "/pushes",
      {{"artifact", "app@2"}, {"waves", "1,100%"}, {"max_failures", "0"}, {"wave_pause_ms", 0}, {"started_by", "bob"}});
  // Paused when the canary failed; the other five go on to stage (distribution never waits).
  auto paused = WaitForPush(c, 2, [](const nlohmann::json& p) {
    return p["state"] == "paused" && CountState(p, "staged") == 5;
  });
  std::string canary, canary_error;
  for (const auto& h : paused["hosts"])
    if (h["wave"] == 0) {
      canary = h["host"].get<std::string>();
      canary_error = h["error"].get<std::string>();
    }
  REQUIRE_FALSE(canary.empty());
  const std::string reason = paused["reason"];
  REQUIRE(reason.find("port 8080 refused") != std::string::npos);

  std::string dom = browser.DumpDom(c.Page("/pushes/2?bound=20"), 2500);
  INFO(dom.substr(0, 12000));
  CHECK(TextOf(dom, "wave") == "wave 1/2");
  CHECK(TextOf(dom, "phase") == Escaped("paused: " + reason));
  CHECK(TextOf(dom, "count-staged") == "5");
  CHECK(TextOf(dom, "count-failed") == "1");
  CHECK(TextOf(dom, "meta").find("started by bob") != std::string::npos);
  // Every cell carries its wave: the canary's first, failed; the rest second, staged.
  CHECK(Count(dom, "class=\"cell s-staged\"") == 5);
  CHECK(Count(dom, "data-state=\"staged\" data-wave=\"2\"") == 5);
  CHECK(dom.find("data-host=\"" + canary + "\" data-state=\"failed\" data-wave=\"1\"") != std::string::npos);
  // The wave table: per wave, its hosts by state (wave, hosts, installed, staged, in flight, pending, failed, other).
  CHECK(dom.find("<tr data-wave=\"1\" class=\"now\"><td>1</td><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td>"
                 "<td class=\"bad\">1</td><td>0</td><td class=\"muted\">paused</td></tr>") != std::string::npos);
  CHECK(dom.find("<tr data-wave=\"2\" class=\"\"><td>2</td><td>5</td><td>0</td><td>5</td><td>0</td><td>0</td>"
                 "<td class=\"\">0</td><td>0</td><td class=\"muted\">staging only</td></tr>") != std::string::npos);
  // The canary is listed with the health check's own words.
  CHECK(dom.find("<td class=\"cause\">failed</td>") != std::string::npos);
  CHECK(dom.find("<td class=\"reason\">" + Escaped(canary_error) + "</td>") != std::string::npos);
  // The bound given in the URL is drawn (the caption names where it came from).
  CHECK(TextOf(dom, "bound").find("bandwidth bound: 20 s (from ?bound=)") == 0);
  browser.Screenshot(c.Page("/pushes/2?bound=20"), fs::absolute("dashboard-paused.png").string(), 2500);

  // The release manager fixes the check and resumes: the second wave installs
  // 2, the canary stays on 1, and the fleet page shows the skew.
  fs::remove(broken);
  Api(c, "POST", "/pushes/2/resume", nlohmann::json::object());
  WaitForPush(c, 2, [](const nlohmann::json& p) { return CountState(p, "installed") == 5; });
  std::string fleet = browser.DumpDom(c.Page("/fleet"), 2000);
  INFO(fleet.substr(0, 6000));
  const std::string canary_rack = canary[1] == '1' ? "dc1/pod1/rack1" : "dc1/pod2/rack2";
  const std::string other_rack = canary[1] == '1' ? "dc1/pod2/rack2" : "dc1/pod1/rack1";
  CHECK(fleet.find("<tr data-rack=\"" + canary_rack + "\" class=\"skewed\"><td>" + canary_rack +
                   "</td><td>3</td><td>app</td><td>2 (2), 1 (1)</td><td class=\"skew\">2 versions</td>") !=
        std::string::npos);
  CHECK(fleet.find("<td>" + other_rack + "</td><td>3</td><td>app</td><td>2 (3)</td><td class=\"\">none</td>") !=
        std::string::npos);
  CHECK(TextOf(fleet, "skew") == "version skew: app runs 2 on 5 hosts, 1 on 1 host");
  browser.Screenshot(c.Page("/fleet"), fs::absolute("dashboard-fleet.png").string(), 2000, 1400, 500);

  // A rollback is marked as one in the list, beside who started each push and its wave.
  Api(c, "POST", "/rollbacks", {{"name", "app"}, {"to", "1"}, {"started_by", "carol"}});
  std::string list = browser.DumpDom(c.Page("/"), 2000);
  INFO(list.substr(0, 6000));
  CHECK(list.find("<tr data-push=\"3\" data-kind=\"rollback\">") != std::string::npos);
  CHECK(list.find("<span class=\"kind rollback\">rollback</span>") != std::string::npos);
  CHECK(std::regex_search(list, std::regex("data-push=\"2\" data-kind=\"push\">.*?<td>bob</td>.*?"
                                           "<td class=\"wave\">2/2</td><td>5</td><td class=\"bad\">1</td>")));
  CHECK(std::regex_search(list, std::regex("data-push=\"1\" data-kind=\"push\">.*?<td>alice</td>.*?"
                                           "<td class=\"wave\">1/1</td><td>6</td>")));
  browser.Screenshot(c.Page("/"), fs::absolute("dashboard-list.png").string(), 2000, 1400, 400);
}

TEST_CASE("dashboard: an open push page says when it lost the daemon and picks the push up again after a restart") {
  TempDir dir("spate-dashboard-contact");
  SpateCluster c(dir);
  c.StartSeeder();
  // Slow enough that the push is still going when the tracker dies.
  for (int host = 1; host <= 2; ++host) c.StartFetcher(1, host, {"--download-rate", "512KiB", "--min-free", "off"});
  c.WaitForHosts(2);
  WriteRandomFile(dir / "app.bin", 4u << 20, 7);
  c.Upload(dir / "app.bin", "1");
  Api(c, "POST", "/pushes", {{"artifact", "app@1"}, {"started_by", "dave"}});

  LivePage page(dir, c.Page("/pushes/1"));
  const std::string contact = "document.getElementById('contact').textContent";
  const std::string shown = "document.getElementById('title').textContent";
  REQUIRE(page.WaitFor(shown + ".startsWith('Push 1: app@1') && document.querySelectorAll('.cell').length === 2", 10s));
  CHECK(page.Eval(contact) == "live");
  CHECK(page.Eval(shown) == "Push 1: app@1 active");

  c.tracker_proc->Kill();
  INFO(page.Dom().substr(0, 6000));
  REQUIRE(page.WaitFor(contact + ".startsWith('lost contact since')", 10s));
  CHECK(page.Eval("document.getElementById('contact').className") == "contact lost");
  // What it knew stays on screen while it retries.
  CHECK(page.Eval(shown).get<std::string>().find("Push 1: app@1") == 0);

  c.RestartTracker();
  REQUIRE(page.WaitFor(contact + " === 'live'", 15s));
  // The restarted daemon's answers drive the page: the push runs to its end there.
  bool finished = page.WaitFor(shown + " === 'Push 1: app@1 succeeded'", 90s);
  INFO(page.Dom().substr(0, 6000));
  INFO(c.Logs());
  CHECK(finished);
  CHECK(page.Eval("document.getElementById('count-installed').textContent") == "2 / 2");
  CHECK(page.Eval("document.querySelectorAll('.cell.s-installed').length") == 2);
}

TEST_CASE("dashboard: the phase line gives a pause's and a cancel's reason and counts down to the next wave") {
  TempDir dir("spate-dashboard-phase");
  SpateCluster c(dir);
  // phaseText is the page's own function, called in the page: only a tracker to serve it is needed.
  LivePage page(dir, c.Page("/"));
  REQUIRE(page.WaitFor("typeof phaseText === 'function'", 10s));
  auto phase = [&](const std::string& push, int waves, int skew_ms = 0) {
    return page.Eval("phaseText(" + push + ", " + std::to_string(waves) + ", " + std::to_string(skew_ms) + ")")
        .get<std::string>();
  };
  CHECK(phase("{state: 'paused', wave: 0, reason: '1 failed, over the budget of 0 (h1: health check exited 3)'}", 2) ==
        "paused: 1 failed, over the budget of 0 (h1: health check exited 3)");
  CHECK(phase("{state: 'cancelled', wave: 1, reason: 'cancelled by bob'}", 4) == "cancelled by bob");
  CHECK(phase("{state: 'cancelled', wave: 1, reason: 'disk full on the seeder'}", 4) ==
        "cancelled: disk full on the seeder");
  CHECK(phase("{state: 'active', wave: 1, next_wave_at: Date.now() + 12000}", 4) ==
        "wave 2 healthy; next wave in 12 s");
  // The daemon's clock 5 s ahead of the browser's: the countdown follows the daemon's.
  CHECK(phase("{state: 'active', wave: 1, next_wave_at: Date.now() + 12000}", 4, 5000) ==
        "wave 2 healthy; next wave in 7 s");
  CHECK(phase("{state: 'active', wave: 1, next_wave_at: 0}", 4) == "activating wave 2; later waves stage and wait");
  CHECK(phase("{state: 'active', wave: 3, next_wave_at: 0}", 4) == "activating wave 4, the last");
  CHECK(phase("{state: 'active', wave: 0, next_wave_at: 0}", 1) == "distributing and activating");
}

TEST_CASE("dashboard: the page takes the read token once from #token= and, without it, says how to open it") {
  TempDir dir("spate-dashboard-token");
  Browser browser(dir);
  SpateCluster c(dir);
  // The static page loads (it holds no data); its API calls are refused without the token.
  std::string bare = browser.DumpDom(c.tracker + "/", 2000);
  INFO(bare.substr(0, 4000));
  CHECK(bare.find("HTTP 401: open this page as /#token=READ_TOKEN") != std::string::npos);
  std::string with = browser.DumpDom(c.Page("/"), 2000);
  INFO(with.substr(0, 4000));
  CHECK(with.find("HTTP 401") == std::string::npos);
  CHECK(TextOf(with, "contact") == "live");
}
