#include "sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>

#include "core/json_writer.h"
#include "core/time.h"

namespace faultline::sim {

namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kMs = 1'000'000;

const char* const kRegions[] = {"us-east", "eu-west", "ap-south"};
constexpr double kRegionShare[] = {0.5, 0.3, 0.2};

struct Endpoint {
  const char* path;
  const char* service;  // the service that serves it behind the gateway
  double share;
};
constexpr Endpoint kEndpoints[] = {
    {"/v1/chat/completions", "completions", 0.55},
    {"/v1/images/generations", "image-gen", 0.12},
    {"/v1/moderations", "moderation", 0.10},
    {"/v1/embeddings", "embeddings", 0.18},
    {"/v1/audio/transcriptions", "audio", 0.05},
};

// How a service writes its logs: the shapes real fleets mix.
enum class Shape { kFlat, kEcs, kLogfmt, kOtel, kContainer };

struct Service {
  const char* name;
  double base_ms;  // median own work per call
  Shape shape;
  bool logs_requests;  // one line per request served
};
constexpr Service kServices[] = {
    {"edge", 1.0, Shape::kFlat, false},        {"gateway", 2.0, Shape::kEcs, true},
    {"auth", 3.0, Shape::kLogfmt, false},      {"ratelimit", 0.5, Shape::kLogfmt, false},
    {"billing", 4.0, Shape::kFlat, false},     {"completions", 30.0, Shape::kFlat, true},
    {"embeddings", 8.0, Shape::kFlat, true},   {"image-gen", 60.0, Shape::kOtel, true},
    {"moderation", 6.0, Shape::kFlat, false},  {"audio", 40.0, Shape::kOtel, true},
    {"scheduler", 2.0, Shape::kFlat, false},   {"gpu-pool-us-east", 120.0, Shape::kFlat, false},
    {"gpu-pool-eu-west", 120.0, Shape::kFlat, false},
    {"gpu-pool-ap-south", 120.0, Shape::kFlat, false},
    {"cache", 0.4, Shape::kLogfmt, false},     {"metadata-db", 3.0, Shape::kFlat, false},
    {"queue", 0.8, Shape::kContainer, false},  {"config-service", 2.0, Shape::kContainer, false},
    {"deploy-controller", 2.0, Shape::kContainer, false},
};

const Service& Svc(std::string_view name) {
  for (const Service& s : kServices) {
    if (name == s.name) return s;
  }
  return kServices[0];
}

struct Fault {
  const char* name;
  const char* description;
  const char* root;
  const char* family;
  const char* kind;
  const char* region;
  std::vector<std::string> chain;
  std::vector<std::string> endpoints;
};

const std::vector<Fault>& Faults() {
  static const std::vector<Fault> faults = {
      {"demand-surge", "a launch quadruples traffic at the edge within a minute; the GPU pools queue, the rate limiter sheds load with 429s",
       "edge", "demand", "traffic", "",
       {"edge", "gateway", "completions", "scheduler"},
       {"/v1/chat/completions", "/v1/images/generations", "/v1/embeddings", "/v1/audio/transcriptions", "/v1/moderations"}},
      {"gpu-failure", "GPUs of the us-east model-serving pool fall off the bus (Xid 79): its inference calls fail, us-east chat, image, embedding and audio requests return 5xx",
       "gpu-pool-us-east", "infrastructure", "gpu", "us-east",
       {"gpu-pool-us-east", "scheduler", "completions", "gateway", "edge"},
       {"/v1/chat/completions", "/v1/images/generations", "/v1/embeddings", "/v1/audio/transcriptions"}},
      {"network-partition", "the network to the metadata database degrades: every call to it waits a second or more, auth times out",
       "metadata-db", "infrastructure", "network", "",
       {"metadata-db", "auth", "gateway", "edge"},
       {"/v1/chat/completions", "/v1/images/generations", "/v1/embeddings", "/v1/audio/transcriptions", "/v1/moderations"}},
      {"bad-deploy", "a new completions release raises an exception on 45% of chat requests",
       "completions", "software", "deploy", "",
       {"completions", "gateway", "edge"},
       {"/v1/chat/completions"}},
      {"config-push", "a config push gives moderation an invalid threshold: it rejects most inputs, and chat and image requests that pass through it fail",
       "moderation", "software", "config_change", "",
       {"moderation", "completions", "gateway", "edge"},
       {"/v1/chat/completions", "/v1/images/generations", "/v1/moderations"}},
      {"db-pool-exhaustion", "slow queries on the metadata database exhaust auth's connection pool: requests fail authentication with 5xx",
       "metadata-db", "infrastructure", "database", "",
       {"metadata-db", "auth", "gateway", "edge"},
       {"/v1/chat/completions", "/v1/images/generations", "/v1/embeddings", "/v1/audio/transcriptions", "/v1/moderations"}},
      {"cache-stampede", "the cache evicts almost every key under memory pressure: every lookup goes to the metadata database, which slows everything behind auth",
       "cache", "infrastructure", "cache", "",
       {"cache", "auth", "gateway", "edge"},
       {"/v1/chat/completions", "/v1/images/generations", "/v1/embeddings", "/v1/audio/transcriptions", "/v1/moderations"}},
  };
  return faults;
}

const Fault* FindFault(std::string_view scenario, bool* unrelated) {
  *unrelated = false;
  std::string_view base = scenario;
  constexpr std::string_view kSuffix = "+unrelated";
  if (base.size() > kSuffix.size() && base.substr(base.size() - kSuffix.size()) == kSuffix) {
    base.remove_suffix(kSuffix.size());
    *unrelated = true;
  }
  for (const Fault& f : Faults()) {
    if (base == f.name) return &f;
  }
  return nullptr;
}

// A JSON object built field by field (core/json_writer.h escapes).
class Obj {
 public:
  Obj& Str(std::string_view key, std::string_view value) {
    Key(key);
    AppendJsonString(&out_, value);
    return *this;
  }
  Obj& Int(std::string_view key, int64_t value) {
    Key(key);
    out_ += std::to_string(value);
    return *this;
  }
  Obj& Num(std::string_view key, double value) {
    Key(key);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3f", value);
    out_ += buf;
    return *this;
  }
  Obj& Raw(std::string_view key, std::string_view json) {
    Key(key);
    out_ += json;
    return *this;
  }
  std::string Done() { return out_ + "}"; }

