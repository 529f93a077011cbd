#include "push/waves.h"

#include <catch2/catch.hpp>
#include <map>
#include <set>

namespace spate {
namespace {

using Kind = WaveStep::Kind;

std::vector<int> Sizes(const std::string& spec, int targets) {
  auto steps = ParseWaveSpec(spec);
  REQUIRE(steps.ok());
  return WaveSizes(*steps, targets);
}

std::string ParseError(const std::string& spec) {
  auto steps = ParseWaveSpec(spec);
  REQUIRE_FALSE(steps.ok());
  CHECK(steps.status().code() == Status::Code::kInvalid);
  return steps.status().message();
}

// Specs the properties run over: the documented one, canaries, counts only,
// tiny and fractional percentages, mixed kinds that do not compare, repeats,
// specs that stop short of 100%, and the default.
const std::vector<std::string> kSpecs = {
    "1,5%,25%,100%", "1,5%,25%", "", "100%", "1", "1,2,3", "50%", "0.5%,1%", "33.3333%,66.6667%",
    "10,5%", "5%,1", "1,1,1", "7%,14%,28%,56%", "2,10%,10%,50,100%", "1000", "0.0001%",
};

// The oracle for boundaries, by scanning rather than by formula: a
// percentage step reaches the smallest h with h / targets >= P.
std::vector<int> Boundaries(const std::vector<WaveStep>& steps, int targets) {
  std::vector<int> b;
  int done = 0;
  for (const auto& s : steps) {
    int h = 0;
    if (s.kind == Kind::kCount) h = std::min(s.count, targets);
    else
      while (h < targets && int64_t{h} * 1000000 < int64_t{targets} * s.millionths) ++h;
    if (h > done) b.push_back(done = h);
  }
  if (done < targets) b.push_back(targets);
  return b;
}

// Locations for n hosts, in shapes that stress the spread: even racks,
// racks of very different sizes, one big rack beside unknowns, and racks
// interleaved in a scrambled input order.
std::vector<std::string> Layout(int shape, int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) {
    int r = 0;
    switch (shape) {
      case 0: r = i % 4; break;
      case 1: while ((r + 1) * (r + 1) <= i) ++r; break;  // rack r holds 2r+1 hosts
      case 2: r = i % 7 == 0 ? -1 : 0; break;
      default: r = static_cast<int>((uint32_t(i) * 2654435761u >> 7) % 9); break;
    }
    v.push_back(r < 0 ? (i % 2 ? "unknown" : "") : "dc1/p" + std::to_string(r % 2) + "/r" + std::to_string(r));
  }
  return v;
}

std::string Rack(const std::string& l) { return l.empty() ? "unknown" : l; }

TEST_CASE("the documented spec parses into cumulative steps") {
  auto s = ParseWaveSpec("1,5%,25%,100%");
  REQUIRE(s.ok());
  CHECK(*s == std::vector<WaveStep>{{Kind::kCount, 1, 0}, {Kind::kPercent, 0, 50000},
                                    {Kind::kPercent, 0, 250000}, {Kind::kPercent, 0, 1000000}});
  auto d = ParseWaveSpec(" 2 , 0.5% ,33.3333%");
  REQUIRE(d.ok());
  CHECK(*d == std::vector<WaveStep>{{Kind::kCount, 2, 0}, {Kind::kPercent, 0, 5000}, {Kind::kPercent, 0, 333333}});
}

TEST_CASE("an empty spec is one wave of everyone") {
  for (const std::string spec : {"", "  "}) {
    auto s = ParseWaveSpec(spec);
    REQUIRE(s.ok());
    CHECK(*s == std::vector<WaveStep>{{Kind::kPercent, 0, 1000000}});
  }
  CHECK(Sizes("", 37) == std::vector<int>{37});
}

TEST_CASE("bad wave elements are named in the error") {
  CHECK(ParseError("0") == "wave '0' must be a positive host count or a percentage in (0,100]");
  for (const std::string bad : {"-1", "0%", "101%", "100.0001%", "abc", "1.5", "5.%", ".5%", "5 %", "1e3", "%",
                                "1234567890"})
    CHECK(ParseError("1," + bad) == "wave '" + bad + "' must be a positive host count or a percentage in (0,100]");
  CHECK(ParseError("1,,5%") == "wave '' must be a positive host count or a percentage in (0,100]");
  CHECK(ParseError("1,5%,") == "wave '' must be a positive host count or a percentage in (0,100]");
  CHECK(ParseError("0.00001%") == "wave '0.00001%': at most 4 decimals in a percentage");
}

TEST_CASE("waves of the same kind must not decrease but kinds do not compare") {
  CHECK(ParseError("10,5") == "wave '5' is below the earlier '10': waves are cumulative and must not decrease");
  CHECK(ParseError("1,10%,50,5%") ==
        "wave '5%' is below the earlier '10%': waves are cumulative and must not decrease");
  for (const std::string ok : {"10,5%", "5%,1", "1,1", "5%,5%", "1,50%,2,100%"}) CHECK(ParseWaveSpec(ok).ok());
}

TEST_CASE("wave sizes for hand-computed examples") {
  CHECK(Sizes("1,5%,25%,100%", 60) == std::vector<int>{1, 2, 12, 45});  // 1, 3, 15, 60
  CHECK(Sizes("1,5%,25%,100%", 10) == std::vector<int>{1, 2, 7});       // 1, 1 (dropped), 3, 10
  CHECK(Sizes("1,5%,25%,100%", 2) == std::vector<int>{1, 1});
  CHECK(Sizes("1,5%,25%,100%", 1) == std::vector<int>{1});
  CHECK(Sizes("1,5%,25%,100%", 0).empty());
  CHECK(Sizes("1,5%,25%", 60) == std::vector<int>{1, 2, 12, 45});  // the rest joins a last wave
  CHECK(Sizes("5%", 10) == std::vector<int>{1, 9});                 // rounds up, never 0
  CHECK(Sizes("0.5%", 1000) == std::vector<int>{5, 995});
  CHECK(Sizes("33.3333%", 3) == std::vector<int>{1, 2});
  // 0.07 * 100 is 7.000000000000001 in doubles; the plan must still say 7.
  CHECK(Sizes("7%,14%", 100) == std::vector<int>{7, 7, 86});
  CHECK(Sizes("50,100", 10) == std::vector<int>{10});  // counts clamp to the targets
  CHECK(Sizes("2,3", 10) == std::vector<int>{2, 1, 7});
  CHECK(Sizes("10,5%", 100) == std::vector<int>{10, 90});  // 5% adds nothing after 10 hosts
}

TEST_CASE("wave sizes cover every target exactly once for 0 to 300 targets") {
  for (const auto& spec : kSpecs) {
    auto steps = ParseWaveSpec(spec);
    REQUIRE(steps.ok());
    for (int t = 0; t <= 300; ++t) {
      INFO("spec '" << spec << "' targets " << t);
      auto sizes = WaveSizes(*steps, t);
      int sum = 0;
      std::vector<int> prefix;
      for (int s : sizes) {
        CHECK(s >= 1);
        prefix.push_back(sum += s);
      }
      CHECK(sum == t);
      CHECK(prefix == Boundaries(*steps, t));
      if (t > 0 && spec.rfind("1,", 0) == 0) CHECK(sizes[0] == 1);
    }
  }
}

TEST_CASE("waves take hosts round-robin over racks continuing where the last wave stopped") {
  // Racks a: hosts 0,3,5; b: 1,4; c: 2. Round-robin: a0 b1 c2 a3 b4 a5.
  std::vector<std::string> loc = {"a", "b", "c", "a", "b", "a"};
  CHECK(AssignWaves(loc, {1, 2, 3}) == std::vector<int>{0, 1, 1, 2, 2, 2});
  // One host per wave: the canary's rack waits until every rack had a turn.
  CHECK(AssignWaves(loc, {1, 1, 1, 1, 1, 1}) == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(AssignWaves({"z", "unknown", "", "a"}, {2, 2}) == std::vector<int>{1, 0, 1, 0});  // a, unknown | z, unknown
  CHECK(AssignWaves({}, {}).empty());
  CHECK(AssignWaves({"a", "b", "a"}, {}) == std::vector<int>{0, 0, 0});
  CHECK(AssignWaves({"a", "b", "a"}, {1}) == std::vector<int>{0, 0, 0});  // hosts past the plan join the last wave
}

TEST_CASE("every wave spans as many racks as it can and racks stay balanced") {
  for (int shape = 0; shape < 4; ++shape)
    for (const auto& spec : kSpecs) {
      auto steps = ParseWaveSpec(spec);
      REQUIRE(steps.ok());
      for (int t = 0; t <= 300; ++t) {
        INFO("shape " << shape << " spec '" << spec << "' targets " << t);
        auto loc = Layout(shape, t);
        auto sizes = WaveSizes(*steps, t);
        auto wave = AssignWaves(loc, sizes);
        REQUIRE(wave.size() == loc.size());
        std::map<std::string, int> total, done;  // per rack
        for (const auto& l : loc) ++total[Rack(l)];
        std::map<std::string, int> last_wave;    // hosts of a rack activate in input order
        std::vector<int> count(sizes.size(), 0);
        for (size_t i = 0; i < loc.size(); ++i) {
          REQUIRE((wave[i] >= 0 && wave[i] < static_cast<int>(sizes.size())));
          ++count[wave[i]];
          auto it = last_wave.find(Rack(loc[i]));
          if (it != last_wave.end()) CHECK(it->second <= wave[i]);
          last_wave[Rack(loc[i])] = wave[i];
        }
        CHECK(count == sizes);
        for (size_t w = 0; w < sizes.size(); ++w) {
          int racks_left = 0;
          for (const auto& kv : total) racks_left += done[kv.first] < kv.second;
          std::set<std::string> racks;
          for (size_t i = 0; i < loc.size(); ++i)
            if (wave[i] == static_cast<int>(w)) racks.insert(Rack(loc[i])), ++done[Rack(loc[i])];
          CHECK(static_cast<int>(racks.size()) == std::min(sizes[w], racks_left));
          // Balance: a rack with hosts left is at most one behind the most-activated rack.
          int most = 0;
          for (const auto& kv : done) most = std::max(most, kv.second);
          for (const auto& a : total)
            if (done[a.first] < a.second) CHECK(done[a.first] >= most - 1);
        }
      }
    }
}

TEST_CASE("max failures is a count or a floor of a percentage of the targets") {
  auto mf = [](const std::string& s, int t) {
    auto r = ParseMaxFailures(s, t);
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(mf("", 50) == 0);
  CHECK(mf("0", 50) == 0);
  CHECK(mf(" 3 ", 50) == 3);
  CHECK(mf("500", 10) == 500);  // not capped: more than the targets means never pause
  CHECK(mf("10%", 60) == 6);
  CHECK(mf("10%", 9) == 0);     // floor
  CHECK(mf("2.5%", 200) == 5);
  CHECK(mf("7%", 100) == 7);    // exact, not 7.000000000000001 -> 7 by luck
  CHECK(mf("100%", 7) == 7);
  CHECK(mf("0%", 7) == 0);
  CHECK(mf("50%", 0) == 0);
  for (const std::string bad : {"-1", "abc", "101%", "1.5", "5 %", "%", "1,2"}) {
    auto r = ParseMaxFailures(bad, 10);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "max failures '" + bad + "' must be a host count or a percentage in [0,100]");
  }
  CHECK(ParseMaxFailures("0.00001%", 10).status().message() ==
        "max failures '0.00001%': at most 4 decimals in a percentage");
}

}  // namespace
}  // namespace spate
