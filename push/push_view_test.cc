#include "push/push_view.h"

#include <catch2/catch.hpp>

using namespace spate;
using std::chrono::milliseconds;

namespace {
HostProgress Host(std::string name, std::string loc, std::string state, uint64_t done, double rate = 0,
                  std::string error = "", int64_t updated = 0) {
  HostProgress h;
  h.host = std::move(name);
  h.location = std::move(loc);
  h.state = std::move(state);
  h.bytes_done = done;
  h.total = 1000;
  h.rate = rate;
  h.error = std::move(error);
  h.updated_at = updated;
  return h;
}

PushProgress Sample() {
  PushProgress p;
  p.id = 7;
  p.artifact = "web@1.0";
  p.size = 1000;
  p.state = "active";
  p.hosts = {Host("a1", "dc/p/r1", kStateInstalled, 1000), Host("a2", "dc/p/r1", kStateDownloading, 500, 100),
             Host("b1", "dc/p/r2", kStateFailed, 10, 0, "sha256 mismatch"), Host("b2", "dc/p/r2", kStatePending, 0)};
  return p;
}
}  // namespace

TEST_CASE("tally counts states, bytes, rate and racks") {
  PushTally t = Tally(Sample());
  CHECK(t.total == 4);
  CHECK(t.installed == 1);
  CHECK(t.failed == 1);
  CHECK(t.active == 1);
  CHECK(t.pending == 1);
  CHECK(t.bytes_done == 1510);
  CHECK(t.bytes_total == 4000);
  CHECK(t.rate == 100);
  CHECK(t.eta_seconds() == Approx(24.9));
  CHECK(t.racks.at("dc/p/r1").installed == 1);
  CHECK(t.racks.at("dc/p/r2").failed == 1);
  CHECK_FALSE(t.finished());
}

TEST_CASE("plain progress line is exact") {
  CHECK(RenderPlain(Sample(), milliseconds(12000)) ==
        "[    12s] web@1.0 1/4 installed, 1 failed, 1 active, 1 pending, 1.5 KiB / 3.9 KiB, 100 B/s, ETA 24s");
}

TEST_CASE("terminal view draws a bar line and per-rack bars within the width") {
  auto lines = RenderTty(Sample(), milliseconds(3000), 100);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].rfind("web@1.0 [", 0) == 0);
  CHECK(lines[0].find("1/4 hosts") != std::string::npos);
  CHECK(lines[0].find("1 failed") != std::string::npos);
  CHECK(lines[0].size() <= 100);
  CHECK(lines[1] == "  dc/p/r1 [####....] 1/2  dc/p/r2 [........] 0/2 (1 failed)");
  // Narrow terminals wrap racks onto more lines instead of overflowing.
  CHECK(RenderTty(Sample(), milliseconds(3000), 30).size() == 3);
}

TEST_CASE("final report says how many tries a failed host made when it retried") {
  PushProgress p = Sample();
  p.hosts[2].tries = 3;
  CHECK(RenderFinal(p, milliseconds(61000), PushOutcome::kTimedOut, 0).find(
            "  FAILED     b1 (dc/p/r2): sha256 mismatch (after 3 tries)\n") != std::string::npos);
}

TEST_CASE("final report gives a straggler's likely cause, rate and peers") {
  PushProgress p = Sample();
  const int64_t now = 1'000'000;
  for (auto& h : p.hosts) h.updated_at = h.progress_at = now - 1000;
  p.hosts[1].progress_at = now - 45'000;  // a2: downloading, stuck
  p.hosts[1].peers = 2;
  std::string out = RenderFinal(p, milliseconds(61000), PushOutcome::kTimedOut, now);
  INFO(out);
  CHECK(out.find("  STRAGGLER  a2 (dc/p/r1): downloading 50%, 100 B/s, 2 peers — no progress: no progress for 45 s") !=
        std::string::npos);
}

TEST_CASE("final report names every failed and straggling host with a reason") {
  std::string out = RenderFinal(Sample(), milliseconds(61000), PushOutcome::kTimedOut, 0);
  CHECK(out ==
        "push 7 of web@1.0 timed out after 1m01s: 1/4 hosts installed and verified, 1 failed, 2 not finished\n"
        "  FAILED     b1 (dc/p/r2): sha256 mismatch\n"
        "  STRAGGLER  a2 (dc/p/r1): downloading 50%\n"
        "  STRAGGLER  b2 (dc/p/r2): never picked up the assignment\n");
  auto ev = FinalEvent(Sample(), milliseconds(61000), PushOutcome::kTimedOut);
  CHECK(ev["result"] == "timed out");
  CHECK(ev["failed_hosts"].size() == 1);
  CHECK(ev["stragglers"].size() == 2);
}

