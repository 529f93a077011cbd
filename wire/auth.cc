#include "wire/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "wire/crypto.h"

namespace spate::auth {

namespace {

constexpr Role kRoles[] = {Role::kUpload, Role::kRegister, Role::kPush, Role::kRead, Role::kHost};

std::string Trim(std::string_view s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

std::string Octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", unsigned(m & 07777));
  return buf;
}

// Reads the whole file through one descriptor, checking the mode of what was
// opened (not of what the path names a moment later).
Result<std::string> ReadPrivate(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Io("cannot open secret file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::Io("cannot stat secret file " + path + ": " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Invalid("secret file " + path + " is not a regular file");
  }
  if (st.st_mode & 077) {
    ::close(fd);
    return Status::Invalid("secret file " + path + " is readable or writable by group or other (mode " +
                           Octal(st.st_mode) + "); run chmod 600 " + path);
  }
  if (st.st_size > 64 * 1024) {
    ::close(fd);
    return Status::Invalid("secret file " + path + " is larger than 64 KiB");
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return Status::Io("cannot read secret file " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kUpload: return "upload";
    case Role::kRegister: return "register";
    case Role::kPush: return "push";
    case Role::kRead: return "read";
    case Role::kHost: return "host";
  }
  return "?";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : kRoles)
    if (name == RoleName(r)) return r;
  return std::nullopt;
}

bool TokenEquals(std::string_view got, std::string_view want) {
  if (want.empty() || got.size() != want.size()) return false;
  return CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0;
}

Status CheckSecret(const std::string& what, std::string_view secret) {
  if (secret.empty()) return Status::Invalid(what + " is empty");
  if (secret.size() > 512) return Status::Invalid(what + " is longer than 512 characters");
  for (char c : secret)
    if (c <= ' ' || c > '~')
      return Status::Invalid(what + " holds a space, a control or a non-ASCII character (it must fit in an HTTP header)");
  return Status::Ok();
}

Result<std::string> ReadSecretFile(const std::string& path) {
  auto text = ReadPrivate(path);
  if (!text.ok()) return text.status();
  std::string secret = Trim(*text);
  if (Status s = CheckSecret("the secret in " + path, secret); !s.ok()) return s;
  return secret;
}

Result<std::string> SecretFrom(const std::string& file_flag, const std::string& file,
                               const std::vector<const char*>& env_vars) {
  if (!file.empty()) {
    auto s = ReadSecretFile(file);
    if (!s.ok()) return Status::Invalid(file_flag + ": " + s.status().message());
    return s;
  }
  for (const char* name : env_vars) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    if (Status s = CheckSecret(std::string("$") + name, v); !s.ok()) return s;
    return std::string(v);
  }
  return std::string();
}

std::string HostToken(std::string_view host_secret, std::string_view host_id) {
  const std::string msg = "spate-host:" + std::string(host_id);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), host_secret.data(), int(host_secret.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), mac, &len);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

Result<std::string> ReadHostSecret(const std::string& path) {
  auto text = ReadPrivate(path);
  if (!text.ok()) return text.status();
  // One word is the secret itself; more is a token file.
  if (Trim(*text).find_first_of(" \t\r\n") != std::string::npos) {
    auto f = ParseTokenFile(*text, path);
    if (!f.ok()) return f.status();
    if (f->host_secret.empty()) return Status::Invalid(path + ": no host-secret line");
    return f->host_secret;
  }
  std::string secret = Trim(*text);
  if (Status s = CheckSecret("the secret in " + path, secret); !s.ok()) return s;
  return secret;
}

Result<TokenFile> ParseTokenFile(const std::string& text, const std::string& path) {
  TokenFile out;
  size_t pos = 0;
  int line_no = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    std::vector<std::string> fields;
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      if (i >= line.size() || line[i] == '#') break;
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
      fields.push_back(line.substr(i, j - i));
      i = j;
    }
    if (fields.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    if (fields.size() != 2)
      return Status::Invalid(where + "want 'ROLE TOKEN' (register, push, read) or 'host-secret SECRET'");
    const std::string& key = fields[0];
    if (Status s = CheckSecret("the " + key + " value", fields[1]); !s.ok()) return Status::Invalid(where + s.message());
    if (key == "host-secret") {
      if (!out.host_secret.empty()) return Status::Invalid(where + "host-secret given twice");
      out.host_secret = fields[1];
      continue;
    }
    auto role = ParseRole(key);
    if (!role || *role == Role::kUpload || *role == Role::kHost)
      return Status::Invalid(where + "unknown role '" + key +
                             "': the tracker takes register, push, read and host-secret (host tokens are derived "
                             "from host-secret; upload tokens belong to the seeder)");
    if (out.tokens.count(*role)) return Status::Invalid(where + key + " given twice");
    out.tokens[*role] = fields[1];
  }
  for (Role r : {Role::kRegister, Role::kPush})
    if (!out.tokens.count(r)) return Status::Invalid(path + ": no " + std::string(RoleName(r)) + " token");
  // One token in two roles would quietly give back the privileges the file splits.
  std::vector<std::pair<std::string, const std::string*>> all;
  for (const auto& [r, t] : out.tokens) all.emplace_back(RoleName(r), &t);
  if (!out.host_secret.empty()) all.emplace_back("host-secret", &out.host_secret);
  for (size_t a = 0; a < all.size(); ++a)
    for (size_t b = a + 1; b < all.size(); ++b)
      if (*all[a].second == *all[b].second)
        return Status::Invalid(path + ": " + all[a].first + " and " + all[b].first +
                               " are the same; give each its own secret");
  return out;
}

Result<TokenFile> LoadTokenFile(const std::string& path) {
  auto text = ReadPrivate(path);
  if (!text.ok()) return text.status();
  return ParseTokenFile(*text, path);
}

bool Keyring::Has(Role role) const {
  auto it = tokens_.find(role);
  return it != tokens_.end() && !it->second.empty();
}

Status Keyring::Check(std::string_view bearer, Role need, const std::string& host) const {
  if (bearer.empty())
    return Status::Unauthorized(std::string("a ") + RoleName(need) + " token is required (Authorization: Bearer TOKEN)");
  // Every configured token is compared, so the time taken does not say which one nearly matched.
  std::vector<Role> roles;
  for (const auto& [r, t] : tokens_)
    if (TokenEquals(bearer, t)) roles.push_back(r);
  std::string held;
  for (Role r : roles) held += std::string(held.empty() ? "" : "/") + RoleName(r);
  if (need == Role::kHost) {
    if (!host_secret_.empty()) {
      std::lock_guard<std::mutex> lock(host_tokens_->mu);
      auto known = host_tokens_->by_host.find(host);
      if (known != host_tokens_->by_host.end()) {
        if (TokenEquals(bearer, known->second)) return Status::Ok();
      } else if (std::string token = HostToken(host_secret_, host); TokenEquals(bearer, token)) {
        host_tokens_->by_host.emplace(host, std::move(token));
        return Status::Ok();
      }
    }
    if (!roles.empty()) return Status::Forbidden("a " + held + " token may not act as host " + host);
    return Status::Forbidden("the token is not host " + host + "'s");
  }
  for (Role r : roles)
    if (r == need || (need == Role::kRead && r == Role::kPush)) return Status::Ok();
  if (!roles.empty())
    return Status::Forbidden("this needs the " + std::string(RoleName(need)) + " role; the token given is a " + held +
                             " token");
  return Status::Unauthorized(std::string("unknown token; this needs the ") + RoleName(need) + " role");
}

}  // namespace spate::auth
