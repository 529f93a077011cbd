// Who may call what: the roles of Spate's bearer tokens, where secrets come
// from, and how a presented token is judged.
//
// Roles (least privilege: each caller holds only the token it needs):
//   upload    CI: PUT an artifact to the seeder
//   register  the seeder: POST /artifacts to the tracker
//   push      the release manager: create, cancel, resume, roll back, move hosts
//             (a push token may also read)
//   read      dashboards, monitoring, `spate pushes`/`fleet`: GET the control API, /stats, /metrics
//   host      one fetcher: its own assignments and reports, as that host only
//
// A host token is derived, not listed: hex HMAC-SHA256(host_secret,
// "spate-host:" + host_id), so the tracker holds one secret for the whole
// fleet and each host holds a token that is worth nothing for another host id.
//
// Secrets never appear in argv (ps shows it) when a file or the environment
// can carry them, and never in a log line or an error message.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "wire/status.h"

namespace spate::auth {

enum class Role { kUpload, kRegister, kPush, kRead, kHost };
const char* RoleName(Role r);
// "upload", "register", "push", "read", "host".
std::optional<Role> ParseRole(std::string_view name);

// Constant-time (CRYPTO_memcmp over equal lengths); an empty `want` never
// matches, so an unset token can never authenticate.
bool TokenEquals(std::string_view got, std::string_view want);

// A token or secret must fit in an HTTP header as one field: 1-512 printable
// ASCII characters, no spaces. `what` names it in the error (never its value).
Status CheckSecret(const std::string& what, std::string_view secret);

// Reads a secret from a file: the file must be a regular file that neither
// group nor other may read or write (mode & 077 == 0; else the error gives
// the mode and `chmod 600`). Surrounding whitespace is trimmed; what is left
// must pass CheckSecret.
Result<std::string> ReadSecretFile(const std::string& path);

// The secret from `file` when it is not empty, else from the first of
// `env_vars` that is set and not empty, else "" (the caller decides whether
// none is an error). `file_flag` names the flag in errors, e.g. "--token-file".
Result<std::string> SecretFrom(const std::string& file_flag, const std::string& file,
                               const std::vector<const char*>& env_vars);

// Hex HMAC-SHA256(host_secret, "spate-host:" + host_id).
std::string HostToken(std::string_view host_secret, std::string_view host_id);

// The host secret from a file holding it alone, or from the tracker's token
// file (its host-secret line), so provisioning can read the file the tracker
// reads. Same mode check as ReadSecretFile.
Result<std::string> ReadHostSecret(const std::string& path);

// The tracker's token file: "ROLE TOKEN" lines for register, push and read,
// and "host-secret SECRET". A field starting with '#' starts a comment;
// blank lines are ignored. Errors read "FILE:LINE: what is wrong".
struct TokenFile {
  std::map<Role, std::string> tokens;
  std::string host_secret;
};
Result<TokenFile> ParseTokenFile(const std::string& text, const std::string& path);
// ReadSecretFile's mode check, then ParseTokenFile.
Result<TokenFile> LoadTokenFile(const std::string& path);

// The tokens a daemon accepts, by role. Not thread-safe to change; const
// methods may be called from any thread once it is set up.
class Keyring {
 public:
  // Several roles may share one token (the old single admin token serves
  // register and push).
  void Set(Role role, std::string token) { tokens_[role] = std::move(token); }
  void SetHostSecret(std::string secret) {
    host_secret_ = std::move(secret);
    host_tokens_ = std::make_shared<HostTokens>();
  }
  bool Has(Role role) const;
  bool HasHostSecret() const { return !host_secret_.empty(); }

  // Judges the bearer token of a request that needs `need` (for kHost, as
  // host `host`). Ok: allowed. Unauthorized (401): no token, or one this
  // keyring does not know. Forbidden (403): a known token of a role that may
  // not do this, or (host endpoints) any token that is not this host's. The
  // message says which, never the token. A push token may also read.
  // Callers decide first whether the role is required at all (open reads).
  Status Check(std::string_view bearer, Role need, const std::string& host = "") const;

 private:
  std::map<Role, std::string> tokens_;
  std::string host_secret_;
  // Host tokens that matched once, by host: an HMAC per request was a tenth
  // of a report's cost at 10,000 hosts. Only matches are kept, so a stranger
  // naming made-up hosts cannot grow it. Shared by copies, hence a mutex.
  struct HostTokens {
    std::mutex mu;
    std::unordered_map<std::string, std::string> by_host;
  };
  std::shared_ptr<HostTokens> host_tokens_ = std::make_shared<HostTokens>();
};

}  // namespace spate::auth
