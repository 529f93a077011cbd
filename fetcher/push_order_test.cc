// "The newest push for an artifact on a host wins", checked over every order
// in which a host can see the events of three pushes of one artifact name.
#include "fetcher/push_order.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/support/cluster.h"

namespace {

enum class Kind { kAssign, kDownloadDone, kInstallDone, kRestart };
struct Event {
  Kind kind;
  int64_t push;
};

// A model of the engine that acts only on the decisions of push_order.h, and
// checks the rule at every step.
struct Model {
  std::map<int64_t, std::string> version;  // push id -> version it installs
  spate::PushOrder order;
  std::string current;
  std::set<std::string> version_dirs;  // installed (not necessarily current)
  std::set<int64_t> assigned;          // assignments seen, across restarts (the tracker replays them)
  std::map<int64_t, int> installed_reports, superseded_reports;
  int64_t newest_seen = 0;
  std::vector<std::string> trace;

  void Assign(int64_t p) {
    assigned.insert(p);
    newest_seen = std::max(newest_seen, p);
    auto d = spate::OnAssignment(order, p);
    for (int64_t q : d.superseded) {
      REQUIRE(q < order.newest);
      ++superseded_reports[q];
    }
    if (d.start && version_dirs.count(version[p])) InstallDone(p);  // already installed: no download
  }
  void DownloadDone(int64_t p) {
    if (spate::OnDownloadDone(order, p).install) version_dirs.insert(version[p]);
  }
  void InstallDone(int64_t p) {
    auto d = spate::OnInstallDone(order, p);
    if (!d.switch_current) return;
    INFO("push " << p << " switched current after push " << newest_seen << " was seen");
    REQUIRE(p == newest_seen);  // an older push never switches after a newer one was seen
    current = version[p];
    ++installed_reports[p];
  }
  void Restart() {
    spate::OnRestart(order);
    // The tracker hands the assignments again, oldest first like PollLoop sorts them.
    for (int64_t p : assigned) Assign(p);
  }
  void Apply(const Event& e) {
    switch (e.kind) {
      case Kind::kAssign: trace.push_back("A" + std::to_string(e.push)); return Assign(e.push);
      case Kind::kDownloadDone: trace.push_back("D" + std::to_string(e.push)); return DownloadDone(e.push);
      case Kind::kInstallDone: trace.push_back("I" + std::to_string(e.push)); return InstallDone(e.push);
      case Kind::kRestart: trace.push_back("R"); return Restart();
    }
  }
};

// Every interleaving of assign < download-done < install-done per push.
void Interleavings(std::vector<int>& left, std::vector<Event>& seq, int pushes,
                   const std::function<void(const std::vector<Event>&)>& visit) {
  bool any = false;
  for (int p = 0; p < pushes; ++p) {
    if (left[p] == 0) continue;
    any = true;
    Kind k = static_cast<Kind>(3 - left[p]);
    seq.push_back({k, p + 1});
    --left[p];
    Interleavings(left, seq, pushes, visit);
    ++left[p];
    seq.pop_back();
  }
  if (!any) visit(seq);
}

void CheckAll(const std::map<int64_t, std::string>& versions, bool with_restart) {
  int pushes = static_cast<int>(versions.size());
  std::vector<int> left(pushes, 3);
  std::vector<Event> seq;
  int runs = 0;
  Interleavings(left, seq, pushes, [&](const std::vector<Event>& base) {
    // No restart, then a restart at each position.
    for (size_t at = 0; at <= (with_restart ? base.size() : 0); ++at) {
      for (bool restart : {false, true}) {
        if (restart && !with_restart) continue;
        if (!restart && at > 0) continue;
        std::vector<Event> events = base;
        if (restart) events.insert(events.begin() + static_cast<long>(at), Event{Kind::kRestart, 0});
        Model m;
        m.version = versions;
        for (const auto& e : events) m.Apply(e);
        ++runs;
        std::string trace;
        for (const auto& t : m.trace) trace += t + " ";
        INFO("events: " << trace);
        int64_t newest = pushes;
        CHECK(m.current == versions.at(newest));
        CHECK(m.installed_reports[newest] >= 1);
        for (int64_t p = 1; p <= pushes; ++p) {
          int terminal = m.installed_reports[p] + m.superseded_reports[p];
          if (restart)
            CHECK(terminal >= 1);
          else
            CHECK(terminal == 1);  // exactly one final state per push
        }
        if (m.current != versions.at(newest)) return;  // one failure is enough to read
      }
    }
  });
  CHECK(runs > 0);
}

}  // namespace

