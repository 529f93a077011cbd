// Registers stored artifacts with the tracker, retrying in the background.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "wire/api.h"

namespace spate::seeder {

struct RegistrarOptions {
  std::string tracker_url;    // e.g. http://127.0.0.1:7070
  std::string tracker_token;  // admin bearer token; empty sends no Authorization header
  std::string origin;         // our peer IP, so the tracker can ration the origin
  // Pause between attempts while any registration is pending. Short, so a
  // tracker restart is noticed within seconds; each attempt is one small POST.
  std::chrono::milliseconds retry_interval{3000};
  std::chrono::milliseconds request_timeout{5000};
  // Called (on the registrar thread) once the tracker accepts an artifact id.
  std::function<void(const std::string& id)> on_registered;
};

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

 private:
  void Loop();
  Status Post(const ArtifactRegistration& r) const;

  const RegistrarOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, ArtifactRegistration> pending_;  // guarded by mu_
  std::set<std::string> registered_;                     // guarded by mu_
  bool stop_ = false;                                    // guarded by mu_
  bool kick_ = false;  // a new registration arrived: skip the retry pause; guarded by mu_
  std::thread thread_;
};

}  // namespace spate::seeder
