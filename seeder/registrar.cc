#include "seeder/registrar.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "wire/http.h"

namespace spate::seeder {

Registrar::Registrar(RegistrarOptions options) : options_(std::move(options)) {}

Registrar::~Registrar() { Stop(); }

void Registrar::Start() { thread_ = std::thread([this] { Loop(); }); }

void Registrar::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

const char* ToString(Registration::State s) {
  switch (s) {
    case Registration::State::kPending: return "pending";
    case Registration::State::kRegistered: return "registered";
    case Registration::State::kRefused: return "refused";
  }
  return "?";
}

void Registrar::Add(const Manifest& manifest, const std::string& torrent) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_[manifest.id()] = Pending{ArtifactRegistration{manifest, torrent, options_.origin},
                                      std::chrono::steady_clock::now()};
    state_[manifest.id()] = Registration{};
    kick_ = true;
  }
  cv_.notify_all();
}

bool Registrar::Registered(const std::string& id) const {
  return Get(id).state == Registration::State::kRegistered;
}

Registration Registrar::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_.find(id);
  return it == state_.end() ? Registration{} : it->second;
}

Status Registrar::Post(const ArtifactRegistration& r) const {
  http::ClientOptions co;
  co.timeout = options_.request_timeout;
  co.ca_file = options_.ca_file;
  if (!options_.tracker_token.empty()) co.headers.emplace_back("Authorization", "Bearer " + options_.tracker_token);
  auto res = http::Call("POST", options_.tracker_url + "/api/v1/artifacts", ToJson(r).dump(), co);
  if (!res.ok()) return res.status();
  if (res->status / 100 == 2) return Status::Ok();
  std::string what = "tracker answered " + std::to_string(res->status) + ": " + res->body;
  while (!what.empty() && (what.back() == '\n' || what.back() == '\r')) what.pop_back();
  // 408 and 429 ask to come back later, like a 5xx; any other 4xx is a refusal.
  bool refused = res->status / 100 == 4 && res->status != 408 && res->status != 429;
  return refused ? Status::Invalid(what) : Status::Unavailable(what);
}

void Registrar::Loop() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (pending_.empty()) {
      cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
      continue;
    }
    kick_ = false;
    auto now = Clock::now();
    std::vector<Pending> due;
    for (const auto& [id, p] : pending_)
      if (p.next <= now) due.push_back(p);
    lock.unlock();
    std::vector<std::pair<Pending, Status>> results;
    for (const auto& p : due) results.emplace_back(p, Post(p.reg));
    lock.lock();
    for (auto& [p, s] : results) {
      std::string id = p.reg.manifest.id();
      auto it = pending_.find(id);
      // Re-added meanwhile with another manifest? Then its fresh entry stands.
      if (it == pending_.end() || it->second.reg.manifest.signature != p.reg.manifest.signature) continue;
      Registration& st = state_[id];
      ++st.attempts;
      if (s.ok()) {
        spdlog::info("registered {} with tracker {}", id, options_.tracker_url);
        pending_.erase(it);
        st.state = Registration::State::kRegistered;
        st.error.clear();
        if (options_.on_registered) {
          lock.unlock();
          options_.on_registered(id);
          lock.lock();
        }
        continue;
      }
      bool refused = s.code() == Status::Code::kInvalid;
      auto pause = refused ? options_.refused_retry : options_.retry_interval;
      it->second.next = Clock::now() + pause;
      bool changed = st.error != s.message();
      st.state = refused ? Registration::State::kRefused : Registration::State::kPending;
      st.error = s.message();
      if (refused && changed)
        spdlog::error("tracker refused registration of {} (next try in {} s; fix the token or the conflict): {}", id,
                      pause.count() / 1000, s.message());
      else if (st.attempts == 1)
        spdlog::warn("cannot register {} with tracker (retrying every {} ms): {}", id, pause.count(), s.message());
      else
        spdlog::debug("registration of {} still failing: {}", id, s.message());
    }
    if (pending_.empty()) continue;
    auto next = Clock::time_point::max();
    for (const auto& [id, p] : pending_) next = std::min(next, p.next);
    cv_.wait_until(lock, next, [this] { return stop_ || kick_; });
  }
}

}  // namespace spate::seeder
