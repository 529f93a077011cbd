#include "wire/tracker_order.h"

#include <algorithm>
#include <numeric>

#include "wire/crypto.h"

namespace spate {

namespace {

std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

// Hex digests compare like the digests themselves. The separator is in no
// URL, so ("ab","c") and ("a","bc") score differently.
std::string Score(std::string_view info_hash, std::string_view tracker) {
  std::string in;
  in.reserve(info_hash.size() + 1 + tracker.size());
  in.append(info_hash).append("\n").append(tracker);
  return Sha256Hex(in);
}

}  // namespace

std::vector<size_t> TrackerOrder(std::string_view info_hash, const std::vector<std::string>& trackers) {
  std::vector<std::string> scores;
  scores.reserve(trackers.size());
  for (const auto& t : trackers) scores.push_back(Score(info_hash, Trimmed(t)));
  std::vector<size_t> order(trackers.size());
  std::iota(order.begin(), order.end(), size_t(0));
  // Ties need equal SHA-256 digests, i.e. the same tracker listed twice: by position then.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

std::vector<std::string> OrderTrackers(std::string_view info_hash, const std::vector<std::string>& trackers) {
  std::vector<std::string> out;
  out.reserve(trackers.size());
  for (size_t i : TrackerOrder(info_hash, trackers)) out.push_back(trackers[i]);
  return out;
}

std::vector<std::string> SplitList(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      std::string item = v.substr(start, comma - start);
      auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
      if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace spate
