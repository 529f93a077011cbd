#include "tracker/udp_proto.h"

#include <catch2/catch.hpp>

#include "tracker/udp_test_packets.h"

namespace spate {
namespace {

using namespace udp_test;

std::string AnnouncePacket(uint64_t cid, uint32_t tid, uint32_t event = 2, uint32_t ip = 0, int32_t numwant = -1,
                           uint16_t port = 6881) {
  return U64(cid) + U32(1) + U32(tid) + std::string(20, 'H') + std::string(20, 'P') + U64(100) /*downloaded*/ +
         U64(4096) /*left*/ + U64(7) /*uploaded*/ + U32(event) + U32(ip) + U32(0xabcd) /*key*/ +
         U32(uint32_t(numwant)) + U16(port);
}

TEST_CASE("udp parser reads a connect request") {
  UdpRequest r;
  REQUIRE(ParseUdpRequest(Connect(0x11223344), &r) == UdpParse::kOk);
  CHECK(r.action == UdpAction::kConnect);
  CHECK(r.transaction_id == 0x11223344);
}

TEST_CASE("udp parser rejects a connect without the protocol magic") {
  UdpRequest r;
  std::string p = U64(0x41727101981ULL) + U32(0) + U32(9);
  CHECK(ParseUdpRequest(p, &r) == UdpParse::kBadMagic);
  CHECK(r.transaction_id == 9);  // still known, so an error can be sent
}

TEST_CASE("udp parser reads every announce field") {
  UdpRequest r;
  REQUIRE(ParseUdpRequest(AnnouncePacket(0xdeadbeefcafef00dULL, 77, 2, 0x7f000102, 30, 7000), &r) == UdpParse::kOk);
  CHECK(r.action == UdpAction::kAnnounce);
  CHECK(r.connection_id == 0xdeadbeefcafef00dULL);
  CHECK(r.transaction_id == 77);
  const auto& a = r.announce;
  CHECK(a.info_hash == std::string(20, 'H'));
  CHECK(a.peer_id == std::string(20, 'P'));
  CHECK(a.downloaded == 100);
  CHECK(a.left == 4096);
  CHECK(a.uploaded == 7);
  CHECK(a.event == AnnounceEvent::kStarted);
  CHECK(a.ip == "127.0.1.2");
  CHECK(r.key == 0xabcd);
  CHECK(a.numwant == 30);
  CHECK(a.port == 7000);
}

TEST_CASE("udp announce maps events, default and huge numwant, and ignores BEP 41 extensions") {
  UdpRequest r;
  REQUIRE(ParseUdpRequest(AnnouncePacket(1, 1, 3, 0, -1), &r) == UdpParse::kOk);
  CHECK(r.announce.event == AnnounceEvent::kStopped);
  CHECK(r.announce.numwant == 50);
  CHECK(r.announce.ip.empty());
  REQUIRE(ParseUdpRequest(AnnouncePacket(1, 1, 1, 0, 100000) + "\x02\x05/anno", &r) == UdpParse::kOk);
  CHECK(r.announce.event == AnnounceEvent::kCompleted);
  CHECK(r.announce.numwant == kMaxNumwant);
  REQUIRE(ParseUdpRequest(AnnouncePacket(1, 1, 0), &r) == UdpParse::kOk);
  CHECK(r.announce.event == AnnounceEvent::kNone);
}

TEST_CASE("udp parser rejects truncated packets") {
  UdpRequest r;
  CHECK(ParseUdpRequest("", &r) == UdpParse::kTooShort);
  CHECK(ParseUdpRequest(Connect(1).substr(0, 15), &r) == UdpParse::kTooShort);
  std::string a = AnnouncePacket(1, 5);
  for (size_t n : {16, 50, 97}) CHECK(ParseUdpRequest(a.substr(0, n), &r) == UdpParse::kBadLength);
  std::string s = U64(1) + U32(2) + U32(3);
  CHECK(ParseUdpRequest(s, &r) == UdpParse::kBadLength);                      // no hash
  CHECK(ParseUdpRequest(s + std::string(19, 'x'), &r) == UdpParse::kBadLength);  // partial hash
  CHECK(ParseUdpRequest(s + std::string(20 * 75, 'x'), &r) == UdpParse::kBadLength);  // too many
}

TEST_CASE("udp parser rejects unknown actions and bad fields") {
  UdpRequest r;
  CHECK(ParseUdpRequest(U64(1) + U32(3) + U32(1), &r) == UdpParse::kUnknownAction);  // error is server->client only
  CHECK(ParseUdpRequest(U64(1) + U32(0xffffffff) + U32(1), &r) == UdpParse::kUnknownAction);
  CHECK(ParseUdpRequest(AnnouncePacket(1, 1, 4), &r) == UdpParse::kBadField);           // event 4
  CHECK(ParseUdpRequest(AnnouncePacket(1, 1, 2, 0, -1, 0), &r) == UdpParse::kBadField);  // port 0
}

TEST_CASE("udp parser reads several scrape hashes and reuses the request") {
  UdpRequest r;
  std::string p = U64(42) + U32(2) + U32(8) + std::string(20, 'a') + std::string(20, 'b') + std::string(20, 'c');
  REQUIRE(ParseUdpRequest(p, &r) == UdpParse::kOk);
  REQUIRE(r.hashes.size() == 3);
  CHECK(r.hashes[2] == std::string(20, 'c'));
  REQUIRE(ParseUdpRequest(U64(42) + U32(2) + U32(8) + std::string(20, 'z'), &r) == UdpParse::kOk);
  REQUIRE(r.hashes.size() == 1);
  CHECK(r.hashes[0] == std::string(20, 'z'));
}

TEST_CASE("udp replies are encoded as BEP 15 says") {
  std::string out;
  EncodeUdpConnect(5, 0x0102030405060708ULL, &out);
  CHECK(out == U32(0) + U32(5) + U64(0x0102030405060708ULL));

  AnnounceReply a;
  a.interval = 30;
  a.complete = 2;
  a.incomplete = 3;
  ReplyPeer p4;
  p4.ip = *PeerAddress::Parse("127.0.1.2");
  p4.port = 7000;
  ReplyPeer p6;
  p6.ip = *PeerAddress::Parse("::1");
  p6.port = 7001;
  a.peers = {p4, p6};
  EncodeUdpAnnounce(6, a, false, &out);
  CHECK(out == U32(1) + U32(6) + U32(30) + U32(3) /*leechers*/ + U32(2) /*seeders*/ + std::string("\x7f\x00\x01\x02", 4) +
                   U16(7000));
  EncodeUdpAnnounce(6, a, true, &out);
  CHECK(out.size() == 20 + 18);
  CHECK(out.substr(20 + 16) == U16(7001));

  std::vector<ScrapeEntry> files{{std::string(20, 'a'), 4, 5, 6}};
  EncodeUdpScrape(7, files, &out);
  CHECK(out == U32(2) + U32(7) + U32(4) /*seeders*/ + U32(6) /*completed*/ + U32(5) /*leechers*/);

  EncodeUdpError(8, "nope", &out);
  CHECK(out == U32(3) + U32(8) + "nope");
}

}  // namespace
}  // namespace spate
