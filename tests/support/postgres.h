// A real PostgreSQL server (Debian's postgresql-15) for one test, as the
// test's own process: initdb into a temp dir, listening only on 127.0.0.1 at
// a free port (no unix socket), trust authentication, fsync off. Stopped with
// a fast shutdown on destruction.
//
// PostgreSQL refuses to run as root, and tests run as root (CI, scripts/test):
// then the server runs as the `postgres` user the Debian package creates (or
// `nobody` where it is missing), through setpriv. Missing server binaries fail
// the test with the package to install.
#pragma once

#include <memory>
#include <string>

#include "tests/support/cluster.h"

namespace spate::testing {

class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Creates an empty database `name` and returns its URL.
  std::string CreateDatabase(const std::string& name);
  // postgresql://spate@127.0.0.1:PORT/NAME: the superuser `spate`, no password.
  std::string Url(const std::string& db) const;
  int port() const { return port_; }
  // Fast shutdown (open connections are dropped), then the same data on the same port again.
  void Stop();
  void Start();
  std::string Log() const;

 private:
  std::string Bin(const std::string& tool) const;
  std::vector<std::string> AsServerUser(std::vector<std::string> argv) const;

  std::string bin_dir_;
  std::string user_;  // "" when not root: run as ourselves
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Process> server_;
  int port_ = 0;
};

}  // namespace spate::testing
