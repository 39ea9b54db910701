// The anomaly scan over a real store: gauges sampled once a minute in 10 s
// buckets are judged per sample, a lone spike of a gauge does not alarm, a
// sustained shift does with its onset; a gap in the data (no records of
// any service) is neither a drop nor a surge; a gauge that keeps going
// through the same excursions is quiet after the first; a change on many
// services at once is one common-mode finding; signals of one service
// changing together are one finding; new error templates and deploy lines
// are events.
#include "correlate/scan.h"

#include <random>

#include <gtest/gtest.h>

#include "correlate/rollup.h"
#include "storage/store.h"
#include "tests/testutil/test_util.h"

namespace faultline::correlate {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kBucket = 10 * kSecond;
const int64_t kT0 = 1'700'000'040 * kSecond;  // a multiple of 10 s

storage::ServiceBucket Bucket(const std::string& service, int64_t start) {
  return storage::ServiceBucket{service, start, kBucket, {}};
}

void Add(storage::ServiceBucket* b, const std::string& signal, uint64_t count, double sample) {
  storage::SeriesEntry& e = b->entries.emplace_back();
  e.signal = signal;
  if (std::isnan(sample)) {
    e.point.count = count;
  } else {
    e.point.AddSample(sample, b->start_ns);
  }
}

TEST(Scan, SparseGaugeSpikeIsQuietShiftIsFoundAndGapsAreNotChanges) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  std::mt19937 rng(9);
  std::normal_distribution<double> noise(0, 0.5);
  std::poisson_distribution<int> lines(50);
  {
    Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(dir, {});
    ASSERT_OK(store.status());
    storage::EncodedBatch batch;
    for (int b = 0; b < 6 * 150; ++b) {  // 150 minutes of 10 s buckets
      const int minute = b / 6;
      // Logs stop for minutes 100..109 fleet-wide: a gap in the data.
      const bool gap = minute >= 100 && minute < 110;
      storage::ServiceBucket bucket = Bucket("api", kT0 + b * kBucket);
      if (!gap) Add(&bucket, "records", static_cast<uint64_t>(lines(rng)), NAN);
      if (b % 6 == 0) {
        double cpu = 10 + noise(rng);
        if (minute == 60) cpu = 1000;                   // one wild sample
        if (minute >= 120 && minute < 126) cpu = 30 + noise(rng);  // a real shift
        Add(&bucket, "metric:cpu", 0, cpu);
      }
      std::sort(bucket.entries.begin(), bucket.entries.end(),
                [](const auto& x, const auto& y) { return x.signal < y.signal; });
      if (!bucket.entries.empty()) batch.series.push_back(std::move(bucket));
    }
    ASSERT_OK((*store)->Write(std::move(batch), {}));
  }
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(dir);
  ASSERT_OK(reader.status());
  Result<SignalClassifier> classifier = SignalClassifier::Create();
  ASSERT_OK(classifier.status());
  Result<std::vector<Finding>> findings = FindAnomalies(
      reader->get(), kT0 + 30 * 60 * kSecond, kT0 + 150 * 60 * kSecond, kBucket, *classifier, {});
  ASSERT_OK(findings.status());
  std::string all;
  for (const Finding& f : *findings) all += FindingJson(f) + "\n";
  ASSERT_EQ(findings->size(), 1u) << all;
  const Finding& f = (*findings)[0];
  EXPECT_EQ(f.signal, "metric:cpu");
  EXPECT_EQ(f.anomaly.direction, Direction::kUp);
  EXPECT_EQ(f.onset_ns, kT0 + 120 * 60 * kSecond) << all;
  EXPECT_EQ(f.family, Family::kInfrastructure);
  EXPECT_EQ(f.kind, "cpu");
}

Result<std::vector<Finding>> ScanStore(const std::string& dir, storage::EncodedBatch batch,
                                       int64_t since_ns, int64_t until_ns,
                                       const ScanOptions& options = {}) {
  {
    Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(dir, {});
    if (!store.ok()) return store.status();
    FL_RETURN_IF_ERROR((*store)->Write(std::move(batch), {}));
  }
  FL_ASSIGN_OR_RETURN(std::unique_ptr<storage::Reader> reader, storage::Reader::Open(dir));
  FL_ASSIGN_OR_RETURN(SignalClassifier classifier, SignalClassifier::Create());
  return FindAnomalies(reader.get(), since_ns, until_ns, kBucket, classifier, options);
}