 private:
  void Key(std::string_view key) {
    out_ += out_.size() > 1 ? "," : "";
    AppendJsonString(&out_, key);
    out_ += ":";
  }
  std::string out_ = "{";
};

std::string StrList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(&out, v[i]);
  }
  return out + "]";
}

std::string OtelAttr(std::string_view key, std::string_view value) {
  return Obj().Str("key", key).Raw("value", Obj().Str("stringValue", value).Done()).Done();
}

// Stable across compilers and runs (std::hash is neither promised).
uint64_t Fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// One line waiting for its turn in event-time order.
struct Line {
  int64_t ts_ns;
  uint64_t seq;
  std::string text;
  std::string service;
};

class Run {
 public:
  Run(const SimOptions& options, const Fault* fault, bool unrelated)
      : o_(options), fault_(fault), unrelated_(unrelated),
        rng_(options.seed * 0x9e3779b97f4a7c15ull ^ Fnv1a(options.scenario)) {
    const int64_t total_s = int64_t{o_.minutes} * 60;
    onset_ns_ = o_.start_ns + static_cast<int64_t>(std::floor(static_cast<double>(total_s) * o_.fault_fraction)) * kSec;
    // The fault lasts 60% of what remains (at least two minutes), then the
    // fleet recovers and is watched recovering.
    const int64_t remaining = o_.start_ns + total_s * kSec - onset_ns_;
    end_ns_ = onset_ns_ + std::max<int64_t>(2 * 60 * kSec, remaining * 6 / 10);
  }

