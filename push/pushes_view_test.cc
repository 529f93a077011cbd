#include "push/pushes_view.h"

#include <catch2/catch.hpp>

using namespace spate;

namespace {
// Minutes and seconds after a fixed start, so the STARTED column is readable.
std::string FakeTime(int64_t ms) { return "T+" + std::to_string((ms - 1'700'000'000'000) / 1000) + "s"; }
}  // namespace

TEST_CASE("pushes table has one row per push with wave, counts, who and how long") {
  auto j = nlohmann::json::parse(R"({"pushes":[
    {"id":12,"artifact":"web@2.0","kind":"push","state":"paused","started_by":"alice@ops1",
     "created_at":1700000060000,"finished_at":0,"wave":1,"waves":[1,3,4],"hosts":8,
     "installed":2,"failed":1,"superseded":0,"cancelled":0,"pending":5},
    {"id":11,"artifact":"web@1.9","kind":"rollback","state":"succeeded","started_by":"bob",
     "created_at":1700000000000,"finished_at":1700000042000,"wave":0,"waves":1,"hosts":8,
     "installed":8,"failed":0,"superseded":0,"cancelled":0,"pending":0},
    {"id":3,"artifact":"db@4","state":"superseded","created_at":1700000001000,"finished_at":1700000003500,
     "hosts":2,"installed":1,"failed":0,"superseded":1}]})");
  auto rows = PushSummariesFromJson(j);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 3);
  CHECK((*rows)[2].kind == "push");  // an older tracker sends no kind
  CHECK((*rows)[2].pending == 0);    // nor pending: what is not final
  CHECK(RenderPushes(*rows, 1'700'000'121'000, FakeTime) ==
        "ID  ARTIFACT  KIND      STATE       WAVE  OK/FAILED/PENDING  BY          STARTED  DURATION\n"
        "12  web@2.0   push      paused      2/3   2/1/5              alice@ops1  T+60s    1m01s\n"
        "11  web@1.9   rollback  succeeded   -     8/0/0              bob         T+0s     42s\n"
        "3   db@4      push      superseded  -     1/0/0              -           T+1s     2.5s\n");
}

TEST_CASE("pushes table says so when there are none") {
  auto rows = PushSummariesFromJson(nlohmann::json::parse(R"({"pushes":[]})"));
  REQUIRE(rows.ok());
  CHECK(RenderPushes(*rows, 0, FakeTime) == "no pushes\n");
}

TEST_CASE("pushes list parsing names what is wrong") {
  CHECK(PushSummariesFromJson(nlohmann::json::parse("[]")).status().message() == "expected {\"pushes\": [...]}");
  CHECK(PushSummariesFromJson(nlohmann::json::parse(R"({"pushes":[{"id":1,"artifact":"a@1","state":"active"},
                                                                   {"id":2,"state":"active"}]})"))
            .status()
            .message() == "push 2 of the list: missing field 'artifact'");
  CHECK(PushSummariesFromJson(nlohmann::json::parse(R"({"pushes":[{"id":"x","artifact":"a@1","state":"active"}]})"))
            .status()
            .message() == "push 1 of the list: field 'id' has the wrong type");
}

TEST_CASE("local time is a date and a time of day") {
  std::string t = LocalTime(1'700'000'000'000);
  CHECK(t.size() == 19);
  CHECK(t[4] == '-');
  CHECK(t[10] == ' ');
  CHECK(t[13] == ':');
}
