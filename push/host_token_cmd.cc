// `spate host-token HOST --secret-file F`: prints the token host HOST's
// fetcher presents (--host-token-file), for whoever provisions hosts.
#include <cstdio>
#include <cxxopts.hpp>
#include <string>

#include "push/cli.h"
#include "wire/api.h"
#include "wire/auth.h"
#include "wire/daemon.h"

namespace spate {

int HostTokenCommand(int argc, char** argv) {
  cxxopts::Options options("spate host-token",
                           "Print host HOST's token: hex HMAC-SHA256(host secret, \"spate-host:\" + HOST).\n"
                           "Write it to the host's --host-token-file (mode 600).");
  // clang-format off
  options.add_options()
    ("host", "host id", cxxopts::value<std::string>())
    ("secret-file", "file (mode 600) holding the host secret, or the tracker's --token-file", cxxopts::value<std::string>())
    ("h,help", "show help");
  // clang-format on
  options.parse_positional({"host"});
  options.positional_help("HOST");
  int code = kExitOk;
  auto args = cli::Parse(options, argc, argv, code);
  if (!args) return code;
  const std::string cmd = options.program();
  if (!args->count("host")) return cli::Fail(cmd, "missing the host id", kExitUsage);
  if (!args->count("secret-file")) return cli::Fail(cmd, "--secret-file is required", kExitUsage);
  const std::string host = (*args)["host"].as<std::string>();
  if (Status s = CheckName("host", host); !s.ok()) return cli::Fail(cmd, s.message(), kExitUsage);
  auto secret = auth::ReadHostSecret((*args)["secret-file"].as<std::string>());
  if (!secret.ok()) return cli::Fail(cmd, "--secret-file: " + secret.status().message(), kExitUsage);
  std::printf("%s\n", auth::HostToken(*secret, host).c_str());
  return kExitOk;
}

}  // namespace spate
