#include "push/watch.h"

#include <catch2/catch.hpp>
#include <deque>
#include <sstream>

#include "wire/daemon.h"

using namespace spate;
using std::chrono::milliseconds;

namespace {

HostProgress Row(std::string name, std::string state, std::string error = "") {
  HostProgress h;
  h.host = std::move(name);
  h.location = "dc/p/r1";
  h.state = std::move(state);
  h.total = 1000;
  h.bytes_done = h.state == kStatePending ? 0 : 1000;
  h.error = std::move(error);
  return h;
}

// Push 9 of web@2.0 to a1..a4 in waves of 1 and 3, rows in the given states.
PushProgress Snapshot(std::vector<const char*> states, int wave = 0, const char* state = "active") {
  PushProgress p;
  p.id = 9;
  p.artifact = "web@2.0";
  p.size = 1000;
  p.state = state;
  p.waves = {1, 3};
  p.wave = wave;
  for (size_t i = 0; i < states.size(); ++i)
    p.hosts.push_back(Row("a" + std::to_string(i + 1), states[i],
                          states[i] == std::string(kStateFailed) ? "health check failed" : ""));
  return p;
}

// A scripted tracker and a fake clock: each sleep moves time on, each fetch
// takes the next answer (the last one repeats).
struct Script {
  std::deque<Result<PushProgress>> answers;
  int64_t elapsed_ms = 0;
  int interrupt_at_ms = -1;
  std::ostringstream out, err;

