// libFuzzer: the control API's JSON bodies, both ways. The tracker parses
// artifact registrations, push and rollback requests and host report lists
// from clients; the fetcher (and the CLI) parse assignment lists, report
// answers and push progress from the tracker. Any body is accepted or refused
// with a Status, never a crash; whatever is accepted holds the invariants the
// callers build paths from, and encodes to JSON that parses back to itself.
#include <cstddef>
#include <cstdint>
#include <string>

#include "wire/api.h"

namespace {

using nlohmann::json;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// Names go into paths (<install>/<name>/<version>/<filename>): whatever the
// parser lets through must be one safe path component.
void CheckManifest(const spate::Manifest& m) {
  Check(spate::CheckName("name", m.name).ok());
  Check(spate::CheckVersion("version", m.version).ok());
  Check(spate::CheckName("filename", m.filename).ok());
  Check(m.filename != "manifest.json");
  Check(m.sha256.size() == 64 && m.info_hash.size() == 40);
}

// Parsed value -> JSON -> parsed again -> the same JSON.
template <typename T, typename Parse>
void RoundTrip(const T& v, Parse parse) {
  json once = spate::ToJson(v);
  auto back = parse(once);
  Check(back.ok());
  Check(spate::ToJson(*back) == once);
  (void)once.dump();  // what the daemons send
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = spate::ParseJson(std::string(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) return 0;
  const json& j = *parsed;

  if (auto r = spate::RegistrationFromJson(j); r.ok()) {
    CheckManifest(r->manifest);
    RoundTrip(*r, spate::RegistrationFromJson);
  }
  if (auto r = spate::PushRequestFromJson(j); r.ok()) {
    Check(spate::ParseArtifactId(r->artifact).ok());
    Check(r->wave_pause_ms >= 0 && r->started_by.size() <= 256);
    RoundTrip(*r, spate::PushRequestFromJson);
  }
  if (auto r = spate::RollbackRequestFromJson(j); r.ok()) {
    Check(spate::CheckName("name", r->name).ok());
    Check(r->to.empty() || spate::CheckVersion("to", r->to).ok());
    RoundTrip(*r, spate::RollbackRequestFromJson);
  }
  if (auto reports = spate::HostReportsFromJson(j); reports.ok()) {
    for (const auto& r : *reports) RoundTrip(r, spate::HostReportFromJson);
  }
  if (auto r = spate::HostReportFromJson(j); r.ok()) RoundTrip(*r, spate::HostReportFromJson);
  if (auto list = spate::AssignmentListFromJson(j); list.ok()) {
    for (const auto& a : list->assignments) {
      CheckManifest(a.manifest);
      // The proof is the tracker's word, parsed before any signature is checked.
      auto root = spate::MerkleRootOf(spate::AssignmentSigningBytes(a, "h1"), a.proof);
      Check(!root.ok() || root->size() == 32);
    }
    RoundTrip(*list, spate::AssignmentListFromJson);
  }
  {
    // Lenient by contract: never fails, keeps only well-formed entries.
    spate::ReportsAnswer a = spate::ReportsAnswerFromJson(j);
    for (const auto& g : a.gateways) Check(g.slots >= 1 && g.slot >= 0 && g.slot < g.slots);
    spate::ReportsAnswer back = spate::ReportsAnswerFromJson(spate::ToJson(a));
    Check(spate::ToJson(back) == spate::ToJson(a));
  }
  if (auto p = spate::PushProgressFromJson(j); p.ok()) RoundTrip(*p, spate::PushProgressFromJson);
  if (auto m = spate::ManifestFromJson(j); m.ok()) {
    CheckManifest(*m);
    RoundTrip(*m, spate::ManifestFromJson);
  }
  return 0;
}
