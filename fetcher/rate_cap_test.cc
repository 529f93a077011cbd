// Proves the rate caps hold between 127/8 peers (LIBTORRENT-NOTES trap #1):
// without the peer-class fix in spate::MakeSession these transfers run at
// loopback speed and the timing assertions fail.
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/posix_disk_io.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "fetcher/cross_rack.h"
#include "fetcher/test_artifact.h"
#include "tests/support/cluster.h"
#include "wire/crypto.h"
#include "wire/swarm.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kSize = 6 * 1024 * 1024;
constexpr int kCap = 1024 * 1024;

// Seeds a 6 MiB file from 127.0.9.1 to 127.0.9.2 and returns the seconds the download took.
// `peer_class_fix` false builds the seeder like a plain libtorrent session (no
// filter), to show the trap the fix closes.
// `rack`: the fetcher's rack ranges, peers outside capped at kCap (fetcher/cross_rack.h).
double TransferSeconds(int seeder_upload_cap, int fetcher_download_cap, bool peer_class_fix = true,
                       const std::vector<spate::RackRange>& rack = {}) {
  spate::testing::TempDir t;
  auto art = spate::testing::MakeArtifact(t / "origin", "app", "1.0", "app.bin", kSize, 42);
  auto ti = std::make_shared<lt::torrent_info>(
      lt::span<const char>(art.torrent.data(), static_cast<std::ptrdiff_t>(art.torrent.size())), lt::from_span);

  spate::SwarmOptions so;
  so.bind_address = "127.0.9.1";
  so.upload_rate = seeder_upload_cap;
  std::unique_ptr<lt::session> seeder;
  if (peer_class_fix) {
    seeder = spate::MakeSession(so);
  } else {
    lt::session_params params(spate::SwarmSettings(so));
    params.disk_io_constructor = lt::posix_disk_io_constructor;
    seeder = std::make_unique<lt::session>(std::move(params));
  }
  spate::SwarmOptions fo;
  fo.bind_address = "127.0.9.2";
  fo.download_rate = fetcher_download_cap;
  auto fetcher = spate::MakeSession(fo);
  spate::CrossRack cross(*fetcher);
  REQUIRE(cross.SetRanges(rack, kCap).ok());

  lt::add_torrent_params sp;
  sp.ti = ti;
  sp.save_path = t / "origin";
  sp.flags |= lt::torrent_flags::seed_mode;
  sp.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
  seeder->add_torrent(sp);

  lt::add_torrent_params fp;
  fp.ti = ti;
  fp.save_path = t / "fetched";
  fp.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
  lt::torrent_handle h = fetcher->add_torrent(fp);

  // Listening is asynchronous; wait for a real port.
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (seeder->listen_port() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(seeder->listen_port() != 0);

  auto start = Clock::now();
  h.connect_peer(lt::tcp::endpoint(lt::make_address("127.0.9.1"), seeder->listen_port()));
  deadline = start + std::chrono::seconds(14);
  while (!h.status().is_seeding && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  REQUIRE(h.status().is_seeding);
  CHECK(*spate::Sha256File(t / "fetched/app.bin") == art.manifest.sha256);
  return secs;
}

}  // namespace

TEST_CASE("upload cap holds for 127.x peers") {
  double secs = TransferSeconds(kCap, 0);
  INFO("6 MiB at a 1 MiB/s upload cap took " << secs << " s");
  // <= ~1.5x the cap; the first second's quota is a burst.
  CHECK(secs >= 4.0);
}

TEST_CASE("download cap holds for 127.x peers") {
  double secs = TransferSeconds(0, kCap);
  INFO("6 MiB at a 1 MiB/s download cap took " << secs << " s");
  CHECK(secs >= 4.0);
}

TEST_CASE("uncapped transfer between 127.x peers is much faster than the caps") {
  double secs = TransferSeconds(0, 0);
  INFO("6 MiB uncapped took " << secs << " s");
  CHECK(secs < 2.0);
}

TEST_CASE("without the peer-class fix a 127.x peer ignores the upload cap (the trap the fix closes)") {
  double secs = TransferSeconds(kCap, 0, /*peer_class_fix=*/false);
  INFO("6 MiB at a 1 MiB/s upload cap, no peer-class filter, took " << secs << " s");
  CHECK(secs < 2.0);
}

TEST_CASE("cross-rack cap holds for a peer outside the rack, not for one inside") {
  double far = TransferSeconds(0, 0, true, {{"127.0.9.2/32", true}});
  INFO("6 MiB from outside the rack at a 1 MiB/s cross-rack cap took " << far << " s");
  CHECK(far >= 4.0);
  double near = TransferSeconds(0, 0, true, {{"127.0.9.0/24", true}});
  INFO("6 MiB from inside the rack took " << near << " s");
  CHECK(near < 2.0);
}
