// How the release manager's commands talk to the tracker's control API: one
// call that returns the answer's JSON, or a Status that names the tracker and
// the problem, ready to print. The token goes in a header and nowhere else:
// no message, log or help text carries it.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "wire/api.h"
#include "wire/http.h"
#include "wire/status.h"

namespace spate {

class TrackerClient {
 public:
  // `base_url` like "http://127.0.0.1:7070" or "https://...", or several
  // comma-separated (trackers sharing one database; see Call); an empty token
  // sends no Authorization header (reads work without one where the tracker
  // leaves them open). `ca_file` is what an https:// tracker's certificate
  // must chain to; "" = the system's trusted CAs. A non-ok `unusable` (the
  // token could not be read) is what every call returns, without calling.
  TrackerClient(std::string base_url, const std::string& token, const std::string& ca_file = "",
                Status unusable = Status::Ok());

  // METHOD base_url + "/api/v1" + path, with `body` as JSON unless null.
  // Unreachable: Unavailable("cannot reach the tracker: ..."). Not 2xx: the
  // status the HTTP code stands for, with the tracker's {"error"} text, e.g.
  // "tracker answered 404: unknown push 9"; a 401 adds where the token comes
  // from. A 2xx body that is not JSON: Corrupt.
  // With several trackers a call goes to the one that answered last and moves
  // along the list, within the call, when that one is unreachable or (a GET)
  // answers 5xx. A request that changes something (not a GET) moves on only
  // if it never left (http::NotSent): one sent and unanswered may have been
  // applied, and a second copy could start a push twice.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nullptr) const;
  // Call, then the answer as a PushProgress.
  Result<PushProgress> CallForPush(const std::string& method, const std::string& path,
                                   const nlohmann::json& body = nullptr) const;

  // The tracker in use (the first until one failed).
  const std::string& url() const { return bases_[current_]; }
  // Called with a line saying which tracker failed and which one answered.
  void OnFailover(std::function<void(const std::string&)> f) { on_failover_ = std::move(f); }

 private:
  std::vector<std::string> bases_;
  mutable size_t current_ = 0;
  http::ClientOptions client_;
  Status unusable_;
  std::function<void(const std::string&)> on_failover_;
};

// Who is asking, for a push's started_by: $SPATE_USER, else $USER@hostname
// ($USER unset: the account's name from the passwd database).
// The tracker trusts the token, not this; it is for people reading the list.
std::string StartedBy();

}  // namespace spate