TEST_CASE("a finished push shows done and no problems") {
  PushProgress p = Sample();
  for (auto& h : p.hosts) h.state = kStateInstalled;
  PushTally t = Tally(p);
  CHECK(t.finished());
  CHECK(t.bytes_done == t.bytes_total);
  CHECK(RenderFinal(p, milliseconds(5000), PushOutcome::kSucceeded, 0) ==
        "push 7 of web@1.0 succeeded after 5.0s: 4/4 hosts installed and verified\n");
  CHECK(ProgressEvent(p, milliseconds(5000))["installed"] == 4);
}

TEST_CASE("a push superseded on some hosts is finished but not a success") {
  PushProgress p = Sample();
  p.hosts = {Host("a1", "dc/p/r1", kStateInstalled, 1000),
             Host("a2", "dc/p/r1", kStateSuperseded, 0, 0, "superseded by push 8 (web@2.0)")};
  PushTally t = Tally(p);
  CHECK(t.finished());
  CHECK(t.superseded == 1);
  CHECK(FinishedOutcome(t) == PushOutcome::kSuperseded);
  std::string final = RenderFinal(p, milliseconds(1000), FinishedOutcome(t), 0);
  CHECK(final.find("push 7 of web@1.0 superseded after") == 0);
  CHECK(final.find("1 superseded by a newer push") != std::string::npos);
  CHECK(final.find("SUPERSEDED a2 (dc/p/r1): superseded by push 8 (web@2.0)") != std::string::npos);
  CHECK(FinalEvent(p, milliseconds(1000), FinishedOutcome(t))["result"] == "superseded");
  p.hosts.push_back(Host("b1", "dc/p/r2", kStateFailed, 0, 0, "disk full"));
  CHECK(FinishedOutcome(Tally(p)) == PushOutcome::kFailed);  // a failure outranks superseded
}

namespace {
// 8 hosts in 3 waves (1, 3, 4); wave 2 may activate, wave 3 waits.
PushProgress Waved() {
  PushProgress p;
  p.id = 9;
  p.artifact = "web@2.0";
  p.size = 1000;
  p.state = "active";
  p.waves = {1, 3, 4};
  p.wave = 1;
  p.hosts = {Host("a1", "dc/p/r1", kStateInstalled, 1000),
             Host("a2", "dc/p/r1", kStateInstalled, 1000),
             Host("a3", "dc/p/r1", kStateVerifying, 1000),
             Host("b1", "dc/p/r2", kStateFailed, 1000, 0, "health check failed"),
             Host("b2", "dc/p/r2", kStateStaged, 1000),
             Host("b3", "dc/p/r2", kStateStaged, 1000),
             Host("c1", "dc/p/r3", kStateStaged, 1000),
             Host("c2", "dc/p/r3", kStateDownloading, 500, 50)};
  return p;
}
}  // namespace

TEST_CASE("tally counts staged rows apart from active ones and cancelled rows as done") {
  PushProgress p = Waved();
  PushTally t = Tally(p);
  CHECK(t.staged == 3);
  CHECK(t.active == 2);
  CHECK(t.rate == 50);
  CHECK_FALSE(t.finished());
  CHECK_FALSE(OutcomeIfOver(p, t).has_value());
  for (auto& h : p.hosts)
    if (h.state != kStateInstalled && h.state != kStateFailed) h.state = kStateCancelled;
  t = Tally(p);
  CHECK(t.cancelled == 5);
  CHECK(t.finished());
  CHECK(FinishedOutcome(t) == PushOutcome::kCancelled);  // someone stopped it: that beats the failure
}

TEST_CASE("a paused or cancelled push is over for a watcher even with rows open") {
  PushProgress p = Waved();
  p.state = "paused";
  CHECK(OutcomeIfOver(p, Tally(p)) == PushOutcome::kPaused);
  p.state = "cancelled";
  CHECK(OutcomeIfOver(p, Tally(p)) == PushOutcome::kCancelled);
  p = Sample();
  for (auto& h : p.hosts) h.state = kStateInstalled;
  CHECK(OutcomeIfOver(p, Tally(p)) == PushOutcome::kSucceeded);
}

TEST_CASE("start line names the waves and a rollback") {
  CHECK(RenderStart(Sample()) == "push 7: web@1.0 to 4 hosts");
  PushProgress p = Waved();
  CHECK(RenderStart(p) == "push 9: web@2.0 to 8 hosts in 3 waves (1, 3, 4)");
  p.kind = "rollback";
  p.waves = {8};
  CHECK(RenderStart(p) == "rollback push 9: web@2.0 to 8 hosts");
}

