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

namespace {

void PutInt(std::string* out, int64_t v) {
  out->push_back('i');
  out->append(std::to_string(v));
  out->push_back('e');
}

void PutStr(std::string* out, std::string_view v) {
  out->append(std::to_string(v.size()));
  out->push_back(':');
  out->append(v.data(), v.size());
}

void PutCompact(std::string* out, const ReplyPeer& p) {
  out->append(reinterpret_cast<const char*>(p.ip.bytes.data()), p.ip.v6 ? 16 : 4);
  out->push_back(char(p.port >> 8));
  out->push_back(char(p.port & 0xff));
}

}  // namespace

std::string EncodeAnnounce(const AnnounceReply& r) {
  std::string out;
  out.reserve(96 + r.peers.size() * (r.compact ? 18 : 64));
  out += "d8:complete";
  PutInt(&out, r.complete);
  out += "10:incomplete";
  PutInt(&out, r.incomplete);
  out += "8:interval";
  PutInt(&out, r.interval);
  out += "12:min interval";
  PutInt(&out, r.min_interval);
  out += "5:peers";
  if (r.compact) {
    size_t v4 = 0;
    for (const auto& p : r.peers) v4 += !p.ip.v6;
    out += std::to_string(v4 * 6) + ":";
    for (const auto& p : r.peers)
      if (!p.ip.v6) PutCompact(&out, p);
    if (v4 < r.peers.size()) {
      out += "6:peers6" + std::to_string((r.peers.size() - v4) * 18) + ":";
      for (const auto& p : r.peers)
        if (p.ip.v6) PutCompact(&out, p);
    }
  } else {
    out += 'l';
    for (const auto& p : r.peers) {
      out += "d2:ip";
      PutStr(&out, p.ip.ToString());
      if (!r.no_peer_id) {
        out += "7:peer id";
        PutStr(&out, IdView(p.peer_id));
      }
      out += "4:port";
      PutInt(&out, p.port);
      out += 'e';
    }
    out += 'e';
  }
  out += 'e';
  return out;
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
