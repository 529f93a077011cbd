#include "tracker/peer_set.h"

#include <algorithm>
#include <cstring>

namespace spate {

uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

PeerId MakePeerId(std::string_view raw) {
  PeerId id{};
  std::memcpy(id.data(), raw.data(), std::min(raw.size(), id.size()));
  return id;
}

uint64_t IdHash(const PeerId& id) {
  uint64_t a, b;
  uint32_t c;
  std::memcpy(&a, id.data(), 8);
  std::memcpy(&b, id.data() + 8, 8);
  std::memcpy(&c, id.data() + 16, 4);
  return Mix64(a ^ Mix64(b ^ Mix64(c)));
}

PeerAddress PeerAddress::From(const boost::asio::ip::address& a) {
  PeerAddress p;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), p.bytes.begin());
  } else if (a.to_v6().is_v4_mapped()) {
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin() + 12, b.end(), p.bytes.begin());
  } else {
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), p.bytes.begin());
    p.v6 = true;
  }
  return p;
}

std::optional<PeerAddress> PeerAddress::Parse(const std::string& text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(text, ec);
  if (ec) return std::nullopt;
  return From(a);
}

boost::asio::ip::address PeerAddress::ToAddress() const {
  if (v6) {
    boost::asio::ip::address_v6::bytes_type b;
    std::copy(bytes.begin(), bytes.end(), b.begin());
    return boost::asio::ip::address_v6(b);
  }
  return boost::asio::ip::address_v4({bytes[0], bytes[1], bytes[2], bytes[3]});
}

std::string PeerAddress::ToString() const { return ToAddress().to_string(); }

RackTable::RackTable() {
  racks_.push_back(Info{0, 0, "unknown"});
  pods_.emplace("", 0);
  dcs_.emplace("", 0);
}

RackId RackTable::Intern(const Location& loc) {
  if (!loc.known()) return kUnknownRack;
  // Location::ToString's form, spelled here so the parser fuzzers, which link
  // this file for PeerAddress, need no rackmap.
  std::string name = loc.dc + "/" + loc.pod + "/" + loc.rack;
  auto it = by_name_.find(name);
  if (it != by_name_.end()) return it->second;
  Info info;
  info.dc = dcs_.emplace(loc.dc, uint32_t(dcs_.size())).first->second;
  info.pod = pods_.emplace(loc.dc + "/" + loc.pod, uint32_t(pods_.size())).first->second;
  info.name = std::move(name);
  RackId id = RackId(racks_.size());
  by_name_.emplace(info.name, id);
  racks_.push_back(std::move(info));
  return id;
}

Distance RackTable::Between(RackId a, RackId b) const {
  if (a == kUnknownRack || b == kUnknownRack) return kElsewhere;  // no evidence of being close
  if (a == b) return kSameRack;
  if (racks_[a].pod == racks_[b].pod) return kSamePod;
  return racks_[a].dc == racks_[b].dc ? kSameDc : kElsewhere;
}

size_t PeerSet::SpanIndex(RackId rack) const {
  for (size_t i = 0; i < spans_.size(); ++i)
    if (spans_[i].rack == rack) return i;
  return spans_.size();
}

const RackSpan* PeerSet::Span(RackId rack) const {
  size_t i = SpanIndex(rack);
  return i < spans_.size() ? &spans_[i] : nullptr;
}

uint32_t* PeerSet::IndexEntry(const PeerId& id) {
  if (table_.empty()) return nullptr;
  size_t mask = table_.size() - 1;
  for (size_t i = IdHash(id) & mask;; i = (i + 1) & mask) {
    uint32_t v = table_[i];
    if (v == 0) return nullptr;
    if (SameId(records_[v - 1].id, id)) return &table_[i];
  }
}

uint32_t PeerSet::Find(const PeerId& id) const {
  uint32_t* e = const_cast<PeerSet*>(this)->IndexEntry(id);
  return e ? *e - 1 : kNoSlot;
}

