#include "wire/http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <type_traits>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace spate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

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

// OpenSSL reads a missing file as an empty PEM ("no start line"); opening it
// first gives the operator the errno instead.
Status CheckReadable(const std::string& what, const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Invalid("cannot read " + what + " " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

// TLS 1.2 suites: ECDHE only (forward secrecy) and AEAD only, as in Mozilla's
// "intermediate" profile. TLS 1.3 keeps OpenSSL's defaults, which are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Settings both ends share: TLS 1.2 or later, the suites above, no compression (CRIME).
Status HardenContext(ssl::context& ctx) {
  SSL_CTX* c = ctx.native_handle();
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::single_dh_use);
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 || SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1) {
    ERR_clear_error();
    return Status::Invalid("this OpenSSL cannot do TLS 1.2 with ECDHE and AES-GCM");
  }
  return Status::Ok();
}

Result<std::shared_ptr<ssl::context>> MakeServerContext(const TlsFiles& f) {
  if (f.cert_file.empty() || f.key_file.empty())
    return Status::Invalid(std::string("TLS needs both a certificate and its key; only the ") +
                           (f.cert_file.empty() ? "key" : "certificate") + " was given");
  if (Status s = CheckReadable("TLS certificate", f.cert_file); !s.ok()) return s;
  if (Status s = CheckReadable("TLS key", f.key_file); !s.ok()) return s;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  if (Status s = HardenContext(*ctx); !s.ok()) return s;
  // Client-initiated TLS 1.2 renegotiation costs the server a handshake per
  // request at the client's will; nothing here needs it.
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
  // A daemon has no one to type a passphrase: an encrypted key fails to load
  // instead of OpenSSL prompting on a terminal that may not exist.
  ctx->set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string(); });
  beast::error_code ec;
  ctx->use_certificate_chain_file(f.cert_file, ec);
  if (ec) return Status::Invalid("TLS certificate " + f.cert_file + " is not a PEM certificate: " + ec.message());
  ctx->use_private_key_file(f.key_file, ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH)
    return Status::Invalid("TLS key " + f.key_file + " does not match the certificate " + f.cert_file);
  if (ec) return Status::Invalid("TLS key " + f.key_file + " is not an unencrypted PEM private key: " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return Status::Invalid("TLS key " + f.key_file + " does not match the certificate " + f.cert_file);
  }
  return ctx;
}

}  // namespace

Status TlsFiles::Check() const {
  if (!enabled()) return Status::Ok();
  auto ctx = MakeServerContext(*this);
  return ctx.ok() ? Status::Ok() : ctx.status();
}

// Open connections per client address, shared by the acceptor and sessions
// (which may run on several io threads, hence the mutex; taken once per connection).
struct Server::Limiter {
  std::mutex mu;
  std::map<asio::ip::address, int> open;
  std::atomic<uint64_t> rejected{0}, accepted{0};

  // A slot for `a`, or null when `a` is at `max`.
  int total = 0;  // every address

  // A slot for `a`, or null when `a` is at `max_per_ip` or everyone at
  // `max_total` (0 = no limit; *total_full then says which).
  std::shared_ptr<void> Acquire(const std::shared_ptr<Limiter>& self, const asio::ip::address& a, int max_per_ip,
                                int max_total, bool* total_full) {
    std::lock_guard<std::mutex> lock(mu);
    int& n = open[a];
    *total_full = max_total > 0 && total >= max_total;
    if ((max_per_ip > 0 && n >= max_per_ip) || *total_full) {
      if (n == 0) open.erase(a);
      ++rejected;
      return nullptr;
    }
    ++n;
    ++total;
    ++accepted;
    return std::shared_ptr<void>(static_cast<void*>(self.get()), [self, a](void*) {
      std::lock_guard<std::mutex> lock(self->mu);
      --self->total;
      auto it = self->open.find(a);
      if (it != self->open.end() && --it->second <= 0) self->open.erase(it);
    });
  }
};

