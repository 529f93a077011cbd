// The control plane under many hosts, for correctness rather than speed: a
// real `spate tracker` with host tokens, spate-control-load playing 500
// fetchers from 127.0.R.H (the generator of scripts/bench-control), one push
// to all of them. Every host must get its assignment and end installed, and
// the tracker must have counted every report the hosts saw accepted.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/cluster.h"
#include "wire/http.h"

namespace spate {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;

const char* kAdmin = "control-load-push-0123456789";
const char* kRegister = "control-load-register-0123456789";
const char* kSecret = "control-load-host-secret-0123456789";

// The sum of a counter family's samples in the tracker's /metrics.
double Metric(const std::string& base, const std::string& name) {
  auto r = http::Call("GET", base + "/metrics", "");
  REQUIRE(r.ok());
  double sum = 0;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + " ", 0) == 0 || line.rfind(name + "{", 0) == 0)
      sum += std::stod(line.substr(line.rfind(' ')));
  return sum;
}

TEST_CASE("500 simulated fetchers: every host gets its assignment and every report is counted") {
  const int kHosts = 500;
  TempDir dir("spate-control-load");
  {
    std::ofstream map(dir / "rack.map");
    for (int r = 1; r <= 2; ++r) map << "127.0." << r << ".0/24 dc1/pod1/rack" << r << "\n";
    std::ofstream(dir / "tokens") << "register " << kRegister << "\npush " << kAdmin << "\nhost-secret " << kSecret
                                  << "\n";
  }
  std::filesystem::permissions(dir / "tokens",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string ready = dir / "tracker.ready";
  Process tracker(
      {testing::SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db", "--token-file",
       dir / "tokens", "--open-reads", "--rackmap", dir / "rack.map", "--ready-file", ready, "--log-level", "warn"},
      dir / "tracker.log");
  auto j = testing::WaitReady(tracker, ready, 10s);
  const std::string addr = j["http"].get<std::string>(), base = "http://" + addr;

  const double reports_before = Metric(base, "spate_tracker_reports_total");
  auto run = testing::Run({SPATE_CONTROL_LOAD, "run", "--tracker", addr, "--hosts", std::to_string(kHosts), "--token",
                           kAdmin, "--register-token", kRegister, "--host-secret", kSecret, "--download-seconds", "3",
                           "--seconds", "40", "--ramp-seconds", "1"},
                          60s);
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  // The summary is the JSON line with the run's "result".
  nlohmann::json out;
  std::istringstream lines(run.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{' && line.find("\"result\"") != std::string::npos)
      out = nlohmann::json::parse(line);
  REQUIRE(out.is_object());
  CHECK(out["result"] == "ok");
  CHECK(out["checked_in"] == kHosts);
  CHECK(out["notified"] == kHosts);
  CHECK(out["installed_acked"] == kHosts);
  CHECK(out["tracker_installed"] == kHosts);
  CHECK(out["tracker_state"] == "succeeded");
  CHECK(out["report_refused"] == 0);
  CHECK(out["report_errors"] == 0);
  // Every host reported at least "downloading" once and "installed" once.
  CHECK(out["reports_ok"].get<int>() >= 2 * kHosts);
  // Taken by the hosts' count = counted by the tracker's. A report the
  // tracker applied but whose answer a host lost would show as more here.
  CHECK(Metric(base, "spate_tracker_reports_total") - reports_before == out["reports_ok"].get<double>());
  CHECK(out["poll_errors"] == 0);
  CHECK(out["announce_errors"] == 0);
  CHECK(Metric(base, "spate_tracker_store_transactions_total") > 0);
}

}  // namespace
}  // namespace spate
