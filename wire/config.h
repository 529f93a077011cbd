// Config files for the daemons: `spate tracker|seeder|fetcher --config FILE`.
// A file holds the same keys as the command's long flags, one per line, so a
// systemd unit needs no long command line. The file's settings go in front of
// the real argv, so a flag given on the command line wins over the file.
//
//   # a comment; a '#' after a space ends the line too
//   listen = 0.0.0.0:7070                 key = value
//   db /var/lib/spate/tracker/tracker.db  key value
//   trust-ip-param                        a switch: on ("= true"; "= false" leaves it off)
//   activate-hook = "systemctl reload web # kept"   quotes keep spaces and '#'
//
// Errors name the file and line: "/etc/spate/tracker.conf:7: unknown key 'lisen'".
#pragma once

#include <cxxopts.hpp>
#include <string>
#include <vector>

#include "wire/status.h"

namespace spate {

// What the parser needs to know about one flag.
struct ConfigKey {
  std::string name;         // the long flag without "--"
  bool boolean = false;     // a switch: "key" or "key = true|false" (also yes/no, on/off, 1/0)
  bool repeatable = false;  // may be set on several lines, each one kept (the fetcher's lt-set)
};

// One setting of the file as a flag, and the line it came from.
struct ConfigArg {
  int line = 0;
  std::string key;
  std::string arg;  // "--key=value", or "--key" for a switch
};

// Turns a config file's text into flags, in file order. `path` only names the
// file in errors. A switch set to false yields nothing: a switch is off unless
// given. Errors: an unknown key, a flag without a value, a switch with a value
// other than true/false, a key that is not repeatable set twice, an unclosed quote.
Result<std::vector<ConfigArg>> ParseConfig(const std::string& text, const std::string& path,
                                           const std::vector<ConfigKey>& keys);

// The keys a file may set for `opts`: every long flag but help and config.
std::vector<ConfigKey> ConfigKeys(const cxxopts::Options& opts);

// Adds "--config FILE" to `opts`, then parses argv with FILE's flags placed
// before the real ones (argv[0] stays first): a flag on the command line
// overrides the file's, a repeatable flag keeps the file's values and adds the
// command line's. Throws like opts.parse does (std::exception), with
// "FILE:LINE: ..." for a bad file, so a command's existing catch reports it.
// A subcommand calls it instead of opts.parse(argc, argv).
cxxopts::ParseResult ParseWithConfig(cxxopts::Options& opts, int argc, char** argv);

}  // namespace spate
