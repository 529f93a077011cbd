// Registers stored artifacts with the tracker, retrying in the background.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "wire/api.h"

namespace spate::seeder {

struct RegistrarOptions {
  std::string tracker_url;    // e.g. http://127.0.0.1:7070 or https://...
  std::string ca_file;        // CA file an https:// tracker's certificate must chain to; "" = the system's
  std::string tracker_token;  // admin bearer token; empty sends no Authorization header
  std::string origin;         // our peer IP, so the tracker can ration the origin
  // Pause between attempts while any registration is pending. Short, so a
  // tracker restart is noticed within seconds; each attempt is one small POST.
  std::chrono::milliseconds retry_interval{3000};
  // Pause after the tracker refused a registration (a 4xx: wrong token, a
  // conflicting artifact). Retrying fast cannot help; someone must fix the
  // configuration, and the seeder's status shows the refusal meanwhile.
  std::chrono::milliseconds refused_retry{60000};
  std::chrono::milliseconds request_timeout{5000};
  // Called (on the registrar thread) once the tracker accepts an artifact id.
  std::function<void(const std::string& id)> on_registered;
};

// Where one artifact's registration stands.
struct Registration {
  enum class State { kPending, kRegistered, kRefused };
  State state = State::kPending;
  int attempts = 0;       // POSTs since it was last queued
  std::string error;      // the last failure, "" once registered
};
const char* ToString(Registration::State s);

// Owns one thread. Add() is thread-safe and idempotent per artifact id.
class Registrar {
 public:
  explicit Registrar(RegistrarOptions options);
  ~Registrar();  // stops the thread
  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  void Start();
  void Stop();
  // Queues (or re-queues) a registration; it is retried until the tracker accepts it.
  void Add(const Manifest& manifest, const std::string& torrent);
  bool Registered(const std::string& id) const;
  // Unknown ids read as pending with no attempts.
  Registration Get(const std::string& id) const;

 private:
  void Loop();
  Status Post(const ArtifactRegistration& r) const;

  const RegistrarOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Pending {
    ArtifactRegistration reg;
    TimePoint next;  // next attempt
  };
  std::map<std::string, Pending> pending_;                // guarded by mu_
  std::map<std::string, Registration> state_;             // guarded by mu_
  bool stop_ = false;                                    // guarded by mu_
  bool kick_ = false;  // a new registration arrived: skip the retry pause; guarded by mu_
  std::thread thread_;
};

}  // namespace spate::seeder