  Truth Go(const std::function<void(const SimLine&)>& sink) {
    const int64_t total_s = int64_t{o_.minutes} * 60;
    for (int64_t s = 0; s < total_s; ++s) {
      const int64_t t = o_.start_ns + s * kSec;
      Second(t);
      std::stable_sort(pending_.begin(), pending_.end(), [](const Line& a, const Line& b) {
        return a.ts_ns != b.ts_ns ? a.ts_ns < b.ts_ns : a.seq < b.seq;
      });
      // Lines of requests still running at the end of the second wait.
      size_t n = 0;
      while (n < pending_.size() && pending_[n].ts_ns < t + kSec) {
        sink(SimLine{pending_[n].text, pending_[n].service, pending_[n].ts_ns});
        ++lines_;
        ++n;
      }
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (const Line& l : pending_) {
      sink(SimLine{l.text, l.service, l.ts_ns});
      ++lines_;
    }
    Truth truth;
    truth.scenario = o_.scenario;
    truth.seed = o_.seed;
    truth.lines = lines_;
    if (fault_ != nullptr) {
      truth.root = fault_->root;
      truth.family = fault_->family;
      truth.kind = fault_->kind;
      truth.onset_ns = onset_ns_;
      truth.end_ns = end_ns_;
      truth.chain = fault_->chain;
      truth.endpoints = fault_->endpoints;
      if (*fault_->region) {
        truth.regions = {fault_->region};
      } else {
        truth.regions = {"ap-south", "eu-west", "us-east"};
      }
      if (unrelated_) truth.unrelated = "billing";
    }
    return truth;
  }

 private:
  bool Active(int64_t t) const { return fault_ != nullptr && t >= onset_ns_ && t < end_ns_; }
  bool Is(const char* name) const { return fault_ != nullptr && std::string_view(fault_->name) == name; }
  double U() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  double Jitter() { return std::exp(0.25 * std::normal_distribution<double>(0, 1)(rng_)); }
  std::string Hex(int digits) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(static_cast<size_t>(digits), '0');
    for (char& c : out) c = kHex[rng_() & 15];
    return out;
  }

  void Emit(int64_t ts_ns, const std::string& service, std::string text) {
    pending_.push_back(Line{ts_ns, seq_++, std::move(text), service});
  }

  // A log line in the service's shape.
  void Log(int64_t ts_ns, const std::string& service, const char* level, const std::string& msg,
           const std::vector<std::pair<std::string, std::string>>& attrs = {},
           const std::string& trace = "") {
    const Shape shape = Svc(service).shape;
    const std::string pod = service + "-7d9f" + std::to_string(ts_ns % 3);
    std::string text;
    switch (shape) {
      case Shape::kLogfmt: {
        text = "ts=" + FormatRfc3339(ts_ns) + " level=" + level + " service=" + service +
               " pod=" + pod + " msg=\"" + msg + "\"";
        for (const auto& [k, v] : attrs) text += " " + k + "=" + v;
        if (!trace.empty()) text += " trace_id=" + trace;
        break;
      }
      case Shape::kEcs: {
        Obj o;
        o.Str("@timestamp", FormatRfc3339(ts_ns)).Str("log.level", level).Str("service.name", service);
        o.Str("host.name", pod).Str("message", msg);
        if (!trace.empty()) o.Str("trace.id", trace);
        for (const auto& [k, v] : attrs) o.Str(k, v);
        text = o.Done();
        break;
      }
      case Shape::kOtel: {
        std::string list = "[";
        for (const auto& [k, v] : attrs) list += (list.size() > 1 ? "," : "") + OtelAttr(k, v);
        list += "]";
        Obj o;
        o.Str("timeUnixNano", std::to_string(ts_ns)).Str("severityText", level);
        o.Raw("body", Obj().Str("stringValue", msg).Done());
        if (!trace.empty()) o.Str("traceId", trace);
        o.Raw("attributes", list);
        o.Raw("resource", Obj().Raw("attributes", "[" + OtelAttr("service.name", service) + "," +
                                                      OtelAttr("k8s.pod.name", pod) + "]")
                              .Done());
        text = o.Done();
        break;
      }
      case Shape::kContainer: {
        // A container runtime's wrapper around the program's text line, with
        // the collector's Kubernetes metadata (Fluent Bit style).
        std::string line = FormatRfc3339(ts_ns) + " " + level + " " + msg;
        for (const auto& [k, v] : attrs) line += " " + k + "=" + v;
        if (!trace.empty()) line += " trace_id=" + trace;
        text = Obj()
                   .Str("log", line + "\n")
                   .Str("stream", std::string_view(level) == "INFO" ? "stdout" : "stderr")
                   .Str("time", FormatRfc3339(ts_ns, 9))
                   .Raw("kubernetes", Obj().Str("container_name", service).Str("pod_name", pod).Done())
                   .Done();
        break;
      }
      case Shape::kFlat: {
        Obj o;
        o.Int("ts_ns", ts_ns).Str("service", service).Str("pod", pod).Str("level", level).Str("msg", msg);
        if (!trace.empty()) o.Str("trace_id", trace);
        for (const auto& [k, v] : attrs) o.Str(k, v);
        text = o.Done();
        break;
      }
    }
    Emit(ts_ns, service, std::move(text));
  }