void PeerSet::GrowIndex() {
  // Load at most 1/2 keeps probe runs short.
  if (records_.size() * 2 > table_.size()) {
    std::vector<uint32_t> old(std::max<size_t>(16, table_.size() * 2), 0);
    old.swap(table_);
    size_t mask = table_.size() - 1;
    for (uint32_t v : old) {
      if (v == 0) continue;
      size_t i = IdHash(records_[v - 1].id) & mask;
      while (table_[i] != 0) i = (i + 1) & mask;
      table_[i] = v;
      records_[v - 1].index_pos = uint32_t(i);
    }
  }
}

void PeerSet::IndexInsert(const PeerId& id, uint32_t slot) {
  size_t mask = table_.size() - 1;
  size_t i = IdHash(id) & mask;
  while (table_[i] != 0) i = (i + 1) & mask;
  table_[i] = slot + 1;
  records_[slot].index_pos = uint32_t(i);
}

void PeerSet::IndexErase(const PeerId& id) {
  uint32_t* e = IndexEntry(id);
  if (!e) return;
  // Backward-shift deletion: later entries of the probe run move up so
  // lookups never need tombstones.
  size_t mask = table_.size() - 1;
  size_t hole = size_t(e - table_.data());
  for (size_t i = (hole + 1) & mask; table_[i] != 0; i = (i + 1) & mask) {
    size_t home = IdHash(records_[table_[i] - 1].id) & mask;
    if (((i - home) & mask) >= ((i - hole) & mask)) {
      table_[hole] = table_[i];
      records_[table_[hole] - 1].index_pos = uint32_t(hole);
      hole = i;
    }
  }
  table_[hole] = 0;
}

// Moves a record into `slot` (a hole) and points the index at it.
void PeerSet::Place(uint32_t slot, PeerRecord&& r) {
  records_[slot] = std::move(r);
  table_[records_[slot].index_pos] = slot + 1;
}

void PeerSet::Count(const PeerRecord& r, RackSpan& s, int sign) {
  s.count += sign;
  s.granted += r.granted ? sign : 0;
}

uint32_t PeerSet::Add(const PeerRecord& r) {
  size_t si = SpanIndex(r.rack);
  if (si == spans_.size()) spans_.push_back(RackSpan{r.rack, uint32_t(records_.size()), 0, 0});
  // The record goes at the end of its rack; each later rack hands its first
  // record to its own end to make room, so racks stay contiguous.
  records_.emplace_back();
  uint32_t hole = uint32_t(records_.size() - 1);
  // Grow before moving records; the new id is indexed only once its slot is
  // final, so no entry ever points at a slot holding a stale copy of its id.
  GrowIndex();
  for (size_t t = spans_.size() - 1; t > si; --t) {
    RackSpan& s = spans_[t];
    if (s.count > 0) Place(hole, std::move(records_[s.begin]));
    hole = s.begin++;
  }
  records_[hole] = r;
  IndexInsert(r.id, hole);
  Count(r, spans_[si], +1);
  if (r.origin) origins_.push_back(r.id);
  return hole;
}

void PeerSet::Remove(uint32_t slot) {
  PeerRecord& r = records_[slot];
  if (r.has_key) keys_.erase(r.id);
  if (r.origin) {
    auto o = std::find(origins_.begin(), origins_.end(), r.id);
    if (o != origins_.end()) origins_.erase(o);
  }
  IndexErase(r.id);
  size_t si = SpanIndex(r.rack);
  Count(r, spans_[si], -1);
  // Fill the hole from the end of its rack, then each later rack moves its
  // last record into the gap before it, until the hole reaches the end.
  uint32_t hole = slot;
  uint32_t last = spans_[si].begin + spans_[si].count;  // old last slot of the rack
  if (hole != last) Place(hole, std::move(records_[last]));
  hole = last;
  for (size_t t = si + 1; t < spans_.size(); ++t) {
    RackSpan& s = spans_[t];
    --s.begin;
    if (s.count > 0) {
      uint32_t end = s.begin + s.count;  // the record past the shifted span
      Place(hole, std::move(records_[end]));
      hole = end;
    }
  }
  records_.pop_back();
}

