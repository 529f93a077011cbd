// Test support for interop tests: stock tools from Debian and fixed ports.
#pragma once

#include <chrono>
#include <string>

namespace spate::testing {

// Absolute path of `name` found on $PATH (or /usr/sbin, /usr/bin), or "" if absent.
std::string FindTool(const std::string& name);

// Like FindTool, but fails the test with a message naming the Debian package to
// install (scripts/install-deps does it), so a missing tool never passes silently.
std::string RequireTool(const std::string& name, const std::string& debian_package);

// A TCP port on `ip` that was free a moment ago (bind port 0, read it, close).
// Only for tools that cannot be told to bind port 0 themselves (opentracker, aria2c);
// there is a small race with other processes, accepted for tests.
int FreePort(const std::string& ip);

// Waits until a TCP connect to ip:port succeeds; false on timeout.
bool WaitForTcp(const std::string& ip, int port, std::chrono::milliseconds timeout);

}  // namespace spate::testing
