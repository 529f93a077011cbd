// `spate pushes`: the recent pushes, newest first, as a table (or the
// tracker's JSON as it came, for scripts).
#include <chrono>
#include <cxxopts.hpp>
#include <iostream>
#include <string>

#include "push/cli.h"
#include "push/pushes_view.h"
#include "push/tracker_client.h"
#include "wire/daemon.h"

namespace spate {

int PushesCommand(int argc, char** argv) {
  cxxopts::Options options("spate pushes", "List recent pushes and rollbacks, newest first.");
  // clang-format off
  options.add_options()
    ("limit", "how many (1-1000)", cxxopts::value<int>()->default_value("20"))
    ("json", "the tracker's answer as JSON")
    ("h,help", "show help");
  // clang-format on
  cli::AddTrackerOptions(options);
  int code = kExitOk;
  auto args = cli::Parse(options, argc, argv, code);
  if (!args) return code;
  const std::string cmd = options.program();
  const int limit = (*args)["limit"].as<int>();
  if (limit < 1 || limit > 1000) return cli::Fail(cmd, "--limit must be 1 to 1000", kExitUsage);

  auto answer = cli::TrackerFrom(*args, cli::Use::kRead).Call("GET", "/pushes?limit=" + std::to_string(limit));
  if (!answer.ok()) return cli::Fail(cmd, "cannot list pushes: " + answer.status().message(), kExitFailure);
  if (args->count("json")) {
    std::cout << answer->dump() << std::endl;
    return kExitOk;
  }
  auto rows = PushSummariesFromJson(*answer);
  if (!rows.ok()) return cli::Fail(cmd, "unexpected answer from the tracker: " + rows.status().message(), kExitFailure);
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::cout << RenderPushes(*rows, now, LocalTime) << std::flush;
  return kExitOk;
}

}  // namespace spate
