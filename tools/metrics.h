// A small, thread-safe metrics registry and its Prometheus text exposition.
//
// `faultline serve` registers its metrics once at startup, caches the returned
// pointers, and updates them from the pipeline; the HTTP server renders
// `Registry::Exposition()` at `/metrics` (Prometheus text format 0.0.4).
//
//   metrics::Registry registry;
//   FL_ASSIGN_OR_RETURN(metrics::Counter* records_in,
//                       registry.AddCounter("faultline_records_in_total",
//                                           "Records read from Kafka."));
//   records_in->Increment(batch.size());          // lock-free
//
// Kinds: Counter (monotonic uint64), Gauge (int64), DoubleGauge (double),
// Histogram (fixed bucket bounds), labelled families of each
// (Family<Counter>, ...), and callback gauges evaluated at scrape time.
//
// Naming rules, checked at registration (InvalidArgument otherwise): names
// match [a-zA-Z_][a-zA-Z0-9_]*; counter names end in `_total` and no other kind
// does; label names match the same pattern, do not start with `__`, are not
// repeated, and histograms may not use `le`; help text is required. No two
// families may produce the same sample name (a histogram `x` owns `x_bucket`,
// `x_sum` and `x_count`). Use base units in names: `_seconds`, `_bytes`.
//
// Thread-safety: everything here may be called from any thread. Updating a
// metric (Increment, Set, Add, Observe) is a relaxed atomic operation with no
// lock. Registration and Family::WithLabels take a mutex; cache their results.
// Every pointer the registry returns stays valid for the registry's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace faultline::tools::metrics {

// A monotonically increasing count (events, records, bytes).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(uint64_t n = 1) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down: Gauge holds an int64 (queue depth, lag in
// messages), DoubleGauge a double (a timestamp in seconds). Add on a
// DoubleGauge is a compare-and-swap loop; still lock-free.
template <typename T>
class BasicGauge {
 public:
  BasicGauge() = default;
  BasicGauge(const BasicGauge&) = delete;
  BasicGauge& operator=(const BasicGauge&) = delete;

  void Set(T value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void Add(T delta) noexcept {
    value_.fetch_add(delta, std::memory_order_relaxed);
  }
  T value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<T> value_{0};
};
using Gauge = BasicGauge<int64_t>;
using DoubleGauge = BasicGauge<double>;

// Counts observations into fixed buckets (batch latency in seconds). The
// exposition is cumulative: `_bucket{le="b"}` counts observations <= b, and
// `le="+Inf"` equals `_count`. NaN observations are ignored.
class Histogram {
 public:
  // `bucket_bounds` must outlive the histogram (the owning family keeps it).
  // REQUIRES: bounds finite and strictly increasing (Registry checks this).
  explicit Histogram(const std::vector<double>* bucket_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Lock-free: a binary search over the bounds and two atomic adds.
  void Observe(double value) noexcept;

  const std::vector<double>& bucket_bounds() const { return *bounds_; }
  // Per-bucket (not cumulative) counts; the last entry is the +Inf bucket.
  // Read one by one, so a snapshot taken during Observe calls may be off by
  // the in-flight observations; each value is exact once writers are quiet.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_->size() + 1
  std::atomic<double> sum_{0.0};
};

class Registry;

// The children of one labelled metric, one per distinct list of label values.
// Owned by the Registry; never destroyed before it.
template <typename Metric>
class Family {
 public:
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // Returns the child for `label_values` (one per label name, in the order
  // the names were registered), creating it at zero on first use. Takes the
  // family's mutex: look children up once and keep the pointer, which is
  // never null and stays valid for the registry's lifetime.
  // REQUIRES: label_values.size() == label_names().size(). A mismatch is a
  // programmer bug: it asserts in debug builds, and in release builds returns
  // a detached child that is never exported.
  Metric* WithLabels(std::initializer_list<std::string_view> label_values);
  Metric* WithLabels(const std::vector<std::string>& label_values);

  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  friend class Registry;

  Family(std::vector<std::string> label_names,
         std::vector<double> bucket_bounds);
  Metric* GetOrCreate(std::vector<std::string> label_values);
  std::unique_ptr<Metric> MakeChild() const;
  // Appends one sample line per child, children in label-value order.
  void Render(std::string_view name, std::string* out) const;