  void Span(int64_t ts_ns, const std::string& service, const std::string& name,
            const std::string& trace, const std::string& span, const std::string& parent,
            int64_t duration_ns, bool error) {
    Obj o;
    o.Str("kind", "span").Int("ts_ns", ts_ns).Str("service", service).Str("name", name);
    o.Str("trace_id", trace).Str("span_id", span);
    if (!parent.empty()) o.Str("parent_span_id", parent);
    o.Int("duration_us", duration_ns / 1000);
    if (error) o.Str("status", "error");
    // A span is exported when it ends.
    Emit(ts_ns + duration_ns, service, o.Done());
  }

  void Metric(int64_t ts_ns, const std::string& service, const char* name, double value) {
    Emit(ts_ns, service, Obj().Str("kind", "metric").Int("ts_ns", ts_ns).Str("service", service)
                    .Str("pod", service + "-7d9f0").Str("name", name).Num("value", value).Done());
  }

  // One call into `service` at `t` for `region`/`endpoint`: emits its span
  // (and its callees'), returns its duration and whether it failed.
  struct Outcome {
    int64_t duration_ns = 0;
    bool failed = false;
    int status = 200;
  };

  // A call as instrumented clients record it: the caller's client span
  // ("POST /<callee>") around the callee's server span, the network both
  // ways in between.
  Outcome Client(const std::string& caller, const std::string& callee, int64_t t, int64_t net_ns,
                 const std::string& trace, const std::string& parent, int region,
                 const Endpoint& ep) {
    const std::string span = Hex(16);
    Outcome o = Call(callee, t + net_ns / 2, trace, span, region, ep);
    o.duration_ns += net_ns;
    Span(t, caller, "POST /" + callee, trace, span, parent, o.duration_ns, o.failed);
    return o;
  }