TEST_CASE("plain line of a push in waves shows the wave, staged hosts and the next wave countdown") {
  PushProgress p = Waved();
  p.next_wave_at = 1'000'012'000;
  CHECK(RenderPlain(p, milliseconds(42000), 1'000'000'000) ==
        "[    42s] web@2.0 wave 2/3, 2/8 installed, 1 failed, 2 active, 3 staged, 0 pending, 7.3 KiB / 7.8 KiB, "
        "50 B/s, ETA 10s, next wave in 12s");
  // Without a clock, or once the time has passed, no countdown.
  CHECK(RenderPlain(p, milliseconds(42000)).find("next wave") == std::string::npos);
  CHECK(RenderPlain(p, milliseconds(42000), 1'000'013'000).find("next wave") == std::string::npos);
}

TEST_CASE("paused and cancelled pushes say so in the live views") {
  PushProgress p = Waved();
  p.state = "paused";
  p.reason = "1 host failed, more than max-failures 0";
  CHECK(RenderPlain(p, milliseconds(42000)) ==
        "[    42s] web@2.0 wave 2/3, 2/8 installed, 1 failed, 2 active, 3 staged, 0 pending, 7.3 KiB / 7.8 KiB, "
        "50 B/s, ETA 10s, paused: 1 host failed, more than max-failures 0");
  auto lines = RenderTty(p, milliseconds(42000), 120);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].find("2/8 hosts") != std::string::npos);
  CHECK(lines[0].find("  1 failed  3 staged") != std::string::npos);
  CHECK(lines[1] == "  wave 2/3, paused: 1 host failed, more than max-failures 0");
  CHECK(lines[2] == "  dc/p/r1 [#####...] 2/3  dc/p/r2 [........] 0/3 (1 failed)  dc/p/r3 [........] 0/2");

  p.state = "cancelled";
  p.reason = "";
  CHECK(RenderTty(p, milliseconds(42000), 120)[1] == "  wave 2/3, cancelled");
  CHECK(RenderPlain(p, milliseconds(42000)).substr(RenderPlain(p, milliseconds(42000)).size() - 11) == ", cancelled");

  // One wave, running by itself: no phase line, as before waves existed.
  CHECK(RenderTty(Sample(), milliseconds(3000), 100).size() == 2);
}

TEST_CASE("progress event carries state, wave, waves and staged") {
  PushProgress p = Waved();
  p.state = "paused";
  p.reason = "budget spent";
  auto ev = ProgressEvent(p, milliseconds(1000));
  CHECK(ev["state"] == "paused");
  CHECK(ev["wave"] == 1);
  CHECK(ev["waves"] == nlohmann::json::array({1, 3, 4}));
  CHECK(ev["staged"] == 3);
  CHECK(ev["active"] == 2);
  CHECK(ev["reason"] == "budget spent");
}

TEST_CASE("final report of a paused push gives the reason, the failed hosts and the commands that decide") {
  PushProgress p = Waved();
  p.state = "paused";
  p.reason = "1 host failed, more than max-failures 0";
  CHECK(RenderFinal(p, milliseconds(61000), PushOutcome::kPaused, 0) ==
        "push 9 of web@2.0 paused at wave 2/3 after 1m01s: 2/8 hosts installed and verified, 1 failed, "
        "3 staged (not activated), 2 not finished\n"
        "  paused: 1 host failed, more than max-failures 0\n"
        "  FAILED     b1 (dc/p/r2): health check failed\n"
        "  STRAGGLER  a3 (dc/p/r1): verifying 100%\n"
        "  STRAGGLER  c2 (dc/p/r3): downloading 50%\n"
        "to go on, accepting these failures: spate push resume 9\n"
        "to stop: spate push cancel 9 (with --rollback, activated hosts go back to their previous version)\n");
  auto ev = FinalEvent(p, milliseconds(61000), PushOutcome::kPaused);
  CHECK(ev["result"] == "paused");
  CHECK(ev["reason"] == "1 host failed, more than max-failures 0");
  CHECK(ev["staged"] == 3);
  CHECK(ev["stragglers"].size() == 2);  // staged hosts wait for their wave; they are not stragglers
}

TEST_CASE("final report of a cancelled rollback counts the cancelled hosts") {
  PushProgress p = Waved();
  p.kind = "rollback";
  p.state = "cancelled";
  p.reason = "cancelled by alice@ops1";
  for (auto& h : p.hosts)
    if (h.state != kStateInstalled && h.state != kStateFailed) h.state = kStateCancelled;
  CHECK(RenderFinal(p, milliseconds(5000), FinishedOutcome(Tally(p)), 0) ==
        "rollback push 9 of web@2.0 cancelled at wave 2/3 after 5.0s: 2/8 hosts installed and verified, 1 failed, "
        "5 cancelled\n"
        "  cancelled: cancelled by alice@ops1\n"
        "  FAILED     b1 (dc/p/r2): health check failed\n");
}
