#include "wire/graphite.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wire/http.h"

namespace spate {

namespace {

using Clock = std::chrono::steady_clock;

// Waits for `events` on fd until `deadline`; false on time-out or error.
bool WaitFd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, int(left));
    if (r > 0) return (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0 || (p.revents & events);
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

std::string DefaultGraphitePrefix(const std::string& daemon, const std::string& who) {
  std::string w = who;
  for (char& c : w)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) c = '_';
  return "spate." + daemon + (w.empty() ? "" : "." + w);
}

GraphiteSender::GraphiteSender(GraphiteOptions options, std::function<Metrics()> snapshot)
    : options_(std::move(options)), snapshot_(std::move(snapshot)) {}

GraphiteSender::~GraphiteSender() { Stop(); }

Status GraphiteSender::Start() {
  auto ep = http::ParseEndpoint(options_.address);
  if (!ep.ok()) return Status::Invalid("--graphite " + options_.address + ": " + ep.status().message());
  endpoint_ = *ep;
  thread_ = std::thread([this] { Loop(); });
  spdlog::info("sending metrics to graphite {} as {}.* every {} s", options_.address, options_.prefix,
               options_.interval.count() / 1000.0);
  return Status::Ok();
}

void GraphiteSender::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GraphiteSender::Loop() {
  int fd = -1;
  int streak = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, options_.interval, [this] { return stop_; })) {
    lock.unlock();
    Status s = SendRound(fd);
    if (s.ok()) {
      ++sent_;
      if (streak > 0) spdlog::info("graphite {} reachable again after {} failed rounds", options_.address, streak);
      streak = 0;
    } else {
      ++failed_;
      if (fd >= 0) ::close(fd);
      fd = -1;
      if (streak++ % 30 == 0) spdlog::warn("cannot send metrics to graphite {}: {}", options_.address, s.message());
    }
    lock.lock();
  }
  if (fd >= 0) ::close(fd);
}

Status GraphiteSender::SendRound(int& fd) {
  auto deadline = Clock::now() + options_.timeout;
  std::string text = snapshot_().Graphite(options_.prefix, std::time(nullptr));
  if (fd < 0) {
    fd = ::socket(endpoint_.address().is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::Io(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd, endpoint_.data(), socklen_t(endpoint_.size())) != 0) {
      if (errno != EINPROGRESS) return Status::Unavailable(std::string("connect: ") + std::strerror(errno));
      if (!WaitFd(fd, POLLOUT, deadline)) return Status::Unavailable("connect timed out");
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return Status::Unavailable(std::string("connect: ") + std::strerror(err));
    }
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFd(fd, POLLOUT, deadline)) return Status::Unavailable("send timed out");
      continue;
    }
    return Status::Unavailable(std::string("send: ") + std::strerror(errno));
  }
  // carbon never answers; a readable socket means it closed (or sent junk): reconnect next round.
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) > 0) {
    char buf[256];
    if (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) return Status::Unavailable("graphite closed the connection");
  }
  return Status::Ok();
}

}  // namespace spate
