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
