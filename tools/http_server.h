// The HTTP endpoint of `faultline serve`: Prometheus metrics, health and
// readiness probes, and GET routes that later JSON endpoints register.
//
//   metrics::Registry registry;
//   HttpServerOptions options;                 // 127.0.0.1:9464, no token
//   HttpServer server(options, &registry);
//   server.SetReadinessCheck([&] { return pipeline.Readiness(); });
//   FL_RETURN_IF_ERROR(server.AddGetRoute("/api/incidents", ListIncidents));
//   FL_RETURN_IF_ERROR(server.Start());        // binds now, serves on threads
//   ...
//   server.Stop();                              // or let the destructor do it
//
// Built-in routes (GET; HEAD is answered like GET without a body):
//   /metrics  registry->Exposition(), text/plain; version=0.0.4
//   /healthz  200 "ok" while the process serves at all (never authenticated)
//   /readyz   200 "ready", or 503 with the readiness check's reason
// Any other method on a known path gets 405 (with an Allow header), an unknown
// path 404. No request ever reads a file: there is no static file serving.
//
// Safety limits: the address must be a loopback one unless
// allow_non_loopback; with a bearer_token every path except /healthz needs
// `Authorization: Bearer <token>` (else 401); a request whose request line,
// headers and declared body exceed max_request_bytes gets 413 (its body is not
// read and the connection is closed, so a client still sending may see a
// reset instead). Requests are counted in
// faultline_http_requests_total{path,code}, where path is the route pattern
// ("/metrics", "/api/incidents/*") or "other", keeping the label bounded.
//
// Thread-safety: configure (SetReadinessCheck, Add*Route) before Start();
// Start, Stop and port may then be called from any thread. Handlers and the
// readiness check run on the server's worker threads, several at once, and
// must be thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "tools/metrics.h"

namespace faultline::tools {

struct HttpServerOptions {
  // "host:port" to listen on; "[::1]:9464" for IPv6. Port 0 picks a free
  // port (see HttpServer::port()). Loopback by default: the endpoints are
  // for a local Prometheus agent and probes, not the network.
  std::string address = "127.0.0.1:9464";
  // What the address is called in error messages (the config key, say).
  std::string address_name = "metrics address";
  // Binding an address that is not loopback (0.0.0.0, a LAN address) is an
  // error unless this is set: exposing the endpoints must be a decision.
  bool allow_non_loopback = false;
  // When non-empty, every path except /healthz requires
  // `Authorization: Bearer <bearer_token>`. Printable ASCII, no spaces.
  std::string bearer_token;
  // Upper bound on a request's line, headers and body together. 64 KiB is
  // far above any GET this server answers and bounds what one request may
  // make the server buffer. Bodies sent with chunked encoding (no declared
  // length) are refused with 411.
  size_t max_request_bytes = 64 << 10;
  // Threads answering requests. Two let a probe through while a scrape runs.
  // Each connection carries one request (no keep-alive), so an idle client
  // holds no thread; a stalled one is dropped after 5 s without data.
  int worker_threads = 2;

  // InvalidArgument naming the bad field. Start() calls it.
  Status Validate() const;
};

// What a GET handler sees.
struct HttpRequest {
  std::string path;  // URL-decoded, without the query
  // For a prefix route, the part of the path after the prefix
  // ("/api/incidents/42" on "/api/incidents/" gives "42"); else empty.
  std::string path_suffix;
  // URL-decoded query parameters; a name may repeat. Transparent comparator:
  // query.find("limit") needs no std::string.
  std::multimap<std::string, std::string, std::less<>> query;
};

// What a GET handler returns.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct Readiness {
  bool ready = true;
  std::string reason;  // shown in the 503 body when not ready
};
using ReadinessCheck = std::function<Readiness()>;

// Owns an HTTP server (cpp-httplib, hidden here) and its listener thread.
// Lifecycle: construct, configure, Start() once, Stop() (idempotent; the
// destructor calls it). Not copyable or movable.
class HttpServer {
 public:
  // `registry` is rendered at /metrics and receives the request counter.
  // REQUIRES: registry != nullptr and outlives this server.
  HttpServer(HttpServerOptions options, metrics::Registry* registry);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // /readyz calls `check` on each request. Without one, /readyz is 200.
  // REQUIRES: before Start().
  void SetReadinessCheck(ReadinessCheck check);

  // Routes GET requests for exactly `path` to `handler`. InvalidArgument if
  // the path does not start with '/', is already routed (the built-in routes
  // included), or the server has started.
  Status AddGetRoute(std::string path, HttpHandler handler);
  // Routes GET requests for every path that starts with `prefix` (which must
  // end with '/') and is longer than it; the handler finds the rest in
  // HttpRequest::path_suffix. Exact routes win over prefixes, and longer
  // prefixes over shorter ones. Counted as path="<prefix>*". Errors as above.
  Status AddGetPrefixRoute(std::string prefix, HttpHandler handler);

  // Validates the options, resolves and binds the address, and starts
  // serving on background threads; returns once the listener is accepting.
  // Errors name the address: "metrics address 127.0.0.1:9464: address
  // already in use" (IOError), "... is not a loopback address; set
  // allow_non_loopback to listen on it" (InvalidArgument).
  // REQUIRES: called at most once.
  Status Start();

  // The bound port (the chosen one when the address asked for port 0), or
  // 0 before a successful Start().
  int port() const;

  // Stops accepting, lets in-flight requests finish, and joins the threads.
  // Blocks briefly. Idempotent; safe before Start().
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace faultline::tools
