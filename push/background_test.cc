#include "push/background.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace spate::push {
namespace {

TEST_CASE("background jobs run in order, off the caller's thread, at a lower priority") {
  Background bg;
  std::mutex mu;
  std::vector<int> order;
  std::promise<std::pair<std::thread::id, int>> where;
  for (int i = 0; i < 50; ++i)
    bg.Run([&, i] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    });
  bg.Run([&] { where.set_value({std::this_thread::get_id(), ::getpriority(PRIO_PROCESS, id_t(::syscall(SYS_gettid)))}); });
  auto f = where.get_future();
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto [id, nice] = f.get();
  CHECK(id != std::this_thread::get_id());
  CHECK(nice == 19);
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(order.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(order[size_t(i)] == i);
}

TEST_CASE("a background queue going away drops the jobs it has not started") {
  std::atomic<int> ran{0};
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::promise<void> started;
  std::thread opener;
  {
    Background bg;
    bg.Run([&, gate] {
      started.set_value();
      gate.wait();
      ++ran;
    });
    for (int i = 0; i < 10; ++i) bg.Run([&] { ++ran; });
    started.get_future().wait();
    opener = std::thread([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      release.set_value();
    });
  }  // waits for the job under way, drops the ten behind it
  opener.join();
  CHECK(ran == 1);
}

}  // namespace
}  // namespace spate::push
