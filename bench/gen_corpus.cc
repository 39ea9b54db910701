// faultline_gen_corpus: writes a deterministic NDJSON corpus of service logs
// for the end-to-end benchmarks (bench/ingest.sh, bench/search.sh) and the
// demo. Same --seed, --records, --end and --span give byte-identical output.
//
// Records: about 360 bytes a line, 30 services, mostly INFO, ~1.5% ERROR,
// trace ids shared by several records, access-log style messages from ~40
// shapes, time-ordered (with small jitter) over [end - span, end]. About one
// line in 200,000 carries a rare token (see kRareMessages) for grep benches.
//
// Usage: faultline_gen_corpus [--records N] [--seed S] [--end RFC3339|now]
//                             [--span 1h] [-o FILE]
// The summary (time range, rare-token counts) goes to stderr.

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

// splitmix64: tiny, fast and good enough for synthetic data.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  uint32_t Below(uint32_t n) {
    return static_cast<uint32_t>(((Next() >> 32) * static_cast<uint64_t>(n)) >> 32);
  }
  double Unit() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  uint64_t state_;
};

struct Service {
  const char* name;
  const char* noun;  // resource in its endpoints
  double median_ms;
};

constexpr Service kServices[] = {
    {"api-gateway", "requests", 25},  {"auth", "sessions", 8},
    {"billing", "invoices", 40},      {"payments", "charges", 60},
    {"checkout", "orders", 45},       {"cart", "carts", 12},
    {"catalog", "products", 15},      {"search", "queries", 35},
    {"inventory", "stock", 18},       {"shipping", "shipments", 30},
    {"notifications", "messages", 20}, {"email", "emails", 50},
    {"recommendations", "recs", 55},  {"reviews", "reviews", 14},
    {"users", "users", 10},           {"profile", "profiles", 9},
    {"pricing", "prices", 11},        {"tax", "quotes", 16},
    {"fraud", "scores", 70},          {"ledger", "entries", 22},
    {"media", "images", 80},          {"thumbnailer", "thumbs", 120},
    {"chat", "conversations", 150},   {"moderation", "verdicts", 90},
    {"gpu-scheduler", "jobs", 200},   {"feature-flags", "flags", 4},
    {"config", "settings", 5},        {"audit", "events", 13},
    {"analytics", "events", 33},      {"webhooks", "deliveries", 75},
};
constexpr uint32_t kNumServices = sizeof(kServices) / sizeof(kServices[0]);
constexpr uint32_t kHostsPerService = 6;
constexpr const char* kRegions[] = {"us-east-1", "us-west-2", "eu-west-1"};

enum Level : uint8_t { kDebug, kInfo, kWarn, kError };
constexpr const char* kLevelNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};

