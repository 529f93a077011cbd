// Sends a daemon's metrics to Graphite (carbon's plaintext protocol) on its
// own thread, every `interval`. A Graphite that is down or slow costs the
// daemon nothing: connects and sends are bounded by `timeout`, a failed
// round is dropped (not queued), and the next one reconnects.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "wire/metrics.h"
#include "wire/status.h"

namespace spate {

struct GraphiteOptions {
  std::string address;  // carbon's plaintext listener, IP:PORT ("" = off)
  std::string prefix;   // path prefix, e.g. spate.seeder.host1
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds timeout{2000};
};

class GraphiteSender {
 public:
  // `snapshot` is called on the sender's thread; it must be thread-safe.
  GraphiteSender(GraphiteOptions options, std::function<Metrics()> snapshot);
  ~GraphiteSender();  // Stop()
  GraphiteSender(const GraphiteSender&) = delete;
  GraphiteSender& operator=(const GraphiteSender&) = delete;

  // Checks the address and starts the thread (nothing is sent before the first interval).
  Status Start();
  void Stop();

  uint64_t rounds_sent() const { return sent_; }
  uint64_t rounds_failed() const { return failed_; }

 private:
  void Loop();
  Status SendRound(int& fd);

  const GraphiteOptions options_;
  const std::function<Metrics()> snapshot_;
  boost::asio::ip::tcp::endpoint endpoint_;  // options_.address, parsed by Start()
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
  std::atomic<uint64_t> sent_{0}, failed_{0};
};

// "--graphite" and "--graphite-prefix" for a daemon's help text and defaults:
// the prefix defaults to spate.<daemon>.<host id or address, dots as '_'>.
std::string DefaultGraphitePrefix(const std::string& daemon, const std::string& who);

}  // namespace spate