  const std::vector<std::string> label_names_;
  const std::vector<double> bucket_bounds_;  // histograms only
  mutable std::mutex mu_;
  // Guarded by mu_. A std::map keeps the exposition order deterministic.
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
  std::unique_ptr<Metric> detached_;  // guarded by mu_; see WithLabels
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<DoubleGauge>;
extern template class Family<Histogram>;

// One value reported by a callback gauge family at scrape time.
struct CallbackSample {
  std::vector<std::string> label_values;  // one per label name, in order
  double value = 0;
};

// Owns every registered metric and renders the exposition. Not copyable or
// movable (the metrics it hands out point into it).
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each Add* call registers a family (an unlabelled metric is a family
  // without labels and one child). Registering a name again with exactly the
  // same kind, help, label names and buckets returns the existing metric, so
  // two components may share one; any other reuse of a name, or a name or
  // label that breaks the naming rules above, is InvalidArgument.
  Result<Counter*> AddCounter(std::string_view name, std::string_view help);
  Result<Family<Counter>*> AddCounterFamily(
      std::string_view name, std::string_view help,
      std::vector<std::string> label_names);

  Result<Gauge*> AddGauge(std::string_view name, std::string_view help);
  Result<Family<Gauge>*> AddGaugeFamily(std::string_view name,
                                        std::string_view help,
                                        std::vector<std::string> label_names);

  Result<DoubleGauge*> AddDoubleGauge(std::string_view name,
                                      std::string_view help);
  Result<Family<DoubleGauge>*> AddDoubleGaugeFamily(
      std::string_view name, std::string_view help,
      std::vector<std::string> label_names);

  // `bucket_bounds`: upper bounds in the metric's unit, finite and strictly
  // increasing, at least one; the +Inf bucket is implicit. Batch latency in
  // seconds from 1 ms to 10 s, for example: {0.001, 0.0025, 0.005, 0.01,
  // 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}.
  Result<Histogram*> AddHistogram(std::string_view name, std::string_view help,
                                  std::vector<double> bucket_bounds);
  Result<Family<Histogram>*> AddHistogramFamily(
      std::string_view name, std::string_view help,
      std::vector<std::string> label_names, std::vector<double> bucket_bounds);

  // Gauges computed at scrape time (store size on disk, consumer lag). The
  // callback runs on the scraping thread during Exposition(), with no
  // registry lock held: it must be thread-safe and quick, and may take its
  // own locks. Samples are rendered sorted by label values; a sample whose
  // label count does not match the family is skipped. Names may not be
  // registered twice (callbacks cannot be compared).
  Status AddCallbackGauge(std::string_view name, std::string_view help,
                          std::function<double()> callback);
  Status AddCallbackGaugeFamily(
      std::string_view name, std::string_view help,
      std::vector<std::string> label_names,
      std::function<std::vector<CallbackSample>()> callback);

  // Prometheus text format 0.0.4: for each family in registration order its
  // `# HELP` and `# TYPE` lines, then its samples sorted by label values
  // (string order: partition "10" sorts before "2"). Label values are escaped
  // (backslash, double quote, newline), as is help text (backslash, newline).
  // Runs callback gauges; takes each family's mutex briefly.
  std::string Exposition() const;

  // Content-Type of Exposition().
  static constexpr std::string_view kContentType =
      "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Entry;  // one registered family, defined in metrics.cc

  template <typename Metric>
  Result<Family<Metric>*> AddFamily(std::string_view name,
                                    std::string_view help,
                                    std::vector<std::string> label_names,
                                    std::vector<double> bucket_bounds);
  template <typename Metric>
  Result<Metric*> AddUnlabelled(std::string_view name, std::string_view help,
                                std::vector<double> bucket_bounds);
  // Validates and records a new family; `existing` receives a matching
  // registration of the same name instead, when there is one.
  Status AddEntry(std::unique_ptr<Entry> entry, Entry** existing);

  mutable std::mutex mu_;
  // Guarded by mu_. Entries are never removed, so Exposition may use raw
  // pointers to them after dropping the lock.
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace faultline::tools::metrics