// Message shapes. Placeholders: %M method, %P request path, %S status,
// %L latency ms, %U user id, %N number, %H 8 hex, %I ip, %O order id,
// %E endpoint, %C small count, %B bytes, %V version, %T trace-ish id,
// %D downstream service. No quotes or backslashes: lines need no escaping.
constexpr const char* kInfoShapes[] = {
    "%M %P completed status=%S duration_ms=%L user=%U",
    "%M %P completed status=%S duration_ms=%L user=%U bytes=%B",
    "request handled method=%M path=%P status=%S latency_ms=%L client_ip=%I",
    "served %M %P in %L ms (status %S, %B bytes, user %U)",
    "order %O created for user %U with %C items total_cents=%N",
    "payment authorized for order %O amount_cents=%N provider=stripe attempt=1",
    "cache hit ratio=0.%N for key prefix %E window=60s",
    "session refreshed for user %U expires_in=3600s device=web-%H",
    "published event order.updated id=%H partition=%C offset=%N",
    "consumed %C messages from topic %D-events lag=%N",
    "scheduled job %H on node gpu-node-%C queue_depth=%C",
    "feature flag evaluation flag=checkout-v%C user=%U result=true",
    "connection pool stats active=%C idle=%C waiting=0 pool=%D-db",
    "upstream call to %D %E returned %S in %L ms",
    "wrote %C rows to ledger batch=%H duration_ms=%L",
    "config reloaded version=%V keys=%N checksum=%H",
    "thumbnail generated for image %H size=%Bx%C format=webp",
    "search query executed terms=%C hits=%N took_ms=%L",
    "email queued template=order-confirmation to=%U id=%H",
    "health check ok component=%D uptime_s=%N",
};
constexpr const char* kDebugShapes[] = {
    "cache lookup key=%E/%N hit=true ttl_s=%C",
    "parsed request headers count=%C content_length=%B",
    "sql query SELECT * FROM %D WHERE id = %N took %L ms",
    "span context propagated trace=%T parent=%H",
    "retry budget remaining=%C for upstream %D",
    "gc pause young_ms=%L heap_used_mb=%N",
};
constexpr const char* kWarnShapes[] = {
    "slow request %M %P took %L ms status=%S threshold_ms=500",
    "rate limited client %I on %E status=429 retry_after_s=%C",
    "upstream %D slow: %E took %L ms (p99 budget 250 ms)",
    "retrying call to %D attempt=%C error=connection reset by peer",
    "connection pool %D-db near capacity active=%N max=100",
    "deprecated api version v1 used by client %I path=%P",
    "queue depth high queue=%D-jobs depth=%N consumers=%C",
    "certificate for %D.internal expires in %C days",
};
constexpr const char* kErrorShapes[] = {
    "%M %P failed status=%S duration_ms=%L error=upstream timeout calling %D",
    "database error on %D-db: could not obtain connection within 3000 ms (pool exhausted)",
    "payment declined for order %O: processor returned code %N",
    "unhandled exception in %E handler: NullPointerException at line %N",
    "dial tcp %I:5432: connect: connection refused (service %D)",
    "context deadline exceeded after %L ms calling %D %E",
};
// Rare lines for the grep benchmarks: each appears about once per 200,000
// records and nowhere else.
constexpr const char* kRareMessages[] = {
    "worker crashed: java.lang.OutOfMemoryError: Java heap space in %D batch %H",
    "kernel: NVRM: Xid 79 GPU has fallen off the bus on gpu-node-%C",
    "manual review required for order ORD-RARE-%N flagged by %D",
};
constexpr uint32_t kRareOneIn = 200000;

constexpr const char* kUserAgents[] = {
    "Mozilla/5.0 (Macintosh) Safari/17.1",
    "okhttp/4.12.0",
    "Go-http-client/2.0",
    "Mozilla/5.0 (Windows NT 10.0) Chrome/120",
    "python-requests/2.31.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1) Mobile",
};
constexpr uint32_t kNumUserAgents = sizeof(kUserAgents) / sizeof(kUserAgents[0]);

struct Piece {
  std::string literal;
  char placeholder = 0;  // 0 = none
};
using Shape = std::vector<Piece>;

Shape ParseShape(std::string_view text) {
  Shape shape;
  std::string literal;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 1 < text.size()) {
      shape.push_back({literal, text[i + 1]});
      literal.clear();
      ++i;
    } else {
      literal += text[i];
    }
  }
  shape.push_back({literal, 0});
  return shape;
}

template <size_t N>
std::vector<Shape> ParseAll(const char* const (&texts)[N]) {
  std::vector<Shape> shapes;
  for (const char* t : texts) shapes.push_back(ParseShape(t));
  return shapes;
}

// Appends into a large output buffer; the hot path has no allocation.
class Out {
 public:
  explicit Out(FILE* file) : file_(file), buf_(kFlushBytes + 4096) {}
  ~Out() { Flush(); }
  void Put(char c) { buf_[len_++] = c; }
  void Put(std::string_view s) {
    std::memcpy(buf_.data() + len_, s.data(), s.size());
    len_ += s.size();
  }
  void PutUint(uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0) buf_[len_++] = tmp[--n];
  }
  // Fixed digits, zero padded.
  void PutPadded(uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i) {
      buf_[len_ + static_cast<size_t>(i)] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    len_ += static_cast<size_t>(digits);
  }
  void PutHex(uint64_t v, int digits) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; --i) {
      buf_[len_ + static_cast<size_t>(i)] = kHex[v & 0xf];
      v >>= 4;
    }
    len_ += static_cast<size_t>(digits);
  }
  // One decimal place.
  void PutMs(double ms) {
    const uint64_t tenths = static_cast<uint64_t>(ms * 10.0 + 0.5);
    PutUint(tenths / 10);
    Put('.');
    Put(static_cast<char>('0' + tenths % 10));
  }
  // Call after each line: a line is far below the 4 KiB slack.
  bool MaybeFlush() { return len_ >= kFlushBytes ? Flush() : true; }
  bool Flush() {
    if (len_ == 0) return true;
    const bool ok = std::fwrite(buf_.data(), 1, len_, file_) == len_;
    len_ = 0;
    return ok;
  }

 private:
  static constexpr size_t kFlushBytes = 4 << 20;
  FILE* file_;
  std::vector<char> buf_;
  size_t len_ = 0;
};

