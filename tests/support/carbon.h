// Debian's graphite-carbon (carbon-cache), run as the test's own process on
// loopback with a 1 s retention, and read back with whisper-fetch. Fails the
// test, naming the packages, when either tool is missing.
#pragma once

#include <optional>
#include <string>

#include "tests/support/cluster.h"

namespace spate::testing {

struct Carbon {
  explicit Carbon(const TempDir& dir);
  // The newest non-empty value whisper holds for `metric` (dots as in Graphite), if any.
  std::optional<double> Latest(const std::string& metric) const;
  // Polls Latest until it equals `want` or ~30 s pass (carbon takes a moment
  // to start; senders reconnect each round until it is up).
  std::optional<double> WaitFor(const std::string& metric, double want) const;
  std::string Log() const;

  std::string root;
  int line_port = 0;  // plaintext protocol, 127.0.0.1
  std::optional<Process> proc;
};

}  // namespace spate::testing
