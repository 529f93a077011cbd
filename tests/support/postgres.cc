#include "tests/support/postgres.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "tests/support/tools.h"

namespace spate::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// The server binaries, newest major version first; Debian keeps them off $PATH.
std::string FindBinDir() {
  if (const char* env = std::getenv("SPATE_PG_BINDIR")) return fs::exists(std::string(env) + "/initdb") ? env : "";
  std::string best;
  int best_major = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int major = std::atoi(e.path().filename().c_str());
    if (major > best_major && fs::exists(e.path() / "bin" / "postgres") && fs::exists(e.path() / "bin" / "initdb")) {
      best_major = major;
      best = (e.path() / "bin").string();
    }
  }
  return best;
}

// As root: the unprivileged account the server runs as.
std::string ServerUser() {
  if (::geteuid() != 0) return "";
  for (const char* name : {"postgres", "nobody"})
    if (getpwnam(name)) return name;
  FAIL("running as root and neither a postgres nor a nobody user exists to run PostgreSQL as");
  return "";
}

void Chown(const std::string& path, const std::string& user) {
  if (user.empty()) return;
  const passwd* pw = getpwnam(user.c_str());
  REQUIRE(pw != nullptr);
  REQUIRE(::chown(path.c_str(), pw->pw_uid, pw->pw_gid) == 0);
}

}  // namespace

PostgresServer::PostgresServer() : bin_dir_(FindBinDir()), user_(ServerUser()) {
  if (bin_dir_.empty())
    FAIL(
        "no PostgreSQL server (initdb, postgres) under /usr/lib/postgresql/*/bin (or $SPATE_PG_BINDIR): install "
        "postgresql-15 (scripts/install-deps does)");
  dir_ = std::make_unique<TempDir>("spate-pg");
  // The server user must reach its data directory inside our temp dir.
  fs::permissions(dir_->path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::replace);
  const std::string data = *dir_ / "data";
  fs::create_directory(data);
  fs::permissions(data, fs::perms::owner_all, fs::perm_options::replace);
  Chown(data, user_);
  auto init = Run(AsServerUser({Bin("initdb"), "-D", data, "-U", "spate", "--auth=trust", "-E", "UTF8", "--locale=C",
                                "--no-sync", "--no-instructions"}),
                  120s);
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
  Start();
}

PostgresServer::~PostgresServer() { Stop(); }

std::string PostgresServer::Bin(const std::string& tool) const { return bin_dir_ + "/" + tool; }

std::vector<std::string> PostgresServer::AsServerUser(std::vector<std::string> argv) const {
  if (user_.empty()) return argv;
  // setpriv execs the command itself, so the pid we hold is the server's.
  std::vector<std::string> out{RequireTool("setpriv", "util-linux"), "--reuid=" + user_, "--regid=" + user_,
                               "--clear-groups", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

void PostgresServer::Start() {
  if (server_) return;
  const std::string data = *dir_ / "data";
  // A port free a moment ago may be taken by the time the server binds it
  // (tests run in parallel): then another, on the first start only.
  const bool pick = port_ == 0;
  for (int attempt = 0;; ++attempt) {
    if (pick) port_ = FreePort("127.0.0.1");
    if (attempt > 0) std::filesystem::remove(*dir_ / "postgres.log");  // only the failed try's
    server_ = std::make_unique<Process>(
        AsServerUser({Bin("postgres"), "-D", data, "-p", std::to_string(port_), "-c", "listen_addresses=127.0.0.1",
                      "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
                      "full_page_writes=off", "-c", "max_connections=200", "-c", "dynamic_shared_memory_type=mmap"}),
        *dir_ / "postgres.log");
    const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=spate";
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (PQping(conninfo.c_str()) != PQPING_OK) {
      if (!server_->Running()) break;
      if (std::chrono::steady_clock::now() > deadline) FAIL("PostgreSQL not ready in 30 s:\n" << Log());
      std::this_thread::sleep_for(50ms);
    }
    if (server_->Running()) return;
    server_.reset();
    if (!pick || attempt == 2 || Log().find("could not bind") == std::string::npos)
      FAIL("PostgreSQL exited while starting:\n" << Log());
  }
}

void PostgresServer::Stop() {
  if (!server_) return;
  // SIGINT is PostgreSQL's fast shutdown: SIGTERM (smart) would wait for every client to leave.
  if (server_->Running()) ::kill(server_->pid(), SIGINT);
  server_->Wait(20s);
  server_.reset();  // SIGKILL if it is still there
}

std::string PostgresServer::Url(const std::string& db) const {
  return "postgresql://spate@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

std::string PostgresServer::CreateDatabase(const std::string& name) {
  PGconn* c = PQconnectdb(Url("postgres").c_str());
  std::string err;
  if (PQstatus(c) != CONNECTION_OK) {
    err = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, ("CREATE DATABASE \"" + name + "\"").c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) err = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  INFO(Log());
  if (!err.empty()) FAIL("CREATE DATABASE " << name << ": " << err);
  return Url(name);
}

std::string PostgresServer::Log() const { return ReadAll(*dir_ / "postgres.log"); }

}  // namespace spate::testing
