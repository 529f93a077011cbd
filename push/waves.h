// Activation waves: `spate push web@1.2.3 --waves 1,5%,25%,100% --max-failures 2`.
// Pure functions from the spec and the targets to the plan, so the push
// controller only stores the result and the tests can cover every size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/status.h"

namespace spate {

// One element of a wave spec: a CUMULATIVE target, "activate up to here".
struct WaveStep {
  enum class Kind { kCount, kPercent };
  Kind kind = Kind::kPercent;
  int count = 0;             // kCount: hosts, >= 1
  int64_t millionths = 0;    // kPercent: of the targets, 1..1'000'000 (5% = 50'000)
  bool operator==(const WaveStep& o) const {
    return kind == o.kind && count == o.count && millionths == o.millionths;
  }
};

// "1,5%,25%,100%": each element a positive host count or a percentage in
// (0,100] with at most 4 decimals (kept as an integer so rounding is exact).
// Counts must not decrease against earlier counts, nor percentages against
// earlier percentages; a count and a percentage are not comparable until the
// targets are known. Blanks around elements are ignored. "" = {100%}.
Result<std::vector<WaveStep>> ParseWaveSpec(const std::string& spec);

// Hosts per wave (not cumulative). A percentage rounds UP, so "5%" of 10 is
// 1 host, never 0; a count is clamped to the targets; a step that adds no
// host is dropped; if the steps end short of every target, a last wave takes
// the rest. So: the sum is `targets`, every wave has >= 1 host, 0 targets = {}.
std::vector<int> WaveSizes(const std::vector<WaveStep>& steps, int targets);

// The wave of each host; locations[i] is host i's "dc/pod/rack" ("" and
// "unknown" count as one rack). Rule: ONE round-robin over the racks for the
// whole push (racks sorted by name, hosts in input order within a rack,
// exhausted racks skipped), cut into consecutive waves of `sizes`. A wave
// starts at the rack after the one where the previous wave stopped, so:
//  - a wave of k hosts spans min(k, racks with hosts left) racks;
//  - after every wave, two racks' activated counts differ by at most one
//    unless the smaller rack has no hosts left (a canary rack is not hit
//    again before every other rack had its turn).
// Precondition: sizes sum to locations.size(); hosts beyond the sum get the
// last wave (wave 0 when `sizes` is empty), so every host has one.
std::vector<int> AssignWaves(const std::vector<std::string>& locations, const std::vector<int>& sizes);

// Failures tolerated before activation pauses: "N" (a host count, not capped
// at the targets) or "P%" (floor of P% of the targets, P in [0,100], at most 4
// decimals). "" = 0.
Result<int> ParseMaxFailures(const std::string& spec, int targets);

}  // namespace spate
