// The hosts a plan is for: a synthetic fleet laid out like scripts/bench-swarm,
// or a real one from a hosts file and the rackmap.
#include <boost/asio/ip/address.hpp>
#include <sstream>
#include <unordered_set>

#include "plan/model.h"

namespace spate::plan {

Fleet SyntheticFleet(int hosts, int racks) {
  Fleet f;
  f.origin_location = Location{"dc1", "core", "origin"};
  if (racks < 1) racks = 1;
  f.hosts.reserve(hosts > 0 ? size_t(hosts) : 0);
  for (int i = 0; i < hosts; ++i) {
    int r = i % racks + 1;
    // Addresses only need to be unique; IPv6 leaves room for any rack size.
    char addr[48];
    std::snprintf(addr, sizeof addr, "fd00:%x:%x::%x", unsigned(r >> 16), unsigned(r & 0xffff), unsigned(i + 1));
    f.hosts.push_back(
        FleetHost{addr, Location{"dc1", "pod" + std::to_string((r + 1) / 2), "rack" + std::to_string(r)}});
  }
  return f;
}

Result<Fleet> FleetFromHosts(const Rackmap& rackmap, const std::string& hosts_text, const std::string& filename) {
  Fleet f;
  std::istringstream in(hosts_text);
  std::string line;
  std::unordered_set<std::string> seen;
  for (int no = 1; std::getline(in, line); ++no) {
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(w);
    if (words.empty()) continue;
    auto where = [&] { return filename + ":" + std::to_string(no) + ": "; };
    if (words.size() > 2)
      return Status::Invalid(where() + "want ADDRESS or NAME ADDRESS, got " + std::to_string(words.size()) + " fields");
    std::string addr;
    for (const auto& w : words) {
      boost::system::error_code ec;
      auto a = boost::asio::ip::make_address(w, ec);
      if (!ec) {
        addr = a.to_string();
        break;
      }
    }
    if (addr.empty()) return Status::Invalid(where() + "no IP address in '" + line + "'");
    if (!seen.insert(addr).second) return Status::Invalid(where() + "address " + addr + " listed twice");
    f.hosts.push_back(FleetHost{addr, rackmap.Lookup(addr)});
  }
  if (f.hosts.empty()) return Status::Invalid(filename + ": no hosts listed");
  return f;
}

}  // namespace spate::plan
