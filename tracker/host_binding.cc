// Host address binding (wire/api.h): a host id belongs to the address it first
// checked in from, so nobody else can poll its assignments or report its state.
// Until hosts carry real identities (TLS), the source address is the identity.
#include <spdlog/spdlog.h>

#include "tracker/tracker_impl.h"

namespace spate {

namespace asio = boost::asio;

std::string SourceAddress(const http::Request& req) {
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; hosts and
  // rackmaps know them as a.b.c.d.
  if (req.remote.is_v6() && req.remote.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, req.remote.to_v6()).to_string();
  return req.remote.to_string();
}

Status Tracker::Impl::Refuse(const std::string& kind, const std::string& host, const std::string& from,
                             const std::string& why) {
  ++control_refused[kind];
  spdlog::warn("refused {} for host {} from {}: {}", kind, host, from, why);
  return Status::Forbidden(why);
}

Status Tracker::Impl::CheckHostAddress(const std::string& kind, const std::string& host, const std::string& from) {
  auto it = hosts.find(host);
  if (it == hosts.end() || it->second.rec.addr.empty()) {
    if (kind == "poll") return Status::Ok();  // the first check-in binds it
    return Refuse(kind, host, from, "host " + host + " has not checked in; poll its assignments first");
  }
  const std::string& bound = it->second.rec.addr;
  if (bound == from) return Status::Ok();
  return Refuse(kind, host, from,
                "host " + host + " is bound to " + bound + ", not " + from +
                    "; an admin moves it with POST /api/v1/hosts/" + host + "/move");
}

// Points the host and every push row naming it at `addr`, and writes it at
// once: a binding lost to a crash would let the next caller take the host.
Status Tracker::Impl::Bind(HostState& h, const std::string& addr) {
  std::string location = rackmap.Lookup(addr).ToString();
  h.rec.addr = addr;
  h.rec.location = location;
  for (auto& [pid, p] : pushes) {
    auto hp = p.index.find(h.rec.host);
    if (hp == p.index.end()) continue;
    auto& row = p.rec.hosts[hp->second];
    if (row.addr == addr && row.location == location) continue;
    p.MoveRow(hp->second, addr, location);
    p.dirty.insert(hp->second);
    dirty_pushes.insert(pid);
  }
  return store->SaveHosts({h.rec});
}

http::Response Tracker::Impl::MoveHost(const std::string& host, const http::Request& req) {
  Status auth = CheckAdmin(req);
  if (!auth.ok()) return http::Response::Error(auth);
  auto j = ParseJson(req.body);
  if (!j.ok()) return http::Response::Error(j.status());
  if (!j->is_object() || !j->contains("addr") || !(*j)["addr"].is_string())
    return http::Response::Error(Status::Invalid("body must be {\"addr\":\"IP\"}"));
  boost::system::error_code ec;
  auto parsed = asio::ip::make_address((*j)["addr"].get<std::string>(), ec);
  if (ec) return http::Response::Error(Status::Invalid("addr '" + (*j)["addr"].get<std::string>() + "' is not an IP address"));
  std::string addr = parsed.is_v6() && parsed.to_v6().is_v4_mapped()
                         ? asio::ip::make_address_v4(asio::ip::v4_mapped, parsed.to_v6()).to_string()
                         : parsed.to_string();
  auto it = hosts.find(host);
  if (it == hosts.end()) return http::Response::Error(Status::NotFound("unknown host " + host));
  std::string before = it->second.rec.addr;
  Status s = Bind(it->second, addr);
  if (!s.ok()) return http::Response::Error(s);
  spdlog::warn("host {} moved from {} to {} ({}) by an admin", host, before.empty() ? "nowhere" : before, addr,
               it->second.rec.location);
  return http::Response::Json(200, nlohmann::json{{"ok", true},
                                                  {"host", host},
                                                  {"addr", addr},
                                                  {"location", it->second.rec.location}}
                                           .dump() +
                                       "\n");
}

}  // namespace spate
