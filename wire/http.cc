#include "wire/http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/file_body.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <mutex>
#include <sys/socket.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace spate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::string Request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::string Request::bearer_token() const {
  std::string h = header("authorization");
  const std::string prefix = "Bearer ";
  if (h.size() > prefix.size() && h.compare(0, prefix.size(), prefix) == 0) return h.substr(prefix.size());
  return "";
}

Response Response::Json(int status, const std::string& body) { return Response{status, "application/json", body, {}}; }
Response Response::Text(int status, const std::string& body) {
  return Response{status, "text/plain; charset=utf-8", body, {}};
}
Response Response::Error(const Status& s) {
  return Json(s.http_status(), nlohmann::json{{"error", s.message()}}.dump() + "\n");
}

namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// Open connections per client address, shared by the acceptor and sessions
// (which may run on several io threads, hence the mutex; taken once per connection).
struct Server::Limiter {
  std::mutex mu;
  std::map<asio::ip::address, int> open;
  std::atomic<uint64_t> rejected{0};

  // A slot for `a`, or null when `a` is at `max`.
  std::shared_ptr<void> Acquire(const std::shared_ptr<Limiter>& self, const asio::ip::address& a, int max) {
    std::lock_guard<std::mutex> lock(mu);
    int& n = open[a];
    if (max > 0 && n >= max) {
      if (n == 0) open.erase(a);
      ++rejected;
      return nullptr;
    }
    ++n;
    return std::shared_ptr<void>(static_cast<void*>(self.get()), [self, a](void*) {
      std::lock_guard<std::mutex> lock(self->mu);
      auto it = self->open.find(a);
      if (it != self->open.end() && --it->second <= 0) self->open.erase(it);
    });
  }
};

