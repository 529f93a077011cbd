#include "rackmap/rackmap.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include "wire/fs.h"

namespace spate {

namespace {

using Key = std::pair<uint64_t, uint64_t>;

// Addresses are 128-bit keys, most significant bits first; IPv4 sits in the top 32 bits.
Key ToKey(const boost::asio::ip::address& a, int* bits) {
  if (a.is_v4()) {
    *bits = 32;
    return {uint64_t(a.to_v4().to_uint()) << 32, 0};
  }
  auto b = a.to_v6().to_bytes();
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 8; ++i) hi = hi << 8 | b[i];
  for (int i = 8; i < 16; ++i) lo = lo << 8 | b[i];
  *bits = 128;
  return {hi, lo};
}

Key Mask(Key k, int prefix) {
  if (prefix <= 0) return {0, 0};
  if (prefix <= 64) return {k.first & (~0ULL << (64 - prefix)), 0};
  if (prefix >= 128) return k;
  return {k.first, k.second & (~0ULL << (128 - prefix))};
}

bool SafePart(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

boost::asio::ip::address Unmap(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

const Location kUnknown{};

}  // namespace

std::string Location::ToString() const { return known() ? dc + "/" + pod + "/" + rack : "unknown"; }

Distance LocationDistance(const Location& a, const Location& b) {
  if (!a.known() || !b.known() || a.dc != b.dc) return kElsewhere;
  if (a.pod != b.pod) return kSameDc;
  if (a.rack != b.rack) return kSamePod;
  return kSameRack;
}

Result<Rackmap> Rackmap::Parse(const std::string& text, const std::string& filename) {
  Rackmap map;
  // Where each range was first defined, to name both lines on a duplicate.
  struct Seen {
    int line;
    std::string location;
  };
  std::map<std::pair<int, std::pair<Key, int>>, Seen> seen;  // (family bits, (key, prefix))
  std::map<std::string, uint32_t> interned;
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  while (std::getline(in, raw)) {
    ++lineno;
    auto where = [&](const std::string& what) {
      return Status::Invalid(filename + ":" + std::to_string(lineno) + ": " + what);
    };
    std::string line = raw.substr(0, raw.find('#'));
    std::istringstream fields(line);
    std::string cidr, loc, extra;
    if (!(fields >> cidr)) continue;  // blank or comment-only
    if (!(fields >> loc)) return where("range '" + cidr + "' has no location (want CIDR dc/pod/rack)");
    if (fields >> extra) return where("unexpected '" + extra + "' after location (want CIDR dc/pod/rack)");

    // CIDR.
    auto slash = cidr.find('/');
    std::string addr_text = cidr.substr(0, slash);
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(addr_text, ec);
    if (ec) return where("bad CIDR '" + cidr + "': '" + addr_text + "' is not an IP address");
    addr = Unmap(addr);
    int bits = 0;
    Key key = ToKey(addr, &bits);
    int prefix = bits;
    if (slash != std::string::npos) {
      std::string len = cidr.substr(slash + 1);
      if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(len) > bits)
        return where("bad CIDR '" + cidr + "': prefix length must be 0-" + std::to_string(bits));
      prefix = std::stoi(len);
    }
    if (Mask(key, prefix) != key)
      return where("bad CIDR '" + cidr + "': host bits are set below /" + std::to_string(prefix));

    // Location.
    Location l;
    auto s1 = loc.find('/');
    auto s2 = s1 == std::string::npos ? s1 : loc.find('/', s1 + 1);
    if (s2 == std::string::npos || loc.find('/', s2 + 1) != std::string::npos)
      return where("bad location '" + loc + "': want dc/pod/rack");
    l.dc = loc.substr(0, s1);
    l.pod = loc.substr(s1 + 1, s2 - s1 - 1);
    l.rack = loc.substr(s2 + 1);
    if (!SafePart(l.dc) || !SafePart(l.pod) || !SafePart(l.rack))
      return where("bad location '" + loc + "': each of dc/pod/rack must be 1-64 of [A-Za-z0-9._-]");

    auto [it, fresh] = seen.emplace(std::pair{bits, std::pair{key, prefix}}, Seen{lineno, loc});
    if (!fresh)
      return where("range '" + cidr + "' (" + loc + ") is already listed on line " + std::to_string(it->second.line) +
                   " (" + it->second.location + ")");

    auto [li, added] = interned.emplace(loc, uint32_t(map.locations_.size()));
    if (added) map.locations_.push_back(l);
    auto& levels = bits == 32 ? map.v4_ : map.v6_;
    auto lv = std::find_if(levels.begin(), levels.end(), [&](const Level& x) { return x.prefix == prefix; });
    if (lv == levels.end()) {
      levels.push_back(Level{prefix, {}});
      lv = levels.end() - 1;
    }
    lv->ranges.emplace(key, li->second);
    ++map.range_count_;
  }
  for (auto* levels : {&map.v4_, &map.v6_})
    std::sort(levels->begin(), levels->end(), [](const Level& a, const Level& b) { return a.prefix > b.prefix; });
  return map;
}

Result<Rackmap> Rackmap::Load(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return Status::Invalid(path + ": cannot read rackmap: " + text.status().message());
  return Parse(*text, path);
}

const Location& Rackmap::Find(const std::vector<Level>& levels, Key key, int bits) const {
  for (const auto& lv : levels) {
    auto it = lv.ranges.find(Mask(key, lv.prefix));
    if (it != lv.ranges.end()) return locations_[it->second];
  }
  return kUnknown;
}

const Location& Rackmap::Lookup(const boost::asio::ip::address& raw) const {
  auto addr = Unmap(raw);
  int bits = 0;
  Key key = ToKey(addr, &bits);
  return Find(bits == 32 ? v4_ : v6_, key, bits);
}

const Location& Rackmap::Lookup(const std::string& text) const {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(text, ec);
  if (ec) return kUnknown;
  return Lookup(addr);
}

namespace {

std::string FormatCidr(Key k, int bits, int prefix) {
  if (bits == 32) return boost::asio::ip::address_v4(uint32_t(k.first >> 32)).to_string() + "/" + std::to_string(prefix);
  boost::asio::ip::address_v6::bytes_type b;
  for (int i = 0; i < 8; ++i) b[i] = uint8_t(k.first >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) b[8 + i] = uint8_t(k.second >> (56 - 8 * i));
  return boost::asio::ip::address_v6(b).to_string() + "/" + std::to_string(prefix);
}

}  // namespace

std::vector<RackRange> Rackmap::RangesOf(const Location& rack) const {
  std::vector<RackRange> out;
  if (!rack.known()) return out;
  for (auto [levels, bits] : {std::pair{&v4_, 32}, std::pair{&v6_, 128}}) {
    // Levels are longest prefix first; collect the rack's ranges, then any
    // longer range inside one of them, and emit shortest first.
    std::vector<std::pair<Key, int>> own;
    std::vector<std::pair<int, RackRange>> found;
    for (auto lv = levels->rbegin(); lv != levels->rend(); ++lv)
      for (const auto& range : lv->ranges) {
        const Key& key = range.first;  // not a structured binding: clang-14 cannot capture those
        bool mine = locations_[range.second] == rack;
        bool nested = std::any_of(own.begin(), own.end(),
                                  [&](const auto& o) { return o.second < lv->prefix && Mask(key, o.second) == o.first; });
        if (mine) own.emplace_back(key, lv->prefix);
        if (mine || nested) found.push_back({lv->prefix, RackRange{FormatCidr(key, bits, lv->prefix), mine}});
      }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first, a.second.cidr) < std::tie(b.first, b.second.cidr);
    });
    for (auto& f : found) out.push_back(std::move(f.second));
  }
  return out;
}

RackmapSummary Rackmap::Summary() const {
  std::set<std::string> dcs, pods, racks;
  for (const auto& l : locations_) {
    dcs.insert(l.dc);
    pods.insert(l.dc + "/" + l.pod);
    racks.insert(l.ToString());
  }
  return RackmapSummary{range_count_, dcs.size(), pods.size(), racks.size()};
}

}  // namespace spate