  Outcome Call(const std::string& service, int64_t t, const std::string& trace,
               const std::string& parent, int region, const Endpoint& ep) {
    const std::string span = Hex(16);
    const bool active = Active(t);
    double own_ms = Svc(service).base_ms * Jitter();
    bool failed = false;
    int status = 200;
    std::string error_msg;
    const std::string region_name = kRegions[region];
    const std::string gpu_pool = "gpu-pool-" + region_name;
    // Load: the surge multiplies work where requests queue.
    const double load = load_;
    if (service.rfind("gpu-pool-", 0) == 0 || service == "scheduler") own_ms *= 1.0 + 2.0 * std::max(0.0, load - 1.5);

    // The fault, where it is.
    if (active) {
      if (Is("gpu-failure") && service == "gpu-pool-us-east" && U() < 0.7) {
        failed = true;
        status = 503;
        error_msg = "NVRM: Xid 79, pid=" + std::to_string(1000 + rng_() % 9000) + ", GPU has fallen off the bus";
      }
      if (Is("bad-deploy") && service == "completions" && U() < 0.45) {
        failed = true;
        status = 500;
        error_msg = "unhandled exception in /v1/chat/completions: KeyError: 'choices'";
      }
      if (Is("config-push") && service == "moderation" && U() < 0.6) {
        failed = true;
        status = 500;
        error_msg = "moderation classifier rejected input: invalid threshold -1 in config moderation/v42";
      }
      if ((Is("db-pool-exhaustion") || Is("cache-stampede")) && service == "metadata-db") {
        own_ms *= Is("db-pool-exhaustion") ? 30.0 : 8.0;
      }
      if (Is("cache-stampede") && service == "cache") own_ms *= 0.5;  // empty cache answers fast: miss
    }

    std::vector<std::string> calls;
    if (!failed) {
      if (service == "edge") calls = {"gateway"};
      if (service == "gateway") calls = {"auth", "ratelimit", ep.service, "billing"};
      if (service == "auth") {
        calls = {"cache"};
        const bool miss = U() < 0.1 || (active && Is("cache-stampede"));
        if (miss) calls.push_back("metadata-db");
      }
      if (service == "completions") calls = {"moderation", "cache", "scheduler"};
      if (service == "image-gen") calls = {"moderation", "scheduler"};
      if (service == "embeddings" || service == "audio") calls = {"scheduler"};
      if (service == "scheduler") calls = {gpu_pool};
      if (service == "billing") calls = {"queue"};
    }
    int64_t children_ns = 0;
    for (const std::string& callee : calls) {
      if (service == "gateway" && callee == "ratelimit" && load_ > 2.0 && U() < 0.3) {
        // Shed: the limiter answers 429 and the request stops here.
        Outcome o = Client(service, callee, t + static_cast<int64_t>(own_ms * kMs) + children_ns,
                           static_cast<int64_t>((0.6 + 0.8 * U()) * kMs), trace, span, region, ep);
        children_ns += o.duration_ns;
        status = 429;
        break;
      }
      // The network to the callee: a millisecond or two, a second or more
      // to the metadata database while it is partitioned.
      int64_t net_ns = static_cast<int64_t>((0.6 + 0.8 * U()) * kMs);
      if (active && Is("network-partition") && callee == "metadata-db") {
        net_ns += static_cast<int64_t>((1000 + 600 * U()) * kMs);
      }
      Outcome o = Client(service, callee, t + static_cast<int64_t>(own_ms * kMs) + children_ns,
                         net_ns, trace, span, region, ep);
      children_ns += o.duration_ns;
      if (callee == "billing" || callee == "queue") continue;  // fire and forget
      if (active && Is("network-partition") && callee == "metadata-db" && U() < 0.3) {
        failed = true;
        status = 504;
        error_msg = "timeout after 1000ms calling metadata-db";
        break;
      }
      if (callee == "metadata-db" && service == "auth" && active && Is("db-pool-exhaustion") && U() < 0.5) {
        failed = true;
        status = 503;
        error_msg = "HikariPool-1 - Connection is not available, request timed out after 1000ms";
        break;
      }
      if (o.failed) {
        failed = true;
        status = o.status >= 500 ? 502 : o.status;
        error_msg = "upstream " + callee + " failed with " + std::to_string(o.status);
        break;
      }
    }
    const int64_t duration_ns = static_cast<int64_t>(own_ms * kMs) + children_ns;
    Span(t, service, service == "gateway" || service == "edge" ? std::string("POST ") + ep.path : "handle", trace, span, parent, duration_ns, failed);
    if (failed) {
      Log(t + duration_ns, service, "ERROR", error_msg,
          {{"region", region_name}, {"endpoint", ep.path}, {"status", std::to_string(status)}}, trace);
    } else if (Svc(service).logs_requests) {
      Log(t + duration_ns, service, "INFO", service == "gateway" ? "request served" : "completed request",
          {{"region", region_name}, {"endpoint", ep.path}, {"status", std::to_string(status)},
           {"latency_ms", std::to_string(duration_ns / kMs)}},
          trace);
    } else if (status == 429 && service == "gateway") {
      Log(t + duration_ns, service, "WARN", "rate limited request",
          {{"region", region_name}, {"endpoint", ep.path}, {"status", "429"}}, trace);
    }
    return Outcome{duration_ns, failed, status};
  }

