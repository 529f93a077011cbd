// `spate plan`: predict a push before it starts (plan/model.h).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cxxopts.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "plan/model.h"
#include "rackmap/rackmap.h"
#include "wire/daemon.h"
#include "wire/units.h"

namespace spate {

namespace {

int Fail(const std::string& msg, int code = kExitUsage) {
  std::fprintf(stderr, "spate plan: %s\n", msg.c_str());
  return code;
}

// Rates in bytes/s like every Spate flag ("10G" = 10 GiB/s), or bits/s with a
// "bit" suffix ("10Gbit"); "unlimited" where a cap may be absent.
Result<double> ParseRate(const std::string& flag, std::string s, bool unlimited_ok) {
  if (unlimited_ok && (s == "unlimited" || s == "inf")) return plan::kUnlimited;
  double scale = 1;
  for (const char* suffix : {"bit", "bps"}) {
    size_t n = std::strlen(suffix);
    if (s.size() > n && s.compare(s.size() - n, n, suffix) == 0) {
      s.resize(s.size() - n);
      scale = 1.0 / 8;
    }
  }
  auto b = ParseBytes(s);
  if (!b.ok()) return Status::Invalid("--" + flag + ": " + b.status().message());
  return double(*b) * scale;
}

Result<double> ParseSeconds(const std::string& flag, const std::string& s) {
  auto d = ParseDuration(s);
  if (!d.ok()) return Status::Invalid("--" + flag + ": " + d.status().message());
  return double(d->count()) / 1000;
}

std::string Rate(double r) { return std::isinf(r) ? "unlimited" : FormatBytes(r) + "/s"; }

std::string Secs(double s) {
  char b[32];
  std::snprintf(b, sizeof b, s < 10 ? "%.2f s" : "%.1f s", s);
  return b;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Io("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int PlanCommand(int argc, char** argv) {
  cxxopts::Options options("spate plan",
                           "Predict how long a push takes and what it does to rack uplinks, before it starts.\n"
                           "Rates are bytes/s like every spate flag (10G = 10 GiB/s; 10Gbit = bits/s).\n\n" +
                               plan::Assumptions());
  // Defaults of the latencies: measured on scripts/bench-swarm runs (README, "Planning a push").
  // clang-format off
  options.add_options()
    ("hosts", "hosts the push targets (a synthetic fleet, dealt round-robin over --racks)", cxxopts::value<int>())
    ("racks", "racks of the synthetic fleet (two per pod)", cxxopts::value<int>()->default_value("1"))
    ("rackmap", "plan for a real fleet: the tracker's rackmap", cxxopts::value<std::string>())
    ("hosts-file", "with --rackmap: one host per line, ADDRESS or NAME ADDRESS", cxxopts::value<std::string>())
    ("origin-addr", "with --rackmap: the origin seeder's address (default: outside every rack)", cxxopts::value<std::string>())
    ("size", "artifact size F, e.g. 2G", cxxopts::value<std::string>())
    ("nic", "each host's NIC, up and down", cxxopts::value<std::string>())
    ("nic-up", "each host's upload (default --nic)", cxxopts::value<std::string>())
    ("nic-down", "each host's download (default --nic)", cxxopts::value<std::string>())
    ("origin", "the origin seeder's upload cap (or unlimited)", cxxopts::value<std::string>())
    ("uplink", "each rack's uplink, each way (default: unlimited, or --oversub)", cxxopts::value<std::string>())
    ("oversub", "rack uplink = hosts in the rack x NIC up / K (K:1 oversubscription)", cxxopts::value<double>())
    ("uplink-egress-only", "cap only bytes leaving a rack (what scripts/bench-swarm's tc shapes)")
    ("policy", "tracker peer policy: rack or random", cxxopts::value<std::string>()->default_value("rack"))
    ("origin-per-rack", "tracker --origin-per-rack (gateways per rack)", cxxopts::value<int>()->default_value("5"))
    ("bridges", "tracker --bridges (far peers per gateway)", cxxopts::value<int>()->default_value("3"))
    ("min-local", "tracker --min-local", cxxopts::value<int>()->default_value("0"))
    ("announce-interval", "tracker --announce-interval", cxxopts::value<std::string>()->default_value("5s"))
    ("slots", "upload slots per host (libtorrent unchoke_slots_limit)", cxxopts::value<int>()->default_value("8"))
    ("origin-slots", "the origin seeder's upload slots", cxxopts::value<int>()->default_value("8"))
    ("numwant", "peers a fetcher asks for per announce", cxxopts::value<int>()->default_value("200"))
    ("connections", "connections per fetcher (libtorrent connections_limit)", cxxopts::value<int>()->default_value("200"))
    ("unchoke-interval", "how often slots are rechosen", cxxopts::value<std::string>()->default_value("5s"))
    ("startup", "push created -> a host's first announce", cxxopts::value<std::string>()->default_value("30ms"))
    ("startup-spread", "first announces spread over this much more", cxxopts::value<std::string>()->default_value("90ms"))
    ("finish", "last byte -> install reported, besides hashing and copying", cxxopts::value<std::string>()->default_value("30ms"))
    ("verify-rate", "hash + copy rate after the last byte, one core (or unlimited)", cxxopts::value<std::string>()->default_value("240M"))
    ("efficiency", "fraction of each cap payload gets", cxxopts::value<double>()->default_value("0.85"))
    ("shared-cpus", "all hosts hash on N shared cores (a test machine; 0 = a CPU each)", cxxopts::value<int>()->default_value("0"))
    ("piece-size", "piece size (default: the seeder's choice)", cxxopts::value<std::string>())
    ("max-chunks", "simulate pieces in groups so there are at most this many", cxxopts::value<int>()->default_value("1024"))
    ("step", "time step (default: the bound / 600)", cxxopts::value<std::string>())
    ("seed", "the model's random seed", cxxopts::value<uint64_t>()->default_value("1"))
    ("json", "print the result as JSON")
    ("h,help", "show help and the model's assumptions");
  // clang-format on
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const std::exception& e) {
    return Fail(std::string(e.what()) + " (see --help)");
  }
  if (args.count("help")) {
    std::cout << options.help() << std::flush;
    return kExitOk;
  }
  try {
    plan::PlanOptions o;
    if (!args.count("size")) return Fail("--size is required");
    auto size = ParseBytes(args["size"].as<std::string>());
    if (!size.ok()) return Fail("--size: " + size.status().message());
    o.size = *size;
    if (!args.count("nic") && !(args.count("nic-up") && args.count("nic-down")))
      return Fail("--nic (or --nic-up and --nic-down) is required");
    if (!args.count("origin")) return Fail("--origin is required (a rate or unlimited)");
    for (auto [flag, out] : {std::pair{"nic-up", &o.nic_up}, {"nic-down", &o.nic_down}}) {
      auto r =
          ParseRate(args.count(flag) ? flag : "nic", args[args.count(flag) ? flag : "nic"].as<std::string>(), false);
      if (!r.ok()) return Fail(r.status().message());
      *out = *r;
    }
    auto origin = ParseRate("origin", args["origin"].as<std::string>(), true);
    if (!origin.ok()) return Fail(origin.status().message());
    o.origin_up = *origin;
    if (args.count("uplink")) {
      auto r = ParseRate("uplink", args["uplink"].as<std::string>(), true);
      if (!r.ok()) return Fail(r.status().message());
      o.uplink = std::isinf(*r) ? 0 : *r;
    }
    if (args.count("oversub")) o.oversub = args["oversub"].as<double>();
    o.uplink_egress_only = args.count("uplink-egress-only") > 0;
    auto policy = ParsePolicy(args["policy"].as<std::string>());
    if (!policy.ok()) return Fail("--policy: " + policy.status().message());
    o.policy.policy = *policy;
    o.policy.origin_per_rack = args["origin-per-rack"].as<int>();
    o.policy.bridges = args["bridges"].as<int>();
    o.policy.min_local = args["min-local"].as<int>();
    o.slots = args["slots"].as<int>();
    o.origin_slots = args["origin-slots"].as<int>();
    o.numwant = args["numwant"].as<int>();
    o.connections_limit = args["connections"].as<int>();
    for (auto [flag, out] : {std::pair{"announce-interval", &o.announce_interval_s},
                             {"unchoke-interval", &o.unchoke_interval_s},
                             {"startup", &o.startup_s},
                             {"startup-spread", &o.startup_spread_s},
                             {"finish", &o.finish_s}}) {
      auto s = ParseSeconds(flag, args[flag].as<std::string>());
      if (!s.ok()) return Fail(s.status().message());
      *out = *s;
    }
    if (args.count("step")) {
      auto s = ParseSeconds("step", args["step"].as<std::string>());
      if (!s.ok()) return Fail(s.status().message());
      o.step_s = *s;
    }
    auto verify = ParseRate("verify-rate", args["verify-rate"].as<std::string>(), true);
    if (!verify.ok()) return Fail(verify.status().message());
    o.verify_rate = *verify;
    o.efficiency = args["efficiency"].as<double>();
    o.shared_cpus = args["shared-cpus"].as<int>();
    if (args.count("piece-size")) {
      auto p = ParseBytes(args["piece-size"].as<std::string>());
      if (!p.ok()) return Fail("--piece-size: " + p.status().message());
      o.piece_size = *p;
    }
    o.max_chunks = args["max-chunks"].as<int>();
    o.seed = args["seed"].as<uint64_t>();
    Status valid = o.Validate();
    if (!valid.ok()) return Fail(valid.message());

    plan::Fleet fleet;
    if (args.count("rackmap") || args.count("hosts-file")) {
      if (!args.count("rackmap") || !args.count("hosts-file")) return Fail("--rackmap and --hosts-file go together");
      if (args.count("hosts")) return Fail("--hosts is for a synthetic fleet; a real one comes from --hosts-file");
      auto map = Rackmap::Load(args["rackmap"].as<std::string>());
      if (!map.ok()) return Fail(map.status().message());
      const std::string path = args["hosts-file"].as<std::string>();
      auto text = ReadFile(path);
      if (!text.ok()) return Fail(text.status().message());
      auto f = plan::FleetFromHosts(*map, *text, path);
      if (!f.ok()) return Fail(f.status().message());
      fleet = std::move(*f);
      if (args.count("origin-addr")) fleet.origin_location = map->Lookup(args["origin-addr"].as<std::string>());
    } else {
      if (!args.count("hosts")) return Fail("--hosts (or --rackmap with --hosts-file) is required");
      int hosts = args["hosts"].as<int>(), racks = args["racks"].as<int>();
      if (hosts < 1 || hosts > 1000000) return Fail("--hosts must be 1 to 1000000");
      if (racks < 1 || racks > hosts) return Fail("--racks must be 1 to --hosts");
      fleet = plan::SyntheticFleet(hosts, racks);
    }
    int unknown = 0;
    for (const auto& h : fleet.hosts) unknown += !h.location.known();

    auto t0 = std::chrono::steady_clock::now();
    auto res = plan::RunPlan(fleet, o);
    if (!res.ok()) return Fail(res.status().message());
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const plan::PlanResult& r = *res;
    const double F = double(o.size);
    const double term_seed = F / o.origin_up, term_d = F / o.nic_down,
                 term_n = r.hosts * F / (o.origin_up + o.nic_up * r.hosts);

    if (args.count("json")) {
      nlohmann::json j = {{"hosts", r.hosts},
                          {"racks", r.racks},
                          {"hosts_outside_rackmap", unknown},
                          {"size", r.size},
                          {"piece_size", r.piece_size},
                          {"chunks", r.chunks},
                          {"policy", PolicyName(o.policy.policy)},
                          {"bound_s", r.bound_s},
                          {"p50_s", r.p50_s},
                          {"p99_s", r.p99_s},
                          {"max_s", r.max_s},
                          {"max_per_bound", r.max_s / r.bound_s},
                          {"last_byte_p50_s", r.last_byte_p50_s},
                          {"last_byte_max_s", r.last_byte_max_s},
                          {"cross_bytes", r.cross_bytes},
                          {"cross_per_rf", r.cross_per_rf},
                          {"origin_bytes", r.origin_bytes},
                          {"origin_per_f", r.origin_per_f},
                          {"busiest_uplink", r.busiest_uplink},
                          {"uplink_cap", r.uplink_cap},
                          {"uplink_util_mean", r.uplink_util_mean},
                          {"uplink_util_peak", r.uplink_util_peak},
                          {"gateways", r.gateways},
                          {"unfinished", r.unfinished},
                          {"step_s", r.step_s},
                          {"steps", r.steps},
                          {"wall_s", wall}};
      std::cout << j.dump() << std::endl;
      return r.unfinished ? kExitFailure : kExitOk;
    }
    std::printf("plan: %d hosts in %d racks%s, %s in %d pieces of %s, policy %s\n", r.hosts, r.racks,
                unknown ? (" (+" + std::to_string(unknown) + " outside the rackmap)").c_str() : "",
                FormatBytes(F).c_str(), int((o.size + r.piece_size - 1) / r.piece_size),
                FormatBytes(double(r.piece_size)).c_str(), PolicyName(o.policy.policy));
    std::string uplink = "unlimited";
    if (o.uplink > 0)
      uplink = Rate(o.uplink) + " each";
    else if (o.oversub > 0)
      uplink = "hosts x NIC / " + std::to_string(o.oversub).substr(0, std::to_string(o.oversub).find('.') + 2);
    std::printf("caps: NIC %s up, %s down; origin %s; rack uplinks %s%s\n", Rate(o.nic_up).c_str(),
                Rate(o.nic_down).c_str(), Rate(o.origin_up).c_str(), uplink.c_str(),
                o.uplink_egress_only ? " (out only)" : "");
    std::printf("bound T_min = max(F/u_seed %s, F/d %s, N*F/(u_seed+sum u) %s) = %s\n\n", Secs(term_seed).c_str(),
                Secs(term_d).c_str(), Secs(term_n).c_str(), Secs(r.bound_s).c_str());
    std::printf("%-26s %10s %8s\n", "predicted", "time", "/bound");
    for (auto [name, v] : {std::pair{"p50 install", r.p50_s}, {"p99 install", r.p99_s}, {"max install", r.max_s}})
      std::printf("%-26s %10s %8.2f\n", name, Secs(v).c_str(), v / r.bound_s);
    for (auto [name, v] : {std::pair{"p50 last byte", r.last_byte_p50_s}, {"max last byte", r.last_byte_max_s}})
      std::printf("%-26s %10s %8.2f\n", name, Secs(v).c_str(), v / r.bound_s);
    std::printf("%-26s %10.2f\n", "cross-rack / (racks x F)", r.cross_per_rf);
    std::printf("%-26s %10.2f\n", "origin egress / F", r.origin_per_f);
    if (!r.busiest_uplink.empty())
      std::printf("%-26s %9.0f%% mean, %.0f%% peak of %s (%s)\n", "busiest uplink", 100 * r.uplink_util_mean,
                  100 * r.uplink_util_peak, Rate(r.uplink_cap).c_str(), r.busiest_uplink.c_str());
    std::printf("%-26s %10d\n", "gateways (origin grants)", r.gateways);
    if (r.unfinished) std::printf("UNFINISHED: %d hosts never got every piece in the model\n", r.unfinished);
    std::printf("\nmodel: %d chunks, step %.2f ms, %lld steps, %.1f s to compute; assumptions: spate plan --help\n",
                r.chunks, r.step_s * 1000, (long long)r.steps, wall);
    return r.unfinished ? kExitFailure : kExitOk;
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
}

}  // namespace spate
