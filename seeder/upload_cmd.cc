// `spate upload FILE --name N --version V --seeder URL`: CI's way in.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "seeder/ingest.h"
#include "wire/api.h"
#include "wire/auth.h"
#include "wire/crypto.h"
#include "wire/daemon.h"
#include "wire/http.h"
#include "wire/units.h"

namespace spate {

namespace {

int Usage(const std::string& msg) {
  std::fprintf(stderr, "spate upload: %s\n", msg.c_str());
  return kExitUsage;
}

// Hashes with a progress line on a terminal; big artifacts take seconds.
Result<std::string> HashWithProgress(const std::string& path, uint64_t size) {
  bool tty = ::isatty(2) && size >= (64u << 20);
  auto last = std::chrono::steady_clock::now();
  auto r = Sha256File(path, [&](uint64_t done) {
    if (!tty) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(200)) return;
    last = now;
    std::fprintf(stderr, "\rhashing %s / %s (%d%%)   ", FormatBytes(double(done)).c_str(),
                 FormatBytes(double(size)).c_str(), int(100.0 * double(done) / double(size)));
  });
  if (tty) std::fprintf(stderr, "\r\033[K");
  return r;
}

std::string ErrorText(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return body;
}

}  // namespace

int UploadCommand(int argc, char** argv) {
  cxxopts::Options opts("spate upload", "Upload a build artifact to the seeder.");
  opts.positional_help("FILE");
  opts.add_options()
      ("file", "the artifact to upload", cxxopts::value<std::string>())
      ("name", "artifact name ([A-Za-z0-9._-])", cxxopts::value<std::string>())
      ("version", "artifact version ([A-Za-z0-9._-])", cxxopts::value<std::string>())
      ("filename", "file name on hosts (default: the name)", cxxopts::value<std::string>())
      ("seeder", "seeder base URL, e.g. http://127.0.0.1:7080 or https://...", cxxopts::value<std::string>())
      ("tls-ca", "PEM CA file an https:// seeder must chain to (default $SPATE_TLS_CA, else the system's trusted CAs)", cxxopts::value<std::string>())
      ("token-file", "file (mode 600) holding the upload token (default $SPATE_UPLOAD_TOKEN)", cxxopts::value<std::string>()->default_value(""))
      ("token", "the upload token itself (visible in ps: prefer --token-file or the environment)", cxxopts::value<std::string>())
      ("timeout", "give up after this long (upload plus server-side hashing)", cxxopts::value<std::string>()->default_value("1h"))
      ("json", "print the manifest as JSON")
      ("h,help", "show this help");
  opts.parse_positional({"file"});

  std::string file, name, version, filename, seeder_url, token, tls_ca;
  std::chrono::milliseconds timeout{};
  bool as_json = false;
  try {
    auto r = opts.parse(argc, argv);
    if (r.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return kExitOk;
    }
    if (!r.unmatched().empty()) return Usage("unexpected argument '" + r.unmatched().front() + "'");
    if (!r.count("file")) return Usage("FILE is required");
    if (!r.count("name")) return Usage("--name is required");
    if (!r.count("version")) return Usage("--version is required");
    if (!r.count("seeder")) return Usage("--seeder is required (e.g. http://127.0.0.1:7080)");
    file = r["file"].as<std::string>();
    name = r["name"].as<std::string>();
    version = r["version"].as<std::string>();
    filename = r.count("filename") ? r["filename"].as<std::string>() : name;
    seeder_url = r["seeder"].as<std::string>();
    if (r.count("token")) {
      token = r["token"].as<std::string>();
    } else {
      auto t = auth::SecretFrom("--token-file", r["token-file"].as<std::string>(), {"SPATE_UPLOAD_TOKEN"});
      if (!t.ok()) return Usage(t.status().message());
      token = *t;
    }
    const char* env_ca = std::getenv("SPATE_TLS_CA");
    tls_ca = r.count("tls-ca") ? r["tls-ca"].as<std::string>() : (env_ca ? env_ca : "");
    as_json = r.count("json") > 0;
    auto t = ParseDuration(r["timeout"].as<std::string>());
    if (!t.ok()) return Usage("--timeout: " + t.status().message());
    timeout = *t;
  } catch (const std::exception& e) {
    return Usage(std::string(e.what()) + " (see spate upload --help)");
  }
  Status s = seeder::CheckUploadNames(name, version, filename);
  if (!s.ok()) return Usage(s.message());
  if (token.empty()) return Usage("no upload token: pass --token-file or set SPATE_UPLOAD_TOKEN");
  while (!seeder_url.empty() && seeder_url.back() == '/') seeder_url.pop_back();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return Usage("'" + file + "' is not a readable regular file");
  uint64_t size = std::filesystem::file_size(file, ec);
  if (ec) return Usage("cannot stat '" + file + "': " + ec.message());
  if (size == 0) return Usage("'" + file + "' is empty");

  auto sha = HashWithProgress(file, size);
  if (!sha.ok()) {
    std::fprintf(stderr, "spate upload: %s\n", sha.status().message().c_str());
    return kExitFailure;
  }
  http::ClientOptions co;
  co.timeout = timeout;
  co.ca_file = tls_ca;
  co.headers = {{"Authorization", "Bearer " + token}, {"X-Spate-Sha256", *sha}, {"X-Spate-Size", std::to_string(size)}};
  std::string url = seeder_url + "/api/v1/artifacts/" + http::UrlEncode(name) + "/" + http::UrlEncode(version) +
                    "?filename=" + http::UrlEncode(filename);
  auto t0 = std::chrono::steady_clock::now();
  // Dry run first: the seeder refuses a bad upload before reading the body, which
  // for a big file would otherwise surface as a broken pipe, not the reason.
  http::ClientOptions pre = co;
  pre.timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(30));
  auto res = http::Call("PUT", url + "&check=1", "", pre);
  if (res.ok() && res->status == 204) res = http::SendFile("PUT", url, file, co);
  if (!res.ok()) {
    std::fprintf(stderr, "spate upload: upload failed: %s\n", res.status().message().c_str());
    return kExitFailure;
  }
  if (res->status != 200 && res->status != 201) {
    std::fprintf(stderr, "spate upload: upload refused: %d %s\n", res->status, ErrorText(res->body).c_str());
    return kExitFailure;
  }
  auto j = ParseJson(res->body);
  auto m = j.ok() ? ManifestFromJson(*j) : Result<Manifest>(j.status());
  if (!m.ok()) {
    std::fprintf(stderr, "spate upload: seeder answered %d with a bad manifest: %s\n", res->status,
                 m.status().message().c_str());
    return kExitFailure;
  }
  if (m->sha256 != *sha || m->size != size) {
    std::fprintf(stderr, "spate upload: seeder stored sha256 %s (%llu bytes), local file is %s (%llu bytes)\n",
                 m->sha256.c_str(), static_cast<unsigned long long>(m->size), sha->c_str(),
                 static_cast<unsigned long long>(size));
    return kExitFailure;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  if (as_json) {
    std::printf("%s\n", ToJson(*m).dump(2).c_str());
  } else {
    std::printf("%s %s in %s\n", res->status == 201 ? "uploaded" : "already stored (identical)", m->id().c_str(),
                FormatDuration(ms).c_str());
    std::printf("  size       %s (%llu bytes)\n", FormatBytes(double(m->size)).c_str(),
                static_cast<unsigned long long>(m->size));
    std::printf("  sha256     %s\n", m->sha256.c_str());
    std::printf("  info_hash  %s\n", m->info_hash.c_str());
    std::printf("  pieces     %s each\n", FormatBytes(double(m->piece_size)).c_str());
  }
  return kExitOk;
}

}  // namespace spate