namespace {

// One connection; reads requests one at a time (keep-alive, no pipelining).
// Stream is beast::tcp_stream (plain HTTP) or TlsStream over one.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  // `tls` is the server's context, kept alive by every connection using it; null for plain HTTP.
  Session(tcp::socket socket, asio::ip::address remote, const ServerOptions& options, const Handler& handler,
          std::shared_ptr<void> slot, std::shared_ptr<ssl::context> tls)
      : tls_(std::move(tls)),
        stream_(MakeStream(std::move(socket), tls_.get())),
        remote_(remote),
        options_(options),
        handler_(handler),
        slot_(std::move(slot)) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->ReadHeader();
      }
    });
  }

 private:
  static Stream MakeStream(tcp::socket socket, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // A plaintext client, a client that does not trust our certificate and a
  // scanner all end here: nothing is sent back but what OpenSSL sends (an
  // alert, if anything), and the connection is closed.
  void Handshake() {
    // Bounded like a request header: a client that never finishes holds only its own connection.
    Tcp().expires_after(options_.idle_timeout);
    stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) {
        spdlog::debug("TLS handshake with {} failed: {}", self->remote_.to_string(), ec.message());
        return self->Close({});
      }
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    header_parser_.emplace();
    // No limit while reading the header: on_header sees an oversized request
    // first (and may refuse it with its own reason), then the limit of the
    // body type it picks applies, to Content-Length at once and to chunked
    // bodies as they arrive.
    // (Not boost::none: Beast 1.74 compares a Content-Length with the
    // optional itself, and any length is "greater" than none.)
    header_parser_->body_limit(std::numeric_limits<uint64_t>::max());
    header_parser_->header_limit(16 * 1024);
    Tcp().expires_after(options_.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *header_parser_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
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
    // A TLS client that closes without close_notify (most do, between requests) is an ordinary end too.
    bool ordinary_end =
        ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == ssl::error::stream_truncated;
    if (ec) return Close(ordinary_end ? beast::error_code{} : ec);
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
      if (h.has_content_length() && *header_parser_->content_length() > options_.max_file_body) {
        keep_alive_ = false;
        linger_ = true;
        return Send(TooLarge(options_.max_file_body));
      }
      file_parser_.emplace(std::move(*header_parser_));
      file_parser_->body_limit(options_.max_file_body);
      beast::error_code fec;
      file_parser_->get().body().open(req_.body_file.c_str(), beast::file_mode::write, fec);
      if (fec) {
        keep_alive_ = false;
        return Send(Response::Error(Status::Io("cannot write " + req_.body_file + ": " + fec.message())));
      }
      ReadFileChunk();
    } else {
      if (h.has_content_length() && *header_parser_->content_length() > options_.max_body) {
        keep_alive_ = false;
        linger_ = true;
        return Send(TooLarge(options_.max_body));
      }
      string_parser_.emplace(std::move(*header_parser_));
      string_parser_->body_limit(options_.max_body);
      // No body (a GET): hand over now rather than through another read
      // operation and a trip through the io queue.
      if (string_parser_->is_done()) return OnBody({});
      bhttp::async_read(stream_, buffer_, *string_parser_,
                        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
    }
  }

  // A large upload has no fixed deadline, only one per read: it may take
  // hours, but never stall for longer than upload_idle_timeout.
  void ReadFileChunk() {
    if (file_parser_->is_done()) return OnBody({});  // an empty body, or one that came with the header
    Tcp().expires_after(options_.upload_idle_timeout);
    auto self = this->shared_from_this();
    bhttp::async_read_some(stream_, buffer_, *file_parser_, [self](beast::error_code ec, size_t) {
      if (ec == beast::error::timeout)
        spdlog::warn("{} {} from {}: no body bytes for {} s, connection closed", self->req_.method, self->req_.path,
                     self->remote_.to_string(), self->options_.upload_idle_timeout.count());
      if (ec) return self->OnBody(ec);
      self->ReadFileChunk();
    });
  }

  void OnBody(beast::error_code ec) {
    const uint64_t limit = file_parser_ ? options_.max_file_body : options_.max_body;
    if (file_parser_) {
      file_parser_->get().body().close();
      file_parser_.reset();
    }
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        keep_alive_ = false;
        linger_ = true;
        return Send(TooLarge(limit));
      }
      return Close(ec);
    }
    if (string_parser_) {
      req_.body = std::move(string_parser_->get().body());
      string_parser_.reset();
    }
    Tcp().expires_never();  // the handler may hold the request (long poll)
    auto self = this->shared_from_this();
    replied_ = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [self, replied = replied_](Response r) {
      if (replied->exchange(true)) return;
      // HangUp takes the same flag first, so a hung-up connection never gets here.
      asio::dispatch(self->stream_.get_executor(), [self, r = std::move(r)]() mutable { self->Send(std::move(r)); });
    };
    on_hangup_ = std::make_shared<std::function<void()>>();
    req_.on_hangup = on_hangup_;
    try {
      handler_(std::move(req_), std::move(reply));
    } catch (const std::exception& e) {
      spdlog::error("http handler threw: {}", e.what());
      if (!replied_->exchange(true)) Send(Response::Error(Status::Io(std::string("internal error: ") + e.what())));
    }
    if (!replied_->load()) WatchHangup();
  }

  // While a handler holds the reply, the client may give up (a fetcher
  // restarting, a dashboard tab closed). Without a watch its descriptor and
  // its place in the connection limits stay taken until the reply: with
  // thousands of long polls that is how a server runs out. Clients send
  // nothing while they wait, so readability means end of stream, or TLS's
  // close_notify just before it; POLLRDHUP tells the two apart from bytes a
  // client might pipeline, which stay unread for the next request.
  void WatchHangup() {
    auto self = this->shared_from_this();
    auto waiting = [self, flag = replied_] { return flag == self->replied_ && !flag->load(); };
    Tcp().socket().async_wait(tcp::socket::wait_read, [self, waiting](beast::error_code ec) {
      if (ec || !waiting()) return;
      pollfd p{self->Tcp().socket().native_handle(), POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return self->HangUp();
      // Bytes but no end: look again later rather than spin on a readable socket.
      if (!self->recheck_) self->recheck_ = std::make_unique<asio::steady_timer>(self->stream_.get_executor());
      self->recheck_->expires_after(std::chrono::seconds(1));
      self->recheck_->async_wait([self, waiting](beast::error_code tec) {
        if (!tec && waiting()) self->WatchHangup();
      });
    });
  }

  void HangUp() {
    if (replied_->exchange(true)) return;  // the reply won the race: Send owns the connection
    spdlog::debug("{} {} from {}: client closed the connection before the reply", req_.method, req_.path,
                  remote_.to_string());
    Close({});
    slot_.reset();
    if (auto f = std::move(on_hangup_); f && *f) (*f)();
  }

  // The response is serialized by hand and offered to the socket with one
  // non-blocking send: a short reply (every tracker announce) then needs no
  // write operation, and a one-request connection is closed at once. What the
  // socket does not take goes out with an ordinary async write. Over TLS the
  // bytes must go through OpenSSL, so everything takes the async write.
  void Send(Response r) {
    auto out = std::make_shared<std::string>();
    Serialize(r, out.get());
    size_t sent = 0;
    if constexpr (!kTls) {
      ssize_t n = ::send(Tcp().socket().native_handle(), out->data(), out->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      sent = n > 0 ? size_t(n) : 0;
      if (sent == out->size()) return AfterSend();
    }
    Tcp().expires_after(std::chrono::seconds(30));
    asio::async_write(stream_, asio::buffer(out->data() + sent, out->size() - sent),
                      [self = this->shared_from_this(), out](beast::error_code ec, size_t) {
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
  // bounded time and size, then close. Over TLS too, this works below
  // OpenSSL: the response is whole (Content-Length), so the client needs no
  // close_notify, and the discarded bytes need no decrypting.
  void LingerClose() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Tcp().expires_after(std::chrono::seconds(2));
    linger_left_ = 4 << 20;
    Discard();
  }

  void Discard() {
    if (!drain_) drain_ = std::make_unique<std::array<char, 16384>>();
    Tcp().async_read_some(asio::buffer(*drain_), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      if (ec || n >= self->linger_left_) return self->Close({});
      self->linger_left_ -= n;
      self->Discard();
    });
  }

  static Response TooLarge(uint64_t limit) {
    std::string why = "request body too large: the limit is " + std::to_string(limit) + " bytes";
    return Response::Json(413, nlohmann::json{{"error", why}}.dump() + "\n");
  }

  void Close(beast::error_code ec) {
    if (ec && ec != asio::error::operation_aborted && ec != beast::errc::not_connected)
      spdlog::debug("http connection closed: {}", ec.message());
    // No shutdown first: close sends the FIN itself, and one-request
    // connections make this the commonest path. No TLS close_notify either:
    // every response carries its length, so a client never needs it.
    beast::error_code ignored;
    Tcp().socket().close(ignored);
  }

  std::shared_ptr<ssl::context> tls_;  // declared first: outlives stream_'s SSL object; null for plain HTTP
  Stream stream_;
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
  std::shared_ptr<std::atomic<bool>> replied_;        // of the request in the handler's hands
  std::shared_ptr<std::function<void()>> on_hangup_;  // set by that handler, if it wants to know
  std::unique_ptr<asio::steady_timer> recheck_;       // WatchHangup's pause
};

}  // namespace

Server::Server(ServerOptions options, Handler handler)
    : limiter_(std::make_shared<Limiter>()),
      options_(std::move(options)),
      handler_(std::move(handler)),
      own_io_(std::make_unique<asio::io_context>()),
      io_(own_io_.get()),
      acceptor_(asio::make_strand(*io_)),
      accept_retry_(acceptor_.get_executor()) {}

Server::Server(ServerOptions options, Handler handler, asio::io_context& io)
    : limiter_(std::make_shared<Limiter>()),
      options_(std::move(options)),
      handler_(std::move(handler)),
      io_(&io),
      acceptor_(asio::make_strand(io)),
      accept_retry_(acceptor_.get_executor()) {}

uint64_t Server::connections_rejected() const { return limiter_->rejected.load(); }
uint64_t Server::connections_accepted() const { return limiter_->accepted.load(); }

Server::~Server() {
  // A listener on a shared context is destroyed after that context stopped
  // running: its acceptor closes itself, and a posted close would outlive it.
  if (own_io_) Stop();
}

Status Server::Start() {
  auto ep = ParseEndpoint(options_.listen);
  if (!ep.ok()) return ep.status();
  if (options_.tls.enabled()) {
    auto ctx = MakeServerContext(options_.tls);
    if (!ctx.ok()) return ctx.status();
    tls_ = std::move(*ctx);
  }
  max_connections_ = options_.max_connections;
  if (max_connections_ < 0) {
    rlimit nofile{};
    max_connections_ = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                           ? int(std::min<rlim_t>(nofile.rlim_cur / 2, INT32_MAX))
                           : 0;
  }
  beast::error_code ec;
  acceptor_.open(ep->protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  // Accepted sockets inherit it (Linux): no setsockopt per connection.
  if (!ec) acceptor_.set_option(tcp::no_delay(true), ec);
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

void Server::Admit(tcp::socket socket, const asio::ip::address& remote) {
  bool total_full = false;
  auto slot = limiter_->Acquire(limiter_, remote, options_.max_connections_per_ip, max_connections_, &total_full);
  if (!slot) {
    // Over a limit: close at once, before reading anything, so one
    // address (or a crowd) cannot exhaust descriptors or memory.
    spdlog::debug("closing connection from {}: over {} connections from it or {} in all", remote.to_string(),
                  options_.max_connections_per_ip, max_connections_);
    // A full server is the operator's to fix (hosts' long polls are being
    // refused): said loudly, once a minute at most.
    auto now = std::chrono::steady_clock::now();
    if (total_full && now >= next_full_warning_) {
      spdlog::warn("{} connections open, the limit: closing new ones (raise LimitNOFILE; the limit follows "
                   "the open-file limit)", max_connections_);
      next_full_warning_ = now + std::chrono::minutes(1);
    }
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  if (tls_) {
    std::make_shared<Session<TlsStream>>(std::move(socket), remote, options_, handler_, std::move(slot), tls_)->Start();
  } else {
    std::make_shared<Session<beast::tcp_stream>>(std::move(socket), remote, options_, handler_, std::move(slot),
                                                 nullptr)
        ->Start();
  }
}

void Server::Accept() {
  // One io thread needs no strand per connection (it costs an allocation and a
  // dispatch on every operation of short-lived connections).
  auto executor = [this] {
    return options_.threads > 1 ? asio::any_io_executor(asio::make_strand(*io_)) : io_->get_executor();
  };
  // The peer's address comes with the accept itself: no getpeername per connection.
  acceptor_.async_accept(executor(), peer_, [this, executor](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (accept_failing_) spdlog::info("accepting connections again");
      accept_failing_ = false;
      Admit(std::move(socket), peer_.address());
      // Each accept's completion waits its turn behind every handler that is
      // ready, so one accept per turn would cap new connections at a few per
      // busy loop; take what the backlog holds now (bounded, so the loop
      // still turns).
      beast::error_code nb;
      acceptor_.non_blocking(true, nb);
      for (int i = 0; i < 64 && !nb; ++i) {
        tcp::socket more(executor());
        acceptor_.accept(more, peer_, nb);
        if (!nb) Admit(std::move(more), peer_.address());
      }
    } else if (ec == asio::error::no_descriptors || ec == beast::errc::too_many_files_open_in_system ||
               ec == asio::error::no_buffer_space || ec == asio::error::no_memory) {
      // The connection stays queued and the listening socket stays readable,
      // so accepting again at once fails again at once: a hot loop on the io
      // thread that starves every open connection. Wait for a close instead.
      if (!accept_failing_) spdlog::warn("accept failed: {}; retrying every 100 ms until it works", ec.message());
      accept_failing_ = true;
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](beast::error_code tec) {
        if (!tec && acceptor_.is_open()) Accept();
      });
      return;
    } else {
      spdlog::warn("accept failed: {}", ec.message());
    }
    if (acceptor_.is_open()) Accept();
  });
}

void Server::Run() {
  auto guard = asio::make_work_guard(*io_);
  std::vector<std::thread> extra;
  for (int i = 1; i < options_.threads; ++i) extra.emplace_back([this] { io_->run(); });
  io_->run();
  for (auto& t : extra) t.join();
}

void Server::Stop() {
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    accept_retry_.cancel();
  });
  // The owner of a shared context decides when it stops.
  if (own_io_) io_->stop();
}

