#include "push/watch.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "wire/daemon.h"

namespace spate {

namespace {

// Redraws a block of lines in place on a terminal.
class TtyPainter {
 public:
  explicit TtyPainter(std::ostream& out) : out_(out) {}

  void Paint(const std::vector<std::string>& lines) {
    std::string s;
    if (drawn_ > 0) s += "\x1b[" + std::to_string(drawn_) + "F";
    for (const auto& l : lines) s += "\x1b[2K" + l + "\n";
    for (size_t i = lines.size(); i < drawn_; ++i) s += "\x1b[2K\n";
    size_t total = std::max(lines.size(), drawn_);
    if (total > lines.size()) s += "\x1b[" + std::to_string(total - lines.size()) + "F";
    drawn_ = lines.size();
    out_ << s << std::flush;
  }

 private:
  std::ostream& out_;
  size_t drawn_ = 0;
};

}  // namespace

PushOutcome Watch(PushProgress progress, const WatchOptions& options, const WatchIo& io) {
  std::ostream& out = *io.out;
  TtyPainter painter(out);
  PushOutcome outcome = PushOutcome::kTimedOut;
  int consecutive_errors = 0;
  for (;;) {
    const PushTally tally = Tally(progress);
    switch (options.style) {
      case WatchStyle::kTty: painter.Paint(RenderTty(progress, io.elapsed(), io.width(), io.now_ms())); break;
      case WatchStyle::kJson: out << ProgressEvent(progress, io.elapsed()).dump() << std::endl; break;
      case WatchStyle::kPlain: out << RenderPlain(progress, io.elapsed(), io.now_ms()) << std::endl; break;
    }
    if (auto over = OutcomeIfOver(progress, tally)) {
      outcome = *over;
      break;
    }
    if (io.interrupted()) {
      outcome = PushOutcome::kInterrupted;
      break;
    }
    if (io.elapsed() >= options.timeout) break;
    io.sleep(options.interval);
    if (io.interrupted()) continue;  // draw once more, then stop

    auto next = io.fetch();
    if (next.ok()) {
      progress = std::move(*next);
      consecutive_errors = 0;
    } else if (++consecutive_errors % 5 == 1) {
      // The tracker may be restarting; keep the last snapshot and retry.
      *io.err << options.command << ": progress unavailable (" << next.status().message() << "); retrying" << std::endl;
    }
  }

  if (options.style == WatchStyle::kJson) {
    out << FinalEvent(progress, io.elapsed(), outcome).dump() << std::endl;
  } else {
    out << RenderFinal(progress, io.elapsed(), outcome, io.now_ms());
    if (outcome == PushOutcome::kInterrupted || outcome == PushOutcome::kTimedOut)
      out << "the push goes on at the tracker; only this watcher stopped (spate push status " << progress.id
          << " shows it)\n";
  }
  out << std::flush;
  return outcome;
}

int ExitCodeFor(PushOutcome o) {
  switch (o) {
    case PushOutcome::kSucceeded: return kExitOk;
    case PushOutcome::kInterrupted: return kExitInterrupted;
    default: return kExitFailure;
  }
}

namespace {

std::atomic<bool> g_interrupted{false};

int TerminalWidth() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 100;
}

}  // namespace

PushOutcome WatchLive(const TrackerClient& tracker, PushProgress first, const WatchOptions& options) {
  std::signal(SIGINT, [](int) { g_interrupted = true; });
  std::signal(SIGTERM, [](int) { g_interrupted = true; });
  const auto start = std::chrono::steady_clock::now();
  const std::string path = "/pushes/" + std::to_string(first.id);
  WatchIo io;
  io.fetch = [&] { return tracker.CallForPush("GET", path); };
  io.elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  };
  io.now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  io.sleep = [](std::chrono::milliseconds d) {
    // Small steps, so Ctrl-C answers at once.
    auto wake = std::chrono::steady_clock::now() + d;
    while (!g_interrupted && std::chrono::steady_clock::now() < wake)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  io.interrupted = [] { return g_interrupted.load(); };
  io.width = TerminalWidth;
  io.out = &std::cout;
  io.err = &std::cerr;
  return Watch(std::move(first), options, io);
}

}  // namespace spate
