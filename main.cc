// spate: one binary, one subcommand per component. Each subcommand lives beside
// its component's library; this file only dispatches.
#include <cstdio>
#include <cstring>
#include <string>

#include "wire/daemon.h"

namespace spate {
int RackmapCommand(int argc, char** argv);
int TrackerCommand(int argc, char** argv);
int PushCommand(int argc, char** argv);
int PushesCommand(int argc, char** argv);
int RollbackCommand(int argc, char** argv);
int FleetCommand(int argc, char** argv);
int SeederCommand(int argc, char** argv);
int UploadCommand(int argc, char** argv);
int FetcherCommand(int argc, char** argv);
int HostTokenCommand(int argc, char** argv);
int PlanCommand(int argc, char** argv);
// From build_info.cc, written at build time (cmake/build_info.cmake).
extern const char kVersion[];
extern const char kBuild[];
}  // namespace spate

namespace {

struct Subcommand {
  const char* name;
  const char* help;
  int (*run)(int, char**);
};

const Subcommand kSubcommands[] = {
    {"tracker", "run the tracker: announces, rack-aware peer selection, push state", spate::TrackerCommand},
    {"seeder", "run the seeder: accept uploads, store them durably, seed them", spate::SeederCommand},
    {"fetcher", "run the fetcher daemon on a host: fetch, verify, install, report", spate::FetcherCommand},
    {"upload", "upload a build artifact to the seeder (CI)", spate::UploadCommand},
    {"push", "push NAME@VERSION to hosts and watch progress; cancel, resume or check a push", spate::PushCommand},
    {"rollback", "return hosts to an earlier version of NAME and watch progress", spate::RollbackCommand},
    {"pushes", "list recent pushes and rollbacks", spate::PushesCommand},
    {"fleet", "show the versions each host and rack runs, and version skew", spate::FleetCommand},
    {"plan", "predict a push's time and rack-uplink load before it starts (a swarm model)", spate::PlanCommand},
    {"rackmap", "check a rackmap file or look up an address", spate::RackmapCommand},
    {"host-token", "print a host's token from the tracker's host secret (provisioning)", spate::HostTokenCommand},
};

void Usage(FILE* out) {
  std::fprintf(out, "usage: spate COMMAND [options]   (spate COMMAND --help for details)\n");
  std::fprintf(out, "       spate --version\n\ncommands:\n");
  for (const auto& c : kSubcommands) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage(stderr);
    return spate::kExitUsage;
  }
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    Usage(stdout);
    return spate::kExitOk;
  }
  if (cmd == "--version" || cmd == "version") {
    std::printf("spate %s (build %s)\n", spate::kVersion, spate::kBuild);
    return spate::kExitOk;
  }
  for (const auto& c : kSubcommands)
    if (cmd == c.name) return c.run(argc - 1, argv + 1);
  std::fprintf(stderr, "spate: unknown command '%s'\n", cmd.c_str());
  Usage(stderr);
  return spate::kExitUsage;
}
