// How the release manager's commands talk to the tracker's control API: one
// call that returns the answer's JSON, or a Status that names the tracker and
// the problem, ready to print. The admin token goes in a header and nowhere
// else: no message, log or help text carries it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "wire/api.h"
#include "wire/http.h"
#include "wire/status.h"

namespace spate {

class TrackerClient {
 public:
  // `base_url` like "http://127.0.0.1:7070" or "https://..."; an empty token
  // sends no Authorization header (read-only calls work without one).
  // `ca_file` is what an https:// tracker's certificate must chain to; "" =
  // the system's trusted CAs.
  TrackerClient(std::string base_url, const std::string& token, const std::string& ca_file = "");

  // METHOD base_url + "/api/v1" + path, with `body` as JSON unless null.
  // Unreachable: Unavailable("cannot reach the tracker: ..."). Not 2xx: the
  // status the HTTP code stands for, with the tracker's {"error"} text, e.g.
  // "tracker answered 404: unknown push 9"; a 401 adds where the token comes
  // from. A 2xx body that is not JSON: Corrupt.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nullptr) const;
  // Call, then the answer as a PushProgress.
  Result<PushProgress> CallForPush(const std::string& method, const std::string& path,
                                   const nlohmann::json& body = nullptr) const;

  const std::string& url() const { return base_; }

 private:
  std::string base_;
  http::ClientOptions client_;
};

// Who is asking, for a push's started_by: $SPATE_USER, else $USER@hostname
// ($USER unset: the account's name from the passwd database).
// The tracker trusts the token, not this; it is for people reading the list.
std::string StartedBy();

}  // namespace spate