  void Second(int64_t t) {
    const bool active = Active(t);
    // Demand: the surge ramps to 4x over a minute.
    load_ = 1.0;
    if (active && Is("demand-surge")) {
      load_ = 1.0 + 3.0 * std::min(1.0, static_cast<double>(t - onset_ns_) / (60.0 * kSec));
    }
    const double rate = o_.rate * load_ * (1.0 + 0.1 * std::sin(static_cast<double>(t / kSec) / 300.0));
    const int requests = std::poisson_distribution<int>(rate)(rng_);
    for (int i = 0; i < requests; ++i) {
      double r = U(), acc = 0;
      int region = 0;
      for (int k = 0; k < 3; ++k) {
        acc += kRegionShare[k];
        if (r < acc) {
          region = k;
          break;
        }
        region = k;
      }
      r = U();
      acc = 0;
      const Endpoint* ep = &kEndpoints[0];
      for (const Endpoint& e : kEndpoints) {
        acc += e.share;
        ep = &e;
        if (r < acc) break;
      }
      const int64_t start = t + static_cast<int64_t>(U() * kSec);
      Call("edge", start, Hex(32), "", region, *ep);
    }
    // Changes and events.
    if (fault_ != nullptr && t <= onset_ns_ && onset_ns_ < t + kSec) Change(onset_ns_);
    const int64_t s = (t - o_.start_ns) / kSec;
    // Metrics every 10 s per service.
    if (s % 10 == 0) {
      for (const Service& svc : kServices) {
        double cpu = 20 + 5 * U();
        if (std::string_view(svc.name) == "gateway" || std::string_view(svc.name).rfind("gpu-pool-", 0) == 0 ||
            std::string_view(svc.name) == "scheduler") {
          cpu *= load_;
        }
        if (active && Is("db-pool-exhaustion") && std::string_view(svc.name) == "metadata-db") cpu = 95 + 3 * U();
        if (active && Is("cache-stampede") && std::string_view(svc.name) == "metadata-db") cpu = 80 + 5 * U();
        Metric(t, svc.name, "cpu_usage", std::min(cpu, 100.0));
        double mem = 40 + 2 * U();
        if (active && Is("cache-stampede") && std::string_view(svc.name) == "cache") mem = 99 + U();
        Metric(t, svc.name, "memory_usage", mem);
        if (std::string_view(svc.name).rfind("gpu-pool-", 0) == 0) {
          double util = std::min(100.0, 55 * load_ + 5 * U());
          if (active && Is("gpu-failure") && std::string_view(svc.name) == "gpu-pool-us-east") util = 3 * U();
          Metric(t, svc.name, "gpu_utilization", util);
        }
      }
    }
    // Background noise: chronic warnings, cron, a flapping health check,
    // a routine deploy elsewhere, malformed lines.
    if (s % 5 == 0) Log(t + 100 * kMs, "billing", "WARN", "invoice export lagging behind by " + std::to_string(20 + rng_() % 40) + "s");
    if (s % 300 == 7) Log(t + 200 * kMs, "deploy-controller", "INFO", "cron: reconciled " + std::to_string(38 + rng_() % 5) + " deployments");
    if (U() < 1.0 / 90) Log(t + 300 * kMs, "queue", "WARN", "health check /healthz timed out after 2s");
    // Housekeeping lines of services that log nothing per request.
    if (s % 60 == 13) {
      Log(t + 700 * kMs, "cache", "INFO", "background saving started by pid " + std::to_string(100 + rng_() % 900));
      Log(t + 900 * kMs, "cache", "INFO", "DB saved on disk");
    }
    if (s % 30 == 17) Log(t + 800 * kMs, "metadata-db", "INFO", "checkpoint complete: wrote " + std::to_string(200 + rng_() % 300) + " buffers");
    if (s % 30 == 23) {
      for (const char* pool : {"gpu-pool-us-east", "gpu-pool-eu-west", "gpu-pool-ap-south"}) {
        Log(t + 100 * kMs, pool, "INFO", "model shard heartbeat: 8/8 GPUs healthy");
      }
      Log(t + 150 * kMs, "scheduler", "INFO", "dispatch stats: queue depth " + std::to_string(rng_() % 4));
    }
    if (s == o_.minutes * 60 / 5) {
      Log(t + 400 * kMs, "deploy-controller", "INFO", "deployed audio version 1.9.3 (was 1.9.2)");
      Log(t + 500 * kMs, "audio", "INFO", "starting audio version 1.9.3");
    }
    if (s % 120 == 61) Emit(t + 600 * kMs, "gateway", "{\"ts_ns\":" + std::to_string(t) + ",\"service\":\"gateway\",\"msg\":\"trunc");
  }

