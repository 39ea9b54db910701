#include "tools/metrics.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testutil/test_util.h"

namespace faultline::tools::metrics {
namespace {

TEST(MetricsTest, CounterExposition) {
  Registry registry;
  Result<Counter*> records = registry.AddCounter("faultline_records_in_total",
                                                 "Records read from Kafka.");
  ASSERT_OK(records.status());
  (*records)->Increment();
  (*records)->Increment(41);
  EXPECT_EQ((*records)->value(), 42u);
  EXPECT_EQ(registry.Exposition(),
            "# HELP faultline_records_in_total Records read from Kafka.\n"
            "# TYPE faultline_records_in_total counter\n"
            "faultline_records_in_total 42\n");
}

TEST(MetricsTest, GaugeExposition) {
  Registry registry;
  Result<Gauge*> lag = registry.AddGauge("lag_messages", "Lag.");
  Result<DoubleGauge*> last = registry.AddDoubleGauge("last_seconds", "Last.");
  Result<DoubleGauge*> inf = registry.AddDoubleGauge("inf_value", "Inf.");
  ASSERT_OK(lag.status());
  ASSERT_OK(last.status());
  ASSERT_OK(inf.status());
  (*lag)->Set(10);
  (*lag)->Add(-15);
  (*last)->Set(1.5);
  (*last)->Add(0.25);
  (*inf)->Set(-std::numeric_limits<double>::infinity());
  EXPECT_EQ((*lag)->value(), -5);
  EXPECT_EQ((*last)->value(), 1.75);
  EXPECT_EQ(registry.Exposition(),
            "# HELP lag_messages Lag.\n"
            "# TYPE lag_messages gauge\n"
            "lag_messages -5\n"
            "# HELP last_seconds Last.\n"
            "# TYPE last_seconds gauge\n"
            "last_seconds 1.75\n"
            "# HELP inf_value Inf.\n"
            "# TYPE inf_value gauge\n"
            "inf_value -Inf\n");
}

TEST(MetricsTest, FamilyChildrenSortedByLabelValues) {
  Registry registry;
  Result<Family<Counter>*> dead = registry.AddCounterFamily(
      "faultline_dead_letters_total", "Dead letters by reason.", {"reason"});
  ASSERT_OK(dead.status());
  (*dead)->WithLabels({"not_json"})->Increment(2);
  (*dead)->WithLabels({"bad_timestamp"})->Increment();
  (*dead)->WithLabels({"not_json"})->Increment();
  Result<Family<Gauge>*> lag = registry.AddGaugeFamily(
      "faultline_consumer_lag", "Lag.", {"topic", "partition"});
  ASSERT_OK(lag.status());
  (*lag)->WithLabels({"logs", "2"})->Set(7);
  (*lag)->WithLabels({"logs", "10"})->Set(3);
  (*lag)->WithLabels({"audit", "0"})->Set(0);
  EXPECT_EQ(registry.Exposition(),
            "# HELP faultline_dead_letters_total Dead letters by reason.\n"
            "# TYPE faultline_dead_letters_total counter\n"
            "faultline_dead_letters_total{reason=\"bad_timestamp\"} 1\n"
            "faultline_dead_letters_total{reason=\"not_json\"} 3\n"
            "# HELP faultline_consumer_lag Lag.\n"
            "# TYPE faultline_consumer_lag gauge\n"
            "faultline_consumer_lag{topic=\"audit\",partition=\"0\"} 0\n"
            "faultline_consumer_lag{topic=\"logs\",partition=\"10\"} 3\n"
            "faultline_consumer_lag{topic=\"logs\",partition=\"2\"} 7\n");
}

TEST(MetricsTest, EmptyFamilyHasOnlyHelpAndType) {
  Registry registry;
  ASSERT_OK(registry.AddCounterFamily("x_total", "X.", {"a"}).status());
  EXPECT_EQ(registry.Exposition(),
            "# HELP x_total X.\n"
            "# TYPE x_total counter\n");
}

TEST(MetricsTest, ChildPointersAreStable) {
  Registry registry;
  Result<Family<Counter>*> family =
      registry.AddCounterFamily("x_total", "X.", {"n"});
  ASSERT_OK(family.status());
  Counter* first = (*family)->WithLabels({"first"});
  for (int i = 0; i < 1000; ++i) {
    (*family)->WithLabels({std::to_string(i)})->Increment();
  }
  EXPECT_EQ((*family)->WithLabels({"first"}), first);
  EXPECT_EQ((*family)->WithLabels(std::vector<std::string>{"first"}), first);
  EXPECT_EQ(first->value(), 0u);
  EXPECT_EQ((*family)->WithLabels({"999"})->value(), 1u);
}

TEST(MetricsTest, WrongLabelCountIsAProgrammerBug) {
  Registry registry;
  Result<Family<Counter>*> family =
      registry.AddCounterFamily("x_total", "X.", {"a", "b"});
  ASSERT_OK(family.status());
  // Asserts in debug builds; in release builds the child is detached.
  EXPECT_DEBUG_DEATH(
      {
        (*family)->WithLabels({"only_one"})->Increment();
        EXPECT_EQ(registry.Exposition(),
                  "# HELP x_total X.\n"
                  "# TYPE x_total counter\n");
      },
      "wrong number of label values");
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Registry registry;
  Result<Histogram*> latency = registry.AddHistogram(
      "faultline_batch_latency_seconds", "Batch latency.", {0.25, 0.5, 1, 2.5});
  ASSERT_OK(latency.status());
  // 0.25 lands in le="0.25": buckets are "less than or equal".
  for (double v : {0.125, 0.25, 0.75, 2.0, 8.0}) (*latency)->Observe(v);
  (*latency)->Observe(std::nan(""));  // ignored
  EXPECT_EQ((*latency)->count(), 5u);
  EXPECT_EQ((*latency)->sum(), 11.125);
  EXPECT_EQ((*latency)->BucketCounts(), (std::vector<uint64_t>{2, 0, 1, 1, 1}));
  EXPECT_EQ(registry.Exposition(),
            "# HELP faultline_batch_latency_seconds Batch latency.\n"
            "# TYPE faultline_batch_latency_seconds histogram\n"
            "faultline_batch_latency_seconds_bucket{le=\"0.25\"} 2\n"
            "faultline_batch_latency_seconds_bucket{le=\"0.5\"} 2\n"
            "faultline_batch_latency_seconds_bucket{le=\"1\"} 3\n"
            "faultline_batch_latency_seconds_bucket{le=\"2.5\"} 4\n"
            "faultline_batch_latency_seconds_bucket{le=\"+Inf\"} 5\n"
            "faultline_batch_latency_seconds_sum 11.125\n"
            "faultline_batch_latency_seconds_count 5\n");
}

TEST(MetricsTest, HistogramFamilyPutsLeLast) {
  Registry registry;
  Result<Family<Histogram>*> family = registry.AddHistogramFamily(
      "stage_seconds", "Stage time.", {"stage"}, {0.001, 10});
  ASSERT_OK(family.status());
  (*family)->WithLabels({"store"})->Observe(0.5);
  EXPECT_EQ(registry.Exposition(),
            "# HELP stage_seconds Stage time.\n"
            "# TYPE stage_seconds histogram\n"
            "stage_seconds_bucket{stage=\"store\",le=\"0.001\"} 0\n"
            "stage_seconds_bucket{stage=\"store\",le=\"10\"} 1\n"
            "stage_seconds_bucket{stage=\"store\",le=\"+Inf\"} 1\n"
            "stage_seconds_sum{stage=\"store\"} 0.5\n"
            "stage_seconds_count{stage=\"store\"} 1\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  Result<Family<Counter>*> family = registry.AddCounterFamily(
      "x_total", "Help with \\ and\nnewline and \"quotes\".", {"v"});
  ASSERT_OK(family.status());
  (*family)->WithLabels({"a\\b\"c\nd"})->Increment();
  EXPECT_EQ(registry.Exposition(),
            "# HELP x_total Help with \\\\ and\\nnewline and \"quotes\".\n"
            "# TYPE x_total counter\n"
            "x_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsTest, CallbackGaugesRunAtScrapeTime) {
  Registry registry;
  std::atomic<int64_t> store_bytes{100};
  ASSERT_OK(registry.AddCallbackGauge(
      "faultline_store_size_bytes", "Store size on disk.",
      [&] { return static_cast<double>(store_bytes.load()); }));
  ASSERT_OK(registry.AddCallbackGaugeFamily(
      "faultline_consumer_lag", "Lag.", {"topic", "partition"}, [] {
        return std::vector<CallbackSample>{
            {{"logs", "1"}, 5}, {{"logs", "0"}, 2}, {{"bad"}, 9}};
      }));
  const std::string lag =
      "# HELP faultline_consumer_lag Lag.\n"
      "# TYPE faultline_consumer_lag gauge\n"
      "faultline_consumer_lag{topic=\"logs\",partition=\"0\"} 2\n"
      "faultline_consumer_lag{topic=\"logs\",partition=\"1\"} 5\n";
  EXPECT_EQ(registry.Exposition(),
            "# HELP faultline_store_size_bytes Store size on disk.\n"
            "# TYPE faultline_store_size_bytes gauge\n"
            "faultline_store_size_bytes 100\n" +
                lag);
  store_bytes = 2048;
  EXPECT_EQ(registry.Exposition(),
            "# HELP faultline_store_size_bytes Store size on disk.\n"
            "# TYPE faultline_store_size_bytes gauge\n"
            "faultline_store_size_bytes 2048\n" +
                lag);
}

TEST(MetricsTest, FamiliesRenderInRegistrationOrder) {
  Registry registry;
  ASSERT_OK(registry.AddGauge("zeta", "Z.").status());
  ASSERT_OK(registry.AddCounter("alpha_total", "A.").status());
  EXPECT_EQ(registry.Exposition(),
            "# HELP zeta Z.\n# TYPE zeta gauge\nzeta 0\n"
            "# HELP alpha_total A.\n# TYPE alpha_total counter\n"
            "alpha_total 0\n");
}

TEST(MetricsTest, RejectsBadNames) {
  Registry registry;
  for (const char* name : {"", "1abc_total", "a-b_total", "a:b_total",
                           "a b_total", "caf\xc3\xa9_total"}) {
    Result<Counter*> counter = registry.AddCounter(name, "H.");
    ASSERT_FALSE(counter.ok()) << name;
    EXPECT_EQ(counter.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(registry.AddCounter("records", "H.").status().message(),
            "metric \"records\": counter names end in _total");
  EXPECT_EQ(registry.AddGauge("records_total", "H.").status().message(),
            "metric \"records_total\": only counter names end in _total");
  EXPECT_EQ(registry.AddGauge("records", "").status().message(),
            "metric \"records\": help is empty");
  EXPECT_FALSE(registry.AddGaugeFamily("g", "H.", {"__reserved"}).ok());
  EXPECT_FALSE(registry.AddGaugeFamily("g", "H.", {"1a"}).ok());
  EXPECT_FALSE(registry.AddGaugeFamily("g", "H.", {"a-b"}).ok());
  EXPECT_EQ(registry.AddGaugeFamily("g", "H.", {"a", "a"}).status().message(),
            "metric \"g\": label \"a\" appears twice");
  EXPECT_EQ(
      registry.AddHistogramFamily("h", "H.", {"le"}, {1}).status().message(),
      "metric \"h\": label \"le\" is reserved for histogram buckets");
  // le is only reserved in histograms.
  EXPECT_OK(registry.AddGaugeFamily("g_le", "H.", {"le"}).status());
  EXPECT_EQ(registry.AddHistogram("h", "H.", {}).status().message(),
            "metric \"h\": histogram needs buckets");
  for (std::vector<double> bounds :
       {std::vector<double>{1, 1}, std::vector<double>{2, 1},
        std::vector<double>{1, std::numeric_limits<double>::infinity()},
        std::vector<double>{std::nan("")}}) {
    EXPECT_EQ(registry.AddHistogram("h", "H.", bounds).status().message(),
              "metric \"h\": bucket bounds must be finite and strictly "
              "increasing");
  }
  // Nothing invalid was registered.
  EXPECT_EQ(registry.Exposition(), "# HELP g_le H.\n# TYPE g_le gauge\n");
}

TEST(MetricsTest, SameDefinitionSharesTheMetric) {
  Registry registry;
  Result<Counter*> first = registry.AddCounter("x_total", "X.");
  Result<Counter*> second = registry.AddCounter("x_total", "X.");
  ASSERT_OK(first.status());
  ASSERT_OK(second.status());
  EXPECT_EQ(*first, *second);
  Result<Counter*> other_help = registry.AddCounter("x_total", "Other.");
  EXPECT_EQ(other_help.status().message(),
            "metric \"x_total\" is already registered with another kind, "
            "help, labels or buckets (or as a callback)");
  EXPECT_FALSE(registry.AddCounterFamily("x_total", "X.", {"a"}).ok());
  ASSERT_OK(registry.AddCallbackGauge("cb", "C.", [] { return 1.0; }));
  EXPECT_FALSE(registry.AddCallbackGauge("cb", "C.", [] { return 1.0; }).ok());
}

TEST(MetricsTest, RejectsSampleNameCollisions) {
  Registry registry;
  ASSERT_OK(registry.AddHistogram("latency_seconds", "L.", {1}).status());
  EXPECT_EQ(registry.AddGauge("latency_seconds_count", "C.").status().message(),
            "metric \"latency_seconds_count\": sample name "
            "\"latency_seconds_count\" is already used by histogram "
            "\"latency_seconds\"");
  ASSERT_OK(registry.AddGauge("queue_bucket", "Q.").status());
  EXPECT_FALSE(registry.AddHistogram("queue", "Q.", {1}).ok());
}

TEST(MetricsTest, ConcurrentUpdatesAreExact) {
  Registry registry;
  Result<Counter*> counter = registry.AddCounter("c_total", "C.");
  Result<Family<Counter>*> family =
      registry.AddCounterFamily("f_total", "F.", {"reason"});
  Result<Gauge*> gauge = registry.AddGauge("g", "G.");
  Result<Histogram*> histogram = registry.AddHistogram("h", "H.", {0.5, 1.5});
  ASSERT_OK(counter.status());
  ASSERT_OK(family.status());
  ASSERT_OK(gauge.status());
  ASSERT_OK(histogram.status());

  constexpr int kThreads = 8;
  constexpr int kIterations = 20000;
  std::atomic<bool> done{false};
  // A scraper runs alongside, as Prometheus would.
  std::thread scraper([&] {
    while (!done) {
      std::string text = registry.Exposition();
      EXPECT_NE(text.find("# TYPE h histogram"), std::string::npos);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      Counter* mine = (*family)->WithLabels({"r" + std::to_string(t % 2)});
      for (int i = 0; i < kIterations; ++i) {
        (*counter)->Increment();
        mine->Increment(2);
        (*gauge)->Add(i % 2 == 0 ? 3 : -1);
        (*histogram)->Observe(i % 2 == 0 ? 1.0 : 2.0);
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  done = true;
  scraper.join();

  constexpr uint64_t kTotal = uint64_t{kThreads} * kIterations;
  EXPECT_EQ((*counter)->value(), kTotal);
  EXPECT_EQ((*family)->WithLabels({"r0"})->value(), kTotal);  // half, twice
  EXPECT_EQ((*family)->WithLabels({"r1"})->value(), kTotal);
  EXPECT_EQ((*gauge)->value(), static_cast<int64_t>(kTotal));  // +3 -1 pairs
  EXPECT_EQ((*histogram)->count(), kTotal);
  EXPECT_EQ((*histogram)->sum(), 1.5 * static_cast<double>(kTotal));
  EXPECT_EQ((*histogram)->BucketCounts(),
            (std::vector<uint64_t>{0, kTotal / 2, kTotal / 2}));
}

}  // namespace
}  // namespace faultline::tools::metrics