// A sparse series whose last sample is wild (one slow call on a call edge
// that then sees no calls for a while) stays one sample, however long the
// change stays open for want of data: not reported. Three such samples are.
TEST(Scan, ALoneSampleBeforeASeriesFallsSilentIsNotAChange) {
  testing::TempDir tmp;
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 0.3);
  auto scan = [&](const std::string& dir, int wild) {
    storage::EncodedBatch batch;
    for (int b = 0; b < 6 * 90; ++b) {
      const int minute = b / 6;
      storage::ServiceBucket bucket = Bucket("api", kT0 + b * kBucket);
      Add(&bucket, "records", 50, NAN);
      if (b % 6 == 0 && minute < 60 + wild) {
        Add(&bucket, "metric:gap_ms", 0, minute < 60 ? 4 + noise(rng) : 220 + noise(rng));
      }
      std::sort(bucket.entries.begin(), bucket.entries.end(),
                [](const auto& x, const auto& y) { return x.signal < y.signal; });
      batch.series.push_back(std::move(bucket));
    }
    return ScanStore(dir, std::move(batch), kT0 + 30 * 60 * kSecond, kT0 + 90 * 60 * kSecond);
  };
  Result<std::vector<Finding>> one = scan(tmp.Sub("one"), 1);
  ASSERT_OK(one.status());
  std::string all;
  for (const Finding& f : *one) all += FindingJson(f) + "\n";
  EXPECT_TRUE(one->empty()) << all;
  Result<std::vector<Finding>> three = scan(tmp.Sub("three"), 3);
  ASSERT_OK(three.status());
  ASSERT_EQ(three->size(), 1u);
  EXPECT_EQ((*three)[0].onset_ns, kT0 + 60 * 60 * kSecond);
}

TEST(Scan, GaugeGoingThroughItsUsualExcursionsIsQuietAfterTheFirst) {
  // A once-a-minute gauge (absent for the first hour: its sampling interval
  // must still be read as one minute) that jumps to 50 for four minutes every
  // 40 minutes, then once to 200.
  testing::TempDir tmp;
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0, 0.5);
  storage::EncodedBatch batch;
  const int minutes = 420;
  for (int minute = 60; minute < minutes; ++minute) {
    storage::ServiceBucket bucket = Bucket("api", kT0 + minute * 60 * kSecond);
    double v = 10 + noise(rng);
    if (minute % 40 < 4 && minute < 400) v = 50 + noise(rng);
    if (minute >= 400 && minute < 404) v = 200 + noise(rng);
    Add(&bucket, "metric:latency_p99", 0, v);
    batch.series.push_back(std::move(bucket));
  }
  Result<std::vector<Finding>> findings =
      ScanStore(tmp.Sub("db"), std::move(batch), kT0, kT0 + minutes * 60 * kSecond);
  ASSERT_OK(findings.status());
  std::string all;
  for (const Finding& f : *findings) all += FindingJson(f) + "\n";
  // The first excursion once the baseline has its 12 samples (minute 80),
  // not the seven like it after, and the larger one at 400.
  ASSERT_EQ(findings->size(), 2u) << all;
  EXPECT_EQ((*findings)[0].onset_ns, kT0 + 80 * 60 * kSecond) << all;
  EXPECT_EQ((*findings)[1].onset_ns, kT0 + 400 * 60 * kSecond) << all;
}

TEST(Scan, ChangeOnManyServicesAtOnceIsOneCommonModeFinding) {
  testing::TempDir tmp;
  std::mt19937 rng(12);
  std::normal_distribution<double> noise(0, 1);
  storage::EncodedBatch batch;
  const std::vector<std::string> services = {"a", "b", "c", "d", "e", "f"};
  for (int minute = 0; minute < 150; ++minute) {
    for (size_t s = 0; s < services.size(); ++s) {
      storage::ServiceBucket bucket = Bucket(services[s], kT0 + minute * 60 * kSecond);
      // Memory drops on every service at minutes 100 and 101 (a fleet
      // restart reaching pods over a minute); CPU rises on "c" alone at
      // minute 120.
      Add(&bucket, "metric:cpu", 0, (minute >= 120 && s == 2 ? 60 : 20) + noise(rng));
      Add(&bucket, "metric:memory", 0, (minute >= (s < 3 ? 100 : 101) ? 300 : 500) + noise(rng));
      batch.series.push_back(std::move(bucket));
    }
  }
  Result<std::vector<Finding>> findings =
      ScanStore(tmp.Sub("db"), std::move(batch), kT0 + 80 * 60 * kSecond, kT0 + 150 * 60 * kSecond);
  ASSERT_OK(findings.status());
  std::string all;
  for (const Finding& f : *findings) all += FindingJson(f) + "\n";
  ASSERT_EQ(findings->size(), 2u) << all;
  const Finding& memory = (*findings)[0];
  EXPECT_EQ(memory.signal, "metric:memory");
  EXPECT_EQ(memory.onset_ns, kT0 + 100 * 60 * kSecond);
  std::vector<std::string> merged = memory.services;
  std::sort(merged.begin(), merged.end());
  EXPECT_EQ(merged, services);
  EXPECT_EQ(memory.service, memory.services.front());
  const Finding& cpu = (*findings)[1];
  EXPECT_EQ(cpu.signal, "metric:cpu");
  EXPECT_EQ(cpu.service, "c");
  EXPECT_TRUE(cpu.services.empty());
}

