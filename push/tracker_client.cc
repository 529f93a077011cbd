#include "push/tracker_client.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>

#include "wire/tracker_order.h"

namespace spate {

namespace {

// The tracker's {"error"} text when it sent one, else the body as it came.
std::string ErrorText(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  std::string text = body;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

Status FromHttp(int code, const std::string& body) {
  std::string m = "tracker answered " + std::to_string(code) + ": " + ErrorText(body);
  switch (code) {
    case 400: return Status::Invalid(m);
    case 401:
      return Status::Unauthorized(m + " (the token comes from --token-file, SPATE_PUSH_TOKEN or SPATE_ADMIN_TOKEN; "
                                      "read commands try SPATE_READ_TOKEN first)");
    case 403: return Status::Forbidden(m);
    case 404: return Status::NotFound(m);
    case 409: return Status::Conflict(m);
    default: return Status::Unavailable(m);
  }
}

}  // namespace

TrackerClient::TrackerClient(std::string base_url, const std::string& token, const std::string& ca_file,
                             Status unusable)
    : bases_(SplitList({base_url})), unusable_(std::move(unusable)) {
  if (bases_.empty()) bases_.push_back("");  // a bad URL, said by the first call
  for (auto& b : bases_)
    while (!b.empty() && b.back() == '/') b.pop_back();
  client_.ca_file = ca_file;
  if (!token.empty()) client_.headers.emplace_back("Authorization", "Bearer " + token);
}

Result<nlohmann::json> TrackerClient::Call(const std::string& method, const std::string& path,
                                           const nlohmann::json& body) const {
  if (!unusable_.ok()) return unusable_;
  const size_t n = bases_.size(), start = current_;
  std::optional<Status> first;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    auto r = http::Call(method, bases_[i] + "/api/v1" + path, body.is_null() ? "" : body.dump(), client_);
    Status failed;
    if (!r.ok()) {
      // A bad URL or an unreadable CA file: the message names which.
      if (r.status().code() == Status::Code::kInvalid) return r.status();
      failed = Status::Unavailable("cannot reach the tracker: " + r.status().message());
      if (method != "GET" && !http::NotSent(r.status())) return failed;
    } else if (r->status / 100 == 5 && method == "GET") {
      failed = FromHttp(r->status, r->body);
    } else {
      if (k > 0) {
        current_ = i;
        if (on_failover_)
          on_failover_("tracker " + bases_[start] + " failed (" + first->message() + "); now " + bases_[i]);
      }
      if (r->status / 100 != 2) return FromHttp(r->status, r->body);
      auto j = nlohmann::json::parse(r->body, nullptr, false);
      if (j.is_discarded())
        return Status::Corrupt("tracker answered " + std::to_string(r->status) + " with a body that is not JSON");
      return j;
    }
    if (!first) first = failed;
  }
  if (n == 1) return *first;
  return Status::Unavailable("all " + std::to_string(n) + " trackers failed; first: " + first->message());
}

Result<PushProgress> TrackerClient::CallForPush(const std::string& method, const std::string& path,
                                                const nlohmann::json& body) const {
  auto j = Call(method, path, body);
  if (!j.ok()) return j.status();
  auto p = PushProgressFromJson(*j);
  if (!p.ok()) return Status::Corrupt("unexpected answer from the tracker: " + p.status().message());
  return p;
}

std::string StartedBy() {
  if (const char* u = std::getenv("SPATE_USER"); u && *u) return u;
  std::string user;
  if (const char* u = std::getenv("USER"); u && *u) user = u;
  // Cron jobs and some containers run without $USER; the account still has a name.
  if (const passwd* pw = user.empty() ? getpwuid(getuid()) : nullptr; pw && pw->pw_name) user = pw->pw_name;
  if (user.empty()) user = "unknown";
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !host[0]) return user;
  return user + "@" + host;
}

}  // namespace spate
