// The fetcher's side of the tracker control API (see wire/api.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "wire/api.h"
#include "wire/http.h"
#include "wire/status.h"

namespace spate {

// Several control URLs (trackers sharing one database): calls go to the one
// in use; one that fails (connection refused, timeout, 5xx, 408, 429) is
// passed over for the next in the list, at once and within the same call, and
// the one that answers is kept (long polls included) until it fails in turn.
// Nothing moves back by itself: every tracker serves every host equally.
class ControlClient {
 public:
  // `bases` like http://127.0.0.1:7070, in the order to try them (at least
  // one); calls are bound to `bind_address` so the tracker sees this host's
  // own address, and carry `host_token` (if not empty) as the bearer. An
  // https:// base is verified against `ca_file` ("" = the system's trusted
  // CAs). Copyable; copies share which base is in use and the failover count,
  // so the poll thread and the reporter move together. Thread-safe.
  ControlClient(std::vector<std::string> bases, std::string host_id, std::string bind_address,
                std::string host_token = "", std::string ca_file = "");
  ControlClient(std::string base, std::string host_id, std::string bind_address, std::string host_token = "",
                std::string ca_file = "")
      : ControlClient(std::vector<std::string>{std::move(base)}, std::move(host_id), std::move(bind_address),
                      std::move(host_token), std::move(ca_file)) {}

  // GET /api/v1/hosts/{host}/assignments long poll. Transport errors and 5xx are
  // Status::Unavailable (retry); other HTTP errors keep their meaning.
  Result<AssignmentList> PollAssignments(int64_t generation, int wait_seconds) const;

  // POST /api/v1/hosts/{host}/reports; returns this host's gateway roles in
  // the reported pushes and the reports the tracker refused one by one.
  // Unavailable = retry later; Invalid/NotFound/Unauthorized/Forbidden = the tracker
  // refused the whole batch and retrying will not help.
  Result<ReportsAnswer> PostReports(const std::vector<HostReport>& reports, std::chrono::milliseconds timeout) const;

  // PostReports to bases[index] only: no failover, and the base in use stays.
  // For reports that belong with one tracker (the one holding their swarm).
  Result<ReportsAnswer> PostReportsTo(size_t index, const std::vector<HostReport>& reports,
                                      std::chrono::milliseconds timeout) const;

  // Closes the connection kept for reports, once there is nothing left to
  // report: a finished host long-polls on the other one, and would hold two
  // descriptors on the tracker.
  void CloseReportConnection() const;

  // The base calls go to now, and its index in `bases`.
  std::string current() const;
  size_t current_index() const;
  // Times a call moved to another base since start.
  uint64_t failovers() const;

 private:
  struct Shared {
    std::atomic<size_t> current{0};
    std::atomic<uint64_t> failovers{0};
    // Kept-alive connections, one for polls and one for reports (which
    // borrow the poll one while no poll holds it): at a report a second, a
    // new connection each time would cost the tracker an accept and a close
    // per report, and over TLS a handshake.
    std::mutex poll_mu, report_mu;
    http::Connection poll_conn, report_conn;
  };
  // Runs `call(base)` on the base in use, then on each other one in list
  // order while the answer is Unavailable; keeps the first base that answers.
  template <typename T>
  Result<T> WithFailover(const char* what, const std::function<Result<T>(const std::string& base)>& call) const;
  Result<AssignmentList> PollOne(const std::string& base, int64_t generation, int wait_seconds) const;
  Result<ReportsAnswer> PostOne(const std::string& base, const std::string& body,
                                std::chrono::milliseconds timeout) const;
  std::string HostUrl(const std::string& base) const;
  http::ClientOptions Options(std::chrono::milliseconds timeout) const;
  std::vector<std::string> bases_;
  std::string host_id_, bind_address_, host_token_, ca_file_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace spate
