// `spate rackmap check FILE` and `spate rackmap lookup FILE ADDRESS`.
#include <cstdio>
#include <string>

#include "rackmap/rackmap.h"
#include "wire/daemon.h"

namespace spate {

namespace {
void RackmapUsage(FILE* out) {
  std::fprintf(out,
               "usage: spate rackmap check FILE            validate FILE and print a summary\n"
               "       spate rackmap lookup FILE ADDRESS   print ADDRESS's dc/pod/rack or \"unknown\"\n"
               "\nFILE lines: CIDR dc/pod/rack   ('#' starts a comment; longest prefix wins)\n");
}
}  // namespace

int RackmapCommand(int argc, char** argv) {
  std::string sub = argc > 1 ? argv[1] : "";
  if (sub == "-h" || sub == "--help" || sub == "help") {
    RackmapUsage(stdout);
    return kExitOk;
  }
  bool check = sub == "check" && argc == 3;
  bool lookup = sub == "lookup" && argc == 4;
  if (!check && !lookup) {
    RackmapUsage(stderr);
    return kExitUsage;
  }
  auto map = Rackmap::Load(argv[2]);
  if (!map.ok()) {
    std::fprintf(stderr, "%s\n", map.status().message().c_str());
    return kExitUsage;
  }
  if (check) {
    auto s = map->Summary();
    std::printf("%s: ok: %zu ranges, %zu dcs, %zu pods, %zu racks\n", argv[2], s.ranges, s.dcs, s.pods, s.racks);
    return kExitOk;
  }
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(argv[3], ec);
  if (ec) {
    std::fprintf(stderr, "'%s' is not an IP address\n", argv[3]);
    return kExitUsage;
  }
  std::printf("%s\n", map->Lookup(addr).ToString().c_str());
  return kExitOk;
}

}  // namespace spate
