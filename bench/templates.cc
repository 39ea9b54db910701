// faultline_bench_templates: throughput and memory of ingest::TemplateMiner.
//
//   1. One core: Prepare + Mine, message by message, over a corpus of
//      realistic service messages (the shapes of gen_corpus.cc, 30 services).
//   2. Two cores (or --threads N): as the ingest pipeline mines, batches of
//      16384 messages grouped by service, services mined in parallel on
//      oneTBB; the ids must equal the one-core run's (checked, by checksum).
//   3. Memory: a --stream-records stream (default 10M) whose messages carry
//      high-cardinality values (random ids, hosts, words): templates, the
//      cap counter and peak RSS every 1M messages.
//
// Usage: faultline_bench_templates [--records N] [--stream-records N]
//                                  [--threads N] [--repeat R]
// Build in Release.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include "ingest/template_miner.h"

namespace {

using faultline::ingest::Masker;
using faultline::ingest::MinerOptions;
using faultline::ingest::PreparedMessage;
using faultline::ingest::TemplateMiner;

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint32_t Below(uint32_t n) {
    return static_cast<uint32_t>(((Next() >> 32) * static_cast<uint64_t>(n)) >> 32);
  }

 private:
  uint64_t state_;
};

constexpr const char* kServices[] = {
    "api-gateway", "auth",     "billing",   "payments",  "checkout",      "cart",
    "catalog",     "search",   "inventory", "shipping",  "notifications", "email",
    "recommend",   "reviews",  "users",     "profile",   "pricing",       "tax",
    "fraud",       "ledger",   "media",     "thumbnail", "chat",          "moderation",
    "gpu-sched",   "flags",    "config",    "audit",     "analytics",     "webhooks"};
constexpr const char* kDownstream[] = {"auth", "billing", "ledger", "inventory", "search"};
constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};

// The message shapes of gen_corpus.cc (info, debug, warn and error mixed).
constexpr const char* kShapes[] = {
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
    "cache lookup key=%E/%N hit=true ttl_s=%C",
    "sql query SELECT * FROM %D WHERE id = %N took %L ms",
    "span context propagated trace=%T parent=%H",
    "gc pause young_ms=%L heap_used_mb=%N",
    "slow request %M %P took %L ms status=%S threshold_ms=500",
    "rate limited client %I on %E status=429 retry_after_s=%C",
    "upstream %D slow: %E took %L ms (p99 budget 250 ms)",
    "retrying call to %D attempt=%C error=connection reset by peer",
    "queue depth high queue=%D-jobs depth=%N consumers=%C",
    "%M %P failed status=%S duration_ms=%L error=upstream timeout calling %D",
    "payment declined for order %O: processor returned code %N",
    "dial tcp %I:5432: connect: connection refused (service %D)",
};
constexpr uint32_t kNumShapes = sizeof(kShapes) / sizeof(kShapes[0]);

void AppendHex(std::string* out, uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out->push_back(kHex[(v >> (4 * i)) & 15]);
}

