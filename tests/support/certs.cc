#include "tests/support/certs.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/support/tools.h"

namespace spate::testing {

using namespace std::chrono_literals;

namespace {

void Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), RequireTool("openssl", "openssl"));
  auto r = Run(args, 30s);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

}  // namespace

TestCa MakeCa(const TempDir& dir, const std::string& name) {
  TestCa ca{dir / (name + ".pem"), dir / (name + ".key")};
  Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca.key, "-out",
           ca.cert, "-days", "2", "-subj", "/CN=" + name});
  return ca;
}

ServerCert MakeServerCert(const TempDir& dir, const TestCa& ca, const std::string& name,
                          const std::vector<std::string>& ips) {
  ServerCert s{dir / (name + ".pem"), dir / (name + ".key")};
  std::string san;
  for (const auto& ip : ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
  const std::string ext = dir / (name + ".ext");
  std::ofstream(ext) << "subjectAltName=" << san
                     << "\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=serverAuth\n";
  const std::string csr = dir / (name + ".csr");
  Openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", s.key, "-out",
           csr, "-subj", "/CN=" + name});
  Openssl({"x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", s.cert, "-days",
           "2", "-extfile", ext});
  return s;
}

}  // namespace spate::testing
