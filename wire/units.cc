#include "wire/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>

namespace spate {

namespace {
// Splits "12.5MiB" into 12.5 and "MiB"; fails if there is no leading number.
bool SplitNumber(const std::string& s, double& num, std::string& suffix) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return false;
  try {
    num = std::stod(s.substr(0, i));
  } catch (...) {
    return false;
  }
  suffix = s.substr(i);
  return std::isfinite(num) && num >= 0;
}
}  // namespace

Result<uint64_t> ParseBytes(const std::string& s) {
  double n = 0;
  std::string suf;
  if (!SplitNumber(s, n, suf)) return Status::Invalid("bad size '" + s + "': want e.g. 4MiB, 512k, 1048576");
  double mult = 0;
  if (suf.empty() || suf == "B") mult = 1;
  else if (suf == "k" || suf == "K" || suf == "KB" || suf == "KiB") mult = 1024.0;
  else if (suf == "M" || suf == "MB" || suf == "MiB") mult = 1024.0 * 1024;
  else if (suf == "G" || suf == "GB" || suf == "GiB") mult = 1024.0 * 1024 * 1024;
  else if (suf == "T" || suf == "TB" || suf == "TiB") mult = 1024.0 * 1024 * 1024 * 1024;
  else return Status::Invalid("bad size '" + s + "': unknown unit '" + suf + "'");
  double v = n * mult;
  if (v > 1.8e19) return Status::Invalid("bad size '" + s + "': too large");
  return static_cast<uint64_t>(v);
}

Result<std::chrono::milliseconds> ParseDuration(const std::string& s) {
  double n = 0;
  std::string suf;
  if (!SplitNumber(s, n, suf)) return Status::Invalid("bad duration '" + s + "': want e.g. 90s, 10m, 1h");
  double ms = 0;
  if (suf == "ms") ms = n;
  else if (suf.empty() || suf == "s") ms = n * 1000;
  else if (suf == "m") ms = n * 60000;
  else if (suf == "h") ms = n * 3600000;
  else return Status::Invalid("bad duration '" + s + "': unknown unit '" + suf + "'");
  if (ms > 1e15) return Status::Invalid("bad duration '" + s + "': too large");
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

std::string FormatBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  else std::snprintf(buf, sizeof buf, "%.1f %s", bytes, units[u]);
  return buf;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms < 0) ms = 0;
  char buf[32];
  if (ms < 10000) std::snprintf(buf, sizeof buf, "%.1fs", ms / 1000.0);
  else if (ms < 60000) std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
  else if (ms < 3600000)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60000),
                  static_cast<long long>(ms / 1000 % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3600000),
                  static_cast<long long>(ms / 60000 % 60));
  return buf;
}

}  // namespace spate