uint32_t PeerSet::SetRack(uint32_t slot, RackId rack) {
  if (records_[slot].rack == rack) return slot;
  size_t to = SpanIndex(rack);
  if (to == spans_.size()) spans_.push_back(RackSpan{rack, uint32_t(records_.size()), 0, 0});
  size_t from = SpanIndex(records_[slot].rack);
  PeerRecord r = records_[slot];
  IndexErase(r.id);  // no entry may point at the hole while records move through it
  Count(r, spans_[from], -1);
  // Only the racks between the two shift, by one record each.
  uint32_t hole = slot;
  if (to > from) {
    uint32_t last = spans_[from].begin + spans_[from].count;
    if (hole != last) Place(hole, std::move(records_[last]));
    hole = last;
    for (size_t t = from + 1; t < to; ++t) {
      RackSpan& s = spans_[t];
      --s.begin;
      if (s.count > 0) {
        uint32_t end = s.begin + s.count;
        Place(hole, std::move(records_[end]));
        hole = end;
      }
    }
    --spans_[to].begin;
  } else {
    uint32_t first = spans_[from].begin;
    if (hole != first) Place(hole, std::move(records_[first]));
    hole = first;
    ++spans_[from].begin;
    for (size_t t = from - 1; t > to; --t) {
      RackSpan& s = spans_[t];
      if (s.count > 0) Place(hole, std::move(records_[s.begin]));
      hole = s.begin++;
    }
  }
  r.rack = rack;
  records_[hole] = r;
  IndexInsert(r.id, hole);
  Count(r, spans_[to], +1);
  return hole;
}

void PeerSet::SetLeft(uint32_t slot, uint64_t left) { records_[slot].left = left; }

uint32_t PeerSet::FindAt(RackId rack, const PeerAddress& ip) const {
  const RackSpan* s = Span(rack);
  if (!s) return kNoSlot;
  for (uint32_t i = s->begin; i < s->begin + s->count; ++i)
    if (records_[i].ip == ip) return i;
  return kNoSlot;
}

void PeerSet::SetGranted(uint32_t slot) {
  PeerRecord& r = records_[slot];
  if (r.granted) return;
  RackSpan& s = spans_[SpanIndex(r.rack)];
  std::vector<bool> taken;
  for (uint32_t i = s.begin; i < s.begin + s.count; ++i) {
    const PeerRecord& o = records_[i];
    if (i == slot || !o.granted) continue;
    if (taken.size() <= o.gateway_slot) taken.resize(o.gateway_slot + 1u);
    taken[o.gateway_slot] = true;
  }
  size_t free = 0;
  while (free < taken.size() && taken[free]) ++free;
  Count(r, s, -1);
  r.granted = true;
  r.gateway_slot = uint8_t(std::min<size_t>(free, 255));
  Count(r, s, +1);
}

void PeerSet::RevokeGrant(uint32_t slot) {
  PeerRecord& r = records_[slot];
  if (!r.granted) return;
  RackSpan& s = spans_[SpanIndex(r.rack)];
  Count(r, s, -1);
  r.granted = false;
  r.gateway_slot = 0;
  Count(r, s, +1);
}

void PeerSet::SetOrigin(uint32_t slot, bool origin) {
  PeerRecord& r = records_[slot];
  if (r.origin == origin) return;
  r.origin = origin;
  if (origin) {
    origins_.push_back(r.id);
  } else {
    auto o = std::find(origins_.begin(), origins_.end(), r.id);
    if (o != origins_.end()) origins_.erase(o);
  }
}

void PeerSet::RefreshOrigins() {
  origins_.clear();
  for (const auto& r : records_)
    if (r.origin) origins_.push_back(r.id);
}

const std::string& PeerSet::Key(uint32_t slot) const {
  static const std::string kNone;
  if (!records_[slot].has_key) return kNone;
  auto it = keys_.find(records_[slot].id);
  return it == keys_.end() ? kNone : it->second;
}

void PeerSet::SetKey(uint32_t slot, const std::string& key) {
  if (key.empty()) return;
  records_[slot].has_key = true;
  keys_[records_[slot].id] = key;
}

}  // namespace spate
