// Stragglers: the hosts holding a push back, each with its likely cause.
// A pure function of the push's host rows and the time, so every cause is
// tested with a known answer and the dashboard and `spate push` agree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/api.h"

namespace spate {

// In precedence order, except that kSlow (downloading) and kVerifySlow
// (verifying) never compete: a row is in one state or the other.
enum class StragglerCause { kNoContact, kNoPeers, kNoProgress, kSlow, kVerifySlow };
// "no contact", "no peers", "no progress", "slow", "verify slow".
const char* CauseName(StragglerCause c);

struct Straggler {
  std::string host, location, state;
  double rate = 0;  // bytes/s
  int peers = 0;
  StragglerCause cause;
  std::string reason;  // human text with the numbers, e.g. "no progress for 42 s (12.0 MiB of 64.0 MiB)"
};

struct StragglerOptions {
  // Pending (assignment not picked up) or no report for this long. Fetchers
  // report every few seconds while working, so silence this long means the
  // host or the path to it is down.
  int64_t no_contact_ms = 30000;
  // Downloading without bytes moving. No peers is judged after a sixth of
  // this (5 s at the default): with 0 peers nothing can arrive, so waiting the
  // full window only hides the cause, while the first tracker answer (and so
  // the first peers) comes within a second or two of the start.
  int64_t no_progress_ms = 30000;
  // Rate under this fraction of its rack's median (downloading hosts). The
  // rack is the fair yardstick (same uplink, same gateway); with fewer than 3
  // downloading hosts in the rack its median means little, so the push's is used.
  double slow_factor = 0.25;
  int64_t verify_slow_ms = 60000;  // verifying this long
};

// Only pending, downloading and verifying rows can be stragglers; staged rows
// wait for their wave, and the rest are over. Ages count from updated_at
// (last report) and progress_at (last movement; updated_at when 0, as from
// an older tracker); a time of 0 is unknown and never makes a straggler.
// Sorted worst first: by cause in precedence order (no contact, no peers, no
// progress, verify slow, slow), then the longest stalled (for slow: the
// smallest share of the median), then by host.
std::vector<Straggler> FindStragglers(const std::vector<HostProgress>& rows, int64_t now_ms,
                                      const StragglerOptions& o = {});

}  // namespace spate
