#include "tracker/udp_server.h"

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "wire/http.h"

namespace spate {

namespace asio = boost::asio;
using udp = asio::ip::udp;

Status UdpServerOptions::Validate() const {
  auto ep = http::ParseEndpoint(listen);
  if (!ep.ok()) return Status::Invalid("--udp-listen: " + ep.status().message());
  if (batch < 1) return Status::Invalid("udp batch must be positive");
  return Status::Ok();
}

UdpServer::UdpServer(UdpServerOptions options, asio::io_context& io, AnnounceFn announce, ScrapeFn scrape, Clock clock)
    : options_(std::move(options)),
      socket_(io),
      announce_(std::move(announce)),
      scrape_(std::move(scrape)),
      clock_(std::move(clock)) {
  if (!clock_)
    clock_ = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  out_.reserve(2048);
}

UdpServer::~UdpServer() {
  boost::system::error_code ec;
  socket_.close(ec);
}

Status UdpServer::Start() {
  Status s = options_.Validate();
  if (!s.ok()) return s;
  auto ids = ConnectionIds::Create();
  if (!ids.ok()) return ids.status();
  ids_ = std::move(*ids);
  auto tep = *http::ParseEndpoint(options_.listen);
  udp::endpoint ep(tep.address(), tep.port());
  boost::system::error_code ec;
  socket_.open(ep.protocol(), ec);
  if (!ec) socket_.bind(ep, ec);
  if (ec) return Status::Unavailable("cannot listen on udp " + options_.listen + ": " + ec.message());
  boost::system::error_code ignored;  // buffer sizes are best effort (capped by net.core.*mem_max)
  socket_.set_option(asio::socket_base::receive_buffer_size(options_.receive_buffer), ignored);
  socket_.set_option(asio::socket_base::send_buffer_size(options_.send_buffer), ignored);
  socket_.non_blocking(true, ec);
  if (ec) return Status::Io("udp socket: " + ec.message());
  Receive();
  return Status::Ok();
}

udp::endpoint UdpServer::local_endpoint() const {
  boost::system::error_code ec;
  return socket_.local_endpoint(ec);
}

void UdpServer::Receive() {
  // Wait for readability, then drain with non-blocking reads: one reactor
  // round-trip per batch instead of per packet.
  socket_.async_wait(udp::socket::wait_read, [this](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) spdlog::warn("udp wait: {}", ec.message());
    Drain();
    if (socket_.is_open()) Receive();
  });
}

namespace {

// One datagram slot of a recvmmsg/sendmmsg batch: its buffer and peer address.
void Point(mmsghdr& m, iovec& v, void* buf, size_t len, void* name, size_t name_len) {
  v = {buf, len};
  m = {};
  m.msg_hdr.msg_iov = &v;
  m.msg_hdr.msg_iovlen = 1;
  m.msg_hdr.msg_name = name;
  m.msg_hdr.msg_namelen = socklen_t(name_len);
}

}  // namespace

void UdpServer::Drain() {
  const int fd = socket_.native_handle();
  mmsghdr msgs[kSlots];
  iovec iov[kSlots];
  for (int done = 0; done < options_.batch;) {
    int want = std::min(kSlots, options_.batch - done);
    for (int i = 0; i < want; ++i)
      Point(msgs[i], iov[i], in_[i].data(), in_[i].size(), in_from_[i].data(), in_from_[i].capacity());
    int n = recvmmsg(fd, msgs, unsigned(want), MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // ICMP errors from earlier sends (connection refused) surface here; keep going.
      spdlog::debug("udp receive: {}", std::strerror(errno));
      ++done;
      continue;
    }
    for (int i = 0; i < n; ++i) {
      in_from_[i].resize(msgs[i].msg_hdr.msg_namelen);
      from_ = in_from_[i];
      HandlePacket(in_[i].data(), msgs[i].msg_len);
    }
    Flush();
    done += n;
    if (n < want) break;  // drained
  }
}

void UdpServer::HandlePacket(const char* data, size_t len) {
  ++counters_.packets;
  UdpParse parsed = ParseUdpRequest(std::string_view(data, len), &req_);
  if (parsed == UdpParse::kTooShort) {
    ++counters_.malformed;  // not even a transaction id to answer to
    return;
  }
  const auto addr = from_.address();
  int64_t now = clock_();
  auto error = [&](std::string_view msg) {
    ++counters_.errors_sent;
    EncodeUdpError(req_.transaction_id, msg, &out_);
    Send();
  };
  if (parsed != UdpParse::kOk) {
    ++counters_.malformed;
    return error(UdpParseName(parsed));
  }
  if (req_.action == UdpAction::kConnect) {
    ++counters_.connects;
    EncodeUdpConnect(req_.transaction_id, ids_->Issue(addr, now), &out_);
    return Send();
  }
  if (!ids_->Valid(req_.connection_id, addr, now)) {
    ++counters_.bad_connection_id;
    return error("bad or expired connection id");
  }
  if (req_.action == UdpAction::kAnnounce) {
    auto reply = announce_(req_.announce, addr);
    if (!reply.ok()) return error(reply.status().message());
    ++counters_.announces;
    bool v6 = addr.is_v6() && !addr.to_v6().is_v4_mapped();
    EncodeUdpAnnounce(req_.transaction_id, *reply, v6, &out_);
    return Send();
  }
  ++counters_.scrapes;
  scrape_(req_.hashes, &scrape_out_);
  EncodeUdpScrape(req_.transaction_id, scrape_out_, &out_);
  Send();
}

void UdpServer::Send() {
  queued_[queued_count_].swap(out_);  // buffers cycle, keeping their capacity
  queued_to_[queued_count_] = from_;
  ++queued_count_;
}

void UdpServer::Flush() {
  mmsghdr msgs[kSlots];
  iovec iov[kSlots];
  for (int i = 0; i < queued_count_; ++i)
    Point(msgs[i], iov[i], queued_[i].data(), queued_[i].size(), queued_to_[i].data(), queued_to_[i].size());
  for (int sent = 0; sent < queued_count_;) {
    int n = sendmmsg(socket_.native_handle(), msgs + sent, unsigned(queued_count_ - sent), MSG_DONTWAIT);
    if (n >= 0) {
      sent += n;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      counters_.send_dropped += uint64_t(queued_count_ - sent);
      break;
    } else {  // this datagram failed (e.g. unreachable): skip it, send the rest
      spdlog::debug("udp send to {}: {}", queued_to_[sent].address().to_string(), std::strerror(errno));
      ++sent;
    }
  }
  queued_count_ = 0;
}

}  // namespace spate
