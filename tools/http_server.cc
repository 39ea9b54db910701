#include "tools/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>

namespace faultline::tools {
namespace {

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";
constexpr std::string_view kHealthzPath = "/healthz";
// Label for requests that match no route, keeping path cardinality bounded.
constexpr std::string_view kOtherPath = "other";
// Seconds a worker waits on a silent client mid-request.
constexpr time_t kReadTimeoutSeconds = 5;

struct HostPort {
  std::string host;  // without IPv6 brackets
  int port = 0;
};

// "host:port" or "[v6]:port".
Result<HostPort> ParseAddress(std::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return Status::InvalidArgument("expected host:port");
  }
  std::string_view host = address.substr(0, colon);
  std::string_view port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return Status::InvalidArgument("write IPv6 addresses as [addr]:port");
  }
  if (host.empty()) {
    return Status::InvalidArgument("the host is empty");
  }
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(),
                                   port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() ||
      end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return Status::InvalidArgument("the port must be a number 0..65535");
  }
  return HostPort{std::string(host), port};
}

bool IsLoopback(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(addr);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr->sa_family == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

// Resolves `host` to the numeric address to bind. Checking every candidate
// here and handing httplib the number (not the name) means the address that
// is bound is the one that was checked.
Result<std::string> ResolveForBind(const std::string& host,
                                   bool allow_non_loopback) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return Status::InvalidArgument(std::string("cannot resolve host: ") +
                                   gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found,
                                                           &freeaddrinfo);
  std::string first;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    char text[NI_MAXHOST];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof(text), nullptr, 0,
                    NI_NUMERICHOST) != 0) {
      continue;
    }
    if (!allow_non_loopback && !IsLoopback(ai->ai_addr)) {
      return Status::InvalidArgument(
          std::string(text) +
          " is not a loopback address; set allow_non_loopback to listen on "
          "it");
    }
    if (first.empty()) first = text;
  }
  if (first.empty()) {
    return Status::InvalidArgument("host resolves to no usable address");
  }
  return first;
}

// "Address already in use" -> "address already in use".
std::string ErrnoText(int error) {
  std::string text = std::generic_category().message(error);
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// Compares without an early exit, so response timing does not reveal how
// much of a guessed token was right.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<unsigned char>(diff | (a[i] ^ b[i]));
  }
  return diff == 0;
}

void SetText(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), std::string(kTextPlain).c_str());
}

// Body for an error httplib produced itself (parse errors, URI too long).
std::string DefaultErrorBody(int status) {
  switch (status) {
    case 400: return "bad request\n";
    case 404: return "not found\n";
    case 405: return "method not allowed\n";
    case 413: return "request too large\n";
    case 414: return "URI too long\n";
    default: return "error " + std::to_string(status) + "\n";
  }
}

}  // namespace

