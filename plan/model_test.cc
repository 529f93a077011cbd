#include "plan/model.h"

#include <catch2/catch.hpp>
#include <random>

#include "seeder/piece_size.h"

namespace spate::plan {
namespace {

constexpr double kMiB = 1024.0 * 1024;

// The bare model: no latencies, caps are payload, so known answers are exact.
PlanOptions Bare(uint64_t size, double nic, double origin) {
  PlanOptions o;
  o.size = size;
  o.nic_up = o.nic_down = nic;
  o.origin_up = origin;
  return o;
}

PlanResult Plan(const Fleet& f, const PlanOptions& o) {
  auto r = RunPlan(f, o);
  REQUIRE(r.ok());
  REQUIRE(r->unfinished == 0);
  REQUIRE(int(r->finish_s.size()) == int(f.hosts.size()));
  return *r;
}

TEST_CASE("one seeder and one host take F over the smaller of the two caps") {
  const uint64_t F = 16 << 20;
  for (auto [nic, origin] : {std::pair{2 * kMiB, 8 * kMiB}, {8 * kMiB, 2 * kMiB}, {4 * kMiB, 4 * kMiB}}) {
    PlanResult r = Plan(SyntheticFleet(1, 1), Bare(F, nic, origin));
    double want = F / std::min(nic, origin);
    CHECK(r.max_s >= want * 0.999);
    CHECK(r.max_s <= want * 1.02);
    CHECK(r.origin_per_f == Approx(1.0).epsilon(0.001));
    CHECK(r.cross_per_rf == Approx(1.0).epsilon(0.001));  // the origin sits outside the host's rack
  }
}

TEST_CASE("hosts with an unlimited origin take F over their download cap") {
  const uint64_t F = 32 << 20;
  const double d = 4 * kMiB;
  SECTION("random policy, every host hears of the origin and gets a slot") {
    PlanOptions o = Bare(F, d, kUnlimited);
    o.policy.policy = Policy::kRandom;
    o.origin_slots = 40;
    PlanResult r = Plan(SyntheticFleet(40, 4), o);
    CHECK(r.max_s >= F / d * 0.999);
    // Up to 40 peers send to each host at once, so the last pieces go through
    // the end game, whose duplicate requests cost about 2% of the bytes.
    CHECK(r.max_s <= F / d * 1.04);
    CHECK(r.p50_s <= F / d * 1.04);
  }
  SECTION("rack policy, five gateways per rack fetch from the origin, the rest from them") {
    PlanOptions o = Bare(F, d, kUnlimited);
    o.origin_slots = 40;
    PlanResult r = Plan(SyntheticFleet(40, 4), o);
    CHECK(r.gateways == 20);
    CHECK(r.max_s >= F / d * 0.999);
    CHECK(r.max_s <= F / d * 1.10);
  }
}

TEST_CASE("a rack behind a narrow uplink takes F over the uplink") {
  const uint64_t F = 32 << 20;
  const double uplink = 2 * kMiB;
  PlanOptions o = Bare(F, 64 * kMiB, kUnlimited);
  o.origin_slots = 100;
  o.uplink = uplink;
  PlanResult r = Plan(SyntheticFleet(24, 3), o);
  CHECK(r.bound_s < F / uplink / 10);  // the NIC and origin terms are far below
  CHECK(r.max_s >= F / uplink * 0.999);
  CHECK(r.max_s <= F / uplink * 1.15);
  CHECK(r.uplink_util_mean > 0.85);
  CHECK(r.busiest_uplink.find(" in") != std::string::npos);
  // Gateway shares: each piece enters a rack about once.
  CHECK(r.cross_per_rf < 1.15);
}

TEST_CASE("the rack policy keeps bytes in racks that random selection sends across them") {
  const uint64_t F = 16 << 20;
  PlanOptions o = Bare(F, 4 * kMiB, 8 * kMiB);
  PlanResult rack = Plan(SyntheticFleet(60, 6), o);
  o.policy.policy = Policy::kRandom;
  PlanResult random = Plan(SyntheticFleet(60, 6), o);
  CHECK(rack.cross_per_rf < 1.6);
  CHECK(random.cross_per_rf > 3.0);
  CHECK(rack.gateways == 30);  // origin_per_rack 5 in each of 6 racks of 10
  CHECK(random.gateways == 0);
}

TEST_CASE("latencies add to every host's time") {
  const uint64_t F = 8 << 20;
  PlanOptions o = Bare(F, 4 * kMiB, 8 * kMiB);
  PlanResult base = Plan(SyntheticFleet(1, 1), o);
  o.startup_s = 1.5;
  o.finish_s = 0.25;
  o.verify_rate = 32 * kMiB;
  PlanResult late = Plan(SyntheticFleet(1, 1), o);
  CHECK(late.max_s == Approx(base.max_s + 1.5 + 0.25 + 0.25).margin(0.05));
}

TEST_CASE("the model never predicts faster than the bound") {
  std::mt19937_64 rng(42);
  auto pick = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  for (int i = 0; i < 30; ++i) {
    int racks = 1 + int(rng() % 6);
    int hosts = racks + int(rng() % 40);
    uint64_t F = (1 + rng() % 24) << 20;
    PlanOptions o = Bare(F, pick(1, 16) * kMiB, rng() % 5 == 0 ? kUnlimited : pick(1, 32) * kMiB);
    o.nic_down = pick(1, 16) * kMiB;
    o.policy.policy = rng() % 2 ? Policy::kRack : Policy::kRandom;
    o.policy.origin_per_rack = 1 + int(rng() % 5);
    if (rng() % 2) o.oversub = pick(0.5, 8);
    o.uplink_egress_only = rng() % 2;
    o.seed = rng();
    INFO("config " << i << ": " << hosts << " hosts, " << racks << " racks, F " << F << ", up " << o.nic_up << ", down "
                   << o.nic_down << ", origin " << o.origin_up << ", oversub " << o.oversub);
    PlanResult r = Plan(SyntheticFleet(hosts, racks), o);
    CHECK(r.max_s >= r.bound_s * (1 - 1e-9));
    CHECK(r.origin_per_f >= 1 - 1e-6);  // every piece leaves the origin at least once
  }
}

TEST_CASE("the default piece size is the seeder's") {
  for (uint64_t size : {uint64_t(1), uint64_t(64) << 20, uint64_t(2) << 30, uint64_t(4) << 30, uint64_t(100) << 30})
    CHECK(DefaultPieceSize(size) == seeder::ChoosePieceSize(size));
}

TEST_CASE("bad options are refused with the field named") {
  PlanOptions o = Bare(1 << 20, 0, 1);
  auto r = RunPlan(SyntheticFleet(2, 1), o);
  REQUIRE(!r.ok());
  CHECK(r.status().message().find("nic") != std::string::npos);
  o = Bare(0, 1, 1);
  CHECK(RunPlan(SyntheticFleet(2, 1), o).status().message().find("size") != std::string::npos);
  CHECK(!RunPlan(Fleet{}, Bare(1, 1, 1)).ok());
}

}  // namespace
}  // namespace spate::plan
