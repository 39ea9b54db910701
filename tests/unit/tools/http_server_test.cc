#include "tools/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/testutil/test_util.h"
#include "tools/metrics.h"

namespace faultline::tools {
namespace {

// Sends `request` on a fresh connection to 127.0.0.1:port and returns all
// that comes back until the server closes.
std::string RawRequest(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
      response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return response;
}

std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

class HttpServerTest : public ::testing::Test {
 protected:
  // Starts a server on an ephemeral loopback port.
  void StartServer(HttpServerOptions options = {}) {
    options.address = "127.0.0.1:0";
    server_ = std::make_unique<HttpServer>(options, &registry_);
    Configure(*server_);
    ASSERT_OK(server_->Start());
    ASSERT_GT(server_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  virtual void Configure(HttpServer&) {}

  // GETs `path`: the status and body, or -1 and the client's error.
  using Reply = std::pair<int, std::string>;
  Reply Get(const std::string& path, const httplib::Headers& headers = {}) {
    httplib::Result res = client_->Get(path, headers);
    if (!res) return {-1, httplib::to_string(res.error())};
    return {res->status, res->body};
  }

  // Requests counted so far, for one path label and code. Stops the server
  // first: a request is counted after its response is written, so only a
  // stopped server (all workers joined) gives settled numbers.
  uint64_t Counted(const std::string& path, const std::string& code) {
    server_->Stop();
    Result<metrics::Family<metrics::Counter>*> family =
        registry_.AddCounterFamily(
            "faultline_http_requests_total",
            "HTTP requests answered, by route pattern and status code.",
            {"path", "code"});
    EXPECT_OK(family.status());
    return family.ok() ? (*family)->WithLabels({path, code})->value() : 0;
  }

  metrics::Registry registry_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, ServesMetricsExposition) {
  Result<metrics::Counter*> counter =
      registry_.AddCounter("faultline_records_in_total", "Records in.");
  ASSERT_OK(counter.status());
  (*counter)->Increment(3);
  StartServer();
  httplib::Result res = client_->Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  // The request counter family is registered by Start(); this request is
  // counted only after its response.
  EXPECT_EQ(res->body,
            "# HELP faultline_records_in_total Records in.\n"
            "# TYPE faultline_records_in_total counter\n"
            "faultline_records_in_total 3\n"
            "# HELP faultline_http_requests_total HTTP requests answered, by "
            "route pattern and status code.\n"
            "# TYPE faultline_http_requests_total counter\n");
}

TEST_F(HttpServerTest, HealthzIsOk) {
  StartServer();
  EXPECT_EQ(Get("/healthz"), Reply(200, "ok"));
  httplib::Result head = client_->Head("/healthz");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
}

class HttpServerReadinessTest : public HttpServerTest {
 protected:
  void Configure(HttpServer& server) override {
    server.SetReadinessCheck([this] {
      return ready_ ? Readiness{true, ""}
                    : Readiness{false, "no partitions assigned"};
    });
  }
  std::atomic<bool> ready_{false};
};

TEST_F(HttpServerReadinessTest, ReadyzFollowsTheCheck) {
  StartServer();
  EXPECT_EQ(Get("/readyz"), Reply(503, "not ready: no partitions assigned"));
  ready_ = true;
  EXPECT_EQ(Get("/readyz"), Reply(200, "ready"));
  EXPECT_EQ(Counted("/readyz", "503"), 1u);
  EXPECT_EQ(Counted("/readyz", "200"), 1u);
}

TEST_F(HttpServerTest, ReadyzWithoutCheckIsReady) {
  StartServer();
  EXPECT_EQ(Get("/readyz"), Reply(200, "ready"));
}

TEST_F(HttpServerTest, UnknownPathIs404AndOtherMethodsAre405) {
  StartServer();
  EXPECT_EQ(Get("/nope"), Reply(404, "not found\n"));
  httplib::Result res =
      client_->Post("/metrics", "x=1", "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "GET, HEAD");
  res = client_->Delete("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  res = client_->Put("/nope", "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(Counted("other", "404"), 2u);
  EXPECT_EQ(Counted("/metrics", "405"), 1u);
  EXPECT_EQ(Counted("/healthz", "405"), 1u);
}

TEST_F(HttpServerTest, LongPathIs404) {
  HttpServerOptions options;
  options.max_request_bytes = 1 << 20;
  StartServer(options);
  // Near httplib's 8 KiB URI cap. Every path goes through httplib's
  // std::regex match of ".*", whose libstdc++ matcher recurses per character;
  // this checks that the cap keeps that within a worker's stack.
  EXPECT_EQ(Get("/" + std::string(8000, 'a')), Reply(404, "not found\n"));
  EXPECT_EQ(Get("/" + std::string(9000, 'a')).first, 414);
}

TEST_F(HttpServerTest, KeepAliveClientsGetOneRequestPerConnection) {
  StartServer();
  client_->set_keep_alive(true);
  httplib::Result res = client_->Post("/healthz", "body", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Connection"), "close");
  EXPECT_EQ(Get("/healthz"), Reply(200, "ok"));
  // No idle connection keeps a worker, so Stop is quick.
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(500));
}

class HttpServerRoutesTest : public HttpServerTest {
 protected:
  void Configure(HttpServer& server) override {
    ASSERT_OK(server.AddGetRoute("/api/incidents", [](const HttpRequest& req) {
      std::string body = "list";
      for (const auto& [name, value] : req.query) {
        body += " " + name + "=" + value;
      }
      return HttpResponse{200, "application/json", body};
    }));
    ASSERT_OK(
        server.AddGetPrefixRoute("/api/incidents/", [](const HttpRequest& req) {
          if (req.path_suffix == "missing") {
            return HttpResponse{404, "application/json", "{}"};
          }
          return HttpResponse{200, "application/json",
                              req.path + " id=" + req.path_suffix};
        }));
    ASSERT_OK(server.AddGetRoute("/throws", [](const HttpRequest&) {
      throw std::runtime_error("secret detail");
      return HttpResponse{};
    }));
  }
};

TEST_F(HttpServerRoutesTest, HandlersGetPathQueryAndSuffix) {
  StartServer();
  httplib::Result res =
      client_->Get("/api/incidents?service=a%20b&limit=5&limit=6");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->body, "list limit=5 limit=6 service=a b");
  EXPECT_EQ(Get("/api/incidents/42"), Reply(200, "/api/incidents/42 id=42"));
  EXPECT_EQ(Get("/api/incidents/missing"), Reply(404, "{}"));
  // The bare prefix is not a prefix-route match.
  EXPECT_EQ(Get("/api/incidents/"), Reply(404, "not found\n"));
  // Label is the route pattern, not the raw path.
  EXPECT_EQ(Counted("/api/incidents", "200"), 1u);
  EXPECT_EQ(Counted("/api/incidents/*", "200"), 1u);
  EXPECT_EQ(Counted("/api/incidents/*", "404"), 1u);
  EXPECT_EQ(Counted("other", "404"), 1u);
}

TEST_F(HttpServerRoutesTest, ThrowingHandlerGives500WithoutDetail) {
  StartServer();
  httplib::Result res = client_->Get("/throws");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body, "internal error\n");
  for (const auto& [name, value] : res->headers) {
    EXPECT_EQ(value.find("secret"), std::string::npos) << name;
  }
}

TEST_F(HttpServerTest, RejectsBadRoutes) {
  HttpServer server(HttpServerOptions{}, &registry_);
  auto handler = [](const HttpRequest&) { return HttpResponse{}; };
  EXPECT_EQ(server.AddGetRoute("/metrics", handler).message(),
            "route /metrics is already registered");
  EXPECT_EQ(server.AddGetRoute("api", handler).message(),
            "route \"api\": must start with '/'");
  EXPECT_EQ(server.AddGetPrefixRoute("/api", handler).message(),
            "route \"/api\": must start with '/' and end with '/'");
  ASSERT_OK(server.AddGetPrefixRoute("/api/", handler));
  EXPECT_FALSE(server.AddGetPrefixRoute("/api/", handler).ok());
}

TEST_F(HttpServerTest, NoRoutesAfterStart) {
  StartServer();
  Status status = server_->AddGetRoute(
      "/late", [](const HttpRequest&) { return HttpResponse{}; });
  EXPECT_EQ(status.message(), "route /late: the server has already started");
}

TEST_F(HttpServerTest, BearerTokenGuardsAllButHealthz) {
  HttpServerOptions options;
  options.bearer_token = "s3cret-token";
  StartServer(options);
  httplib::Result res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->get_header_value("WWW-Authenticate"),
            "Bearer realm=\"faultline\"");
  EXPECT_EQ(res->body, "missing or wrong bearer token\n");
  const Reply refused(401, "missing or wrong bearer token\n");
  EXPECT_EQ(Get("/metrics", {{"Authorization", "Bearer wrong-token!"}}),
            refused);
  EXPECT_EQ(Get("/metrics", {{"Authorization", "Basic s3cret-token"}}),
            refused);
  // Unknown paths do not reveal themselves to the unauthenticated.
  EXPECT_EQ(Get("/nope"), refused);
  EXPECT_EQ(Get("/healthz"), Reply(200, "ok"));
  EXPECT_EQ(Get("/readyz", {{"Authorization", "bearer s3cret-token"}}),
            Reply(200, "ready"));
  client_->set_bearer_token_auth("s3cret-token");
  EXPECT_EQ(Get("/metrics").first, 200);
  EXPECT_EQ(Counted("/metrics", "401"), 3u);
  EXPECT_EQ(Counted("other", "401"), 1u);
  EXPECT_EQ(Counted("/metrics", "200"), 1u);
}

TEST_F(HttpServerTest, LargeRequestsGet413) {
  HttpServerOptions options;
  options.max_request_bytes = 2048;
  StartServer(options);
  EXPECT_EQ(Get("/healthz", {{"X-Padding", std::string(500, 'p')}}),
            Reply(200, "ok"));
  // Headers alone over the limit (each line under httplib's own 8 KiB cap).
  EXPECT_EQ(Get("/healthz", {{"X-Padding-1", std::string(1000, 'p')},
                             {"X-Padding-2", std::string(1000, 'p')}}),
            Reply(413, "request larger than 2048 bytes\n"));
  // A declared body over the limit.
  httplib::Result res =
      client_->Post("/metrics", std::string(4096, 'b'), "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(Counted("/healthz", "413"), 1u);
  EXPECT_EQ(Counted("/metrics", "413"), 1u);
  EXPECT_EQ(Counted("/healthz", "200"), 1u);
}

TEST_F(HttpServerTest, ChunkedBodiesGet411) {
  StartServer();
  // Raw, because the server answers before reading the body and closes,
  // which a client still sending the body may see as a reset.
  EXPECT_EQ(StatusLine(RawRequest(server_->port(),
                                  "POST /metrics HTTP/1.1\r\n"
                                  "Host: x\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n")),
            "HTTP/1.1 411 Length Required");
}

TEST_F(HttpServerTest, MethodsWithoutHandlerTableAre405Or404) {
  StartServer();
  EXPECT_EQ(StatusLine(RawRequest(server_->port(),
                                  "TRACE /metrics HTTP/1.1\r\nHost: x\r\n"
                                  "Connection: close\r\n\r\n")),
            "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(StatusLine(RawRequest(server_->port(),
                                  "TRACE /nope HTTP/1.1\r\nHost: x\r\n"
                                  "Connection: close\r\n\r\n")),
            "HTTP/1.1 404 Not Found");
}

TEST_F(HttpServerTest, RefusesNonLoopbackWithoutFlag) {
  HttpServerOptions options;
  options.address = "0.0.0.0:0";
  HttpServer server(options, &registry_);
  Status status = server.Start();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "metrics address 0.0.0.0:0: 0.0.0.0 is not a loopback address; "
            "set allow_non_loopback to listen on it");
  EXPECT_EQ(server.port(), 0);