// ---- client ----

namespace {

// Marks a failure before any byte of the request left (NotSent).
constexpr std::string_view kNoConnection = "no connection: ";

struct Url {
  bool tls = false;
  std::string host, port, target;
};

Result<Url> ParseUrl(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    return Status::Invalid("bad URL '" + url + "': only http:// and https:// are supported");
  }
  const std::string default_port = u.tls ? "443" : "80";
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!hostport.empty() && hostport[0] == '[') {
    auto close = hostport.find(']');
    if (close == std::string::npos) return Status::Invalid("bad URL host: " + url);
    u.host = hostport.substr(1, close - 1);
    u.port = close + 2 <= hostport.size() ? hostport.substr(close + 2) : default_port;
  } else {
    auto colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    u.port = colon == std::string::npos ? default_port : hostport.substr(colon + 1);
  }
  if (u.host.empty() || u.port.empty()) return Status::Invalid("bad URL: " + url);
  return u;
}

// One context per call: a CA file replaced on disk (rotation) is read by the
// next call, and loading one small PEM costs far less than the handshake.
Result<std::shared_ptr<ssl::context>> MakeClientContext(const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (Status s = HardenContext(*ctx); !s.ok()) return s;
  beast::error_code ec;
  if (ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) return Status::Invalid("cannot load the system's trusted CAs: " + ec.message());
  } else {
    if (Status s = CheckReadable("CA file", ca_file); !s.ok()) return s;
    ctx->load_verify_file(ca_file, ec);
    if (ec) return Status::Invalid("CA file " + ca_file + " holds no PEM certificate: " + ec.message());
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

// Has OpenSSL check the certificate's subjectAltName against the host the URL
// names: an IP address against its IP entries, a name against its DNS entries.
Status ExpectHost(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  bool ok = !ec ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1
                : SSL_set1_host(ssl, host.c_str()) == 1 && SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
  if (!ok) {
    ERR_clear_error();
    return Status::Invalid("cannot check a TLS certificate against host '" + host + "'");
  }
  return Status::Ok();
}

// Why a handshake failed, in the operator's terms: an untrusted or
// mismatched certificate names OpenSSL's verdict and where trust came from.
std::string HandshakeError(SSL* ssl, const beast::error_code& ec, const std::string& host,
                           const ClientOptions& options) {
  long verdict = SSL_get_verify_result(ssl);
  if (verdict == X509_V_OK) return "TLS handshake failed: " + ec.message();
  std::string trust = options.ca_file.empty() ? "the system's trusted CAs" : "CA file " + options.ca_file;
  std::string why = X509_verify_cert_error_string(verdict);
  if (verdict == X509_V_ERR_IP_ADDRESS_MISMATCH || verdict == X509_V_ERR_HOSTNAME_MISMATCH)
    return "TLS certificate rejected: " + why + " (the certificate does not name " + host + ")";
  return "TLS certificate rejected: " + why + " (checked against " + trust + ")";
}

// Connect and handshake (TLS) unless `endpoints` is null (the stream is
// already connected), then write `req` and read the answer into `parser`, all
// under one deadline.
struct Failure {
  beast::error_code ec;  // none: the whole answer is in the parser
  std::string message;
  bool sent = false;  // some of the request may have left (the connection was up)
};
template <class Stream, class Body>
Failure Exchange(asio::io_context& io, Stream& stream, const tcp::resolver::results_type* endpoints, bool bound,
                     bhttp::request<Body>& req, bhttp::response_parser<bhttp::string_body>& parser, const Url& u,
                     const ClientOptions& options) {
  beast::tcp_stream& conn = beast::get_lowest_layer(stream);
  beast::flat_buffer buffer;
  beast::error_code result;
  bool handshaking = false, sent = false;
  conn.expires_after(options.timeout);
  auto on_read = [&](beast::error_code e, size_t) { result = e; };
  auto on_write = [&](beast::error_code e, size_t) {
    if (e) {
      result = e;
      return;
    }
    bhttp::async_read(stream, buffer, parser, on_read);
  };
  auto on_handshake = [&](beast::error_code e) {
    if (e) {
      result = e;
      return;
    }
    handshaking = false;
    sent = true;
    bhttp::async_write(stream, req, on_write);
  };
  auto on_connect = [&](beast::error_code e) {
    if (e) {
      result = e;
      return;
    }
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      handshaking = true;
      stream.async_handshake(ssl::stream_base::client, on_handshake);
    } else {
      on_handshake({});
    }
  };
  if (!endpoints) {
    on_handshake({});
  } else if (!bound) {
    conn.async_connect(*endpoints, [&](beast::error_code e, const tcp::endpoint&) { on_connect(e); });
  } else {
    conn.async_connect(*endpoints->begin(), on_connect);
  }
  io.restart();
  io.run();
  conn.expires_never();
  if (!result) return {};
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    if (handshaking) return {result, HandshakeError(stream.native_handle(), result, u.host, options)};
  }
  return {result, result.message(), sent};
}

}  // namespace

