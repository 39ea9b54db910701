#include "correlate/rollup.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

// Rows below name only the fields they use (designated initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace faultline::correlate {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
const int64_t kT0 = 1'700'000'000 * kSecond;

struct Row {
  RecordKind kind = RecordKind::kLog;
  std::string service;
  int64_t ts_ns = 0;
  Level level = Level::kInfo;
  uint64_t template_id = 0;
  std::string name;
  double value = 0;
  int64_t duration_ns = 0;
  std::vector<std::pair<std::string, std::string>> attrs;
};

void AddRows(const std::vector<Row>& rows, RecordBatch* batch) {
  for (const Row& r : rows) {
    RecordRow& row = batch->AddRow();
    row.kind = r.kind;
    row.service = batch->Intern(r.service);
    row.ts_ns = r.ts_ns;
    row.level = r.level;
    row.template_id = r.template_id;
    row.name = batch->Intern(r.name);
    row.value = r.value;
    row.duration_ns = r.duration_ns;
    row.attr_begin = batch->AttrCount();
    for (const auto& [k, v] : r.attrs) {
      batch->AddAttr(AttrRef{batch->Intern(k), batch->Intern(v), AttrType::kString});
    }
    batch->mutable_rows().back().attr_count = static_cast<uint32_t>(r.attrs.size());
  }
}

// (service, bucket, signal, dimension) -> point, for lookups in tests.
using Flat = std::map<std::tuple<std::string, int64_t, std::string, std::string>, storage::SeriesPoint>;
Flat Flatten(const std::vector<storage::ServiceBucket>& buckets) {
  Flat flat;
  for (const storage::ServiceBucket& b : buckets) {
    for (const storage::SeriesEntry& e : b.entries) {
      flat[{b.service, b.start_ns, e.signal, e.dimension}].Merge(e.point);
    }
  }
  return flat;
}

TEST(Rollup, CountsLevelsStatusLatencyTemplatesSpansMetricsAndDimensions) {
  std::vector<Row> rows = {
      {.service = "api", .ts_ns = kT0 + 1, .template_id = 7,
       .attrs = {{"status", "200"}, {"latency_ms", "12.5"}, {"region", "eu"}}},
      {.service = "api", .ts_ns = kT0 + 2, .level = Level::kError, .template_id = 7,
       .attrs = {{"http.status_code", "503"}, {"region", "eu"}, {"endpoint", "/v1/chat"}}},
      {.service = "api", .ts_ns = kT0 + 3, .level = Level::kWarn,
       .attrs = {{"status", "429"}, {"duration_us", "2000"}, {"region", "us"}}},
      {.service = "api", .ts_ns = kT0 + 11 * kSecond},  // next bucket
      {.kind = RecordKind::kSpan, .service = "db", .ts_ns = kT0 + 5, .duration_ns = 4'000'000,
       .attrs = {{"http.status_code", "500"}}},
      {.kind = RecordKind::kMetric, .service = "db", .ts_ns = kT0 + 6, .name = "cpu", .value = 0.5},
      {.kind = RecordKind::kMetric, .service = "db", .ts_ns = kT0 + 8, .name = "cpu", .value = 0.9},
  };
  RecordBatch batch;
  AddRows(rows, &batch);
  RollupCounters counters;
  const std::vector<storage::ServiceBucket> out = Rollup(batch, RollupOptions{}, &counters);
  EXPECT_EQ(counters.rows, rows.size());
  ASSERT_EQ(out.size(), 3u);  // api@t0, db@t0, api@t0+10s, in bucket then service order
  EXPECT_EQ(out[0].service, "api");
  EXPECT_EQ(out[1].service, "db");
  EXPECT_EQ(out[2].start_ns, kT0 + 10 * kSecond);
  Flat flat = Flatten(out);
  auto count = [&](const std::string& service, int64_t bucket, const std::string& signal,
                   const std::string& dim = "") {
    auto it = flat.find({service, bucket, signal, dim});
    return it == flat.end() ? uint64_t{0} : it->second.count;
  };
  EXPECT_EQ(count("api", kT0, "records"), 3u);
  EXPECT_EQ(count("api", kT0, "errors"), 1u);
  EXPECT_EQ(count("api", kT0, "warnings"), 1u);
  EXPECT_EQ(count("api", kT0, "http.requests"), 3u);
  EXPECT_EQ(count("api", kT0, "http.5xx"), 1u);
  EXPECT_EQ(count("api", kT0, "http.4xx"), 1u);
  EXPECT_EQ(count("api", kT0, "http.429"), 1u);
  EXPECT_EQ(count("api", kT0, "http.429", "region=us"), 1u);
  EXPECT_EQ(count("api", kT0, "records", "region=eu"), 2u);
  EXPECT_EQ(count("api", kT0, "http.5xx", "endpoint=/v1/chat"), 1u);
  EXPECT_EQ(count("api", kT0, TemplateSignal(7)), 2u);
  EXPECT_EQ(count("api", kT0 + 10 * kSecond, "records"), 1u);
  const storage::SeriesPoint& latency = flat[{"api", kT0, "latency", ""}];
  EXPECT_EQ(latency.histogram.count(), 2u);  // 12.5 ms and 2000 us
  EXPECT_NEAR(latency.histogram.Quantile(0), 2.0, 0.03);
  EXPECT_NEAR(latency.histogram.Quantile(1), 12.5, 0.15);
  EXPECT_EQ(count("db", kT0, "span.calls"), 1u);
  EXPECT_EQ(count("db", kT0, "span.errors"), 1u);
  const storage::SeriesPoint& span_latency = flat[{"db", kT0, "span.latency", ""}];
  EXPECT_NEAR(span_latency.histogram.Quantile(0.5), 4.0, 0.05);
  const storage::SeriesPoint& cpu = flat[{"db", kT0, "metric:cpu", ""}];
  EXPECT_EQ(cpu.count, 2u);
  EXPECT_DOUBLE_EQ(cpu.min, 0.5);
  EXPECT_DOUBLE_EQ(cpu.max, 0.9);
  EXPECT_DOUBLE_EQ(cpu.last, 0.9);
  EXPECT_DOUBLE_EQ(cpu.mean(), 0.7);
  for (const storage::ServiceBucket& b : out) {
    for (size_t i = 1; i < b.entries.size(); ++i) {
      EXPECT_LT(std::tie(b.entries[i - 1].signal, b.entries[i - 1].dimension),
                std::tie(b.entries[i].signal, b.entries[i].dimension));
    }
  }
}

