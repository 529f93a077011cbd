#include "push/straggler.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "wire/units.h"

namespace spate {

const char* CauseName(StragglerCause c) {
  switch (c) {
    case StragglerCause::kNoContact: return "no contact";
    case StragglerCause::kNoPeers: return "no peers";
    case StragglerCause::kNoProgress: return "no progress";
    case StragglerCause::kSlow: return "slow";
    case StragglerCause::kVerifySlow: return "verify slow";
  }
  return "unknown";
}

namespace {

// Precedence, worst first; the enum's order is fixed by its users.
int Rank(StragglerCause c) {
  switch (c) {
    case StragglerCause::kNoContact: return 0;
    case StragglerCause::kNoPeers: return 1;
    case StragglerCause::kNoProgress: return 2;
    case StragglerCause::kVerifySlow: return 3;
    case StragglerCause::kSlow: return 4;
  }
  return 5;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  size_t m = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + m, v.end());
  if (v.size() % 2) return v[m];
  return (v[m] + *std::max_element(v.begin(), v.begin() + m)) / 2;
}

int64_t Age(int64_t at, int64_t now) { return at > 0 && now > at ? now - at : 0; }

std::string Secs(int64_t ms) { return std::to_string(ms / 1000) + " s"; }

std::string Bytes(const HostProgress& h) {
  return h.total ? FormatBytes(double(h.bytes_done)) + " of " + FormatBytes(double(h.total))
                 : FormatBytes(double(h.bytes_done));
}

std::string Rack(const HostProgress& h) { return h.location.empty() ? "unknown" : h.location; }

}  // namespace

std::vector<Straggler> FindStragglers(const std::vector<HostProgress>& rows, int64_t now_ms,
                                      const StragglerOptions& o) {
  std::map<std::string, std::vector<double>> rack_rates;
  std::vector<double> push_rates;
  for (const auto& h : rows)
    if (h.state == kStateDownloading) rack_rates[Rack(h)].push_back(h.rate), push_rates.push_back(h.rate);
  const double push_median = Median(push_rates);
  std::map<std::string, double> rack_median;
  for (const auto& kv : rack_rates)
    if (kv.second.size() >= 3) rack_median[kv.first] = Median(kv.second);

  std::vector<std::tuple<int, double, Straggler>> found;  // (rank, badness: higher is worse, row)
  for (const auto& h : rows) {
    const bool pending = h.state == kStatePending, down = h.state == kStateDownloading,
               verify = h.state == kStateVerifying;
    if (!pending && !down && !verify) continue;
    const int64_t silent = Age(h.updated_at, now_ms);
    const int64_t still = Age(h.progress_at ? h.progress_at : h.updated_at, now_ms);
    Straggler s{h.host, h.location, h.state, h.rate, h.peers, StragglerCause::kNoContact, ""};
    double bad = static_cast<double>(still);
    if (silent > o.no_contact_ms) {
      bad = static_cast<double>(silent);
      s.reason = pending ? "assignment not picked up for " + Secs(silent)
                         : "no report for " + Secs(silent) + " (" + h.state + ", " + Bytes(h) + ")";
    } else if (down && h.peers == 0 && still > o.no_progress_ms / 6) {
      s.cause = StragglerCause::kNoPeers;
      s.reason = "0 peers, no progress for " + Secs(still) + " (" + Bytes(h) + ")";
    } else if (down && still > o.no_progress_ms) {
      s.cause = StragglerCause::kNoProgress;
      s.reason = "no progress for " + Secs(still) + " (" + Bytes(h) + ")";
    } else if (verify && still > o.verify_slow_ms) {
      s.cause = StragglerCause::kVerifySlow;
      s.reason = "verifying for " + Secs(still) + " (" + Bytes(h) + ")";
    } else if (down) {
      auto it = rack_median.find(Rack(h));
      const bool by_rack = it != rack_median.end();
      const double median = by_rack ? it->second : push_median;
      if (!(median > 0 && h.rate < o.slow_factor * median)) continue;
      s.cause = StragglerCause::kSlow;
      bad = 1 - h.rate / median;
      s.reason = FormatBytes(h.rate) + "/s, " + std::to_string(int(100 * h.rate / median)) + "% of the " +
                 (by_rack ? "rack" : "push") + " median " + FormatBytes(median) + "/s (" + Bytes(h) + ")";
    } else {
      continue;
    }
    found.emplace_back(Rank(s.cause), bad, std::move(s));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
    if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) > std::get<1>(b);
    return std::get<2>(a).host < std::get<2>(b).host;
  });
  std::vector<Straggler> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(std::move(std::get<2>(f)));
  return out;
}

}  // namespace spate
