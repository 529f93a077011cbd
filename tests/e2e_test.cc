// End to end with real processes on loopback: tracker on 127.0.0.1, seeder on
// 127.0.0.2, fetchers on 127.0.R.H (rack R, host H).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/spate_cluster.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("an uploaded artifact is pushed to 8 hosts in 2 racks and every copy matches byte for byte") {
  TempDir dir("spate-e2e");
  SpateCluster c(dir);
  c.StartSeeder();
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = 1; host <= 4; ++host) c.StartFetcher(rack, host);
  c.WaitForHosts(8);

  const std::string artifact = dir / "app.bin";
  WriteRandomFile(artifact, 16u << 20, 42);
  c.Upload(artifact);

  auto push = Run({SpateBinary(), "push", "app@1.0", "--tracker", c.tracker, "--timeout", "150s"}, 180s, SpateCluster::kEnv);
  INFO(push.output);
  INFO(c.Logs());
  CHECK(push.exit_code == 0);
  CHECK(push.output.find("8/8 hosts installed and verified") != std::string::npos);

  const std::string want = ReadAll(artifact);
  for (const auto& install : c.installs) {
    INFO(install);
    CHECK(fs::is_symlink(install + "/app/current"));
    CHECK(ReadAll(install + "/app/current/app.bin") == want);
  }
}

TEST_CASE("a push of an unknown artifact fails with a message naming it") {
  TempDir dir("spate-e2e-unknown");
  SpateCluster c(dir);
  auto push = Run({SpateBinary(), "push", "nope@9", "--tracker", c.tracker, "--timeout", "10s"}, 30s, SpateCluster::kEnv);
  INFO(push.output);
  CHECK(push.exit_code == 1);
  CHECK(push.output.find("nope@9") != std::string::npos);
}

TEST_CASE("a push without the admin token is refused") {
  TempDir dir("spate-e2e-auth");
  SpateCluster c(dir);
  auto push = Run({SpateBinary(), "push", "app@1", "--tracker", c.tracker, "--token", "wrong"}, 30s, {});
  INFO(push.output);
  CHECK(push.exit_code == 1);
  CHECK(push.output.find("401") != std::string::npos);
}