// Rollups of any split of the records, merged, equal the rollup of all of
// them: what makes them exactly-once and batch-size independent.
TEST(Rollup, MergedRollupsOfAnySplitEqualTheWhole) {
  std::mt19937 rng(11);
  std::vector<Row> rows;
  const char* services[] = {"a", "b", "c"};
  for (int i = 0; i < 3000; ++i) {
    Row r;
    r.kind = static_cast<RecordKind>(rng() % 3);
    r.service = services[rng() % 3];
    r.ts_ns = kT0 + static_cast<int64_t>(rng() % 120) * kSecond / 2;
    r.level = static_cast<Level>(rng() % 7);
    r.template_id = rng() % 5;
    r.name = "m" + std::to_string(rng() % 3);
    r.value = static_cast<double>(rng() % 100);
    r.duration_ns = static_cast<int64_t>(rng() % 1'000'000'000);
    r.attrs = {{"status", std::to_string(200 + rng() % 400)},
               {"host", "h" + std::to_string(rng() % 4)},
               {"latency_ms", std::to_string(rng() % 500)}};
    rows.push_back(r);
  }
  RecordBatch whole;
  AddRows(rows, &whole);
  const Flat expected = Flatten(Rollup(whole, RollupOptions{}));
  for (size_t split : {size_t{1}, size_t{999}, size_t{2500}}) {
    RecordBatch first, second;
    AddRows(std::vector<Row>(rows.begin(), rows.begin() + static_cast<ptrdiff_t>(split)), &first);
    AddRows(std::vector<Row>(rows.begin() + static_cast<ptrdiff_t>(split), rows.end()), &second);
    std::vector<storage::ServiceBucket> parts = Rollup(second, RollupOptions{});
    std::vector<storage::ServiceBucket> more = Rollup(first, RollupOptions{});
    parts.insert(parts.end(), more.begin(), more.end());
    Flat merged = Flatten(parts);
    ASSERT_EQ(merged.size(), expected.size());
    for (const auto& [key, point] : expected) {
      const storage::SeriesPoint& got = merged[key];
      EXPECT_EQ(got.count, point.count) << std::get<2>(key);
      EXPECT_EQ(got.histogram, point.histogram) << std::get<2>(key);
      EXPECT_EQ(got.min, point.min);
      EXPECT_EQ(got.max, point.max);
      EXPECT_EQ(got.last, point.last);
      EXPECT_NEAR(got.sum, point.sum, 1e-6);
    }
  }
}

TEST(Rollup, TooManyDistinctDimensionValuesFoldIntoOther) {
  std::vector<Row> rows;
  for (int i = 0; i < 50; ++i) {
    rows.push_back({.service = "api", .ts_ns = kT0, .attrs = {{"host", "h" + std::to_string(i)}}});
  }
  RecordBatch batch;
  AddRows(rows, &batch);
  RollupOptions options;
  options.max_dimension_values = 10;
  RollupCounters counters;
  Flat flat = Flatten(Rollup(batch, options, &counters));
  EXPECT_EQ(counters.dimension_overflow, 40u);
  EXPECT_EQ((flat[{"api", kT0, "records", "host=_other"}].count), 40u);
  EXPECT_EQ((flat[{"api", kT0, "records", "host=h3"}].count), 1u);
  EXPECT_EQ((flat[{"api", kT0, "records", ""}].count), 50u);
}

// Latency histograms equal the ones built value by value, whether the
// values are many and close (counted in a dense array) or few and far apart
// (sorted), zeros included.
TEST(Rollup, LatencyHistogramsEqualValueByValue) {
  for (const std::vector<double>& latencies :
       {std::vector<double>{0, 0.001, 1, 1e6, 1e6, 0},
        std::vector<double>{5, 5.1, 5.2, 7, 9, 12, 12, 0, 30, 5, 5}}) {
    std::vector<Row> rows;
    Histogram expected;
    for (double ms : latencies) {
      Row r;
      r.service = "api";
      r.ts_ns = kT0;
      r.attrs = {{"latency_ms", std::to_string(ms)}};
      rows.push_back(r);
      expected.Add(std::stod(std::to_string(ms)));
    }
    RecordBatch batch;
    AddRows(rows, &batch);
    Flat flat = Flatten(Rollup(batch, RollupOptions{}));
    EXPECT_EQ((flat[{"api", kT0, "latency", ""}].histogram), expected);
  }
}

// Calls are kept on the callee, per caller and source; any split of the
// calls adds up to the rollup of all of them.
TEST(Rollup, CallsArePerCalleeAndCallerAndAddUp) {
  const std::vector<Call> calls = {
      {"web", "api", kT0 + 1 * kSecond, 4'000'000, 1'000'000, false, EdgeSource::kSpan},
      {"web", "api", kT0 + 2 * kSecond, 9'000'000, 7'000'000, true, EdgeSource::kSpan},
      {"cron", "api", kT0 + 3 * kSecond, 2'000'000, 500'000, false, EdgeSource::kSpan},
      {"web", "api", kT0 + 12 * kSecond, 5'000'000, 1'000'000, false, EdgeSource::kSpan},
      {"api", "db", kT0 + 1 * kSecond, 0, 0, true, EdgeSource::kField},
      {"web", "audit", kT0 + 1 * kSecond, 0, 0, false, EdgeSource::kTrace},
      {"", "db", kT0, 0, 0, false, EdgeSource::kField},  // no caller: skipped
  };
  const std::vector<storage::ServiceBucket> buckets = RollupCalls(calls, RollupOptions{});
  Flat flat = Flatten(buckets);
  auto at = [&](const std::string& service, int64_t bucket, const std::string& signal,
                const std::string& dimension) {
    return flat[{service, bucket, signal, dimension}];
  };
  EXPECT_EQ(at("api", kT0, "edge.calls", "caller=web").count, 2u);
  EXPECT_EQ(at("api", kT0, "edge.errors", "caller=web").count, 1u);
  EXPECT_EQ(at("api", kT0, "edge.latency", "caller=web").histogram.count(), 2u);
  EXPECT_NEAR(at("api", kT0, "edge.latency", "caller=web").histogram.Quantile(1.0), 9.0,
              0.1);
  EXPECT_EQ(at("api", kT0, "edge.gap", "caller=web").histogram.count(), 2u);
  EXPECT_NEAR(at("api", kT0, "edge.gap", "caller=web").histogram.Quantile(1.0), 7.0, 0.1);
  EXPECT_NEAR(at("api", kT0, "edge.gap", "caller=web").histogram.Quantile(0.0), 1.0, 0.05);
  EXPECT_EQ(flat.count(Flat::key_type{"db", kT0, "edge.gap", "caller=api"}), 0u)
      << "no spans, no gap";
  EXPECT_EQ(at("api", kT0, "edge.calls", "caller=cron").count, 1u);
  EXPECT_EQ(at("api", kT0 + 10 * kSecond, "edge.calls", "caller=web").count, 1u);
  EXPECT_EQ(at("db", kT0, "edge.peer_calls", "caller=api").count, 1u);
  EXPECT_EQ(at("db", kT0, "edge.peer_errors", "caller=api").count, 1u);
  EXPECT_EQ(at("audit", kT0, "edge.trace_calls", "caller=web").count, 1u);
  EXPECT_EQ(flat.count(Flat::key_type{"api", kT0, "edge.errors", "caller=cron"}), 0u)
      << "no errors, no entry";
  EXPECT_EQ(flat.count(Flat::key_type{"db", kT0, "edge.peer_calls", "caller="}), 0u);
  for (const storage::ServiceBucket& b : buckets) {
    EXPECT_TRUE(std::is_sorted(b.entries.begin(), b.entries.end(),
                               [](const storage::SeriesEntry& x, const storage::SeriesEntry& y) {
                                 return std::tie(x.signal, x.dimension) <
                                        std::tie(y.signal, y.dimension);
                               }));
  }

  std::vector<storage::ServiceBucket> parts =
      RollupCalls(std::vector<Call>(calls.begin(), calls.begin() + 2), RollupOptions{});
  std::vector<storage::ServiceBucket> rest =
      RollupCalls(std::vector<Call>(calls.begin() + 2, calls.end()), RollupOptions{});
  parts.insert(parts.end(), rest.begin(), rest.end());
  const Flat merged = Flatten(parts);
  ASSERT_EQ(merged.size(), Flatten(buckets).size());
  for (const auto& [key, point] : Flatten(buckets)) {
    EXPECT_EQ(merged.at(key).count, point.count);
    EXPECT_EQ(merged.at(key).histogram, point.histogram);
  }
}

}  // namespace
}  // namespace faultline::correlate