namespace {

// One connection; reads requests one at a time (keep-alive, no pipelining).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, asio::ip::address remote, const ServerOptions& options, const Handler& handler,
          std::shared_ptr<void> slot)
      : stream_(std::move(socket)), remote_(remote), options_(options), handler_(handler), slot_(std::move(slot)) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

 private:
  void ReadHeader() {
    header_parser_.emplace();
    // Beast checks Content-Length against this while reading the header, before
    // on_header picks a body type; the real limit is set per body type below.
    header_parser_->body_limit(std::max<uint64_t>(options_.max_body, options_.max_file_body));
    header_parser_->header_limit(16 * 1024);
    stream_.expires_after(options_.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *header_parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == bhttp::error::header_limit || ec == bhttp::error::body_limit) {
      keep_alive_ = false;  // oversized: answer, then close
      linger_ = true;
      return Send(Response::Json(ec == bhttp::error::header_limit ? 431 : 413,
                                 "{\"error\":\"request header or body too large\"}\n"));
    }
    if (ec && ec.category() == beast::error_code(bhttp::error::bad_method).category() && ec != bhttp::error::end_of_stream &&
        ec != bhttp::error::partial_message) {
      keep_alive_ = false;  // a malformed request line or header
      linger_ = true;
      return Send(Response::Json(400, "{\"error\":\"malformed HTTP request: " + ec.message() + "\"}\n"));
    }
    if (ec) return Close(ec == bhttp::error::end_of_stream || ec == beast::error::timeout ? beast::error_code{} : ec);
    auto& h = header_parser_->get();
    req_ = Request{};
    req_.method = std::string(h.method_string());
    req_.target = std::string(h.target());
    auto q = req_.target.find('?');
    req_.path = req_.target.substr(0, q);
    if (q != std::string::npos) req_.query = req_.target.substr(q + 1);
    for (const auto& f : h) req_.headers[Lower(std::string(f.name_string()))] = std::string(f.value());
    req_.remote = remote_;
    keep_alive_ = h.keep_alive();

    if (options_.on_header) {
      if (auto early = options_.on_header(req_)) {
        keep_alive_ = false;  // the body was not read; the connection cannot be reused
        linger_ = true;
        return Send(std::move(*early));
      }
    }
    if (!req_.body_file.empty()) {
      file_parser_.emplace(std::move(*header_parser_));
      file_parser_->body_limit(options_.max_file_body);
      beast::error_code fec;
      file_parser_->get().body().open(req_.body_file.c_str(), beast::file_mode::write, fec);
      if (fec) {
        keep_alive_ = false;
        return Send(Response::Error(Status::Io("cannot write " + req_.body_file + ": " + fec.message())));
      }
      stream_.expires_never();  // large uploads: rely on TCP keepalive rather than a fixed deadline
      bhttp::async_read(stream_, buffer_, *file_parser_,
                        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
    } else {
      if (h.has_content_length() && *header_parser_->content_length() > options_.max_body) {
        keep_alive_ = false;
        linger_ = true;
        return Send(TooLarge());
      }
      string_parser_.emplace(std::move(*header_parser_));
      string_parser_->body_limit(options_.max_body);
      // No body (a GET): hand over now rather than through another read
      // operation and a trip through the io queue.
      if (string_parser_->is_done()) return OnBody({});
      bhttp::async_read(stream_, buffer_, *string_parser_,
                        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
    }
  }

  void OnBody(beast::error_code ec) {
    if (file_parser_) {
      file_parser_->get().body().close();
      file_parser_.reset();
    }
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        keep_alive_ = false;
        linger_ = true;
        return Send(TooLarge());
      }
      return Close(ec);
    }
    if (string_parser_) {
      req_.body = std::move(string_parser_->get().body());
      string_parser_.reset();
    }
    stream_.expires_never();  // the handler may hold the request (long poll)
    auto self = shared_from_this();
    auto replied = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [self, replied](Response r) {
      if (replied->exchange(true)) return;
      asio::dispatch(self->stream_.get_executor(), [self, r = std::move(r)]() mutable { self->Send(std::move(r)); });
    };
    try {
      handler_(std::move(req_), std::move(reply));
    } catch (const std::exception& e) {
      spdlog::error("http handler threw: {}", e.what());
      if (!replied->exchange(true)) Send(Response::Error(Status::Io(std::string("internal error: ") + e.what())));
    }
  }

  // The response is serialized by hand and offered to the socket with one
  // non-blocking send: a short reply (every tracker announce) then needs no
  // write operation, and a one-request connection is closed at once. What the
  // socket does not take goes out with an ordinary async write.
  void Send(Response r) {
    auto out = std::make_shared<std::string>();
    Serialize(r, out.get());
    ssize_t n = ::send(stream_.socket().native_handle(), out->data(), out->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    size_t sent = n > 0 ? size_t(n) : 0;
    if (sent == out->size()) return AfterSend();
    stream_.expires_after(std::chrono::seconds(30));
    asio::async_write(stream_, asio::buffer(out->data() + sent, out->size() - sent),
                      [self = shared_from_this(), out](beast::error_code ec, size_t) {
                        if (ec) return self->Close(ec);
                        self->AfterSend();
                      });
  }

  void Serialize(const Response& r, std::string* out) const {
    auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    out->reserve(160 + r.content_type.size() + r.body.size());
    *out += "HTTP/1.1 ";
    *out += std::to_string(r.status);
    *out += ' ';
    out->append(reason.data(), reason.size());
    *out += "\r\nServer: spate\r\nContent-Type: ";
    *out += r.content_type;
    for (const auto& [k, v] : r.headers) *out += "\r\n" + k + ": " + v;
    *out += "\r\nContent-Length: ";
    *out += std::to_string(r.body.size());
    if (!keep_alive_) *out += "\r\nConnection: close";
    *out += "\r\n\r\n";
    *out += r.body;
  }

  void AfterSend() {
    if (!keep_alive_) return linger_ ? LingerClose() : Close({});
    ReadHeader();
  }

  // Closing with unread request bytes in the socket makes the kernel send a
  // RST, which can destroy the response (413, 431, 400) before the client
  // reads it. So stop sending, discard what the client still sends for a
  // bounded time and size, then close.
  void LingerClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    linger_left_ = 4 << 20;
    Discard();
  }

  void Discard() {
    if (!drain_) drain_ = std::make_unique<std::array<char, 16384>>();
    stream_.async_read_some(asio::buffer(*drain_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec || n >= self->linger_left_) return self->Close({});
      self->linger_left_ -= n;
      self->Discard();
    });
  }

  static Response TooLarge() { return Response::Json(413, "{\"error\":\"request body too large\"}\n"); }

  void Close(beast::error_code ec) {
    if (ec && ec != asio::error::operation_aborted && ec != beast::errc::not_connected)
      spdlog::debug("http connection closed: {}", ec.message());
    // No shutdown first: close sends the FIN itself, and one-request
    // connections make this the commonest path.
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  const asio::ip::address remote_;  // read once at accept
  beast::flat_buffer buffer_;
  const ServerOptions& options_;
  const Handler& handler_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> header_parser_;
  std::optional<bhttp::request_parser<bhttp::string_body>> string_parser_;
  std::optional<bhttp::request_parser<bhttp::file_body>> file_parser_;
  Request req_;
  bool keep_alive_ = true;
  std::shared_ptr<void> slot_;  // this connection's place in the per-address limit
  std::unique_ptr<std::array<char, 16384>> drain_;  // LingerClose only
  size_t linger_left_ = 0;
  bool linger_ = false;  // answered without reading the whole request
};

}  // namespace

