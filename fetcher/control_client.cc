#include "fetcher/control_client.h"

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
  return Status::Invalid(msg);
}

}  // namespace

ControlClient::ControlClient(std::string base, std::string host_id, std::string bind_address, std::string ca_file)
    : base_(std::move(base)),
      host_id_(std::move(host_id)),
      bind_address_(std::move(bind_address)),
      ca_file_(std::move(ca_file)) {}

std::string ControlClient::HostUrl() const { return base_ + "/api/v1/hosts/" + http::UrlEncode(host_id_); }

Result<AssignmentList> ControlClient::PollAssignments(int64_t generation, int wait_seconds) const {
  http::ClientOptions o;
  o.bind_address = bind_address_;
  o.ca_file = ca_file_;
  // The tracker holds the request for `wait` seconds; give it room beyond that.
  o.timeout = std::chrono::seconds(wait_seconds + 10);
  std::string url = HostUrl() + "/assignments?addr=" + http::UrlEncode(bind_address_) +
                    "&generation=" + std::to_string(generation) + "&wait=" + std::to_string(wait_seconds);
  auto r = http::Call("GET", url, "", o);
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
  http::ClientOptions o;
  o.bind_address = bind_address_;
  o.ca_file = ca_file_;
  o.timeout = timeout;
  auto r = http::Call("POST", HostUrl() + "/reports", nlohmann::json{{"reports", arr}}.dump(), o);
  if (!r.ok()) return Status::Unavailable("post reports: " + r.status().message());
  if (Status s = FromHttp(r->status, r->body, "post reports"); !s.ok()) return s;
  // Roles are advice: a tracker without them, or with bad ones, still took the reports.
  auto j = ParseJson(r->body);
  return j.ok() ? ReportsAnswerFromJson(*j) : ReportsAnswer{};
}

}  // namespace spate
