#include "fetcher/cross_rack.h"

#include <libtorrent/peer_class.hpp>
#include <algorithm>

#include "wire/swarm.h"

namespace spate {

Result<std::pair<lt::address, lt::address>> CidrBounds(const std::string& cidr) {
  auto bad = [&] { return Status::Invalid("bad CIDR '" + cidr + "' in rack ranges"); };
  auto slash = cidr.find('/');
  boost::system::error_code ec;
  lt::address a = lt::make_address(cidr.substr(0, slash), ec);
  if (ec) return bad();
  int bits = a.is_v4() ? 32 : 128, len = bits;
  if (slash != std::string::npos) {
    std::string l = cidr.substr(slash + 1);
    if (l.empty() || l.size() > 3 || l.find_first_not_of("0123456789") != std::string::npos) return bad();
    len = std::stoi(l);
    if (len > bits) return bad();
  }
  if (a.is_v4()) {
    uint32_t host = len == 0 ? ~0u : (len == 32 ? 0 : ~0u >> len);
    uint32_t v = a.to_v4().to_uint();
    return std::pair<lt::address, lt::address>{lt::address_v4(v & ~host), lt::address_v4(v | host)};
  }
  auto lo = a.to_v6().to_bytes(), hi = lo;
  for (int i = 0; i < 16; ++i) {
    auto mask = uint8_t(0xff00 >> std::clamp(len - 8 * i, 0, 8));
    lo[i] &= mask;
    hi[i] |= uint8_t(~mask);
  }
  return std::pair<lt::address, lt::address>{lt::address_v6(lo), lt::address_v6(hi)};
}

Result<lt::ip_filter> RackClassFilter(const std::vector<RackRange>& ranges, uint32_t cross_class) {
  const uint32_t cross = kGlobalPeerClass | (1u << cross_class);
  lt::ip_filter f = AllAddresses(cross);
  for (const auto& r : ranges) {
    auto b = CidrBounds(r.cidr);
    if (!b.ok()) return b.status();
    f.add_rule(b->first, b->second, r.local ? kGlobalPeerClass : cross);
  }
  return f;
}

Status CrossRack::SetRanges(const std::vector<RackRange>& ranges, int rate) {
  if (ranges.empty()) {
    ses_.set_peer_class_filter(AllAddresses(kGlobalPeerClass));
    return Status::Ok();
  }
  if (!created_) {
    cls_ = ses_.create_peer_class("cross-rack");
    created_ = true;
  }
  auto f = RackClassFilter(ranges, static_cast<uint32_t>(cls_));
  if (!f.ok()) return f.status();
  lt::peer_class_info info = ses_.get_peer_class(cls_);
  info.upload_limit = std::max(rate, 0);  // 0 = no cap beyond the NIC's
  info.download_limit = std::max(rate, 0);
  // Far peers ask a gateway only for their own share (fetcher/far_filter.h),
  // which nobody in their rack can give them; tit-for-tat would rank them
  // below rack peers and choke them. 60 hosts/6 racks with shares: 1.56-1.65
  // -> 1.47-1.51 x the bound.
  info.ignore_unchoke_slots = true;
  ses_.set_peer_class(cls_, info);
  ses_.set_peer_class_filter(*f);
  return Status::Ok();
}

}  // namespace spate
