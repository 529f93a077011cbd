// One `spate tracker` process for tests that drive a tracker over HTTP
// themselves (SpateCluster starts a whole cluster): the caller's flags, a
// port of its own on 127.0.0.1, waited for until ready, stopped when dropped.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/cluster.h"

namespace spate::testing {

class TrackerProcess {
 public:
  // Runs `spate tracker FLAGS --listen 127.0.0.1:0 --ready-file DIR/TAG.ready`
  // with `env` added to the environment, its output in DIR/TAG.log, and waits
  // up to 20 s for the ready file: throws (failing the test, with the log) if
  // the tracker exits first or is late. `dir` must outlive it.
  TrackerProcess(const TempDir& dir, std::string tag, std::vector<std::string> flags,
                 std::vector<std::string> env = {});

  // Starts it again, as before and on the port it had, after proc->Kill() or
  // proc->Terminate(); its output goes on in the same log.
  void Restart();

  // The TAG it was started with: names its log and ready file.
  const std::string& tag() const { return tag_; }

  std::unique_ptr<Process> proc;  // destroyed: SIGTERM, then SIGKILL (Process)
  std::string base;               // http://ADDR:PORT
  std::string api;                // base + "/api/v1"

 private:
  void Start(const std::string& listen);

  std::string dir_, tag_;
  std::vector<std::string> flags_, env_;
  std::string address_;  // ADDR:PORT
};

}  // namespace spate::testing