// One message of a shape; `wild` adds high-cardinality words (stream test).
std::string MakeMessage(Rng& rng, const char* shape, bool wild) {
  std::string out;
  for (const char* p = shape; *p != '\0'; ++p) {
    if (*p != '%' || p[1] == '\0') {
      out.push_back(*p);
      continue;
    }
    switch (*++p) {
      case 'M': out += kMethods[rng.Below(4)]; break;
      case 'P':
        out += "/api/v1/";
        out += kDownstream[rng.Below(5)];
        out += "/";
        out += std::to_string(rng.Below(100000));
        break;
      case 'S': out += std::to_string(200 + 100 * rng.Below(4)); break;
      case 'L': out += std::to_string(rng.Below(2000)); break;
      case 'U':
        out += 'u';
        out += std::to_string(100000 + rng.Below(900000));
        break;
      case 'N': out += std::to_string(rng.Below(1000000)); break;
      case 'H': AppendHex(&out, rng.Next(), 8); break;
      case 'I':
        out += "10.";
        out += std::to_string(rng.Below(256));
        out += '.';
        out += std::to_string(rng.Below(256));
        out += '.';
        out += std::to_string(rng.Below(256));
        break;
      case 'O': out += "ORD-"; AppendHex(&out, rng.Next(), 8); break;
      case 'E':
        out += "/v1/";
        out += kDownstream[rng.Below(5)];
        break;
      case 'C': out += std::to_string(rng.Below(64)); break;
      case 'B': out += std::to_string(rng.Below(1 << 20)); break;
      case 'V':
        out += "v1.";
        out += std::to_string(rng.Below(40));
        break;
      case 'T': AppendHex(&out, rng.Next(), 16); AppendHex(&out, rng.Next(), 16); break;
      case 'D':
        if (wild) {
          // A random word: a value the masker cannot see as one.
          for (int i = 0; i < 6; ++i) out.push_back(static_cast<char>('a' + rng.Below(26)));
        } else {
          out += kDownstream[rng.Below(5)];
        }
        break;
      default: out.push_back(*p); break;
    }
  }
  return out;
}

struct Corpus {
  std::vector<std::string> messages;
  std::vector<uint8_t> services;
};

