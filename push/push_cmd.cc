// `spate push NAME@VERSION`: record the desired state on the tracker, then
// watch it converge. Exit 0 only when every targeted host installed and verified;
// a push that a newer one superseded on some host did not, and exits 1, as
// does one that paused (failure budget spent) or was cancelled.
//
// `spate push cancel|resume|status ID` act on a push already made
// (push_control_cmd.cc). An artifact id always contains '@', so those words
// never shadow one.
#include <cstdio>
#include <cxxopts.hpp>
#include <string>

#include "push/cli.h"
#include "push/push_view.h"
#include "push/tracker_client.h"
#include "push/watch.h"
#include "wire/api.h"
#include "wire/daemon.h"

namespace spate {

int PushCancelCommand(int argc, char** argv);
int PushResumeCommand(int argc, char** argv);
int PushStatusCommand(int argc, char** argv);

int PushCommand(int argc, char** argv) {
  if (argc >= 2) {
    const std::string sub = argv[1];
    if (sub == "cancel") return PushCancelCommand(argc - 1, argv + 1);
    if (sub == "resume") return PushResumeCommand(argc - 1, argv + 1);
    if (sub == "status") return PushStatusCommand(argc - 1, argv + 1);
  }
  cxxopts::Options options("spate push",
                           "Push NAME@VERSION to hosts and watch it converge.\n\n"
                           "  spate push cancel ID [--rollback]   stop a push (--help for more)\n"
                           "  spate push resume ID                go on with a paused push\n"
                           "  spate push status ID [--json]       where a push stands\n");
  // clang-format off
  options.add_options()
    ("artifact", "NAME@VERSION", cxxopts::value<std::string>())
    ("hosts", "glob over checked-in host ids", cxxopts::value<std::string>()->default_value("*"))
    ("h,help", "show help");
  // clang-format on
  cli::AddTrackerOptions(options);
  cli::AddWaveOptions(options);
  cli::AddWatchOptions(options);
  options.parse_positional({"artifact"});
  options.positional_help("NAME@VERSION | cancel ID | resume ID | status ID");
  int code = kExitOk;
  auto args = cli::Parse(options, argc, argv, code);
  if (!args) return code;
  const std::string cmd = options.program();
  if (!args->count("artifact")) return cli::Fail(cmd, "missing NAME@VERSION", kExitUsage);

  PushRequest req;
  req.artifact = (*args)["artifact"].as<std::string>();
  req.hosts_glob = (*args)["hosts"].as<std::string>();
  auto id = ParseArtifactId(req.artifact);
  if (!id.ok()) return cli::Fail(cmd, id.status().message(), kExitUsage);
  if (Status s = cli::WaveFlagsInto(*args, &req); !s.ok()) return cli::Fail(cmd, s.message(), kExitUsage);
  auto watch = cli::WatchOptionsFrom(*args, cmd);
  if (!watch.ok()) return cli::Fail(cmd, watch.status().message(), kExitUsage);
  return cli::StartAndWatch(cmd, cli::TrackerFrom(*args), "/pushes", ToJson(req), *watch);
}

}  // namespace spate
