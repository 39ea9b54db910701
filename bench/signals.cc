// faultline_bench_signals: the anomaly scan's cost at fleet scale.
//
// Writes a store holding one hour (plus the 10-minute baseline history
// before it) of 10 s rollups for --services services (500) with --signals
// signals each (20: two thirds counts at rates from 0.05 to 500 a bucket,
// one third once-a-minute gauges), with a few injected shifts so the scan
// has findings to build, then times correlate::FindAnomalies over the hour
// (reading the rollups from RocksDB, dense series, detectors on oneTBB,
// families) with 1 and 2 threads, --runs times each, and prints the
// medians. Issue 6's target: under 1 s on 2 cores.
// Then the correlation of that hour (issue 7): the scan plus grouping the
// findings into incidents and ranking their causes over a call graph of the
// services (a tree: svc-i calls svc-2i+1 and svc-2i+2, plus every tenth
// calls one more at random), as `faultline incidents` does, and the
// grouping and ranking alone. Target: under 1 s on 2 cores.
//
// Usage: faultline_bench_signals [--services N] [--signals N] [--runs N] [--dir D]
//        faultline_bench_signals --rollup FILE [--runs N]   (rollup alone)
// Build in Release.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <oneapi/tbb/global_control.h>

#include "correlate/families.h"
#include "correlate/incident.h"
#include "correlate/rollup.h"
#include "correlate/scan.h"
#include "correlate/topology.h"
#include "ingest/file_source.h"
#include "ingest/parser.h"
#include "storage/reader.h"
#include "storage/store.h"