Status HttpServerOptions::Validate() const {
  Result<HostPort> host_port = ParseAddress(address);
  if (!host_port.ok()) {
    return host_port.status().WithContext(address_name + " " + address);
  }
  for (char c : bearer_token) {
    if (c < 0x21 || c > 0x7e) {
      return Status::InvalidArgument(
          "bearer token: only printable ASCII without spaces is allowed");
    }
  }
  if (max_request_bytes < 1024) {
    return Status::InvalidArgument(
        "max_request_bytes must be at least 1024, got " +
        std::to_string(max_request_bytes));
  }
  if (worker_threads < 1 || worker_threads > 64) {
    return Status::InvalidArgument("worker_threads must be 1..64, got " +
                                   std::to_string(worker_threads));
  }
  return Status::Ok();
}

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, metrics::Registry* registry)
      : options_(std::move(options)), registry_(registry) {
    exact_routes_.emplace(
        "/metrics", Route{"/metrics", [this](const auto&) {
                            return HttpResponse{
                                200,
                                std::string(metrics::Registry::kContentType),
                                registry_->Exposition()};
                          }});
    exact_routes_.emplace(
        kHealthzPath,
        Route{std::string(kHealthzPath), [](const auto&) {
                return HttpResponse{200, std::string(kTextPlain), "ok"};
              }});
    exact_routes_.emplace(
        "/readyz",
        Route{"/readyz", [this](const auto&) {
                Readiness readiness = readiness_ ? readiness_() : Readiness{};
                if (readiness.ready) {
                  return HttpResponse{200, std::string(kTextPlain), "ready"};
                }
                return HttpResponse{503, std::string(kTextPlain),
                                    "not ready: " + readiness.reason};
              }});
  }

  ~Impl() { Stop(); }

  void SetReadinessCheck(ReadinessCheck check) {
    readiness_ = std::move(check);
  }

  Status AddRoute(std::string pattern, HttpHandler handler, bool prefix) {
    if (started_) {
      return Status::InvalidArgument("route " + pattern +
                                     ": the server has already started");
    }
    if (pattern.empty() || pattern[0] != '/' ||
        (prefix && pattern.back() != '/')) {
      return Status::InvalidArgument("route \"" + pattern +
                                     "\": must start with '/'" +
                                     (prefix ? " and end with '/'" : ""));
    }
    bool taken =
        exact_routes_.contains(pattern) ||
        std::any_of(prefix_routes_.begin(), prefix_routes_.end(),
                    [&](const auto& entry) { return entry.first == pattern; });
    if (taken) {
      return Status::InvalidArgument("route " + pattern +
                                     " is already registered");
    }
    if (!prefix) {
      std::string label = pattern;
      exact_routes_.emplace(std::move(pattern),
                            Route{std::move(label), std::move(handler)});
      return Status::Ok();
    }
    std::string label = pattern + "*";
    prefix_routes_.emplace_back(std::move(pattern),
                                Route{std::move(label), std::move(handler)});
    // Longest prefix first, so the first match is the most specific.
    std::stable_sort(prefix_routes_.begin(), prefix_routes_.end(),
                     [](const auto& a, const auto& b) {
                       return a.first.size() > b.first.size();
                     });
    return Status::Ok();
  }

  Status Start() {
    std::scoped_lock lock(lifecycle_mu_);
    if (started_.exchange(true)) {
      return Status::InvalidArgument("server already started");
    }
    FL_RETURN_IF_ERROR(options_.Validate());
    const std::string where = options_.address_name + " " + options_.address;
    FL_ASSIGN_OR_RETURN(HostPort host_port, ParseAddress(options_.address));
    Result<std::string> bind_host =
        ResolveForBind(host_port.host, options_.allow_non_loopback);
    if (!bind_host.ok()) return bind_host.status().WithContext(where);
    FL_ASSIGN_OR_RETURN(
        requests_,
        registry_->AddCounterFamily(
            "faultline_http_requests_total",
            "HTTP requests answered, by route pattern and status code.",
            {"path", "code"}));
    Configure();

    errno = 0;
    int port = host_port.port;
    bool bound = port == 0 ? (port = server_.bind_to_any_port(*bind_host)) > 0
                           : server_.bind_to_port(*bind_host, port);
    if (!bound) {
      int error = errno;
      return Status::IOError(
          where + ": " +
          (error != 0 ? ErrnoText(error) : std::string("cannot listen")));
    }
    port_ = port;
    listener_ = std::thread([this] {
      if (!server_.listen_after_bind()) listen_failed_ = true;
    });
    // httplib's stop() is a no-op until the accept loop runs, so wait for it;
    // Stop() can then always end the loop.
    while (!server_.is_running() && !listen_failed_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (listen_failed_) {
      listener_.join();
      return Status::IOError(where + ": the listener stopped at once");
    }
    return Status::Ok();
  }

  int port() const { return port_; }

  void Stop() {
    std::scoped_lock lock(lifecycle_mu_);
    if (!listener_.joinable()) return;
    // Closes the listening socket; httplib then drains its worker pool, so
    // requests in flight finish before the join returns.
    server_.stop();
    listener_.join();
  }

 private:
  struct Route {
    std::string label;  // the pattern, as counted
    HttpHandler handler;
  };

  // The route for `path`, or nullptr; sets `*suffix` for prefix routes.
  const Route* FindRoute(const std::string& path, std::string* suffix) const {
    suffix->clear();
    auto exact = exact_routes_.find(path);
    if (exact != exact_routes_.end()) return &exact->second;
    for (const auto& [prefix, route] : prefix_routes_) {
      if (path.size() > prefix.size() && path.starts_with(prefix)) {
        *suffix = path.substr(prefix.size());
        return &route;
      }
    }
    return nullptr;
  }

  void Configure() {
    // SO_REUSEADDR only. httplib's default also sets SO_REUSEPORT, which lets
    // a second server bind a port that is in use without any error.
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    // httplib takes ownership of the queue it gets here; its API wants new.
    size_t threads = static_cast<size_t>(options_.worker_threads);
    server_.new_task_queue = [threads] {
      return new httplib::ThreadPool(threads);
    };
    server_.set_payload_max_length(options_.max_request_bytes);
    // One request per connection. httplib serves a keep-alive connection on
    // one worker until it idles out, so two idle scrapers could starve the
    // probes, and Stop() would wait for them; a scrape every few seconds
    // gains nothing from keep-alive anyway.
    server_.set_keep_alive_max_count(1);
    server_.set_read_timeout(kReadTimeoutSeconds, 0);
    server_.set_pre_routing_handler([this](const httplib::Request& req,
                                           httplib::Response& res) {
      return PreRoute(req, res) ? httplib::Server::HandlerResponse::Handled
                                : httplib::Server::HandlerResponse::Unhandled;
    });
    // GET and HEAD go to the route table. The other methods httplib knows
    // are registered so that it reads (and so skips) their bodies before the
    // 405 or 404, keeping a keep-alive connection in step.
    server_.Get(".*", [this](const httplib::Request& req,
                             httplib::Response& res) { HandleGet(req, res); });
    auto refuse = [this](const httplib::Request& req, httplib::Response& res) {
      RefuseMethod(req, res);
    };
    server_.Post(".*", refuse);
    server_.Put(".*", refuse);
    server_.Patch(".*", refuse);
    server_.Delete(".*", refuse);
    server_.Options(".*", refuse);
    server_.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty()) {
            return httplib::Server::HandlerResponse::Unhandled;
          }
          SetText(res, res.status, DefaultErrorBody(res.status));
          return httplib::Server::HandlerResponse::Handled;
        }));
    // Never echo an exception's text to a client (httplib's default puts it
    // in a header).
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res,
           std::exception_ptr) { SetText(res, 500, "internal error\n"); });
    // Called once per response, including httplib's own errors.
    server_.set_logger([this](const httplib::Request& req,
                              const httplib::Response& res) {
      std::string suffix;
      const Route* route = FindRoute(req.path, &suffix);
      std::string_view label = route ? route->label : kOtherPath;
      requests_->WithLabels({label, std::to_string(res.status)})->Increment();
    });
  }

  // Size limit and authentication, before httplib reads any body. Returns
  // true when it answered the request.
  bool PreRoute(const httplib::Request& req, httplib::Response& res) const {
    if (req.has_header("Transfer-Encoding")) {
      SetText(res, 411, "request bodies need a Content-Length\n");
      return true;
    }
    // The request line and headers as sent (about: httplib adds a few
    // REMOTE_/LOCAL_ pseudo-headers), plus the declared body.
    size_t bytes =
        req.method.size() + req.target.size() + req.version.size() + 4 + 2;
    for (const auto& [name, value] : req.headers) {
      bytes += name.size() + value.size() + 4;
    }
    if (req.has_header("Content-Length")) {
      std::string text = req.get_header_value("Content-Length");
      size_t length = 0;
      auto [end, ec] =
          std::from_chars(text.data(), text.data() + text.size(), length);
      if (text.empty() || ec != std::errc() ||
          end != text.data() + text.size()) {
        SetText(res, 400, "bad Content-Length\n");
        return true;
      }
      // Written so that a huge declared length cannot overflow the sum.
      bytes = length > options_.max_request_bytes ? length : bytes + length;
    }
    if (bytes > options_.max_request_bytes) {
      SetText(res, 413,
              "request larger than " +
                  std::to_string(options_.max_request_bytes) + " bytes\n");
      return true;
    }
    if (!options_.bearer_token.empty() && req.path != kHealthzPath &&
        !Authorized(req.get_header_value("Authorization"))) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"faultline\"");
      SetText(res, 401, "missing or wrong bearer token\n");
      return true;
    }
    static constexpr std::string_view kRouted[] = {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    if (std::find(std::begin(kRouted), std::end(kRouted), req.method) ==
        std::end(kRouted)) {
      // CONNECT, TRACE, PRI: httplib has no handler table for them.
      RefuseMethod(req, res);
      return true;
    }
    return false;
  }

  bool Authorized(std::string_view header) const {
    constexpr std::string_view kScheme = "Bearer ";
    if (header.size() < kScheme.size() ||
        !EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme)) {
      return false;
    }
    return ConstantTimeEquals(header.substr(kScheme.size()),
                              options_.bearer_token);
  }

  void RefuseMethod(const httplib::Request& req, httplib::Response& res) const {
    std::string suffix;
    if (FindRoute(req.path, &suffix) == nullptr) {
      SetText(res, 404, "not found\n");
      return;
    }
    res.set_header("Allow", "GET, HEAD");
    SetText(res, 405, "method not allowed\n");
  }

  void HandleGet(const httplib::Request& req, httplib::Response& res) const {
    HttpRequest request;
    const Route* route = FindRoute(req.path, &request.path_suffix);
    if (route == nullptr) {
      SetText(res, 404, "not found\n");
      return;
    }
    request.path = req.path;
    request.query.insert(req.params.begin(), req.params.end());
    HttpResponse response;
    try {
      response = route->handler(request);
    } catch (const std::exception&) {
      // Handlers should not throw; if one does (bad_alloc), the client gets a
      // 500 and the server keeps going.
      SetText(res, 500, "internal error\n");
      return;
    }
    res.status = response.status;
    res.set_content(std::move(response.body), response.content_type.c_str());
  }

  const HttpServerOptions options_;
  metrics::Registry* const registry_;
  ReadinessCheck readiness_;
  // Written only before Start(), read by workers after: no lock needed.
  std::map<std::string, Route, std::less<>> exact_routes_;
  std::vector<std::pair<std::string, Route>> prefix_routes_;
  metrics::Family<metrics::Counter>* requests_ = nullptr;

  httplib::Server server_;
  std::mutex lifecycle_mu_;  // serializes Start and Stop
  std::thread listener_;     // guarded by lifecycle_mu_
  std::atomic<bool> started_{false};
  std::atomic<bool> listen_failed_{false};
  std::atomic<int> port_{0};
};

HttpServer::HttpServer(HttpServerOptions options, metrics::Registry* registry)
    : impl_(std::make_unique<Impl>(std::move(options), registry)) {}

HttpServer::~HttpServer() = default;

void HttpServer::SetReadinessCheck(ReadinessCheck check) {
  impl_->SetReadinessCheck(std::move(check));
}

Status HttpServer::AddGetRoute(std::string path, HttpHandler handler) {
  return impl_->AddRoute(std::move(path), std::move(handler), false);
}

Status HttpServer::AddGetPrefixRoute(std::string prefix, HttpHandler handler) {
  return impl_->AddRoute(std::move(prefix), std::move(handler), true);
}

Status HttpServer::Start() { return impl_->Start(); }

int HttpServer::port() const { return impl_->port(); }

void HttpServer::Stop() { impl_->Stop(); }

}  // namespace faultline::tools
