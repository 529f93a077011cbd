#include "fetcher/activate.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "fetcher/hook.h"
#include "fetcher/install.h"
#include "wire/fs.h"

namespace spate {

namespace fs = std::filesystem;

namespace {

fs::path RecordDir(const std::string& data_dir) { return fs::path(data_dir) / "activating"; }
fs::path RecordPath(const std::string& data_dir, const std::string& name) {
  return RecordDir(data_dir) / (name + ".json");
}

}  // namespace

std::string CurrentVersion(const std::string& install_dir, const std::string& name) {
  std::error_code ec;
  auto target = fs::read_symlink(fs::path(install_dir) / name / "current", ec);
  return ec ? "" : target.string();
}

Status SaveActivationRecord(const std::string& data_dir, const ActivationRecord& r) {
  if (Status s = MakeDirs(RecordDir(data_dir).string()); !s.ok()) return s;
  nlohmann::json j{{"push_id", r.push_id}, {"name", r.name}, {"version", r.version}, {"previous", r.previous}};
  return WriteFileAtomic(RecordPath(data_dir, r.name).string(), j.dump(2) + "\n");
}

Result<std::vector<ActivationRecord>> LoadActivationRecords(const std::string& data_dir) {
  std::vector<ActivationRecord> out;
  std::error_code ec;
  if (!fs::exists(RecordDir(data_dir), ec)) return out;
  for (const auto& e : fs::directory_iterator(RecordDir(data_dir), ec)) {
    if (e.path().extension() != ".json") continue;  // WriteFileAtomic temp files
    auto text = ReadFile(e.path().string());
    if (!text.ok()) return text.status();
    auto j = ParseJson(*text);
    if (!j.ok()) return Status::Corrupt(e.path().string() + ": " + j.status().message());
    ActivationRecord r;
    try {
      r.push_id = j->at("push_id").get<int64_t>();
      r.name = j->at("name").get<std::string>();
      r.version = j->at("version").get<std::string>();
      r.previous = j->at("previous").get<std::string>();
    } catch (const std::exception& x) {
      return Status::Corrupt(e.path().string() + ": " + x.what());
    }
    // Names come back into paths: the same rules as on the wire.
    if (Status s = CheckName("artifact name", r.name); !s.ok()) return Status::Corrupt(e.path().string() + ": " + s.message());
    if (!r.previous.empty())
      if (Status s = CheckVersion("version", r.previous); !s.ok())
        return Status::Corrupt(e.path().string() + ": " + s.message());
    out.push_back(r);
  }
  if (ec) return Status::Io("cannot list " + RecordDir(data_dir).string() + ": " + ec.message());
  return out;
}

Status ClearActivationRecord(const std::string& data_dir, const std::string& name) {
  std::error_code ec;
  fs::remove(RecordPath(data_dir, name), ec);
  if (ec) return Status::Io("cannot remove " + RecordPath(data_dir, name).string() + ": " + ec.message());
  return FsyncPath(RecordDir(data_dir).string());
}

Status RollBack(const std::string& install_dir, const std::string& name, const std::string& previous) {
  if (!previous.empty()) return SetCurrent(install_dir, name, previous);
  fs::path link = fs::path(install_dir) / name / "current";
  if (::unlink(link.c_str()) != 0 && errno != ENOENT)
    return Status::Io("cannot remove " + link.string() + ": " + std::strerror(errno));
  return FsyncPath((fs::path(install_dir) / name).string());
}

ActivationResult Activate(const ActivationConfig& cfg, int64_t push_id, const Manifest& m,
                          const std::atomic<bool>* cancel) {
  ActivationResult res;
  const std::string tag = "push " + std::to_string(push_id);
  if (!IsInstalled(m, cfg.install_dir)) {
    res.status = Status::NotFound(VersionDir(cfg.install_dir, m) + " is not installed (removed?)");
    return res;
  }
  res.previous = CurrentVersion(cfg.install_dir, m.name);
  ActivationRecord rec{push_id, m.name, m.version, res.previous};
  // Recorded before `current` moves: a crash after this point is rolled back at the next start.
  if (Status s = SaveActivationRecord(cfg.data_dir, rec); !s.ok()) {
    res.status = Status::Io("cannot record activation: " + s.message());
    return res;
  }
  auto fail = [&](Status why) {
    if (Status s = RollBack(cfg.install_dir, m.name, res.previous); !s.ok()) {
      // The record stays, so the next start retries the roll back.
      spdlog::error("{}: rolling {} back to {} failed: {}", tag, m.name,
                    res.previous.empty() ? "(no current)" : res.previous, s.message());
      res.status = Status::Io(why.message() + "; rolling back failed too: " + s.message());
      return res;
    }
    spdlog::warn("{}: rolled {} back: current -> {}", tag, m.name, res.previous.empty() ? "(none)" : res.previous);
    if (Status s = ClearActivationRecord(cfg.data_dir, m.name); !s.ok()) spdlog::warn("{}: {}", tag, s.message());
    res.status = std::move(why);
    return res;
  };

  if (Status s = SetCurrent(cfg.install_dir, m.name, m.version); !s.ok())
    return fail(Status::Io("switching current failed: " + s.message()));
  spdlog::info("{}: current -> {} (was {})", tag, m.id(), res.previous.empty() ? "none" : res.previous);

  std::vector<std::pair<std::string, std::string>> env = {{"SPATE_NAME", m.name},
                                                          {"SPATE_VERSION", m.version},
                                                          {"SPATE_PATH", VersionDir(cfg.install_dir, m)},
                                                          {"SPATE_PREVIOUS", res.previous}};
  for (const auto& [what, cmd] : {std::pair<std::string, std::string>{"activation hook", cfg.hook},
                                  std::pair<std::string, std::string>{"health check", cfg.health_check}}) {
    if (cmd.empty()) continue;
    spdlog::info("{}: running {} for {}: {}", tag, what, m.id(), cmd);
    auto r = RunHook(cmd, env, cfg.timeout, cancel);
    if (!r.ok()) return fail(Status::Io("cannot run " + what + ": " + r.status().message()));
    if (r->cancelled) {
      res.interrupted = true;
      return fail(Status::Unavailable(DescribeFailure(what, *r, cfg.timeout)));
    }
    if (!r->ok()) {
      std::string why = DescribeFailure(what, *r, cfg.timeout);
      spdlog::error("{}: {}", tag, why);
      return fail(Status::Unavailable(why));
    }
    spdlog::info("{}: {} passed", tag, what);
  }
  if (Status s = ClearActivationRecord(cfg.data_dir, m.name); !s.ok())
    spdlog::warn("{}: activation done but {}; the next start will roll back and redo it", tag, s.message());
  return res;
}

Status RecoverActivations(const std::string& install_dir, const std::string& data_dir) {
  auto records = LoadActivationRecords(data_dir);
  if (!records.ok()) return records.status();
  for (const auto& r : *records) {
    spdlog::warn("push {}: activation of {}@{} was cut short by a restart; rolling current back to {}", r.push_id,
                 r.name, r.version, r.previous.empty() ? "(none)" : r.previous);
    if (Status s = RollBack(install_dir, r.name, r.previous); !s.ok()) return s;
    if (Status s = ClearActivationRecord(data_dir, r.name); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace spate