namespace {

using namespace faultline;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kBucket = 10 * kSecond;
constexpr int64_t kStart = 1'795'000'000 * kSecond;  // a multiple of 10 s
constexpr int kHistoryBuckets = 60;
constexpr int kWindowBuckets = 360;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int Build(const std::string& dir, int services, int signals) {
  Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(dir, {});
  if (!store.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), store.status().ToString().c_str());
    return 1;
  }
  std::mt19937_64 rng(42);
  const int gauges = signals / 3;
  const int counts = signals - gauges;
  for (int b = 0; b < kHistoryBuckets + kWindowBuckets; ++b) {
    storage::EncodedBatch batch;
    for (int s = 0; s < services; ++s) {
      storage::ServiceBucket bucket{"svc-" + std::to_string(s), kStart + b * kBucket, kBucket, {}};
      // One service in 25 has a fault in the second half hour.
      const bool fault = s % 25 == 0 && b >= kHistoryBuckets + 200 && b < kHistoryBuckets + 230;
      for (int c = 0; c < counts; ++c) {
        const double rate = 0.05 * std::pow(10.0, 4.0 * c / std::max(1, counts - 1));
        std::poisson_distribution<int> lines(fault && c == 1 ? rate * 5 + 5 : rate);
        const int n = lines(rng);
        if (n == 0) continue;
        storage::SeriesEntry& e = bucket.entries.emplace_back();
        e.signal = "count." + std::to_string(c);
        e.point.count = static_cast<uint64_t>(n);
      }
      if (b % 6 == 0) {
        for (int g = 0; g < gauges; ++g) {
          std::normal_distribution<double> level(100 + 10 * g, 3);
          storage::SeriesEntry& e = bucket.entries.emplace_back();
          e.signal = "metric:gauge_" + std::to_string(g);
          e.point.AddSample(level(rng) * (fault && g == 0 ? 2 : 1), bucket.start_ns);
        }
      }
      std::sort(bucket.entries.begin(), bucket.entries.end(),
                [](const auto& x, const auto& y) { return x.signal < y.signal; });
      batch.series.push_back(std::move(bucket));
    }
    Status written = (*store)->Write(std::move(batch), {});
    if (!written.ok()) {
      std::fprintf(stderr, "write: %s\n", written.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

// --rollup FILE: the rollup and call matching alone, one thread, on the
// batches `faultline ingest` would make of FILE (16 MiB chunks), so their
// cost can be followed without the noise of a whole ingest.
int RollupOnly(const std::string& path, int runs) {
  ingest::FileSourceOptions source_options;
  source_options.chunk_bytes = 16 << 20;  // ingest's [ingest] chunk_bytes default
  Result<std::unique_ptr<ingest::FileSource>> source =
      ingest::FileSource::Open(path, source_options);
  if (!source.ok()) {
    std::fprintf(stderr, "%s\n", source.status().ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<RecordBatch>> batches;
  ingest::LineParser parser(ingest::ParserOptions{});
  uint64_t rows = 0;
  while (true) {
    Result<ingest::Chunk> chunk = (*source)->Next();
    if (!chunk.ok()) {
      std::fprintf(stderr, "%s\n", chunk.status().ToString().c_str());
      return 1;
    }
    if (chunk->size == 0) break;
    auto batch = std::make_unique<RecordBatch>();
    parser.ParseChunk(chunk->view(), chunk->offset, batch->AddSource(path, -1), batch.get());
    rows += batch->rows().size();
    batches.push_back(std::move(batch));
  }
  std::vector<double> rollup_s, calls_s;
  size_t entries = 0;
  for (int run = 0; run < runs; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    entries = 0;
    for (const auto& batch : batches) {
      for (const storage::ServiceBucket& b : correlate::Rollup(*batch, {})) {
        entries += b.entries.size();
      }
    }
    auto t1 = std::chrono::steady_clock::now();
    correlate::TopologyOptions options;
    options.record_calls = true;
    options.trace_sample = 8;
    correlate::TopologyBuilder matcher(options);
    for (const auto& batch : batches) {
      matcher.AddBatch(*batch);
      correlate::RollupCalls(matcher.TakeCalls(), {});
    }
    auto t2 = std::chrono::steady_clock::now();
    rollup_s.push_back(std::chrono::duration<double>(t1 - t0).count());
    calls_s.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  std::printf("rollup alone, 1 thread: %llu records in %zu batches: Rollup median %.3f s "
              "(%.0f ns/record, %zu entries), call matching median %.3f s (%.0f ns/record)\n",
              static_cast<unsigned long long>(rows), batches.size(), Median(rollup_s),
              Median(rollup_s) / static_cast<double>(rows) * 1e9, entries, Median(calls_s),
              Median(calls_s) / static_cast<double>(rows) * 1e9);
  return 0;
}

int main(int argc, char** argv) {
  int services = 500, signals = 20, runs = 5;
  std::string dir = "build/bench-work/signals-store";
  std::string rollup_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--services")) services = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--signals")) signals = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--runs")) runs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--rollup")) rollup_file = argv[i + 1];
    else {
      std::fprintf(stderr,
                   "usage: %s [--services N] [--signals N] [--runs N] [--dir D] [--rollup FILE]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!rollup_file.empty()) return RollupOnly(rollup_file, runs);
  if (services <= 0 || signals < 3 || runs <= 0) {
    std::fprintf(stderr, "--services must be > 0, --signals >= 3, --runs > 0\n");
    return 2;
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path());
  const auto t0 = std::chrono::steady_clock::now();
  if (Build(dir, services, signals) != 0) return 1;
  const double build_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("store: %d services x %d signals x %d buckets (+%d history) of 10 s, "
              "written in %.2f s\n",
              services, signals, kWindowBuckets, kHistoryBuckets, build_s);

  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(dir);
  Result<correlate::SignalClassifier> classifier = correlate::SignalClassifier::Create();
  if (!reader.ok() || !classifier.ok()) {
    std::fprintf(stderr, "open reader or classifier failed\n");
    return 1;
  }
  const int64_t since = kStart + kHistoryBuckets * kBucket;
  const int64_t until = since + kWindowBuckets * kBucket;
  std::printf("%-8s %-10s %-10s %s\n", "threads", "median_s", "min_s", "findings");
  for (int threads : {1, 2}) {
    tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                    static_cast<size_t>(threads));
    std::vector<double> times;
    size_t found = 0;
    for (int r = 0; r < runs; ++r) {
      const auto start = std::chrono::steady_clock::now();
      Result<std::vector<correlate::Finding>> findings = correlate::FindAnomalies(
          reader->get(), since, until, kBucket, *classifier, correlate::ScanOptions{});
      times.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (!findings.ok()) {
        std::fprintf(stderr, "scan: %s\n", findings.status().ToString().c_str());
        return 1;
      }
      found = findings->size();
    }
    std::printf("%-8d %-10.3f %-10.3f %zu\n", threads, Median(times),
                *std::min_element(times.begin(), times.end()), found);
  }
  std::printf("target: the scan of 1 h x %d services x %d signals under 1 s on 2 cores\n", services,
              signals);

  std::vector<correlate::Edge> edges;
  std::mt19937 graph_rng(7);
  for (int s = 0; s < services; ++s) {
    for (int child : {2 * s + 1, 2 * s + 2, s % 10 == 0 ? static_cast<int>(graph_rng() % services) : -1}) {
      if (child <= s || child >= services) continue;
      correlate::Edge& e = edges.emplace_back();
      e.caller = "svc-" + std::to_string(s);
      e.callee = "svc-" + std::to_string(child);
      e.calls = 1000;
      e.sources = static_cast<uint8_t>(correlate::EdgeSource::kSpan);
    }
  }
  std::printf("\ncorrelation of the hour over %zu call edges\n%-8s %-14s %-14s %s\n", edges.size(),
              "threads", "scan+rank_s", "rank_only_s", "incidents");
  for (int threads : {1, 2}) {
    tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                    static_cast<size_t>(threads));
    std::vector<double> total, rank_only;
    size_t incidents = 0;
    for (int r = 0; r < runs; ++r) {
      const auto start = std::chrono::steady_clock::now();
      Result<std::vector<correlate::Finding>> findings = correlate::FindAnomalies(
          reader->get(), since, until, kBucket, *classifier, correlate::ScanOptions{});
      if (!findings.ok()) return 1;
      const auto ranked = std::chrono::steady_clock::now();
      std::vector<correlate::Incident> found = correlate::GroupIncidents(
          std::move(findings).value(), edges, kBucket, until, correlate::CorrelateOptions{});
      const auto end = std::chrono::steady_clock::now();
      total.push_back(std::chrono::duration<double>(end - start).count());
      rank_only.push_back(std::chrono::duration<double>(end - ranked).count());
      incidents = found.size();
    }
    std::printf("%-8d %-14.3f %-14.4f %zu\n", threads, Median(total), Median(rank_only), incidents);
  }
  // A heavier hour for the ranking alone: every service changes 4 times at
  // random moments (2,000 findings for 500 services), so incidents are
  // large and every candidate walks the graph.
  std::vector<correlate::Finding> heavy;
  const char* kSignals[] = {"errors", "span.latency", "metric:cpu_usage", "http.5xx"};
  for (int s = 0; s < services; ++s) {
    for (int k = 0; k < 4; ++k) {
      correlate::Finding& f = heavy.emplace_back();
      f.service = "svc-" + std::to_string(s);
      f.signal = kSignals[k];
      f.family = k == 2 ? correlate::Family::kInfrastructure : correlate::Family::kSoftware;
      f.kind = k == 2 ? "cpu" : "errors";
      f.onset_ns = since + static_cast<int64_t>(graph_rng() % kWindowBuckets) * kBucket;
      f.end_ns = f.onset_ns + 18 * kBucket;
      f.anomaly.strength = 5 + graph_rng() % 50;
    }
  }
  for (int threads : {1, 2}) {
    tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                    static_cast<size_t>(threads));
    std::vector<double> times;
    size_t incidents = 0;
    for (int r = 0; r < runs; ++r) {
      const auto start = std::chrono::steady_clock::now();
      incidents = correlate::GroupIncidents(heavy, edges, kBucket, until,
                                            correlate::CorrelateOptions{})
                      .size();
      times.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("heavy hour (%zu findings), %d thread%s: ranking %.3f s (median), %zu incidents\n",
                heavy.size(), threads, threads == 1 ? "" : "s", Median(times), incidents);
  }
  std::printf("target: correlation of 1 h x %d services under 1 s on 2 cores\n", services);
  return 0;
}