struct Trace {
  uint64_t hi = 0, lo = 0;
  int remaining = 0;
};

// Per-record values that message shapes may refer to.
struct Request {
  const Service* service;
  uint32_t service_index;
  const char* method;
  uint32_t endpoint_kind;
  uint32_t resource_id;
  int status;
  double latency_ms;
  uint32_t user;
};

void PutEndpoint(Out& out, const Request& r) {
  if (r.endpoint_kind == 2) {
    out.Put("/internal/");
    out.Put(r.service->noun);
    out.Put("/sync");
  } else {
    out.Put("/api/v1/");
    out.Put(r.service->noun);
  }
}

void PutPath(Out& out, const Request& r) {
  PutEndpoint(out, r);
  if (r.endpoint_kind == 1) {
    out.Put('/');
    out.PutUint(r.resource_id);
  }
}

void PutShape(Out& out, const Shape& shape, const Request& r, Rng& rng) {
  for (const Piece& piece : shape) {
    out.Put(piece.literal);
    switch (piece.placeholder) {
      case 0: break;
      case 'M': out.Put(r.method); break;
      case 'P': PutPath(out, r); break;
      case 'E': PutEndpoint(out, r); break;
      case 'S': out.PutUint(static_cast<uint64_t>(r.status)); break;
      case 'L': out.PutMs(r.latency_ms); break;
      case 'U': out.Put("u-"); out.PutPadded(r.user, 6); break;
      case 'N': out.PutUint(rng.Below(100000)); break;
      case 'H': out.PutHex(rng.Next(), 8); break;
      case 'T': out.PutHex(rng.Next(), 16); break;
      case 'C': out.PutUint(1 + rng.Below(64)); break;
      case 'B': out.PutUint(200 + rng.Below(60000)); break;
      case 'V': out.PutUint(1 + rng.Below(9)); out.Put('.'); out.PutUint(rng.Below(40));
                out.Put('.'); out.PutUint(rng.Below(10)); break;
      case 'O': out.Put("ord-"); out.PutHex(rng.Next(), 10); break;
      case 'I':
        out.Put("10."); out.PutUint(rng.Below(256)); out.Put('.');
        out.PutUint(rng.Below(256)); out.Put('.'); out.PutUint(1 + rng.Below(254)); break;
      case 'D': out.Put(kServices[(r.service_index + 1 + rng.Below(kNumServices - 1)) %
                                  kNumServices].name); break;
      default: out.Put('%'); out.Put(piece.placeholder); break;
    }
  }
}

