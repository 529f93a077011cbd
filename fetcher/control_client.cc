#include "fetcher/control_client.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "wire/http.h"

namespace spate {

namespace {

Status FromHttp(int status, const std::string& body, const std::string& what) {
  if (status >= 200 && status < 300) return Status::Ok();
  std::string msg = what + ": HTTP " + std::to_string(status);
  auto j = ParseJson(body);
  if (j.ok() && j->is_object() && j->contains("error") && (*j)["error"].is_string())
    msg += ": " + (*j)["error"].get<std::string>();
  if (status >= 500 || status == 408 || status == 429) return Status::Unavailable(msg);
  if (status == 404) return Status::NotFound(msg);
  if (status == 401) return Status::Unauthorized(msg + " (this host's token: --host-token-file or SPATE_HOST_TOKEN)");
  if (status == 403) return Status::Forbidden(msg);
  return Status::Invalid(msg);
}

}  // namespace

ControlClient::ControlClient(std::vector<std::string> bases, std::string host_id, std::string bind_address,
                             std::string host_token, std::string ca_file)
    : bases_(std::move(bases)),
      host_id_(std::move(host_id)),
      bind_address_(std::move(bind_address)),
      host_token_(std::move(host_token)),
      ca_file_(std::move(ca_file)),
      shared_(std::make_shared<Shared>()) {
  for (auto& b : bases_)
    while (!b.empty() && b.back() == '/') b.pop_back();
  if (bases_.empty()) bases_.push_back("");  // every call then fails with a clear "bad URL"
}

std::string ControlClient::HostUrl(const std::string& base) const {
  return base + "/api/v1/hosts/" + http::UrlEncode(host_id_);
}

std::string ControlClient::current() const { return bases_[current_index()]; }

size_t ControlClient::current_index() const { return shared_->current.load() % bases_.size(); }

uint64_t ControlClient::failovers() const { return shared_->failovers.load(); }

void ControlClient::CloseReportConnection() const {
  std::lock_guard<std::mutex> lock(shared_->report_mu);
  shared_->report_conn.Close();
}

template <typename T>
Result<T> ControlClient::WithFailover(const char* what,
                                      const std::function<Result<T>(const std::string& base)>& call) const {
  const size_t n = bases_.size();
  const size_t start = shared_->current.load() % n;
  std::optional<Result<T>> first;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    Result<T> r = call(bases_[i]);
    if (!r.ok() && r.status().code() == Status::Code::kUnavailable) {
      if (!first) first = std::move(r);
      continue;
    }
    if (k > 0) {
      // Another thread may have moved meanwhile; the last mover wins, both answer.
      size_t expected = start;
      if (shared_->current.compare_exchange_strong(expected, i)) {
        ++shared_->failovers;
        spdlog::warn("control plane: {} failed {} ({}); moved to {}", bases_[start], what, first->status().message(),
                     bases_[i]);
      }
    }
    return r;
  }
  if (n == 1) return std::move(*first);
  return Status::Unavailable("all " + std::to_string(n) + " trackers failed; first: " + first->status().message());
}

http::ClientOptions ControlClient::Options(std::chrono::milliseconds timeout) const {
  http::ClientOptions o;
  o.bind_address = bind_address_;
  o.ca_file = ca_file_;
  o.timeout = timeout;
  if (!host_token_.empty()) o.headers.emplace_back("Authorization", "Bearer " + host_token_);
  return o;
}

Result<AssignmentList> ControlClient::PollAssignments(int64_t generation, int wait_seconds) const {
  return WithFailover<AssignmentList>("a poll",
                                      [&](const std::string& base) { return PollOne(base, generation, wait_seconds); });
}

Result<AssignmentList> ControlClient::PollOne(const std::string& base, int64_t generation, int wait_seconds) const {
  // The tracker holds the request for `wait` seconds; give it room beyond that.
  http::ClientOptions o = Options(std::chrono::seconds(wait_seconds + 10));
  std::string url = HostUrl(base) + "/assignments?addr=" + http::UrlEncode(bind_address_) +
                    "&generation=" + std::to_string(generation) + "&wait=" + std::to_string(wait_seconds);
  std::lock_guard<std::mutex> lock(shared_->poll_mu);
  auto r = shared_->poll_conn.Call("GET", url, "", o);
  if (!r.ok()) return Status::Unavailable(r.status().message());  // already names the URL
  if (Status s = FromHttp(r->status, r->body, "poll assignments"); !s.ok()) return s;
  auto j = ParseJson(r->body);
  if (!j.ok()) return Status::Unavailable("poll assignments: tracker sent invalid JSON");
  auto list = AssignmentListFromJson(*j);
  if (!list.ok()) return Status::Invalid("poll assignments: " + list.status().message());
  return list;
}

Result<ReportsAnswer> ControlClient::PostReports(const std::vector<HostReport>& reports,
                                                 std::chrono::milliseconds timeout) const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : reports) arr.push_back(ToJson(r));
  const std::string body = nlohmann::json{{"reports", arr}}.dump();
  return WithFailover<ReportsAnswer>("a report", [&](const std::string& base) { return PostOne(base, body, timeout); });
}

Result<ReportsAnswer> ControlClient::PostReportsTo(size_t index, const std::vector<HostReport>& reports,
                                                   std::chrono::milliseconds timeout) const {
  if (index >= bases_.size()) return Status::Invalid("no tracker " + std::to_string(index));
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : reports) arr.push_back(ToJson(r));
  return PostOne(bases_[index], nlohmann::json{{"reports", arr}}.dump(), timeout);
}

Result<ReportsAnswer> ControlClient::PostOne(const std::string& base, const std::string& body,
                                             std::chrono::milliseconds timeout) const {
  http::ClientOptions o = Options(timeout);
  // While no poll holds the poll connection (the poll thread rests while the
  // engine reports every second), reports to the base in use borrow it: a
  // host that starts downloading needs no second connection, and a push to
  // 10,000 hosts no 10,000 more accepts on the tracker in its busiest seconds.
  std::unique_lock<std::mutex> lock(shared_->poll_mu, std::try_to_lock);
  http::Connection* conn = &shared_->poll_conn;
  if (!lock.owns_lock() || base != bases_[current_index()]) {
    if (lock.owns_lock()) lock.unlock();
    lock = std::unique_lock<std::mutex>(shared_->report_mu);
    conn = &shared_->report_conn;
  }
  auto r = conn->Call("POST", HostUrl(base) + "/reports", body, o);
  if (!r.ok()) return Status::Unavailable("post reports: " + r.status().message());
  if (Status s = FromHttp(r->status, r->body, "post reports"); !s.ok()) return s;
  // Roles are advice: a tracker without them, or with bad ones, still took the reports.
  auto j = ParseJson(r->body);
  return j.ok() ? ReportsAnswerFromJson(*j) : ReportsAnswer{};
}

}  // namespace spate
