#include "fetcher/far_filter.h"

#include <libtorrent/peer_connection_handle.hpp>

#include "fetcher/cross_rack.h"

namespace spate {

namespace {

// Counts a connection's payload bytes into its side (same or cross rack).
class CountingPlugin : public lt::peer_plugin {
 public:
  CountingPlugin(std::shared_ptr<TrafficCounters> t, int side) : traffic_(std::move(t)), side_(side) {}
  bool on_piece(lt::peer_request const& r, lt::span<char const>) override {
    if (traffic_) traffic_->received[side_] += uint64_t(r.length);
    return false;  // not handled: libtorrent stores the block as usual
  }
  void sent_payload(int bytes) override {
    if (traffic_) traffic_->sent[side_] += uint64_t(bytes);
  }

 private:
  std::shared_ptr<TrafficCounters> traffic_;
  int side_;
};

class FarPeerPlugin : public CountingPlugin {
 public:
  explicit FarPeerPlugin(std::shared_ptr<FarFilter> f)
      : CountingPlugin(f->traffic(), TrafficCounters::kCrossRack), filter_(std::move(f)) {}
  // true = handled here, so libtorrent never learns the peer has the piece.
  bool on_have(lt::piece_index_t p) override { return !filter_->Admit(static_cast<int>(p)); }

 private:
  std::shared_ptr<FarFilter> filter_;
};

}  // namespace

Result<std::shared_ptr<FarFilter>> FarFilter::Make(const std::vector<RackRange>& ranges,
                                                   std::shared_ptr<TrafficCounters> traffic) {
  auto f = std::make_shared<FarFilter>();
  f->traffic_ = std::move(traffic);
  if (ranges.empty()) return f;  // every address stays 0: near
  auto classes = RackClassFilter(ranges, kFarClass);
  if (!classes.ok()) return classes.status();
  f->far_ = *classes;
  return f;
}

bool FarFilter::SetRole(int slot, int slots) {
  uint32_t r = slots >= 1 && slot >= 0 && slot < slots && slots < 65536 ? uint32_t(slot) << 16 | uint32_t(slots) : 0;
  return role_.exchange(r) != r;
}

bool FarFilter::Far(const lt::address& a) const { return (far_.access(a) & (1u << kFarClass)) != 0; }

bool FarFilter::Admit(int piece) const {
  uint32_t r = role_.load(std::memory_order_relaxed);
  return r == 0 || InShare(piece, int(r >> 16), int(r & 0xffff));
}

std::shared_ptr<lt::peer_plugin> FarFilter::FarPeer() {
  return std::make_shared<FarPeerPlugin>(shared_from_this());
}

std::shared_ptr<lt::peer_plugin> FarFilter::new_connection(lt::peer_connection_handle const& pc) {
  if (Far(pc.remote().address())) return FarPeer();
  if (traffic_) return std::make_shared<CountingPlugin>(traffic_, TrafficCounters::kSameRack);
  return nullptr;
}

}  // namespace spate
