#include "push/waves.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <tuple>

namespace spate {

namespace {

constexpr int64_t kWhole = 1000000;  // millionths in 100%

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool AllDigits(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Nine digits at most, so the value fits an int with no overflow check.
bool ParseCount(const std::string& s, int& n) {
  if (s.empty() || s.size() > 9 || !AllDigits(s)) return false;
  n = std::stoi(s);
  return true;
}

enum class Pct { kOk, kBad, kTooPrecise };

// "12.5%" -> 125'000 millionths. Integers, not doubles, so that 5% of 60
// rounds up to exactly 3 and not to 4 through 3.0000000000000004.
Pct ParsePercent(const std::string& s, int64_t& millionths) {
  if (s.size() < 2 || s.back() != '%') return Pct::kBad;
  std::string num = s.substr(0, s.size() - 1);
  size_t dot = num.find('.');
  std::string whole = num.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : num.substr(dot + 1);
  if (whole.empty() || whole.size() > 6 || !AllDigits(whole) || !AllDigits(frac)) return Pct::kBad;
  if (dot != std::string::npos && frac.empty()) return Pct::kBad;
  if (frac.size() > 4) return Pct::kTooPrecise;
  frac.resize(4, '0');
  millionths = std::stoll(whole) * 10000 + std::stoll(frac);
  return Pct::kOk;
}

}  // namespace

Result<std::vector<WaveStep>> ParseWaveSpec(const std::string& spec) {
  std::vector<WaveStep> steps;
  if (Trim(spec).empty()) {
    steps.push_back(WaveStep{WaveStep::Kind::kPercent, 0, kWhole});
    return steps;
  }
  // The latest count and percentage so far (0 = none yet), with their text.
  int count = 0;
  int64_t pct = 0;
  std::string count_text, pct_text;
  auto decreasing = [](const std::string& e, const std::string& earlier) {
    return Status::Invalid("wave '" + e + "' is below the earlier '" + earlier +
                           "': waves are cumulative and must not decrease");
  };
  size_t start = 0;
  while (true) {
    size_t comma = spec.find(',', start);
    std::string e = Trim(spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    WaveStep s;
    Pct p = ParsePercent(e, s.millionths);
    if (p == Pct::kTooPrecise) return Status::Invalid("wave '" + e + "': at most 4 decimals in a percentage");
    if (p == Pct::kOk && s.millionths > 0 && s.millionths <= kWhole) {
      if (s.millionths < pct) return decreasing(e, pct_text);
      pct = s.millionths;
      pct_text = e;
    } else if (ParseCount(e, s.count) && s.count > 0) {
      if (s.count < count) return decreasing(e, count_text);
      s = WaveStep{WaveStep::Kind::kCount, s.count, 0};
      count = s.count;
      count_text = e;
    } else {
      return Status::Invalid("wave '" + e + "' must be a positive host count or a percentage in (0,100]");
    }
    steps.push_back(s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return steps;
}

std::vector<int> WaveSizes(const std::vector<WaveStep>& steps, int targets) {
  std::vector<int> sizes;
  if (targets <= 0) return sizes;
  int done = 0;
  for (const auto& s : steps) {
    int64_t upto = s.kind == WaveStep::Kind::kCount ? s.count : (int64_t{targets} * s.millionths + kWhole - 1) / kWhole;
    upto = std::min<int64_t>(upto, targets);
    if (upto > done) {
      sizes.push_back(static_cast<int>(upto) - done);
      done = static_cast<int>(upto);
    }
  }
  if (done < targets) sizes.push_back(targets - done);
  return sizes;
}

std::vector<int> AssignWaves(const std::vector<std::string>& locations, const std::vector<int>& sizes) {
  const int n = static_cast<int>(locations.size());
  std::map<std::string, int> rack_rank;  // sorted by name; ranks filled below
  for (const auto& l : locations) rack_rank[l.empty() ? "unknown" : l] = 0;
  int rank = 0;
  for (auto& kv : rack_rank) kv.second = rank++;
  // The round-robin, skipping racks that ran out, is the order of (turn of
  // the host within its rack, rack rank): turn j visits, in rack order, every
  // rack with more than j hosts. Sorting avoids a racks x turns loop.
  std::vector<int> turn_in_rack(rank, 0);
  std::vector<std::tuple<int, int, int>> order;  // (turn, rack, host)
  order.reserve(n);
  for (int i = 0; i < n; ++i) {
    int r = rack_rank[locations[i].empty() ? "unknown" : locations[i]];
    order.emplace_back(turn_in_rack[r]++, r, i);
  }
  std::sort(order.begin(), order.end());
  std::vector<int> wave(n, 0);
  int w = 0, left = sizes.empty() ? 0 : sizes[0];
  for (const auto& o : order) {
    while (left <= 0 && w + 1 < static_cast<int>(sizes.size())) left = sizes[++w];
    wave[std::get<2>(o)] = w;
    --left;
  }
  return wave;
}

Result<int> ParseMaxFailures(const std::string& spec, int targets) {
  std::string s = Trim(spec);
  if (s.empty()) return 0;
  int n = 0;
  if (ParseCount(s, n)) return n;
  int64_t m = 0;
  Pct p = ParsePercent(s, m);
  if (p == Pct::kTooPrecise) return Status::Invalid("max failures '" + s + "': at most 4 decimals in a percentage");
  if (p == Pct::kOk && m <= kWhole) return static_cast<int>(int64_t{std::max(targets, 0)} * m / kWhole);
  return Status::Invalid("max failures '" + s + "' must be a host count or a percentage in [0,100]");
}

}  // namespace spate
