#include "wire/http.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <thread>

using namespace spate;
using namespace spate::http;

TEST_CASE("query parsing decodes binary percent-escapes and rejects bad ones") {
  auto q = ParseQuery("info_hash=%00%ff%41b&port=6881&empty=&flag");
  REQUIRE(q.ok());
  REQUIRE(q->size() == 4);
  CHECK((*q)[0].second == std::string("\0\xff" "Ab", 4));
  CHECK((*q)[1] == std::pair<std::string, std::string>("port", "6881"));
  CHECK((*q)[2].second.empty());
  CHECK((*q)[3].first == "flag");
  CHECK_FALSE(ParseQuery("a=%4").ok());
  CHECK_FALSE(ParseQuery("a=%zz").ok());
  CHECK(*UrlDecode(UrlEncode(std::string("\x01 /?&=", 6))) == std::string("\x01 /?&=", 6));
}

TEST_CASE("endpoints parse for v4 and v6 and reject junk") {
  CHECK(ParseEndpoint("127.0.1.2:80")->port() == 80);
  CHECK(ParseEndpoint("[::1]:0")->address().is_v6());
  CHECK_FALSE(ParseEndpoint("localhost:80").ok());
  CHECK_FALSE(ParseEndpoint("1.2.3.4").ok());
  CHECK_FALSE(ParseEndpoint("1.2.3.4:99999").ok());
}

TEST_CASE("server answers a real client, including a delayed reply and a streamed body") {
  auto dir = std::filesystem::temp_directory_path() / ("spate-http-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ServerOptions opts;
  opts.threads = 2;
  opts.on_header = [&](Request& r) -> std::optional<Response> {
    if (r.path == "/secret" && r.bearer_token() != "t0k") return Response::Text(401, "no");
    if (r.path == "/upload") r.body_file = (dir / "up").string();
    return std::nullopt;
  };
  Server server(opts, [&](Request&& r, Reply reply) {
    if (r.path == "/later") {
      std::thread([reply] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        reply(Response::Text(200, "late"));
      }).detach();
      return;
    }
    if (r.path == "/upload") return reply(Response::Text(201, std::to_string(std::filesystem::file_size(r.body_file))));
    reply(Response::Text(200, r.method + " " + r.path + " " + r.body + " from " + r.remote.to_string()));
  });
  REQUIRE(server.Start().ok());
  std::thread t([&] { server.Run(); });
  std::string base = "http://" + FormatEndpoint(server.local_endpoint());

  ClientOptions bind;
  bind.bind_address = "127.0.3.4";
  auto r = Call("POST", base + "/echo", "hi", bind);
  REQUIRE(r.ok());
  CHECK(r->body == "POST /echo hi from 127.0.3.4");
  CHECK(Call("GET", base + "/later", "")->body == "late");
  CHECK(Call("GET", base + "/secret", "")->status == 401);

  // Streamed bodies may exceed max_body (1 MiB); in-memory ones may not.
  std::ofstream(dir / "src") << std::string(3000000, 'x');
  auto up = SendFile("PUT", base + "/upload", (dir / "src").string());
  REQUIRE(up.ok());
  CHECK(up->status == 201);
  CHECK(up->body == "3000000");
  auto big = Call("POST", base + "/echo", std::string(opts.max_body + 1, 'y'));
  REQUIRE(big.ok());
  CHECK(big->status == 413);

  ClientOptions quick;
  quick.timeout = std::chrono::milliseconds(500);
  CHECK_FALSE(Call("GET", "http://127.0.0.1:1/", "", quick).ok());
  server.Stop();
  t.join();
  std::filesystem::remove_all(dir);
}
