// Minimal HTTP/1.1 server and client on Boost.Beast, shared by every component.
//
// Server: one io_context, N threads. Handlers receive a parsed Request and a
// Reply callback; they may answer at once or keep the Reply and call it later
// from any thread (long polls). A handler must call Reply exactly once.
//
// TLS: a Server given ServerOptions::tls speaks only TLS (1.2 and 1.3) on its
// port; Call and SendFile speak TLS to https:// URLs and verify the server's
// certificate against ClientOptions::ca_file and the URL's host (a DNS name or
// an IP address, matched against the certificate's subjectAltName).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "wire/status.h"

namespace spate::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target: path plus '?' query
  std::string path;    // target before '?'
  std::string query;   // target after '?', still percent-encoded
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;       // in-memory body (empty when streamed to a file)
  std::string body_file;  // set by ServerOptions::on_header to stream the body to disk
  boost::asio::ip::address remote;
  // A handler that keeps its Reply (a long poll) may set *on_hangup: the
  // server calls it, on the connection's io thread, if the client closes the
  // connection before the reply. The server has then already closed its side
  // and freed the connection's place in the limits; a later Reply is dropped.
  std::shared_ptr<std::function<void()>> on_hangup;

  std::string header(const std::string& lower_name) const;
  // The token of an "Authorization: Bearer <token>" header, or "".
  std::string bearer_token() const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;

  static Response Json(int status, const std::string& body);
  static Response Text(int status, const std::string& body);
  // {"error": message} with the status's HTTP code.
  static Response Error(const Status& s);
};

using Reply = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Reply)>;

// A server's certificate and key, PEM files. Both empty = plain HTTP.
struct TlsFiles {
  std::string cert_file;  // the server certificate, then any intermediates
  std::string key_file;   // its private key, unencrypted

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
  // Both or neither, readable, and the key belongs to the certificate; the
  // message names the file and what is wrong with it. Invalid on failure, so
  // a daemon can report it as a configuration error before it binds anything.
  Status Check() const;
};

struct ServerOptions {
  // "ADDRESS:PORT"; port 0 picks a free port (read it back with local_endpoint()).
  std::string listen = "127.0.0.1:0";
  // io threads; handlers run on them, so long work must not block all of them.
  int threads = 1;
  // Largest in-memory request body.
  size_t max_body = 1 << 20;
  // Largest body streamed to a file.
  uint64_t max_file_body = uint64_t(1) << 40;
  // A body streamed to a file must make progress this often (each read is
  // bounded, not the whole upload): a stalled client cannot hold a
  // connection and a half-written file for ever, however large its upload.
  std::chrono::seconds upload_idle_timeout{60};
  // A connection idle this long is closed; also bounds reading one request
  // (header and in-memory body), so a slow client only ever holds its own
  // connection, never an io thread.
  std::chrono::seconds idle_timeout{75};
  // Concurrent connections from one client address; further ones are closed
  // as soon as they are accepted (counted in connections_rejected()). 0 = no limit.
  int max_connections_per_ip = 64;
  // Concurrent connections in all; further ones are closed as soon as they are
  // accepted (counted in connections_rejected()), so the process keeps
  // descriptors for its files and other sockets. 0 = no limit; -1 = half the
  // open-file limit (RLIMIT_NOFILE, soft) at Start(), which follows an
  // operator's LimitNOFILE.
  int max_connections = -1;
  int listen_backlog = 1024;
  // Called once the header is read. Return a Response to answer at once (e.g. 401)
  // without reading the body, or set req.body_file to stream the body to that path.
  std::function<std::optional<Response>(Request&)> on_header;
  // Set: the port speaks only TLS; a plaintext client gets its connection
  // closed after the failed handshake. The handshake is bounded by idle_timeout.
  TlsFiles tls;
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  // A second listener on another server's io_context (e.g. a plain announce
  // port beside a TLS control port): its handlers run on that context's
  // threads, so they share state without locks. Run() must not be called;
  // Stop() only closes the listener. Must be destroyed before `io` is.
  Server(ServerOptions options, Handler handler, boost::asio::io_context& io);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. Fails with a clear message if the address is bad or
  // busy, or (Invalid) if the TLS files are unreadable or do not match.
  Status Start();
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Runs the io threads until Stop(). Blocks.
  void Run();
  // Thread-safe; makes Run() return.
  void Stop();
  boost::asio::io_context& io() { return *io_; }
  // Connections closed at accept time for exceeding max_connections_per_ip or
  // max_connections. Thread-safe.
  uint64_t connections_rejected() const;
  // Connections taken (within the limits) since Start(). Thread-safe.
  uint64_t connections_accepted() const;
  // The max_connections in force (after Start() resolved -1); 0 = no limit.
  int max_connections() const { return max_connections_; }

