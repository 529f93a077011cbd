// The UDP tracker (BEP 15) socket loop. Owns no swarm state: announces and
// scrapes go through the callbacks (Tracker::Announce / Tracker::Scrape), so
// HTTP and UDP share one code path and one peer policy.
//
// Threading: runs on the io_context it is given; with the tracker's single io
// thread no locks are needed. Packets are read and answered in batches
// (recvmmsg/sendmmsg: two system calls per batch instead of two per packet).
// Replies are sent non-blocking: when the socket buffer is full the reply is
// dropped (and counted) rather than stalling the io thread — UDP clients retry.
#pragma once

#include <boost/asio/io_context.hpp>
#include <array>
#include <boost/asio/ip/udp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "tracker/announce.h"
#include "tracker/conn_id.h"
#include "tracker/udp_proto.h"
#include "wire/status.h"

namespace spate {

struct UdpCounters {
  uint64_t packets = 0;
  uint64_t connects = 0;
  uint64_t announces = 0;          // answered with peers
  uint64_t scrapes = 0;
  uint64_t errors_sent = 0;        // error replies (unregistered hash, bad request, bad connection id)
  uint64_t bad_connection_id = 0;  // announce/scrape with an unknown or expired connection id
  uint64_t malformed = 0;          // unparsable packets (answered with an error when possible)
  uint64_t send_dropped = 0;       // replies dropped because the socket buffer was full
};

struct UdpServerOptions {
  std::string listen;  // "ADDR:PORT"
  // Socket buffers; large so bursts of announces are not dropped by the kernel.
  int receive_buffer = 4 << 20;
  int send_buffer = 4 << 20;
  // Packets drained with non-blocking reads per wake-up before yielding to
  // other work on the io thread (HTTP, timers): bounds latency for them
  // (~4 ms of announces). At 64, the started announces of 10,000 hosts
  // woken within a second waited 250-340 ms (p50) in the socket: one batch
  // per turn of a loop busy with the push's reports and polls.
  int batch = 256;

  Status Validate() const;
};

class UdpServer {
 public:
  using AnnounceFn = std::function<Result<AnnounceReply>(const AnnounceRequest&, const boost::asio::ip::address&)>;
  using ScrapeFn = std::function<void(const std::vector<std::string>&, std::vector<ScrapeEntry>*)>;
  // Seconds since the epoch; injectable for tests of id expiry.
  using Clock = std::function<int64_t()>;

  UdpServer(UdpServerOptions options, boost::asio::io_context& io, AnnounceFn announce, ScrapeFn scrape,
            Clock clock = nullptr);
  ~UdpServer();

  // Binds and starts receiving.
  Status Start();
  boost::asio::ip::udp::endpoint local_endpoint() const;
  const UdpCounters& counters() const { return counters_; }

 private:
  void Receive();
  void Drain();
  void HandlePacket(const char* data, size_t len);
  void Send();   // queues out_ for from_
  void Flush();  // sends what is queued

  static constexpr int kSlots = 32;  // packets per system call

  UdpServerOptions options_;
  boost::asio::ip::udp::socket socket_;
  AnnounceFn announce_;
  ScrapeFn scrape_;
  Clock clock_;
  std::unique_ptr<ConnectionIds> ids_;
  UdpCounters counters_;
  // Reused between packets: no allocation per packet once warmed up.
  std::array<std::array<char, 2048>, kSlots> in_{};
  std::array<boost::asio::ip::udp::endpoint, kSlots> in_from_;
  boost::asio::ip::udp::endpoint from_;
  UdpRequest req_;
  std::string out_;
  std::array<std::string, kSlots> queued_;  // replies of this batch
  std::array<boost::asio::ip::udp::endpoint, kSlots> queued_to_;
  int queued_count_ = 0;
  std::vector<ScrapeEntry> scrape_out_;
};

}  // namespace spate