  WatchIo Io() {
    WatchIo io;
    io.fetch = [this] {
      Result<PushProgress> r = answers.front();
      if (answers.size() > 1) answers.pop_front();
      return r;
    };
    io.elapsed = [this] { return milliseconds(elapsed_ms); };
    io.now_ms = [this] { return 1'000'000'000 + elapsed_ms; };
    io.sleep = [this](milliseconds d) { elapsed_ms += d.count(); };
    io.interrupted = [this] { return interrupt_at_ms >= 0 && elapsed_ms >= interrupt_at_ms; };
    io.width = [] { return 100; };
    io.out = &out;
    io.err = &err;
    return io;
  }
};

}  // namespace

TEST_CASE("watch stops at a paused push and says why, who failed and what decides") {
  Script s;
  PushProgress staged = Snapshot({kStateInstalled, kStateStaged, kStateStaged, kStateStaged});
  staged.next_wave_at = 1'000'006'000;
  PushProgress paused = Snapshot({kStateInstalled, kStateFailed, kStateStaged, kStateStaged}, 1, "paused");
  paused.reason = "1 host failed, more than max-failures 0";
  s.answers = {staged, paused};
  WatchOptions o;
  PushOutcome outcome = Watch(Snapshot({kStatePending, kStatePending, kStatePending, kStatePending}), o, s.Io());
  CHECK(outcome == PushOutcome::kPaused);
  CHECK(ExitCodeFor(outcome) == kExitFailure);
  CHECK(s.out.str() ==
        "[   0.0s] web@2.0 wave 1/2, 0/4 installed, 0 failed, 0 active, 4 pending, 0 B / 3.9 KiB, 0 B/s, ETA --\n"
        "[   1.0s] web@2.0 wave 1/2, 1/4 installed, 0 failed, 0 active, 3 staged, 0 pending, 3.9 KiB / 3.9 KiB, "
        "0 B/s, ETA 0.0s, next wave in 5.0s\n"
        "[   2.0s] web@2.0 wave 2/2, 1/4 installed, 1 failed, 0 active, 2 staged, 0 pending, 3.9 KiB / 3.9 KiB, "
        "0 B/s, ETA 0.0s, paused: 1 host failed, more than max-failures 0\n"
        "push 9 of web@2.0 paused at wave 2/2 after 2.0s: 1/4 hosts installed and verified, 1 failed, "
        "2 staged (not activated)\n"
        "  paused: 1 host failed, more than max-failures 0\n"
        "  FAILED     a2 (dc/p/r1): health check failed\n"
        "to go on, accepting these failures: spate push resume 9\n"
        "to stop: spate push cancel 9 (with --rollback, activated hosts go back to their previous version)\n");
  CHECK(s.err.str().empty());
}

TEST_CASE("watch stops at a cancelled push and exits as a failure") {
  Script s;
  PushProgress cancelled =
      Snapshot({kStateInstalled, kStateCancelled, kStateCancelled, kStateCancelled}, 0, "cancelled");
  s.answers = {cancelled};
  PushOutcome outcome = Watch(Snapshot({kStateInstalled, kStateStaged, kStateStaged, kStateStaged}), {}, s.Io());
  CHECK(outcome == PushOutcome::kCancelled);
  CHECK(ExitCodeFor(outcome) == kExitFailure);
  CHECK(s.out.str().find("push 9 of web@2.0 cancelled at wave 1/2 after 1.0s: 1/4 hosts installed and verified, "
                         "3 cancelled\n") != std::string::npos);
}

TEST_CASE("watch waits out an unreachable tracker and says so every fifth failure") {
  Script s;
  for (int i = 0; i < 6; ++i) s.answers.push_back(Status::Unavailable("cannot reach the tracker: connection refused"));
  s.answers.push_back(Snapshot({kStateInstalled, kStateInstalled, kStateInstalled, kStateInstalled}, 1));
  WatchOptions o;
  o.command = "spate rollback";
  PushOutcome outcome = Watch(Snapshot({kStateInstalled, kStateStaged, kStateStaged, kStateStaged}), o, s.Io());
  CHECK(outcome == PushOutcome::kSucceeded);
  CHECK(ExitCodeFor(outcome) == kExitOk);
  CHECK(s.err.str() ==
        "spate rollback: progress unavailable (cannot reach the tracker: connection refused); retrying\n"
        "spate rollback: progress unavailable (cannot reach the tracker: connection refused); retrying\n");
  // The last snapshot stays on screen while the tracker is away.
  CHECK(s.out.str().find("[   6.0s] web@2.0 wave 1/2, 1/4 installed") != std::string::npos);
  CHECK(s.out.str().find("push 9 of web@2.0 succeeded after 7.0s: 4/4 hosts installed and verified\n") !=
        std::string::npos);
}

TEST_CASE("watch gives up at the timeout and says the push goes on") {
  Script s;
  PushProgress open = Snapshot({kStateInstalled, kStateDownloading, kStateStaged, kStateStaged});
  s.answers = {open};
  WatchOptions o;
  o.timeout = milliseconds(3000);
  o.interval = milliseconds(1500);
  CHECK(Watch(open, o, s.Io()) == PushOutcome::kTimedOut);
  const std::string out = s.out.str();
  CHECK(out.find("push 9 of web@2.0 timed out at wave 1/2 after 3.0s") != std::string::npos);
  CHECK(out.substr(out.rfind('\n', out.size() - 2) + 1) ==
        "the push goes on at the tracker; only this watcher stopped (spate push status 9 shows it)\n");
}

TEST_CASE("an interrupted watch draws once more, then stops with exit code 130") {
  Script s;
  s.interrupt_at_ms = 1;
  PushProgress open = Snapshot({kStateInstalled, kStateDownloading, kStateStaged, kStateStaged});
  s.answers = {open};
  PushOutcome outcome = Watch(open, {}, s.Io());
  CHECK(outcome == PushOutcome::kInterrupted);
  CHECK(ExitCodeFor(outcome) == kExitInterrupted);
  CHECK(s.elapsed_ms == 1000);  // no poll after the interrupt
  CHECK(s.out.str().find("push 9 of web@2.0 interrupted") != std::string::npos);
}

TEST_CASE("json watch prints one progress event per tick and a done event") {
  Script s;
  PushProgress paused = Snapshot({kStateInstalled, kStateFailed, kStateStaged, kStateStaged}, 1, "paused");
  s.answers = {paused};
  WatchOptions o;
  o.style = WatchStyle::kJson;
  CHECK(Watch(Snapshot({kStateInstalled, kStateStaged, kStateStaged, kStateStaged}), o, s.Io()) ==
        PushOutcome::kPaused);
  std::istringstream lines(s.out.str());
  std::vector<nlohmann::json> events;
  for (std::string line; std::getline(lines, line);) events.push_back(nlohmann::json::parse(line));
  REQUIRE(events.size() == 3);
  CHECK(events[0]["event"] == "progress");
  CHECK(events[0]["staged"] == 3);
  CHECK(events[1]["state"] == "paused");
  CHECK(events[1]["wave"] == 1);
  CHECK(events[2]["event"] == "done");
  CHECK(events[2]["result"] == "paused");
}

TEST_CASE("terminal watch redraws the block in place") {
  Script s;
  s.answers = {Snapshot({kStateInstalled, kStateInstalled, kStateInstalled, kStateInstalled}, 1)};
  WatchOptions o;
  o.style = WatchStyle::kTty;
  CHECK(Watch(Snapshot({kStateInstalled, kStateStaged, kStateStaged, kStateStaged}), o, s.Io()) ==
        PushOutcome::kSucceeded);
  const std::string out = s.out.str();
  // First block: bar, phase line, racks (3 lines); the second starts by moving up over them.
  CHECK(out.rfind("\x1b[2Kweb@2.0 [", 0) == 0);
  CHECK(out.find("\x1b[3F\x1b[2Kweb@2.0 [") != std::string::npos);
}