  // The change that starts the fault, as the fleet logs it.
  void Change(int64_t t) {
    if (Is("bad-deploy")) {
      Log(t - 20 * kSec, "deploy-controller", "INFO", "deployed completions version 2.14.1 (was 2.14.0)");
      Log(t - 15 * kSec, "completions", "INFO", "starting completions version 2.14.1");
    }
    if (Is("config-push")) {
      Log(t - 5 * kSec, "config-service", "INFO", "pushed config moderation/v42 to 12 pods");
      Log(t - 2 * kSec, "moderation", "INFO", "reloaded config moderation/v42");
    }
    if (Is("cache-stampede")) Log(t, "cache", "WARN", "used_memory reached maxmemory (4gb): evicted 98% of keys (allkeys-lru)");
    if (Is("db-pool-exhaustion")) Log(t + 2 * kSec, "metadata-db", "WARN", "slow query: SELECT * FROM api_keys WHERE key_hash = ? took 2400 ms");
    if (Is("gpu-failure")) Log(t, "gpu-pool-us-east", "ERROR", "NVRM: Xid 79, pid=4242, GPU has fallen off the bus");
    if (unrelated_) {
      Log(t - 10 * kSec, "deploy-controller", "INFO", "deployed billing version 3.2.0 (was 3.1.9)");
      Log(t - 8 * kSec, "billing", "INFO", "starting billing version 3.2.0");
    }
  }

  const SimOptions& o_;
  const Fault* fault_;
  bool unrelated_;
  std::mt19937_64 rng_;
  int64_t onset_ns_ = 0, end_ns_ = 0;
  double load_ = 1.0;
  std::vector<Line> pending_;
  uint64_t seq_ = 0, lines_ = 0;
};

}  // namespace

const std::vector<ScenarioInfo>& Scenarios() {
  static const std::vector<ScenarioInfo> all = [] {
    std::vector<ScenarioInfo> out;
    for (const Fault& f : Faults()) {
      out.push_back(ScenarioInfo{f.name, f.description, f.root, f.family, f.kind, f.region, false});
      out.push_back(ScenarioInfo{std::string(f.name) + "+unrelated",
                                 std::string(f.description) + "; billing is deployed at the same time, harmlessly",
                                 f.root, f.family, f.kind, f.region, true});
    }
    out.push_back(ScenarioInfo{"calm", "no fault: background noise only (chronic warnings, cron, a flapping health check, a routine deploy, malformed lines)", "", "", "", "", false});
    return out;
  }();
  return all;
}

std::string Truth::Json() const {
  Obj o;
  o.Str("scenario", scenario).Int("seed", static_cast<int64_t>(seed));
  if (root.empty()) {
    o.Raw("root", "null");
  } else {
    o.Str("root", root).Str("family", family).Str("kind", kind);
    o.Str("onset", FormatRfc3339(onset_ns)).Str("end", FormatRfc3339(end_ns));
  }
  o.Raw("chain", StrList(chain));
  o.Raw("impacted", Obj().Raw("endpoints", StrList(endpoints)).Raw("regions", StrList(regions)).Done());
  if (!unrelated.empty()) o.Str("unrelated_change", unrelated);
  o.Int("lines", static_cast<int64_t>(lines));
  return o.Done();
}

Result<Truth> Simulate(const SimOptions& options, const std::function<void(const SimLine&)>& sink) {
  bool unrelated = false;
  const Fault* fault = FindFault(options.scenario, &unrelated);
  if (fault == nullptr && options.scenario != "calm") {
    return Status::InvalidArgument("unknown scenario '" + options.scenario +
                                   "' (faultline simulate --list shows them)");
  }
  if (options.minutes < 2) return Status::InvalidArgument("--minutes must be at least 2");
  if (!(options.rate > 0) || options.rate > 100000) {
    return Status::InvalidArgument("--rate must be in (0, 100000] requests a second");
  }
  if (!(options.fault_fraction > 0 && options.fault_fraction < 1)) {
    return Status::InvalidArgument("the fault must start inside the run");
  }
  Run run(options, fault, unrelated);
  return run.Go(sink);
}

}  // namespace faultline::sim
