#include "tracker/announce.h"

#include <boost/asio/ip/address.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>
#include <set>

#include "wire/http.h"

namespace spate {

namespace {

// Decimal without sign, at most 2^64-1. Rejects empty, signs, spaces, overflow.
Result<uint64_t> ParseU64(const std::string& field, const std::string& v) {
  if (v.empty()) return Status::Invalid("announce: '" + field + "' is empty");
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return Status::Invalid("announce: '" + field + "' is not a non-negative integer");
    uint64_t d = uint64_t(c - '0');
    if (n > (UINT64_MAX - d) / 10) return Status::Invalid("announce: '" + field + "' is too large");
    n = n * 10 + d;
  }
  return n;
}

Result<bool> ParseFlag(const std::string& field, const std::string& v) {
  if (v == "1") return true;
  if (v == "0" || v.empty()) return false;
  return Status::Invalid("announce: '" + field + "' must be 0 or 1");
}

std::string Bencode(const lt::entry& e) {
  std::string out;
  lt::bencode(std::back_inserter(out), e);
  return out;
}

}  // namespace

Result<AnnounceRequest> ParseAnnounce(const std::string& query) {
  auto pairs = http::ParseQuery(query);
  if (!pairs.ok()) return Status::Invalid("announce: " + pairs.status().message());
  AnnounceRequest r;
  std::set<std::string> seen;
  for (const auto& [k, v] : *pairs) {
    static const std::set<std::string> kKnown{"info_hash", "peer_id", "port",    "uploaded",  "downloaded",
                                              "left",      "event",   "numwant", "compact",   "no_peer_id",
                                              "key",       "ip"};
    if (!kKnown.count(k)) continue;  // supportcrypto, corrupt, requirecrypto, ...: ignored
    if (!seen.insert(k).second) return Status::Invalid("announce: '" + k + "' is given more than once");
    if (k == "info_hash" || k == "peer_id") {
      if (v.size() != 20)
        return Status::Invalid("announce: '" + k + "' must be 20 bytes, got " + std::to_string(v.size()));
      (k == "info_hash" ? r.info_hash : r.peer_id) = v;
    } else if (k == "port") {
      auto n = ParseU64(k, v);
      if (!n.ok()) return n.status();
      if (*n == 0 || *n > 65535) return Status::Invalid("announce: 'port' must be 1-65535");
      r.port = uint16_t(*n);
    } else if (k == "uploaded" || k == "downloaded" || k == "left") {
      auto n = ParseU64(k, v);
      if (!n.ok()) return n.status();
      (k == "uploaded" ? r.uploaded : k == "downloaded" ? r.downloaded : r.left) = *n;
    } else if (k == "numwant") {
      auto n = ParseU64(k, v);
      if (!n.ok()) return n.status();
      r.numwant = int(std::min<uint64_t>(*n, kMaxNumwant));
    } else if (k == "event") {
      if (v == "started") r.event = AnnounceEvent::kStarted;
      else if (v == "stopped") r.event = AnnounceEvent::kStopped;
      else if (v == "completed") r.event = AnnounceEvent::kCompleted;
      else if (v.empty() || v == "empty" || v == "paused") r.event = AnnounceEvent::kNone;
      else return Status::Invalid("announce: unknown event (want started, stopped or completed)");
    } else if (k == "key" || k == "ip") {
      if (v.size() > 64) return Status::Invalid("announce: '" + k + "' is longer than 64 bytes");
      (k == "key" ? r.key : r.ip) = v;
    } else if (k == "compact" || k == "no_peer_id") {
      auto f = ParseFlag(k, v);
      if (!f.ok()) return f.status();
      (k == "compact" ? r.compact : r.no_peer_id) = *f;
    }
  }
  for (const char* req : {"info_hash", "peer_id", "port", "left"})
    if (!seen.count(req)) return Status::Invalid(std::string("announce: missing '") + req + "'");
  return r;
}

Result<std::vector<std::string>> ParseScrape(const std::string& query) {
  auto pairs = http::ParseQuery(query);
  if (!pairs.ok()) return Status::Invalid("scrape: " + pairs.status().message());
  std::vector<std::string> hashes;
  for (const auto& [k, v] : *pairs) {
    if (k != "info_hash") continue;
    if (v.size() != 20) return Status::Invalid("scrape: 'info_hash' must be 20 bytes, got " + std::to_string(v.size()));
    hashes.push_back(v);
  }
  return hashes;
}

std::string EncodeAnnounce(const AnnounceReply& r) {
  lt::entry e(lt::entry::dictionary_t);
  e["interval"] = r.interval;
  e["min interval"] = r.min_interval;
  e["complete"] = r.complete;
  e["incomplete"] = r.incomplete;
  if (r.compact) {
    std::string v4, v6;
    for (const auto& p : r.peers) {
      boost::system::error_code ec;
      auto a = boost::asio::ip::make_address(p.ip, ec);
      if (ec) continue;
      std::string& out = a.is_v4() ? v4 : v6;
      if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        out.append(reinterpret_cast<const char*>(b.data()), b.size());
      } else {
        auto b = a.to_v6().to_bytes();
        out.append(reinterpret_cast<const char*>(b.data()), b.size());
      }
      out.push_back(char(p.port >> 8));
      out.push_back(char(p.port & 0xff));
    }
    e["peers"] = v4;
    if (!v6.empty()) e["peers6"] = v6;
  } else {
    lt::entry::list_type list;
    for (const auto& p : r.peers) {
      lt::entry d(lt::entry::dictionary_t);
      d["ip"] = p.ip;
      d["port"] = p.port;
      if (!r.no_peer_id) d["peer id"] = p.peer_id;
      list.push_back(std::move(d));
    }
    e["peers"] = std::move(list);
  }
  return Bencode(e);
}

std::string EncodeScrape(const std::vector<ScrapeEntry>& files) {
  lt::entry e(lt::entry::dictionary_t);
  lt::entry& f = e["files"];
  f = lt::entry(lt::entry::dictionary_t);
  for (const auto& x : files) {
    lt::entry d(lt::entry::dictionary_t);
    d["complete"] = x.complete;
    d["incomplete"] = x.incomplete;
    d["downloaded"] = x.downloaded;
    f[x.info_hash] = std::move(d);
  }
  return Bencode(e);
}

std::string EncodeFailure(const std::string& reason) {
  lt::entry e(lt::entry::dictionary_t);
  e["failure reason"] = reason;
  return Bencode(e);
}

}  // namespace spate
