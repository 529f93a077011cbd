#include "tracker/announce.h"

#include <catch2/catch.hpp>
#include <libtorrent/bdecode.hpp>
#include <random>

#include "wire/http.h"

namespace spate {
namespace {

const std::string kHash("\x00\x01\x02\xff\xfe%&=+ abcdefghij", 20);
const std::string kPeerId = "-LT2080-abcdefghijkl";

std::string Query(const std::string& extra = "") {
  return "info_hash=" + http::UrlEncode(kHash) + "&peer_id=" + http::UrlEncode(kPeerId) +
         "&port=6881&uploaded=0&downloaded=10&left=18446744073709551615&event=started&key=abc&ip=1.2.3.4" + extra;
}

std::string ErrorOf(const std::string& q) {
  auto r = ParseAnnounce(q);
  REQUIRE_FALSE(r.ok());
  return r.status().message();
}

TEST_CASE("announce parses percent-encoded binary info_hash and all fields") {
  auto r = ParseAnnounce(Query("&numwant=30&compact=1&no_peer_id=1"));
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->info_hash == kHash);
  CHECK(r->peer_id == kPeerId);
  CHECK(r->port == 6881);
  CHECK(r->downloaded == 10);
  CHECK(r->left == UINT64_MAX);
  CHECK(r->event == AnnounceEvent::kStarted);
  CHECK(r->numwant == 30);
  CHECK(r->compact);
  CHECK(r->no_peer_id);

  auto d = ParseAnnounce(Query("&compact=0").replace(Query().find("&event=started"), 14, ""));
  REQUIRE(d.ok());
  CHECK(d->event == AnnounceEvent::kNone);
  CHECK(d->numwant == 50);
  CHECK_FALSE(d->compact);
  CHECK(ParseAnnounce(Query("&numwant=99999999999999999")).value().numwant == kMaxNumwant);
}

TEST_CASE("announce returns key and ip as given, bounded in length and given once") {
  auto r = ParseAnnounce(Query());
  REQUIRE(r.ok());
  CHECK(r->key == "abc");
  CHECK(r->ip == "1.2.3.4");
  CHECK(ErrorOf(Query("&key=" + std::string(65, 'k'))).find("'key' is given more than once") != std::string::npos);
  std::string q = Query();
  q.replace(q.find("key=abc"), 7, "key=" + std::string(65, 'k'));
  CHECK(ErrorOf(q) == "announce: 'key' is longer than 64 bytes");
  auto no_ip = ParseAnnounce(Query().replace(Query().find("&ip=1.2.3.4"), 11, ""));
  REQUIRE(no_ip.ok());
  CHECK(no_ip->ip.empty());
}

TEST_CASE("announce rejects missing and malformed fields with clear errors") {
  CHECK(ErrorOf("") == "announce: missing 'info_hash'");
  CHECK(ErrorOf("info_hash=abc") == "announce: 'info_hash' must be 20 bytes, got 3");
  CHECK(ErrorOf(Query().replace(0, 9, "xinfo_has")) == "announce: missing 'info_hash'");
  CHECK(ErrorOf("info_hash=" + http::UrlEncode(kHash) + "&info_hash=" + http::UrlEncode(kHash)).find("more than once") !=
        std::string::npos);
  CHECK(ErrorOf("info_hash=" + http::UrlEncode(kHash) + "&port=1&left=0") == "announce: missing 'peer_id'");
  CHECK(ErrorOf(Query("&port=2")).find("more than once") != std::string::npos);
  CHECK(ErrorOf(Query("&numwant=-1")).find("numwant") != std::string::npos);
  CHECK(ErrorOf(Query("&compact=yes")).find("compact") != std::string::npos);
  CHECK(ErrorOf(Query("&event=exploded")).find("event") != std::string::npos);
  auto with = [](const std::string& field, const std::string& value) {
    std::string q = Query();
    auto at = q.find("&" + field + "=");
    auto end = q.find('&', at + 1);
    return q.replace(at, end - at, "&" + field + "=" + value);
  };
  CHECK(ErrorOf(with("port", "0")) == "announce: 'port' must be 1-65535");
  CHECK(ErrorOf(with("port", "65536")) == "announce: 'port' must be 1-65535");
  CHECK(ErrorOf(with("port", "99999999999999999999999999")) == "announce: 'port' is too large");
  CHECK(ErrorOf(with("left", "18446744073709551616")) == "announce: 'left' is too large");
  CHECK(ErrorOf(with("left", "")) == "announce: 'left' is empty");
  CHECK(ErrorOf(with("uploaded", "+5")) == "announce: 'uploaded' is not a non-negative integer");
  CHECK(ErrorOf(with("downloaded", "1e9")) == "announce: 'downloaded' is not a non-negative integer");
  CHECK(ErrorOf(Query("&x=%4")).find("escape") != std::string::npos);
  CHECK(ErrorOf(Query("&x=%g0")).find("escape") != std::string::npos);
  CHECK(ErrorOf("info_hash=%00%01").find("20 bytes") != std::string::npos);
}

TEST_CASE("announce parser survives random bytes") {
  std::mt19937 rng(42);
  std::string base = Query();
  for (int i = 0; i < 20000; ++i) {
    std::string q = base;
    int edits = 1 + rng() % 8;
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % (q.size() + 1);
      switch (rng() % 3) {
        case 0: q.insert(q.begin() + at, char(rng())); break;
        case 1: if (at < q.size()) q.erase(at, 1 + rng() % 4); break;
        default: if (at < q.size()) q[at] = "%&=0123456789abcdef"[rng() % 19];
      }
    }
    auto r = ParseAnnounce(q);
    if (r.ok()) {
      CHECK(r->info_hash.size() == 20);
      CHECK(r->peer_id.size() == 20);
      CHECK(r->port != 0);
    } else {
      CHECK_FALSE(r.status().message().empty());
    }
    (void)ParseScrape(q);
  }
}