  struct Limiter;

 private:
  void Accept();
  // Starts a session for an accepted connection, or closes it when over a limit.
  void Admit(boost::asio::ip::tcp::socket socket, const boost::asio::ip::address& remote);
  std::shared_ptr<Limiter> limiter_;
  ServerOptions options_;
  Handler handler_;
  std::unique_ptr<boost::asio::io_context> own_io_;  // null when sharing another server's
  boost::asio::io_context* io_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // set by Start() when options_.tls is
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint peer_;  // of the accept in progress (one at a time)
  // Waits out a failed accept (out of descriptors), on the acceptor's strand.
  boost::asio::steady_timer accept_retry_;
  bool accept_failing_ = false;  // logged once per episode, not ten times a second; on the strand
  std::chrono::steady_clock::time_point next_full_warning_{};  // on the strand
  int max_connections_ = 0;
};

struct ClientOptions {
  // Local address to bind outgoing connections to ("" = any). Lets a simulated
  // host on 127.0.R.H be seen by its own address.
  std::string bind_address;
  std::chrono::milliseconds timeout{10000};
  Headers headers;
  // PEM file of the CA(s) that https:// servers' certificates must chain to;
  // "" = the system's trust store. Unused for http:// URLs.
  std::string ca_file;
};

struct ClientResult {
  int status = 0;
  std::string body;
};

// A client connection kept open between requests to the same server (HTTP/1.1
// keep-alive), for callers that talk to one server often: the fetcher's
// report a second would otherwise cost the server an accept, a session and a
// close each time, and a full handshake each time over TLS. Opened on first
// use; opened again when a request names another server, another bind address
// or CA, when the server answered "Connection: close", or after an error. A
// request that finds a reused connection closed by the server before any byte
// of the answer arrived (its idle timeout) is sent once more on a new
// connection, so only requests that are safe to repeat belong on one.
// Not thread-safe: one caller at a time.
class Connection {
 public:
  Connection();
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // As http::Call below.
  Result<ClientResult> Call(const std::string& method, const std::string& url, const std::string& body,
                            const ClientOptions& options = {});
  // As http::SendFile below.
  Result<ClientResult> SendFile(const std::string& method, const std::string& url, const std::string& path,
                                const ClientOptions& options = {});
  bool open() const;
  // Closes the connection now (the next request opens a new one): a caller
  // that will be quiet for a while frees the server's descriptor at once
  // instead of at the server's idle timeout.
  void Close();
  // New TCP connections made so far (the first included).
  uint64_t connects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a connection of its own, closed after the answer. A
// transport failure is a non-ok Status; any HTTP answer is ok.
Result<ClientResult> Call(const std::string& method, const std::string& url, const std::string& body,
                          const ClientOptions& options = {});
// True when `s`, a failed Call or SendFile, failed before any byte of the
// request left (no address, refused, timed out connecting, TLS handshake):
// a request that changes something may go to another server without being
// applied twice. Its message says "no connection: ".
bool NotSent(const Status& s);
// PUT/POST a file as the body, streamed from disk.
Result<ClientResult> SendFile(const std::string& method, const std::string& url, const std::string& path,
                              const ClientOptions& options = {});

// Splits "ADDRESS:PORT" ("[v6]:PORT" too).
Result<boost::asio::ip::tcp::endpoint> ParseEndpoint(const std::string& s);
std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& ep);

// Query strings.
std::string UrlEncode(const std::string& s);
// Decodes %XX and '+'. Fails on truncated or non-hex escapes.
Result<std::string> UrlDecode(const std::string& s);
// Splits "a=1&b=2" into decoded pairs in order. Fails on bad escapes.
Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(const std::string& query);

}  // namespace spate::http