// "2026-11-24T10:00:00" for the second, cached since consecutive records
// mostly share it.
class TimeFormatter {
 public:
  void Put(Out& out, int64_t micros) {
    const int64_t seconds = micros >= 0 ? micros / 1000000 : (micros - 999999) / 1000000;
    if (seconds != cached_second_) {
      cached_second_ = seconds;
      const time_t t = static_cast<time_t>(seconds);
      struct tm tm {};
      gmtime_r(&t, &tm);
      std::snprintf(text_, sizeof(text_), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    out.Put(text_);
    out.Put('.');
    out.PutPadded(static_cast<uint64_t>(micros - seconds * 1000000), 6);
    out.Put('Z');
  }

 private:
  int64_t cached_second_ = INT64_MIN;
  char text_[40] = {};
};

bool ParseRfc3339(const char* s, int64_t* seconds) {
  struct tm tm {};
  const char* rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr || (*rest != 'Z' && *rest != '\0')) return false;
  *seconds = static_cast<int64_t>(timegm(&tm));
  return true;
}

bool ParseDuration(const char* s, int64_t* seconds) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || v < 0) return false;
  double unit = 1;
  const std::string_view suffix(end);
  if (suffix == "s" || suffix.empty()) unit = 1;
  else if (suffix == "m") unit = 60;
  else if (suffix == "h") unit = 3600;
  else if (suffix == "d") unit = 86400;
  else return false;
  *seconds = static_cast<int64_t>(v * unit);
  return *seconds > 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: faultline_gen_corpus [--records N] [--seed S] [--end RFC3339|now] "
               "[--span DURATION] [-o FILE]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t records = 1000000;
  uint64_t seed = 1;
  int64_t end_s = static_cast<int64_t>(std::time(nullptr));
  int64_t span_s = 3600;
  const char* out_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if ((arg == "--records" || arg == "-n") && has_value) {
      records = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--seed" && has_value) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--end" && has_value) {
      const char* v = argv[++i];
      if (std::strcmp(v, "now") != 0 && !ParseRfc3339(v, &end_s)) {
        std::fprintf(stderr, "bad --end %s (want e.g. 2026-11-24T10:00:00Z)\n", v);
        return 2;
      }
    } else if (arg == "--span" && has_value) {
      if (!ParseDuration(argv[++i], &span_s)) {
        std::fprintf(stderr, "bad --span %s (want e.g. 1h, 30m, 2d)\n", argv[i]);
        return 2;
      }
    } else if ((arg == "-o" || arg == "--output") && has_value) {
      out_path = argv[++i];
    } else {
      return Usage();
    }
  }

  FILE* file = stdout;
  if (out_path != nullptr && std::strcmp(out_path, "-") != 0) {
    file = std::fopen(out_path, "wb");
    if (file == nullptr) {
      std::fprintf(stderr, "cannot open %s: %s\n", out_path, std::strerror(errno));
      return 1;
    }
  }

  const std::vector<Shape> shapes[4] = {ParseAll(kDebugShapes), ParseAll(kInfoShapes),
                                        ParseAll(kWarnShapes), ParseAll(kErrorShapes)};
  const std::vector<Shape> rare = ParseAll(kRareMessages);
  uint64_t rare_counts[sizeof(kRareMessages) / sizeof(kRareMessages[0])] = {};
  uint64_t level_counts[4] = {};

  Rng rng(seed * 0x2545f4914f6cdd1dULL + 1);
  // Requests in flight: each record continues one of these traces, so a trace
  // spans several records (and services) close together in time.
  constexpr uint32_t kActiveTraces = 256;
  Trace traces[kActiveTraces];
  TimeFormatter time_formatter;
  Out out(file);

  const int64_t start_us = (end_s - span_s) * 1000000;
  const double step_us = records > 0 ? static_cast<double>(span_s) * 1e6 / static_cast<double>(records) : 0;
  constexpr const char* kMethods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};

  for (uint64_t i = 0; i < records; ++i) {
    // Near-sorted time: the i-th slot plus up to ~20 ms of jitter, clamped
    // to the range so that "the last 10 minutes" has a sharp edge.
    int64_t ts_us = start_us + static_cast<int64_t>(static_cast<double>(i) * step_us) +
                    static_cast<int64_t>(rng.Below(20000));
    if (ts_us > end_s * 1000000) ts_us = end_s * 1000000;

    Trace& trace = traces[rng.Below(kActiveTraces)];
    if (trace.remaining <= 0) {
      trace.hi = rng.Next();
      trace.lo = rng.Next();
      trace.remaining = 2 + static_cast<int>(rng.Below(9));  // 2..10 records
    }
    --trace.remaining;

    // Services are unevenly busy, as in real fleets: a few carry most load.
    const uint32_t service_index =
        rng.Below(2) == 0 ? rng.Below(8) : rng.Below(kNumServices);
    const Service& service = kServices[service_index];
    const uint32_t host = rng.Below(kHostsPerService);

    const uint32_t roll = rng.Below(1000);
    const Level level = roll < 80 ? kDebug : roll < 880 ? kInfo : roll < 985 ? kWarn : kError;
    ++level_counts[level];

    Request req;
    req.service = &service;
    req.service_index = service_index;
    req.method = kMethods[rng.Below(6)];
    req.endpoint_kind = rng.Below(3);
    req.resource_id = 1 + rng.Below(99999);
    req.user = rng.Below(1000000);
    // Roughly log-normal latency around the service's median.
    const double z = (rng.Unit() + rng.Unit() + rng.Unit() - 1.5) * 2.0;
    req.latency_ms = service.median_ms * std::exp(0.6 * z);
    switch (level) {
      case kError: {
        constexpr int kErr[] = {500, 502, 503, 504};
        req.status = kErr[rng.Below(4)];
        req.latency_ms *= 8;
        break;
      }
      case kWarn: {
        constexpr int kWarnStatus[] = {200, 429, 404, 499};
        req.status = kWarnStatus[rng.Below(4)];
        req.latency_ms *= 4;
        break;
      }
      default: {
        constexpr int kOk[] = {200, 200, 200, 200, 201, 204, 304};
        req.status = kOk[rng.Below(7)];
      }
    }

    out.Put("{\"ts\":\"");
    time_formatter.Put(out, ts_us);
    out.Put("\",\"level\":\"");
    out.Put(kLevelNames[level]);
    out.Put("\",\"service\":\"");
    out.Put(service.name);
    out.Put("\",\"host\":\"");
    out.Put(service.name);
    out.Put('-');
    out.PutPadded(service_index * kHostsPerService + host, 3);
    out.Put("\",\"region\":\"");
    out.Put(kRegions[host % 3]);
    out.Put("\",\"trace_id\":\"");
    out.PutHex(trace.hi, 16);
    out.PutHex(trace.lo, 16);
    out.Put("\",\"span_id\":\"");
    out.PutHex(rng.Next(), 16);
    out.Put("\",\"msg\":\"");
    constexpr uint32_t kNumRare = sizeof(kRareMessages) / sizeof(kRareMessages[0]);
    if (rng.Below(kRareOneIn / kNumRare) == 0) {
      const uint32_t which = rng.Below(kNumRare);
      ++rare_counts[which];
      PutShape(out, rare[which], req, rng);
    } else {
      const auto& pool = shapes[level];
      PutShape(out, pool[rng.Below(static_cast<uint32_t>(pool.size()))], req, rng);
    }
    out.Put("\",\"endpoint\":\"");
    PutEndpoint(out, req);
    out.Put("\",\"status\":");
    out.PutUint(static_cast<uint64_t>(req.status));
    out.Put(",\"latency_ms\":");
    out.PutMs(req.latency_ms);
    out.Put(",\"ua\":\"");
    out.Put(kUserAgents[rng.Below(kNumUserAgents)]);
    out.Put("\"}\n");
    if (!out.MaybeFlush()) break;
  }
  const bool flushed = out.Flush();
  const bool closed = file == stdout ? std::fflush(file) == 0 : std::fclose(file) == 0;
  if (!flushed || !closed) {
    std::fprintf(stderr, "write failed: %s\n", std::strerror(errno));
    return 1;
  }

  char end_text[32];
  const time_t end_t = static_cast<time_t>(end_s);
  struct tm end_tm {};
  gmtime_r(&end_t, &end_tm);
  std::strftime(end_text, sizeof(end_text), "%Y-%m-%dT%H:%M:%SZ", &end_tm);
  std::fprintf(stderr,
               "gen_corpus: %llu records, seed %llu, end %s, span %llds; levels DEBUG %llu INFO "
               "%llu WARN %llu ERROR %llu; rare: OutOfMemoryError %llu, Xid %llu, ORD-RARE %llu\n",
               static_cast<unsigned long long>(records), static_cast<unsigned long long>(seed),
               end_text, static_cast<long long>(span_s),
               static_cast<unsigned long long>(level_counts[0]),
               static_cast<unsigned long long>(level_counts[1]),
               static_cast<unsigned long long>(level_counts[2]),
               static_cast<unsigned long long>(level_counts[3]),
               static_cast<unsigned long long>(rare_counts[0]),
               static_cast<unsigned long long>(rare_counts[1]),
               static_cast<unsigned long long>(rare_counts[2]));
  return 0;
}
