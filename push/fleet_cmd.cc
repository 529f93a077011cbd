// `spate fleet`: what every host runs, per rack, and where versions are
// skewed (or the tracker's JSON as it came, for scripts).
#include <chrono>
#include <cxxopts.hpp>
#include <iostream>
#include <string>

#include "push/cli.h"
#include "push/fleet_view.h"
#include "push/tracker_client.h"
#include "wire/daemon.h"
#include "wire/http.h"

namespace spate {

int FleetCommand(int argc, char** argv) {
  cxxopts::Options options("spate fleet", "Show the versions each host runs, per rack, and version skew.");
  // clang-format off
  options.add_options()
    ("hosts", "only host ids matching this glob", cxxopts::value<std::string>()->default_value("*"))
    ("json", "the tracker's answer as JSON")
    ("h,help", "show help");
  // clang-format on
  cli::AddTrackerOptions(options);
  int code = kExitOk;
  auto args = cli::Parse(options, argc, argv, code);
  if (!args) return code;
  const std::string cmd = options.program();
  const std::string glob = (*args)["hosts"].as<std::string>();
  if (glob.empty()) return cli::Fail(cmd, "--hosts is empty (use '*' for every host)", kExitUsage);

  auto answer = cli::TrackerFrom(*args, cli::Use::kRead).Call("GET", "/fleet?hosts=" + http::UrlEncode(glob));
  if (!answer.ok()) return cli::Fail(cmd, "cannot read the fleet: " + answer.status().message(), kExitFailure);
  if (args->count("json")) {
    std::cout << answer->dump() << std::endl;
    return kExitOk;
  }
  auto fleet = FleetFromJson(*answer);
  if (!fleet.ok())
    return cli::Fail(cmd, "unexpected answer from the tracker: " + fleet.status().message(), kExitFailure);
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  if (fleet->hosts.empty() && glob != "*")
    std::cout << "no hosts match '" << glob << "'" << std::endl;
  else
    std::cout << RenderFleet(*fleet, now) << std::flush;
  return kExitOk;
}

}  // namespace spate