TEST(Scan, SignalsOfOneServiceChangingTogetherAreOneFinding) {
  std::mt19937 rng(4);
  std::normal_distribution<double> noise(0, 1);
  auto fleet = [&] {
    storage::EncodedBatch batch;
    for (int minute = 0; minute < 150; ++minute) {
      storage::ServiceBucket bucket = Bucket("api", kT0 + minute * 60 * kSecond);
      // p90 and p99 latency rise together at minute 120; CPU at minute 130.
      // (Entries in signal order, as the store wants them.)
      Add(&bucket, "metric:cpu", 0, (minute >= 130 ? 90 : 10) + noise(rng));
      Add(&bucket, "metric:latency_p90", 0, (minute >= 120 ? 80 : 20) + noise(rng));
      Add(&bucket, "metric:latency_p99", 0, (minute >= 120 ? 200 : 50) + noise(rng));
      batch.series.push_back(std::move(bucket));
    }
    return batch;
  };
  testing::TempDir tmp;
  Result<std::vector<Finding>> findings =
      ScanStore(tmp.Sub("db"), fleet(), kT0 + 80 * 60 * kSecond, kT0 + 150 * 60 * kSecond);
  ASSERT_OK(findings.status());
  std::string all;
  for (const Finding& f : *findings) all += FindingJson(f) + "\n";
  ASSERT_EQ(findings->size(), 2u) << all;
  const Finding& latency = (*findings)[0];
  EXPECT_EQ(latency.onset_ns, kT0 + 120 * 60 * kSecond);
  ASSERT_EQ(latency.related.size(), 1u) << all;
  EXPECT_NE(latency.signal, latency.related[0].signal);
  EXPECT_TRUE(latency.signal.starts_with("metric:latency_p")) << all;
  EXPECT_TRUE(latency.related[0].signal.starts_with("metric:latency_p")) << all;
  EXPECT_GE(latency.anomaly.strength, latency.related[0].strength) << "the strongest leads";
  EXPECT_EQ((*findings)[1].signal, "metric:cpu");
  EXPECT_TRUE((*findings)[1].related.empty());

  ScanOptions apart;
  apart.merge_same_onset = false;
  rng.seed(4);
  Result<std::vector<Finding>> separate = ScanStore(
      tmp.Sub("db2"), fleet(), kT0 + 80 * 60 * kSecond, kT0 + 150 * 60 * kSecond, apart);
  ASSERT_OK(separate.status());
  EXPECT_EQ(separate->size(), 3u);
}

