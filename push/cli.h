// What the release manager's commands share on the command line: the tracker
// and token flags, the wave flags of push and rollback, the watch flags, and
// parsing that turns cxxopts' exceptions into a usage error naming the flag.
#pragma once

#include <cstdint>
#include <cxxopts.hpp>
#include <optional>
#include <string>

#include "push/tracker_client.h"
#include "push/watch.h"
#include "wire/status.h"

namespace spate::cli {

// --tracker URL (default $SPATE_TRACKER, else http://127.0.0.1:7070),
// --token and --tls-ca (default $SPATE_TLS_CA). The token's environment
// fallback (SPATE_ADMIN_TOKEN) is read in TrackerFrom, not made a default, so
// --help never prints it.
void AddTrackerOptions(cxxopts::Options& options);
TrackerClient TrackerFrom(const cxxopts::ParseResult& args);

// --waves SPEC, --wave-pause DUR, --max-failures N|P%, and who asks: syntax
// checked here, applied to the targets by the tracker.
void AddWaveOptions(cxxopts::Options& options);
Status WaveFlagsInto(const cxxopts::ParseResult& args, WaveRequest* out);

// --timeout DUR, --interval DUR, --json; the style is a terminal block when
// stdout is one.
void AddWatchOptions(cxxopts::Options& options);
Result<WatchOptions> WatchOptionsFrom(const cxxopts::ParseResult& args, const std::string& command);

// POSTs `body` to `path` (a push or a rollback), prints its start line and
// watches it like a push; returns the exit code.
int StartAndWatch(const std::string& command, const TrackerClient& tracker, const std::string& path,
                  const nlohmann::json& body, const WatchOptions& watch);

// The positional "id" as a push id (a positive integer).
Result<int64_t> PushIdFrom(const cxxopts::ParseResult& args);

// Parses argv. On --help prints the help and sets `exit_code` to kExitOk; on
// a bad flag or a stray argument prints "COMMAND: why" and sets kExitUsage;
// either way returns nullopt.
std::optional<cxxopts::ParseResult> Parse(cxxopts::Options& options, int argc, char** argv, int& exit_code);

// Prints "COMMAND: message" on stderr and returns `code`.
int Fail(const std::string& command, const std::string& message, int code);

}  // namespace spate::cli
