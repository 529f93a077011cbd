// Human units on command lines: "4MiB", "500k", "90s", "10m".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "wire/status.h"

namespace spate {

// Bytes: plain integer or with suffix k/K/KB/KiB, M/MB/MiB, G/GB/GiB (all binary, 1024-based).
Result<uint64_t> ParseBytes(const std::string& s);
// Duration: integer with suffix ms, s, m, h; a bare integer is seconds.
Result<std::chrono::milliseconds> ParseDuration(const std::string& s);
// "1.5 GiB", "12.0 MiB", "512 B".
std::string FormatBytes(double bytes);
// "1h02m", "3m05s", "12s", "0.4s".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace spate