// One line is enough for a template event: a template first seen on a
// service that was logging long before, whose text says what it is; and a
// deploy line after a quiet baseline. New lines of unknown meaning, and new
// lines of a service that just started, are not news.
TEST(Scan, NewErrorTemplatesAndDeployLinesAreEvents) {
  auto tmpl = [](uint64_t id, const std::string& service, const std::string& text,
                 int64_t first_seen_ns) {
    storage::StoredTemplate t;
    t.id = id;
    t.service = service;
    t.text = text;
    t.example = text;
    t.count = 1;
    t.first_seen_ns = first_seen_ns;
    t.last_seen_ns = first_seen_ns;
    return t;
  };
  const int64_t minute = 60 * kSecond;
  auto fleet = [&] {
    storage::EncodedBatch batch;
    batch.templates.full = {
        tmpl(0x10, "api", "request served in <*> ms", kT0),
        tmpl(0x20, "api", "NullPointerException in handler <*>", kT0 + 120 * minute),
        tmpl(0x30, "api", "cache warmed <*> entries", kT0 + 125 * minute),
        tmpl(0x40, "api", "deployed version <*>", kT0),
        tmpl(0x50, "late", "connection refused by <*>", kT0 + 110 * minute),
    };
    for (int64_t b = 0; b < 150 * 6; ++b) {
      const int64_t at = kT0 + b * kBucket;
      storage::ServiceBucket api = Bucket("api", at);
      // Entries in signal order.
      Add(&api, "records", 5, NAN);
      Add(&api, TemplateSignal(0x10), 5, NAN);
      if (at == kT0 + 120 * minute) Add(&api, TemplateSignal(0x20), 1, NAN);
      if (at == kT0 + 125 * minute) Add(&api, TemplateSignal(0x30), 1, NAN);
      if (b == 0 || at == kT0 + 130 * minute) Add(&api, TemplateSignal(0x40), 1, NAN);
      batch.series.push_back(std::move(api));
      if (at >= kT0 + 110 * minute) {
        storage::ServiceBucket late = Bucket("late", at);
        Add(&late, "records", 1, NAN);
        Add(&late, TemplateSignal(0x50), 1, NAN);
        batch.series.push_back(std::move(late));
      }
    }
    return batch;
  };
  testing::TempDir tmp;
  ScanOptions options;
  options.merge_same_onset = false;
  Result<std::vector<Finding>> findings =
      ScanStore(tmp.Sub("db"), fleet(), kT0 + 100 * minute, kT0 + 150 * minute, options);
  ASSERT_OK(findings.status());
  std::string all;
  for (const Finding& f : *findings) all += FindingJson(f) + "\n";
  const Finding* npe = nullptr;
  const Finding* deploy = nullptr;
  for (const Finding& f : *findings) {
    if (f.template_id == 0x20) npe = &f;
    if (f.template_id == 0x40) deploy = &f;
    EXPECT_NE(f.template_id, 0x30u) << "unknown meaning: " << all;
    EXPECT_NE(f.service, "late") << "a service that just started: " << all;
  }
  ASSERT_NE(npe, nullptr) << all;
  EXPECT_TRUE(npe->first_seen);
  EXPECT_EQ(npe->onset_ns, kT0 + 120 * minute);
  EXPECT_EQ(npe->family, Family::kSoftware);
  EXPECT_EQ(npe->kind, "exception");
  EXPECT_NE(FindingJson(*npe).find("\"first_seen\":true"), std::string::npos);
  ASSERT_NE(deploy, nullptr) << all;
  EXPECT_FALSE(deploy->first_seen);
  EXPECT_EQ(deploy->onset_ns, kT0 + 130 * minute);
  EXPECT_EQ(deploy->kind, "deploy");

  // Off, the detectors alone see nothing in one line.
  ScanOptions off = options;
  off.template_events = false;
  Result<std::vector<Finding>> quiet =
      ScanStore(tmp.Sub("db2"), fleet(), kT0 + 100 * minute, kT0 + 150 * minute, off);
  ASSERT_OK(quiet.status());
  for (const Finding& f : *quiet) EXPECT_EQ(f.template_id, 0u) << FindingJson(f);
}

// A very steady gauge moving 10% is statistically certain and
// operationally nothing; moving 2x it is a change.
TEST(Scan, GaugeChangesMustBeMaterial) {
  std::mt19937 rng(9);
  std::normal_distribution<double> noise(0, 0.1);
  storage::EncodedBatch batch;
  for (int minute = 0; minute < 150; ++minute) {
    storage::ServiceBucket bucket = Bucket("db", kT0 + minute * 60 * kSecond);
    Add(&bucket, "metric:connections", 0, (minute >= 130 ? 200 : 100) + noise(rng));
    Add(&bucket, "metric:memory", 0, (minute >= 120 ? 550 : 500) + noise(rng));
    batch.series.push_back(std::move(bucket));
  }
  testing::TempDir tmp;
  Result<std::vector<Finding>> findings =
      ScanStore(tmp.Sub("db"), std::move(batch), kT0 + 80 * 60 * kSecond, kT0 + 150 * 60 * kSecond);
  ASSERT_OK(findings.status());
  std::string all;
  for (const Finding& f : *findings) all += FindingJson(f) + "\n";
  ASSERT_EQ(findings->size(), 1u) << all;
  EXPECT_EQ((*findings)[0].signal, "metric:connections");
  EXPECT_EQ((*findings)[0].onset_ns, kT0 + 130 * 60 * kSecond);
}

}  // namespace
}  // namespace faultline::correlate
