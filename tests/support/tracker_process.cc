#include "tests/support/tracker_process.h"

#include <chrono>
#include <filesystem>

namespace spate::testing {

TrackerProcess::TrackerProcess(const TempDir& dir, std::string tag, std::vector<std::string> flags,
                               std::vector<std::string> env)
    : dir_(dir.path().string()), tag_(std::move(tag)), flags_(std::move(flags)), env_(std::move(env)) {
  Start("127.0.0.1:0");
}

void TrackerProcess::Restart() { Start(address_); }

void TrackerProcess::Start(const std::string& listen) {
  const std::string ready = (std::filesystem::path(dir_) / (tag_ + ".ready")).string();
  // A restart must wait for its own ready file, not find the last run's.
  std::filesystem::remove(ready);
  std::vector<std::string> argv{SpateBinary(), "tracker"};
  argv.insert(argv.end(), flags_.begin(), flags_.end());
  argv.insert(argv.end(), {"--listen", listen, "--ready-file", ready});
  proc = std::make_unique<Process>(argv, (std::filesystem::path(dir_) / (tag_ + ".log")).string(), env_);
  address_ = WaitReady(*proc, ready, std::chrono::seconds(20))["http"].get<std::string>();
  base = "http://" + address_;
  api = base + "/api/v1";
}

}  // namespace spate::testing
