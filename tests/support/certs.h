// Test support: a throwaway CA and server certificates made with the openssl
// CLI (P-256 keys, valid two days), for TLS tests on loopback.
#pragma once

#include <string>
#include <vector>

#include "tests/support/cluster.h"

namespace spate::testing {

struct TestCa {
  std::string cert, key;  // PEM files
};

struct ServerCert {
  std::string cert, key;  // PEM files; cert signed by the CA it was made with
};

// A self-signed CA in <dir>/<name>.pem and <dir>/<name>.key. Fails the test
// if openssl is missing or fails.
TestCa MakeCa(const TempDir& dir, const std::string& name);

// A server certificate for `ips` (IP subjectAltNames) signed by `ca`, in
// <dir>/<name>.pem and <dir>/<name>.key.
ServerCert MakeServerCert(const TempDir& dir, const TestCa& ca, const std::string& name,
                          const std::vector<std::string>& ips);

}  // namespace spate::testing
