// `spate rollback NAME [--to VERSION]`: push an earlier version of NAME (by
// default the one before the newest pushed) and watch it exactly like
// `spate push`: same progress, same report, same exit code.
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

int RollbackCommand(int argc, char** argv) {
  cxxopts::Options options("spate rollback",
                           "Return hosts to an earlier version of NAME (a rollback push) and watch it converge.");
  // clang-format off
  options.add_options()
    ("name", "artifact NAME", cxxopts::value<std::string>())
    ("to", "VERSION to return to (default: the version before the newest one pushed)",
     cxxopts::value<std::string>())
    ("hosts", "glob over checked-in host ids", cxxopts::value<std::string>()->default_value("*"))
    ("h,help", "show help");
  // clang-format on
  cli::AddTrackerOptions(options);
  cli::AddWaveOptions(options);
  cli::AddWatchOptions(options);
  options.parse_positional({"name"});
  options.positional_help("NAME");
  int code = kExitOk;
  auto args = cli::Parse(options, argc, argv, code);
  if (!args) return code;
  const std::string cmd = options.program();
  if (!args->count("name")) return cli::Fail(cmd, "missing NAME", kExitUsage);

  RollbackRequest req;
  req.name = (*args)["name"].as<std::string>();
  if (args->count("to")) req.to = (*args)["to"].as<std::string>();
  req.hosts_glob = (*args)["hosts"].as<std::string>();
  if (req.name.find('@') != std::string::npos)
    return cli::Fail(cmd, "NAME '" + req.name + "' has a version; use --to VERSION", kExitUsage);
  if (Status s = CheckName("name", req.name); !s.ok()) return cli::Fail(cmd, s.message(), kExitUsage);
  if (!req.to.empty())
    if (Status s = CheckVersion("--to", req.to); !s.ok()) return cli::Fail(cmd, s.message(), kExitUsage);
  if (Status s = cli::WaveFlagsInto(*args, &req); !s.ok()) return cli::Fail(cmd, s.message(), kExitUsage);
  auto watch = cli::WatchOptionsFrom(*args, cmd);
  if (!watch.ok()) return cli::Fail(cmd, watch.status().message(), kExitUsage);
  return cli::StartAndWatch(cmd, cli::TrackerFrom(*args), "/rollbacks", ToJson(req), *watch);
}

}  // namespace spate
