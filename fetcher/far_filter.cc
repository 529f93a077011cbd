#include "fetcher/far_filter.h"

#include <libtorrent/peer_connection_handle.hpp>

#include "fetcher/cross_rack.h"

namespace spate {

namespace {

class FarPeerPlugin : public lt::peer_plugin {
 public:
  explicit FarPeerPlugin(std::shared_ptr<FarFilter> f) : filter_(std::move(f)) {}
  // true = handled here, so libtorrent never learns the peer has the piece.
  bool on_have(lt::piece_index_t p) override { return !filter_->Admit(static_cast<int>(p)); }

 private:
  std::shared_ptr<FarFilter> filter_;
};

}  // namespace

Result<std::shared_ptr<FarFilter>> FarFilter::Make(const std::vector<RackRange>& ranges) {
  auto f = std::make_shared<FarFilter>();
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
  return Far(pc.remote().address()) ? FarPeer() : nullptr;
}

}  // namespace spate
