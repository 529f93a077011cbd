// Making an installed version live on this host: switch `current`, run the
// activation hook, then the health check; on any failure put `current` back.
//
// Crash safety: before `current` moves, <data>/activating/<name>.json records
// the push and the version that was current. The record goes only once the
// activation has succeeded or been rolled back, so a record found at start
// means a fetcher died mid-activation: RecoverActivations rolls `current`
// back, and the re-delivered assignment runs the whole activation again.
// Hooks therefore must be safe to run twice for one version.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "wire/api.h"
#include "wire/status.h"

namespace spate {

struct ActivationConfig {
  std::string install_dir;
  std::string data_dir;
  std::string hook;          // empty: none
  std::string health_check;  // empty: none
  std::chrono::milliseconds timeout{60000};
};

struct ActivationRecord {
  int64_t push_id = 0;
  std::string name;
  std::string version;
  std::string previous;  // "" when there was no `current`
};

// Target of <install>/<name>/current, "" if there is none.
std::string CurrentVersion(const std::string& install_dir, const std::string& name);

Status SaveActivationRecord(const std::string& data_dir, const ActivationRecord& r);
Result<std::vector<ActivationRecord>> LoadActivationRecords(const std::string& data_dir);
Status ClearActivationRecord(const std::string& data_dir, const std::string& name);

// Points `current` back at `previous`, or removes it when there was none.
Status RollBack(const std::string& install_dir, const std::string& name, const std::string& previous);

struct ActivationResult {
  Status status;          // Ok: live and healthy. Otherwise the reason, `current` already rolled back.
  std::string previous;   // what was current before
  bool interrupted = false;  // `cancel` stopped it (shutdown): rolled back, nothing to report
};

// Blocking (runs the hooks); call off the engine thread. `m` must be
// installed. Sets SPATE_NAME, SPATE_VERSION, SPATE_PATH (the version dir)
// and SPATE_PREVIOUS for both commands.
ActivationResult Activate(const ActivationConfig& cfg, int64_t push_id, const Manifest& m,
                          const std::atomic<bool>* cancel = nullptr);

// At start: rolls back every activation a dead process left unfinished.
Status RecoverActivations(const std::string& install_dir, const std::string& data_dir);

}  // namespace spate