  options.allow_non_loopback = true;
  HttpServer allowed(options, &registry_);
  ASSERT_OK(allowed.Start());
  EXPECT_GT(allowed.port(), 0);
}

TEST_F(HttpServerTest, LocalhostNameIsLoopback) {
  HttpServerOptions options;
  options.address = "localhost:0";
  HttpServer server(options, &registry_);
  ASSERT_OK(server.Start());
  EXPECT_GT(server.port(), 0);
}

TEST_F(HttpServerTest, AddressInUseIsAClearError) {
  StartServer();
  const std::string address = "127.0.0.1:" + std::to_string(server_->port());
  HttpServerOptions options;
  options.address = address;
  HttpServer second(options, &registry_);
  Status status = second.Start();
  EXPECT_EQ(status.code(), StatusCode::kIOError);
  EXPECT_EQ(status.message(),
            "metrics address " + address + ": address already in use");
  // The first server still answers.
  EXPECT_EQ(Get("/healthz"), Reply(200, "ok"));
}

TEST_F(HttpServerTest, RejectsBadOptions) {
  auto start_error = [&](HttpServerOptions options) {
    HttpServer server(options, &registry_);
    return server.Start().message();
  };
  HttpServerOptions options;
  options.address = "localhost";
  EXPECT_EQ(start_error(options),
            "metrics address localhost: expected host:port");
  options.address = "127.0.0.1:65536";
  EXPECT_EQ(start_error(options),
            "metrics address 127.0.0.1:65536: the port must be a number "
            "0..65535");
  options.address = ":9464";
  EXPECT_EQ(start_error(options), "metrics address :9464: the host is empty");
  options.address = "::1:9464";
  EXPECT_EQ(start_error(options),
            "metrics address ::1:9464: write IPv6 addresses as [addr]:port");
  options = {};
  options.bearer_token = "has space";
  EXPECT_EQ(start_error(options),
            "bearer token: only printable ASCII without spaces is allowed");
  options = {};
  options.worker_threads = 0;
  EXPECT_EQ(start_error(options), "worker_threads must be 1..64, got 0");
  options = {};
  options.max_request_bytes = 10;
  EXPECT_EQ(start_error(options),
            "max_request_bytes must be at least 1024, got 10");
}

TEST_F(HttpServerTest, StopIsIdempotent) {
  HttpServer never_started(HttpServerOptions{}, &registry_);
  never_started.Stop();
  StartServer();
  EXPECT_EQ(Get("/healthz"), Reply(200, "ok"));
  server_->Stop();
  server_->Stop();
  EXPECT_EQ(Get("/healthz"), Reply(-1, "Connection"));
  EXPECT_EQ(server_->Start().message(), "server already started");
}

}  // namespace
}  // namespace faultline::tools