Server::Server(ServerOptions options, Handler handler)
    : limiter_(std::make_shared<Limiter>()),
      options_(std::move(options)),
      handler_(std::move(handler)),
      acceptor_(asio::make_strand(io_)) {}

uint64_t Server::connections_rejected() const { return limiter_->rejected.load(); }

Server::~Server() { Stop(); }

Status Server::Start() {
  auto ep = ParseEndpoint(options_.listen);
  if (!ep.ok()) return ep.status();
  beast::error_code ec;
  acceptor_.open(ep->protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*ep, ec);
  if (!ec) acceptor_.listen(options_.listen_backlog, ec);
  if (ec) return Status::Unavailable("cannot listen on " + options_.listen + ": " + ec.message());
  Accept();
  return Status::Ok();
}

tcp::endpoint Server::local_endpoint() const {
  beast::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void Server::Accept() {
  // One io thread needs no strand per connection (it costs an allocation and a
  // dispatch on every operation of short-lived connections).
  asio::any_io_executor ex = options_.threads > 1 ? asio::any_io_executor(asio::make_strand(io_)) : io_.get_executor();
  acceptor_.async_accept(ex, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      beast::error_code rec;
      auto remote = socket.remote_endpoint(rec).address();
      auto slot = rec ? nullptr : limiter_->Acquire(limiter_, remote, options_.max_connections_per_ip);
      if (!slot) {
        // Over the limit: close at once, before reading anything, so one
        // address cannot exhaust descriptors or memory.
        spdlog::debug("closing connection from {}: over {} connections", remote.to_string(),
                      options_.max_connections_per_ip);
        socket.close(rec);
      } else {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket), remote, options_, handler_, std::move(slot))->Start();
      }
    } else {
      spdlog::warn("accept failed: {}", ec.message());
    }
    if (acceptor_.is_open()) Accept();
  });
}

void Server::Run() {
  auto guard = asio::make_work_guard(io_);
  std::vector<std::thread> extra;
  for (int i = 1; i < options_.threads; ++i) extra.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : extra) t.join();
}

void Server::Stop() {
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  io_.stop();
}

// ---- client ----

namespace {

struct Url {
  std::string host, port, target;
};

Result<Url> ParseUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) return Status::Invalid("only http:// URLs are supported: " + url);
  std::string rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  Url u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!hostport.empty() && hostport[0] == '[') {
    auto close = hostport.find(']');
    if (close == std::string::npos) return Status::Invalid("bad URL host: " + url);
    u.host = hostport.substr(1, close - 1);
    u.port = close + 2 <= hostport.size() ? hostport.substr(close + 2) : "80";
  } else {
    auto colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    u.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  }
  if (u.host.empty() || u.port.empty()) return Status::Invalid("bad URL: " + url);
  return u;
}

