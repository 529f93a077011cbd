// The fetcher's side of the tracker control API (see wire/api.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "wire/api.h"
#include "wire/status.h"

namespace spate {

class ControlClient {
 public:
  // `base` like http://127.0.0.1:7070; calls are bound to `bind_address` so the
  // tracker sees this host's own address. An https:// base is verified against
  // `ca_file` ("" = the system's trusted CAs). Copyable; thread-safe (no shared state).
  ControlClient(std::string base, std::string host_id, std::string bind_address, std::string ca_file = "");

  // GET /api/v1/hosts/{host}/assignments long poll. Transport errors and 5xx are
  // Status::Unavailable (retry); other HTTP errors keep their meaning.
  Result<AssignmentList> PollAssignments(int64_t generation, int wait_seconds) const;

  // POST /api/v1/hosts/{host}/reports; returns this host's gateway roles in
  // the reported pushes and the reports the tracker refused one by one.
  // Unavailable = retry later; Invalid/NotFound/Forbidden = the tracker
  // refused the whole batch and retrying will not help.
  Result<ReportsAnswer> PostReports(const std::vector<HostReport>& reports, std::chrono::milliseconds timeout) const;

 private:
  std::string HostUrl() const;
  std::string base_, host_id_, bind_address_, ca_file_;
};

}  // namespace spate