Corpus MakeCorpus(size_t records, uint64_t seed, bool wild) {
  Rng rng(seed);
  Corpus corpus;
  corpus.messages.reserve(records);
  corpus.services.reserve(records);
  for (size_t i = 0; i < records; ++i) {
    corpus.services.push_back(static_cast<uint8_t>(rng.Below(30)));
    corpus.messages.push_back(MakeMessage(rng, kShapes[rng.Below(kNumShapes)], wild));
  }
  return corpus;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

long PeakRssKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

uint64_t MixId(uint64_t sum, uint64_t id) { return (sum ^ id) * 0x100000001b3ULL + 1; }

uint64_t RunSerial(const Corpus& corpus, const std::shared_ptr<const Masker>& masker,
                   const MinerOptions& options, size_t* templates) {
  TemplateMiner miner(options, masker);
  PreparedMessage prepared;
  uint64_t sum = 0;
  for (size_t i = 0; i < corpus.messages.size(); ++i) {
    TemplateMiner::Prepare(*masker, corpus.messages[i], &prepared);
    sum = MixId(sum, miner.Mine(kServices[corpus.services[i]], prepared, 0, nullptr));
  }
  *templates = miner.counters().templates;
  return sum;
}

// As the ingest pipeline mines (tools/ingest_pipeline.cc, MineBatch):
// batches of rows grouped by service, services mined in parallel, each
// message prepared right before it is mined.
uint64_t RunParallel(const Corpus& corpus, const std::shared_ptr<const Masker>& masker,
                     const MinerOptions& options, int threads) {
  constexpr size_t kBatch = 16384;
  TemplateMiner miner(options, masker);
  struct Group {
    TemplateMiner::ServiceHandle service = 0;
    std::vector<uint32_t> rows;
    PreparedMessage prepared;
  };
  std::vector<Group> groups;
  std::vector<int32_t> group_of;
  std::vector<uint64_t> ids(kBatch);
  uint64_t sum = 0;
  tbb::task_arena arena(threads);
  for (size_t begin = 0; begin < corpus.messages.size(); begin += kBatch) {
    const size_t end = std::min(begin + kBatch, corpus.messages.size());
    size_t used = 0;
    for (size_t i = begin; i < end; ++i) {
      const TemplateMiner::ServiceHandle service = miner.ServiceOf(kServices[corpus.services[i]]);
      if (group_of.size() <= service) group_of.resize(service + 1, -1);
      if (group_of[service] < 0) {
        if (groups.size() <= used) groups.emplace_back();
        groups[used].service = service;
        group_of[service] = static_cast<int32_t>(used++);
      }
      groups[static_cast<size_t>(group_of[service])].rows.push_back(
          static_cast<uint32_t>(i - begin));
    }
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<size_t>(0, used, 1),
                        [&](const tbb::blocked_range<size_t>& range) {
                          for (size_t g = range.begin(); g < range.end(); ++g) {
                            Group& group = groups[g];
                            for (uint32_t row : group.rows) {
                              TemplateMiner::Prepare(*masker, corpus.messages[begin + row],
                                                     &group.prepared);
                              ids[row] = miner.Mine(group.service, group.prepared, 0, nullptr);
                            }
                          }
                        });
    });
    for (size_t g = 0; g < used; ++g) {
      group_of[groups[g].service] = -1;
      groups[g].rows.clear();
    }
    for (size_t i = 0; i < end - begin; ++i) sum = MixId(sum, ids[i]);
  }
  return sum;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t records = 1000000;
  size_t stream_records = 10000000;
  int threads = 2;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--records") records = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--stream-records") stream_records = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    if (flag == "--repeat") repeat = std::atoi(argv[i + 1]);
  }
  MinerOptions options;
  auto compiled = faultline::ingest::CompileMasker(options);
  if (!compiled.ok()) {
    std::fprintf(stderr, "%s\n", compiled.status().ToString().c_str());
    return 1;
  }
  std::shared_ptr<const Masker> masker = compiled.value();

  const Corpus corpus = MakeCorpus(records, 42, false);
  size_t bytes = 0;
  for (const std::string& m : corpus.messages) bytes += m.size();
  std::printf("corpus: %zu messages, %.1f bytes/message avg, 30 services, %u shapes\n",
              records, static_cast<double>(bytes) / static_cast<double>(records), kNumShapes);

  std::vector<double> serial_rates;
  uint64_t serial_sum = 0;
  size_t templates = 0;
  for (int r = 0; r < repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    serial_sum = RunSerial(corpus, masker, options, &templates);
    serial_rates.push_back(static_cast<double>(records) / Seconds(start));
  }
  std::printf("one core (Prepare + Mine): %.0f messages/s, median of %d  (%zu templates)\n",
              Median(serial_rates), repeat, templates);

  std::vector<double> parallel_rates;
  bool same = true;
  for (int r = 0; r < repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const uint64_t sum = RunParallel(corpus, masker, options, threads);
    parallel_rates.push_back(static_cast<double>(records) / Seconds(start));
    same = same && sum == serial_sum;
  }
  std::printf("%d threads (services in parallel): %.0f messages/s, median of %d; ids %s the "
              "one-core run\n",
              threads, Median(parallel_rates), repeat, same ? "equal" : "DIFFER FROM");

  // Memory on a long stream with high-cardinality values, generated in
  // slices so the corpus itself does not dominate the RSS.
  if (stream_records > 0) {
    TemplateMiner miner(options, masker);
    PreparedMessage prepared;
    Rng rng(7);
    size_t done = 0;
    const auto start = std::chrono::steady_clock::now();
    while (done < stream_records) {
      const size_t slice = std::min<size_t>(1000000, stream_records - done);
      const Corpus part = MakeCorpus(slice, rng.Next(), true);
      for (size_t i = 0; i < slice; ++i) {
        TemplateMiner::Prepare(*masker, part.messages[i], &prepared);
        (void)miner.Mine(kServices[part.services[i]], prepared, 0, nullptr);
      }
      done += slice;
      std::printf("stream %5.1fM: templates=%llu over_cap=%llu peak_rss=%ld MiB\n",
                  static_cast<double>(done) / 1e6,
                  static_cast<unsigned long long>(miner.counters().templates),
                  static_cast<unsigned long long>(miner.counters().over_cap),
                  PeakRssKib() / 1024);
      std::fflush(stdout);
    }
    std::printf("stream: %.0f messages/s (incl. generation)\n",
                static_cast<double>(stream_records) / Seconds(start));
  }
  return same ? 0 : 1;
}