template <class Body, class Fill>
Result<ClientResult> DoCall(const std::string& method, const std::string& url, const ClientOptions& options,
                            Fill fill) {
  auto u = ParseUrl(url);
  if (!u.ok()) return u.status();
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(u->host, u->port, ec);
  if (ec) return Status::Unavailable("cannot resolve " + u->host + ": " + ec.message());
  if (!options.bind_address.empty()) {
    auto bind = asio::ip::make_address(options.bind_address, ec);
    if (ec) return Status::Invalid("bad bind address " + options.bind_address);
    stream.socket().open(bind.is_v6() ? tcp::v6() : tcp::v4(), ec);
    if (!ec) stream.socket().bind(tcp::endpoint(bind, 0), ec);
    if (ec) return Status::Unavailable("cannot bind " + options.bind_address + ": " + ec.message());
  }

  bhttp::request<Body> req;
  req.method_string(method);
  req.target(u->target);
  req.version(11);
  req.set(bhttp::field::host, u->host + ":" + u->port);
  req.set(bhttp::field::user_agent, "spate");
  for (auto& [k, v] : options.headers) req.set(k, v);
  beast::error_code fill_ec = fill(req);
  if (fill_ec) return Status::Io("cannot read request body: " + fill_ec.message());
  req.prepare_payload();

  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(uint64_t(1) << 30);
  beast::flat_buffer buffer;
  beast::error_code result;
  stream.expires_after(options.timeout);
  auto on_read = [&](beast::error_code e, size_t) { result = e; };
  auto on_write = [&](beast::error_code e, size_t) {
    if (e) {
      result = e;
      return;
    }
    bhttp::async_read(stream, buffer, parser, on_read);
  };
  auto on_connect = [&](beast::error_code e) {
    if (e) {
      result = e;
      return;
    }
    bhttp::async_write(stream, req, on_write);
  };
  if (options.bind_address.empty()) {
    stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { on_connect(e); });
  } else {
    stream.async_connect(*endpoints.begin(), on_connect);
  }
  io.run();
  if (result) return Status::Unavailable(method + " " + url + ": " + result.message());
  ClientResult r;
  r.status = static_cast<int>(parser.get().result_int());
  r.body = std::move(parser.get().body());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return r;
}

}  // namespace

Result<ClientResult> Call(const std::string& method, const std::string& url, const std::string& body,
                          const ClientOptions& options) {
  return DoCall<bhttp::string_body>(method, url, options, [&](bhttp::request<bhttp::string_body>& req) {
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.body() = body;
      if (req.find(bhttp::field::content_type) == req.end()) req.set(bhttp::field::content_type, "application/json");
    }
    return beast::error_code{};
  });
}

Result<ClientResult> SendFile(const std::string& method, const std::string& url, const std::string& path,
                              const ClientOptions& options) {
  return DoCall<bhttp::file_body>(method, url, options, [&](bhttp::request<bhttp::file_body>& req) {
    beast::error_code ec;
    req.body().open(path.c_str(), beast::file_mode::scan, ec);
    req.set(bhttp::field::content_type, "application/octet-stream");
    return ec;
  });
}

Result<tcp::endpoint> ParseEndpoint(const std::string& s) {
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return Status::Invalid("bad address '" + s + "': want [IPv6]:PORT");
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return Status::Invalid("bad address '" + s + "': want ADDRESS:PORT");
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return Status::Invalid("bad address '" + s + "': '" + host + "' is not an IP address");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535)
    return Status::Invalid("bad address '" + s + "': bad port '" + port + "'");
  return tcp::endpoint(addr, static_cast<unsigned short>(std::stoul(port)));
}

std::string FormatEndpoint(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

Result<std::string> UrlDecode(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size())
        return Status::Invalid("truncated percent-escape in query");
      int hi = val(s[i + 1]), lo = val(s[i + 2]);
      if (hi < 0 || lo < 0) return Status::Invalid("bad percent-escape in query");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string part = query.substr(pos, amp - pos);
    if (!part.empty()) {
      auto eq = part.find('=');
      auto k = UrlDecode(part.substr(0, eq));
      if (!k.ok()) return k.status();
      auto v = UrlDecode(eq == std::string::npos ? "" : part.substr(eq + 1));
      if (!v.ok()) return v.status();
      out.emplace_back(std::move(*k), std::move(*v));
    }
    pos = amp + 1;
  }
  return out;
}

}  // namespace spate::http
