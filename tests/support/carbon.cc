#include "tests/support/carbon.h"

#include <catch2/catch.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/tools.h"

namespace spate::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

Carbon::Carbon(const TempDir& dir) : root(dir / "carbon") {
  for (const char* tool : {"/usr/bin/carbon-cache", "/usr/bin/whisper-fetch"})
    if (!fs::exists(tool))
      FAIL(std::string(tool) + " missing: apt-get install graphite-carbon python3-whisper (scripts/install-deps)");
  fs::create_directories(root + "/storage/whisper");
  line_port = FreePort("127.0.0.1");
  std::ofstream(root + "/storage-schemas.conf") << "[all]\npattern = .*\nretentions = 1s:10m\n";
  std::ofstream(root + "/carbon.conf")
      << "[cache]\nSTORAGE_DIR = " << root << "/storage\nLOCAL_DATA_DIR = " << root
      << "/storage/whisper\nWHITELISTS_DIR = " << root << "/storage/lists\nCONF_DIR = " << root
      << "\nLOG_DIR = " << root << "/log\nPID_DIR = " << root
      << "\nENABLE_LOGROTATION = False\nUSER =\nENABLE_TAGS = False\nMAX_CACHE_SIZE = inf\n"
         "MAX_UPDATES_PER_SECOND = inf\nMAX_CREATES_PER_MINUTE = inf\nWHISPER_AUTOFLUSH = True\n"
         "ENABLE_UDP_LISTENER = False\nLINE_RECEIVER_INTERFACE = 127.0.0.1\nLINE_RECEIVER_PORT = "
      << line_port << "\nPICKLE_RECEIVER_INTERFACE = 127.0.0.1\nPICKLE_RECEIVER_PORT = " << FreePort("127.0.0.1")
      << "\nCACHE_QUERY_INTERFACE = 127.0.0.1\nCACHE_QUERY_PORT = " << FreePort("127.0.0.1") << "\n";
  proc.emplace(std::vector<std::string>{"/usr/bin/carbon-cache", "--config=" + root + "/carbon.conf", "--nodaemon",
                                        "--pidfile=" + root + "/carbon.pid", "start"},
               root + "/carbon.out");
}

std::optional<double> Carbon::Latest(const std::string& metric) const {
  std::string path = root + "/storage/whisper/" + metric + ".wsp";
  for (size_t i = root.size() + 17; i + 4 < path.size(); ++i)
    if (path[i] == '.') path[i] = '/';
  if (!fs::exists(path)) return std::nullopt;
  auto r = Run({"/usr/bin/whisper-fetch", "--from", std::to_string(std::time(nullptr) - 300), path}, 20s);
  std::optional<double> last;
  std::istringstream in(r.output);
  std::string ts, v;
  while (in >> ts >> v)
    if (v != "None") last = std::stod(v);
  return last;
}

std::optional<double> Carbon::WaitFor(const std::string& metric, double want) const {
  std::optional<double> got;
  for (int i = 0; i < 150 && got != want; ++i) {
    std::this_thread::sleep_for(200ms);
    got = Latest(metric);
  }
  return got;
}

std::string Carbon::Log() const { return ReadAll(root + "/carbon.out"); }

}  // namespace spate::testing