struct Connection::Impl {
  asio::io_context io;
  std::shared_ptr<ssl::context> tls;
  std::optional<beast::tcp_stream> plain;
  std::optional<TlsStream> secure;
  // What the open connection was made for (scheme, host, port, bind address,
  // CA file); empty when none is open.
  std::string peer;
  std::chrono::steady_clock::time_point last_used;
  uint64_t connects = 0;

  beast::tcp_stream& Tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  void Drop() {
    if (plain || secure) {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
    secure.reset();
    plain.reset();
    tls.reset();
    peer.clear();
  }

  Status Open(const Url& u, const ClientOptions& options, tcp::resolver::results_type& endpoints) {
    Drop();
    if (u.tls) {
      auto ctx = MakeClientContext(options.ca_file);
      if (!ctx.ok()) return ctx.status();
      tls = std::move(*ctx);
      secure.emplace(io, *tls);
      if (Status s = ExpectHost(secure->native_handle(), u.host); !s.ok()) return s;
    } else {
      plain.emplace(io);
    }
    beast::error_code ec;
    tcp::resolver resolver(io);
    endpoints = resolver.resolve(u.host, u.port, ec);
    if (ec) return Status::Unavailable("cannot resolve " + u.host + ": " + ec.message());
    if (!options.bind_address.empty()) {
      auto bind = asio::ip::make_address(options.bind_address, ec);
      if (ec) return Status::Invalid("bad bind address " + options.bind_address);
      Tcp().socket().open(bind.is_v6() ? tcp::v6() : tcp::v4(), ec);
      if (!ec) Tcp().socket().bind(tcp::endpoint(bind, 0), ec);
      if (ec) return Status::Unavailable("cannot bind " + options.bind_address + ": " + ec.message());
    }
    ++connects;
    return Status::Ok();
  }

  template <class Body, class Fill>
  Result<ClientResult> Send(const std::string& method, const std::string& url, const ClientOptions& options,
                            Fill fill) {
    auto u = ParseUrl(url);
    if (!u.ok()) return u.status();
    const std::string want = (u->tls ? "https://" : "http://") + u->host + ":" + u->port + " from " +
                             options.bind_address + " trusting " + options.ca_file;
    // Well inside the idle timeout of our own servers (75 s), so a connection
    // the server is about to close is not picked.
    constexpr auto kReuseWithin = std::chrono::seconds(30);
    if (peer != want || std::chrono::steady_clock::now() - last_used > kReuseWithin) Drop();

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

    for (int attempt = 0;; ++attempt) {
      const bool reused = plain || secure;
      tcp::resolver::results_type endpoints;
      if (!reused) {
        if (Status s = Open(*u, options, endpoints); !s.ok()) {
          Drop();
          if (s.code() != Status::Code::kUnavailable) return s;
          return Status::Unavailable(method + " " + url + ": " + std::string(kNoConnection) + s.message());
        }
      }
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(uint64_t(1) << 30);
      const bool bound = !options.bind_address.empty();
      const tcp::resolver::results_type* connect = reused ? nullptr : &endpoints;
      Failure failed = secure ? Exchange(io, *secure, connect, bound, req, parser, *u, options)
                                  : Exchange(io, *plain, connect, bound, req, parser, *u, options);
      if (failed.ec) {
        Drop();
        // The server closed a kept connection (idle) before it read this
        // request: nothing of an answer came, so it is safe to send again.
        // A timeout is not retried: the server may still be working on it.
        if (reused && !parser.got_some() && failed.ec != beast::error::timeout && attempt == 0) {
          if constexpr (std::is_same_v<Body, bhttp::file_body>) {
            // The file was read to its end; reopen it to send it again.
            if (fill(req)) return Status::Unavailable(method + " " + url + ": " + failed.message);
            req.prepare_payload();
          }
          continue;
        }
        return Status::Unavailable(method + " " + url + ": " + (failed.sent ? "" : std::string(kNoConnection)) +
                                   failed.message);
      }
      ClientResult r;
      r.status = static_cast<int>(parser.get().result_int());
      r.body = std::move(parser.get().body());
      if (parser.get().keep_alive()) {
        peer = want;
        last_used = std::chrono::steady_clock::now();
      } else {
        Drop();
      }
      return r;
    }
  }
};

Connection::Connection() : impl_(std::make_unique<Impl>()) {}
Connection::~Connection() { impl_->Drop(); }
bool Connection::open() const { return impl_->plain || impl_->secure; }
void Connection::Close() { impl_->Drop(); }
uint64_t Connection::connects() const { return impl_->connects; }

namespace {

beast::error_code FillString(bhttp::request<bhttp::string_body>& req, const std::string& method,
                             const std::string& body) {
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.body() = body;
    if (req.find(bhttp::field::content_type) == req.end()) req.set(bhttp::field::content_type, "application/json");
  }
  return {};
}

beast::error_code FillFile(bhttp::request<bhttp::file_body>& req, const std::string& path) {
  beast::error_code ec;
  if (req.body().is_open()) req.body().close();
  req.body().open(path.c_str(), beast::file_mode::scan, ec);
  req.set(bhttp::field::content_type, "application/octet-stream");
  return ec;
}

}  // namespace

Result<ClientResult> Connection::Call(const std::string& method, const std::string& url, const std::string& body,
                                      const ClientOptions& options) {
  return impl_->Send<bhttp::string_body>(
      method, url, options, [&](bhttp::request<bhttp::string_body>& req) { return FillString(req, method, body); });
}

Result<ClientResult> Connection::SendFile(const std::string& method, const std::string& url, const std::string& path,
                                          const ClientOptions& options) {
  return impl_->Send<bhttp::file_body>(method, url, options,
                                       [&](bhttp::request<bhttp::file_body>& req) { return FillFile(req, path); });
}

Result<ClientResult> Call(const std::string& method, const std::string& url, const std::string& body,
                          const ClientOptions& options) {
  return Connection().Call(method, url, body, options);
}

bool NotSent(const Status& s) {
  return s.code() == Status::Code::kUnavailable &&
         s.message().find(": " + std::string(kNoConnection)) != std::string::npos;
}

Result<ClientResult> SendFile(const std::string& method, const std::string& url, const std::string& path,
                              const ClientOptions& options) {
  return Connection().SendFile(method, url, path, options);
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
