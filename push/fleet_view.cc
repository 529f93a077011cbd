#include "push/fleet_view.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <tuple>

#include "push/table.h"
#include "wire/units.h"

namespace spate {

namespace {

using nlohmann::json;

Status ObjectOf(const json& j, const char* what) {
  return j.is_object() ? Status::Ok() : Status::Invalid(std::string(what) + " is not a JSON object");
}

Result<FleetHost> HostFromJson(const json& j) {
  if (Status s = ObjectOf(j, "a host"); !s.ok()) return s;
  FleetHost h;
  try {
    h.host = j.at("host").get<std::string>();
    h.addr = j.value("addr", "");
    h.location = j.value("location", "unknown");
    if (j.contains("last_seen") && !j["last_seen"].is_null()) h.last_seen = j["last_seen"].get<int64_t>();
    if (j.contains("versions") && !j["versions"].is_null())
      h.versions = j["versions"].get<std::map<std::string, std::string>>();
  } catch (const json::exception&) {
    return Status::Invalid("host " + (h.host.empty() ? std::string("without a name") : h.host) +
                           ": a field is missing or has the wrong type");
  }
  if (h.location.empty()) h.location = "unknown";
  return h;
}

Result<FleetRack> RackFromJson(const json& j) {
  if (Status s = ObjectOf(j, "a rack"); !s.ok()) return s;
  FleetRack r;
  try {
    r.location = j.at("location").get<std::string>();
    r.hosts = j.value("hosts", 0);
    if (j.contains("versions") && !j["versions"].is_null())
      r.versions = j["versions"].get<std::map<std::string, std::map<std::string, int>>>();
  } catch (const json::exception&) {
    return Status::Invalid("rack " + (r.location.empty() ? std::string("without a location") : r.location) +
                           ": a field is missing or has the wrong type");
  }
  return r;
}

// Versions with their host counts, most hosts first, then by version text
// (so the order is stable).
std::vector<std::pair<std::string, int>> ByCount(const std::map<std::string, int>& counts) {
  std::vector<std::pair<std::string, int>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return v;
}

std::string Hosts(int n) { return std::to_string(n) + (n == 1 ? " host" : " hosts"); }

}  // namespace

Result<Fleet> FleetFromJson(const json& j) {
  if (!j.is_object() || !j.contains("hosts") || !j["hosts"].is_array())
    return Status::Invalid("expected {\"hosts\": [...], \"racks\": [...]}");
  Fleet f;
  for (const auto& hj : j["hosts"]) {
    auto h = HostFromJson(hj);
    if (!h.ok()) return h.status();
    f.hosts.push_back(std::move(*h));
  }
  if (j.contains("racks") && !j["racks"].is_null()) {
    if (!j["racks"].is_array()) return Status::Invalid("field 'racks' is not an array");
    for (const auto& rj : j["racks"]) {
      auto r = RackFromJson(rj);
      if (!r.ok()) return r.status();
      f.racks.push_back(std::move(*r));
    }
  }
  return f;
}

std::string RenderFleet(const Fleet& fleet, int64_t now_ms) {
  if (fleet.hosts.empty()) return "no hosts\n";
  std::set<std::string> names;
  for (const auto& h : fleet.hosts)
    for (const auto& [name, version] : h.versions) names.insert(name);
  for (const auto& r : fleet.racks)
    for (const auto& [name, versions] : r.versions) names.insert(name);

  std::vector<const FleetHost*> hosts;
  for (const auto& h : fleet.hosts) hosts.push_back(&h);
  std::sort(hosts.begin(), hosts.end(), [](const FleetHost* a, const FleetHost* b) {
    return std::tie(a->location, a->host) < std::tie(b->location, b->host);
  });
  std::vector<std::vector<std::string>> table = {{"HOST", "LOCATION"}};
  table[0].insert(table[0].end(), names.begin(), names.end());
  table[0].push_back("LAST SEEN");
  std::map<std::string, std::map<std::string, int>> fleet_versions;  // name -> version -> hosts
  for (const FleetHost* h : hosts) {
    std::vector<std::string> row = {h->host, h->location};
    for (const auto& name : names) {
      auto it = h->versions.find(name);
      row.push_back(it == h->versions.end() ? "-" : it->second);
      if (it != h->versions.end()) ++fleet_versions[name][it->second];
    }
    row.push_back(h->last_seen > 0 ? FormatDuration(std::chrono::milliseconds(now_ms - h->last_seen)) + " ago"
                                   : "never");
    table.push_back(std::move(row));
  }
  std::string out = RenderTable(table);

  std::map<std::string, int> mixed_racks;  // name -> racks running more than one version of it
  if (!fleet.racks.empty()) {
    std::vector<std::vector<std::string>> racks = {{"RACK", "HOSTS"}};
    racks[0].insert(racks[0].end(), names.begin(), names.end());
    racks[0].push_back("SKEW");
    for (const auto& r : fleet.racks) {
      std::vector<std::string> row = {r.location, std::to_string(r.hosts)};
      std::string skew;
      for (const auto& name : names) {
        auto it = r.versions.find(name);
        std::string cell;
        if (it != r.versions.end())
          for (const auto& [version, n] : ByCount(it->second))
            cell += (cell.empty() ? "" : ", ") + version + " x" + std::to_string(n);
        row.push_back(cell.empty() ? "-" : cell);
        if (it != r.versions.end() && it->second.size() > 1) {
          skew += (skew.empty() ? "" : ", ") + name;
          ++mixed_racks[name];
        }
      }
      row.push_back(skew);
      racks.push_back(std::move(row));
    }
    out += "\n" + RenderTable(racks);
  }

  std::string skew;
  for (const auto& [name, versions] : fleet_versions) {
    if (versions.size() < 2) continue;
    std::string list;
    for (const auto& [version, n] : ByCount(versions))
      list += (list.empty() ? version + " on " + Hosts(n) : ", " + version + " on " + std::to_string(n));
    skew += (skew.empty() ? "" : "; ") + name + " runs " + std::to_string(versions.size()) + " versions (" + list + ")";
    if (!fleet.racks.empty())
      skew += ", " + std::to_string(mixed_racks[name]) + " of " + std::to_string(fleet.racks.size()) + " racks mixed";
  }
  if (names.empty())
    out += "\nno skew: no artifact installed on these hosts yet\n";
  else if (skew.empty())
    out += "\nno skew: one version of each artifact on every host that has it\n";
  else
    out += "\nskew: " + skew + "\n";
  return out;
}

}  // namespace spate