TEST_CASE("push order: newest push wins over every interleaving of two pushes, with and without a restart") {
  CheckAll({{1, "1"}, {2, "2"}}, true);
}

TEST_CASE("push order: newest push wins over every interleaving of three pushes, with and without a restart") {
  CheckAll({{1, "1"}, {2, "2"}, {3, "3"}}, true);
}

TEST_CASE("push order: a rollback (push 3 re-pushes push 1's version) wins over every interleaving") {
  CheckAll({{1, "1"}, {2, "2"}, {3, "1"}}, true);
}

TEST_CASE("push order: a stale assignment is superseded at once and never starts") {
  spate::PushOrder o;
  CHECK(spate::OnAssignment(o, 5).start);
  auto d = spate::OnAssignment(o, 4);
  CHECK_FALSE(d.start);
  CHECK(d.superseded == std::vector<int64_t>{4});
  CHECK(o.newest == 5);
  CHECK(spate::SupersededReason(5) == "superseded by push 5");
}

TEST_CASE("push order: a failed newest push lets a new push of the same artifact start") {
  spate::PushOrder o;
  CHECK(spate::OnAssignment(o, 1).start);
  spate::OnFailed(o, 1);
  auto d = spate::OnAssignment(o, 2);
  CHECK(d.start);
  CHECK(d.superseded.empty());  // push 1 already has its final state
}

TEST_CASE("push order: a withdrawn newest push lets a later push of the same artifact start, without a superseded report") {
  spate::PushOrder o;
  CHECK(spate::OnAssignment(o, 1).start);
  CHECK(spate::OnWithdrawn(o, 1));
  CHECK_FALSE(o.running);
  CHECK(o.newest == 1);
  // Its late download or install events switch nothing.
  CHECK_FALSE(spate::OnDownloadDone(o, 1).install);
  CHECK_FALSE(spate::OnInstallDone(o, 1).switch_current);
  auto d = spate::OnAssignment(o, 2);
  CHECK(d.start);
  CHECK(d.superseded.empty());  // the tracker ended push 1 itself
  CHECK(spate::OnInstallDone(o, 2).switch_current);
}

TEST_CASE("push order: withdrawing a push a newer one already overtook changes nothing") {
  spate::PushOrder o;
  CHECK(spate::OnAssignment(o, 1).start);
  CHECK(spate::OnAssignment(o, 2).superseded == std::vector<int64_t>{1});
  CHECK_FALSE(spate::OnWithdrawn(o, 1));
  CHECK(o.running);  // push 2 is still at work
  CHECK(o.newest == 2);
  // A stale replay of the older push stays stale after a withdrawal of the newest.
  CHECK(spate::OnWithdrawn(o, 2));
  CHECK(spate::OnAssignment(o, 1).superseded == std::vector<int64_t>{1});
}

TEST_CASE("push order: the newest push per name survives a save and load") {
  spate::testing::TempDir t;
  auto empty = spate::LoadNewestPushes(t / "newest.json");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
  REQUIRE(spate::SaveNewestPushes(t / "newest.json", {{"app", 7}, {"web", 12}}).ok());
  auto back = spate::LoadNewestPushes(t / "newest.json");
  REQUIRE(back.ok());
  CHECK(*back == std::map<std::string, int64_t>{{"app", 7}, {"web", 12}});
  std::ofstream(t / "bad.json") << "[1,2]";
  CHECK_FALSE(spate::LoadNewestPushes(t / "bad.json").ok());
}