TEST_CASE("scrape takes zero or more 20-byte info_hashes") {
  CHECK(ParseScrape("")->empty());
  auto r = ParseScrape("info_hash=" + http::UrlEncode(kHash) + "&info_hash=" + http::UrlEncode(std::string(20, 'a')));
  REQUIRE(r.ok());
  CHECK(r->size() == 2);
  CHECK(r->at(0) == kHash);
  CHECK_FALSE(ParseScrape("info_hash=short").ok());
}

// bdecode nodes point into their buffer, so the buffers are kept alive here.
lt::bdecode_node Decode(const std::string& s) {
  static std::vector<std::unique_ptr<std::string>> buffers;
  buffers.push_back(std::make_unique<std::string>(s));
  lt::error_code ec;
  auto n = lt::bdecode(*buffers.back(), ec);
  REQUIRE_FALSE(ec);
  return n;
}

TEST_CASE("announce replies are bencoded with compact v4 and v6 peers") {
  AnnounceReply r;
  r.interval = 5;
  r.min_interval = 2;
  r.complete = 1;
  r.incomplete = 3;
  ReplyPeer a;
  a.ip = *PeerAddress::Parse("127.0.1.2");
  a.port = 0x1A2B;
  a.peer_id = MakePeerId(kPeerId);
  ReplyPeer b = a;
  b.ip = *PeerAddress::Parse("::1");
  r.peers = {a, b};
  auto n = Decode(EncodeAnnounce(r));
  CHECK(n.dict_find_int_value("interval") == 5);
  CHECK(n.dict_find_int_value("min interval") == 2);
  CHECK(n.dict_find_int_value("complete") == 1);
  CHECK(n.dict_find_int_value("incomplete") == 3);
  CHECK(std::string(n.dict_find_string_value("peers")) == std::string("\x7f\x00\x01\x02\x1a\x2b", 6));
  CHECK(n.dict_find_string_value("peers6").size() == 18);

  r.compact = false;
  auto d = Decode(EncodeAnnounce(r));
  auto list = d.dict_find_list("peers");
  REQUIRE(list.list_size() == 2);
  CHECK(std::string(list.list_at(0).dict_find_string_value("ip")) == "127.0.1.2");
  CHECK(list.list_at(0).dict_find_int_value("port") == 0x1A2B);
  CHECK(std::string(list.list_at(0).dict_find_string_value("peer id")) == kPeerId);
  r.no_peer_id = true;
  CHECK_FALSE(Decode(EncodeAnnounce(r)).dict_find_list("peers").list_at(0).dict_find("peer id"));
}

TEST_CASE("failure and scrape replies are bencoded") {
  CHECK(EncodeFailure("nope") == "d14:failure reason4:nopee");
  auto n = Decode(EncodeScrape({ScrapeEntry{kHash, 2, 3, 4}}));
  auto f = n.dict_find_dict("files").dict_find_dict(kHash);
  REQUIRE(f);
  CHECK(f.dict_find_int_value("complete") == 2);
  CHECK(f.dict_find_int_value("incomplete") == 3);
  CHECK(f.dict_find_int_value("downloaded") == 4);
}

}  // namespace
}  // namespace spate
