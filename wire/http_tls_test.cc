// wire/http over TLS: a real Server and the real client on loopback, with a
// throwaway CA and certificates made by the openssl CLI.
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <atomic>
#include <filesystem>
#include <future>
#include <fstream>
#include <thread>

#include "tests/support/certs.h"
#include "tests/support/cluster.h"
#include "tests/support/tools.h"
#include "wire/http.h"

using namespace spate;
using namespace spate::http;
using spate::testing::TempDir;

namespace {

struct TlsServer {
  Server server;
  std::thread thread;
  TlsServer(ServerOptions o, Handler h) : server(std::move(o), std::move(h)) {
    REQUIRE(server.Start().ok());
    thread = std::thread([this] { server.Run(); });
  }
  ~TlsServer() {
    server.Stop();
    thread.join();
  }
  int port() const { return server.local_endpoint().port(); }
};

ServerOptions WithTls(const testing::ServerCert& c, const std::string& listen = "127.0.0.1:0") {
  ServerOptions o;
  o.listen = listen;
  o.threads = 2;
  o.tls = TlsFiles{c.cert, c.key};
  return o;
}

ClientOptions Trusting(const std::string& ca_file) {
  ClientOptions o;
  o.ca_file = ca_file;
  o.timeout = std::chrono::seconds(5);
  return o;
}

// Everything the server sends to a raw TCP client until it closes.
std::string RawExchange(int port, const std::string& request) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  boost::asio::write(s, boost::asio::buffer(request));
  timeval tv{3, 0};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  for (;;) {
    boost::system::error_code ec;
    size_t n = s.read_some(boost::asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

}  // namespace

TEST_CASE("a TLS server answers https calls, takes a streamed upload, and gives a plaintext request no HTTP answer") {
  TempDir dir("spate-tls");
  auto ca = testing::MakeCa(dir, "ca");
  auto cert = testing::MakeServerCert(dir, ca, "server", {"127.0.0.1"});
  ServerOptions o = WithTls(cert);
  o.on_header = [&](Request& r) -> std::optional<Response> {
    if (r.path == "/upload") r.body_file = dir / "received";
    return std::nullopt;
  };
  TlsServer ts(o, [&](Request&& r, Reply reply) {
    if (r.path == "/upload") return reply(Response::Text(201, std::to_string(std::filesystem::file_size(r.body_file))));
    reply(Response::Text(200, r.method + " " + r.path + " " + r.body));
  });
  const std::string base = "https://127.0.0.1:" + std::to_string(ts.port());

  auto r = Call("POST", base + "/echo", "hi", Trusting(ca.cert));
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "POST /echo hi");

  // Bigger than the in-memory limit, and many TLS records long.
  testing::WriteRandomFile(dir / "big", 5u << 20, 3);
  auto up = SendFile("PUT", base + "/upload", dir / "big", Trusting(ca.cert));
  REQUIRE(up.ok());
  CHECK(up->status == 201);
  CHECK(up->body == std::to_string(5u << 20));
  CHECK(testing::ReadAll(dir / "received") == testing::ReadAll(dir / "big"));

  // The same request in plaintext: no HTTP status line comes back, only a
  // closed connection (at most a TLS alert).
  std::string got = RawExchange(ts.port(), "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(got.find("HTTP/1.1") == std::string::npos);
  CHECK(got.size() < 64);
  auto plain = Call("GET", "http://127.0.0.1:" + std::to_string(ts.port()) + "/echo", "", Trusting(ca.cert));
  CHECK_FALSE(plain.ok());

  // The server is still there for https after those.
  CHECK(Call("GET", base + "/again", "", Trusting(ca.cert))->body == "GET /again ");

  // A kept connection does one handshake for many requests.
  Connection kept;
  for (int i = 0; i < 3; ++i) CHECK(kept.Call("POST", base + "/k", std::to_string(i), Trusting(ca.cert))->body == "POST /k " + std::to_string(i));
  CHECK(kept.connects() == 1);
}

TEST_CASE("an https client refuses a certificate from another CA or for another address and says which") {
  TempDir dir("spate-tls-refuse");
  auto ca = testing::MakeCa(dir, "ca");
  auto other_ca = testing::MakeCa(dir, "other-ca");
  auto cert = testing::MakeServerCert(dir, ca, "server", {"127.0.0.2"});
  TlsServer ts(WithTls(cert, "0.0.0.0:0"), [](Request&& r, Reply reply) { reply(Response::Text(200, "ok")); });
  const std::string port = std::to_string(ts.port());

  auto good = Call("GET", "https://127.0.0.2:" + port + "/", "", Trusting(ca.cert));
  REQUIRE(good.ok());
  CHECK(good->body == "ok");

  auto wrong_ca = Call("GET", "https://127.0.0.2:" + port + "/", "", Trusting(other_ca.cert));
  REQUIRE_FALSE(wrong_ca.ok());
  INFO(wrong_ca.status().message());
  CHECK(wrong_ca.status().message().find("TLS certificate rejected: unable to get local issuer certificate") !=
        std::string::npos);
  CHECK(wrong_ca.status().message().find("checked against CA file " + other_ca.cert) != std::string::npos);

  // The right CA, but the certificate names 127.0.0.2 and we dialled 127.0.0.1.
  auto wrong_ip = Call("GET", "https://127.0.0.1:" + port + "/", "", Trusting(ca.cert));
  REQUIRE_FALSE(wrong_ip.ok());
  INFO(wrong_ip.status().message());
  CHECK(wrong_ip.status().message().find("IP address mismatch (the certificate does not name 127.0.0.1)") !=
        std::string::npos);

  // No CA file: the system's trust store, which does not know our CA.
  auto system = Call("GET", "https://127.0.0.2:" + port + "/", "", Trusting(""));
  REQUIRE_FALSE(system.ok());
  CHECK(system.status().message().find("the system's trusted CAs") != std::string::npos);

  auto missing = Call("GET", "https://127.0.0.2:" + port + "/", "", Trusting(dir / "nope.pem"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kInvalid);
  CHECK(missing.status().message() == "cannot read CA file " + (dir / "nope.pem") + ": No such file or directory");
}

TEST_CASE("TLS files that cannot serve are refused before listening, naming the file and the problem") {
  TempDir dir("spate-tls-files");
  auto ca = testing::MakeCa(dir, "ca");
  auto a = testing::MakeServerCert(dir, ca, "a", {"127.0.0.1"});
  auto b = testing::MakeServerCert(dir, ca, "b", {"127.0.0.1"});
  CHECK(TlsFiles{a.cert, a.key}.Check().ok());
  CHECK(TlsFiles{}.Check().ok());  // plain HTTP

  auto mismatch = TlsFiles{a.cert, b.key}.Check();
  CHECK(mismatch.code() == Status::Code::kInvalid);
  CHECK(mismatch.message() == "TLS key " + b.key + " does not match the certificate " + a.cert);

  CHECK(TlsFiles{dir / "none.pem", a.key}.Check().message() ==
        "cannot read TLS certificate " + (dir / "none.pem") + ": No such file or directory");
  CHECK(TlsFiles{a.cert, ""}.Check().message() ==
        "TLS needs both a certificate and its key; only the certificate was given");
  CHECK(TlsFiles{"", a.key}.Check().message() == "TLS needs both a certificate and its key; only the key was given");
  // A key where the certificate goes, and a certificate where the key goes.
  CHECK(TlsFiles{a.key, a.key}.Check().message().find("TLS certificate " + a.key + " is not a PEM certificate") == 0);
  CHECK(TlsFiles{a.cert, a.cert}.Check().message().find("TLS key " + a.cert +
                                                        " is not an unencrypted PEM private key") == 0);

  // An encrypted key fails to load rather than prompting for a passphrase.
  const std::string locked = dir / "locked.key";
  auto r = testing::Run({testing::RequireTool("openssl", "openssl"), "pkey", "-in", a.key, "-aes256", "-passout",
                         "pass:secret", "-out", locked},
                        std::chrono::seconds(30));
  REQUIRE(r.exit_code == 0);
  CHECK(TlsFiles{a.cert, locked}.Check().message().find("is not an unencrypted PEM private key") != std::string::npos);

  // Server::Start reports the same, and binds nothing.
  ServerOptions o;
  o.tls = TlsFiles{a.cert, b.key};
  Server s(o, [](Request&&, Reply reply) { reply(Response::Text(200, "")); });
  auto started = s.Start();
  CHECK(started.code() == Status::Code::kInvalid);
  CHECK(s.local_endpoint().port() == 0);
}

TEST_CASE("a TLS server takes TLS 1.2 with an AEAD suite and 1.3, and refuses CBC suites and TLS 1.1") {
  TempDir dir("spate-tls-versions");
  auto ca = testing::MakeCa(dir, "ca");
  auto cert = testing::MakeServerCert(dir, ca, "server", {"127.0.0.1"});
  TlsServer ts(WithTls(cert), [](Request&&, Reply reply) { reply(Response::Text(200, "ok")); });
  const std::string openssl = testing::RequireTool("openssl", "openssl");
  // Debian's openssl.cnf forbids TLS 1.1 and weak suites on the client side;
  // without it the client offers them, so the refusal is the server's.
  const std::vector<std::string> env{"OPENSSL_CONF=/dev/null"};
  auto client = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{openssl,
                                  "s_client",
                                  "-connect",
                                  "127.0.0.1:" + std::to_string(ts.port()),
                                  "-CAfile",
                                  ca.cert,
                                  "-verify_return_error",
                                  "-brief"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::Run(argv, std::chrono::seconds(20), env);
  };
  auto v13 = client({"-tls1_3"});
  INFO(v13.output);
  CHECK(v13.exit_code == 0);
  CHECK(v13.output.find("Protocol version: TLSv1.3") != std::string::npos);
  auto gcm = client({"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"});
  INFO(gcm.output);
  CHECK(gcm.exit_code == 0);
  CHECK(gcm.output.find("Protocol version: TLSv1.2") != std::string::npos);
  auto cbc = client({"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"});
  INFO(cbc.output);
  CHECK(cbc.exit_code != 0);
  auto v11 = client({"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"});
  INFO(v11.output);
  CHECK(v11.exit_code != 0);
}

TEST_CASE("over TLS too, a held request whose client gives up frees its connection and tells the handler") {
  TempDir dir("spate-tls-hangup");
  auto ca = testing::MakeCa(dir, "ca");
  auto cert = testing::MakeServerCert(dir, ca, "server", {"127.0.0.1"});
  ServerOptions o = WithTls(cert);
  o.threads = 1;
  o.max_connections = 1;
  std::atomic<int> hangups{0};
  std::vector<Reply> held;  // on the io thread only
  TlsServer ts(o, [&](Request&& r, Reply reply) {
    if (r.path != "/hold") return reply(Response::Text(200, "quick"));
    *r.on_hangup = [&] { ++hangups; };
    held.push_back(std::move(reply));
  });
  const std::string base = "https://127.0.0.1:" + std::to_string(ts.port());
  ClientOptions impatient = Trusting(ca.cert);
  impatient.timeout = std::chrono::milliseconds(500);
  CHECK_FALSE(Call("GET", base + "/hold", "", impatient).ok());  // times out and closes
  for (int i = 0; i < 150 && hangups == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(hangups == 1);
  auto quick = Call("GET", base + "/q", "", Trusting(ca.cert));
  REQUIRE(quick.ok());
  CHECK(quick->body == "quick");
  CHECK(ts.server.connections_rejected() == 0);
  // The replies keep their connections: let them go on the io thread, before the server's io_context.
  std::promise<void> cleared;
  boost::asio::post(ts.server.io(), [&] {
    held.clear();
    cleared.set_value();
  });
  cleared.get_future().wait();
}
