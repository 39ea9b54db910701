// Rollups: what each service's records said per time bucket, as series of
// counts, gauges and latency histograms. Computed at ingest (correlate/
// rollup.h) and written to the `series` column family with a RocksDB merge
// operator in the same WriteBatch as the records they come from, so they are
// exactly-once with them, and any batching of the same records adds up to the
// same values (merging is associative and commutative).
//
// Key: bucket start (sign-flipped u64 big-endian) then the service name, so a
// time range of the whole fleet is one contiguous scan. Value: every series
// of that service in that bucket, sorted by (signal, dimension).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/histogram.h"

namespace faultline::storage {

// One series over one bucket. Counts use `count`; gauges (metric samples)
// also fill sum/min/max/last; latency-like signals fill `histogram`.
struct SeriesPoint {
  uint64_t count = 0;  // events, or samples of a gauge
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double last = 0;
  int64_t last_ts_ns = std::numeric_limits<int64_t>::min();  // of `last`; min: no sample
  Histogram histogram;

  bool has_samples() const { return last_ts_ns != std::numeric_limits<int64_t>::min(); }
  double mean() const { return count > 0 ? sum / static_cast<double>(count) : 0; }
  // A gauge sample: count, sum, min, max and the latest value.
  void AddSample(double value, int64_t ts_ns);
  // Order-independent: the later sample wins `last`; equal times keep the
  // larger value, so merging in any order gives the same point.
  void Merge(const SeriesPoint& other);
  bool operator==(const SeriesPoint&) const = default;
};

struct SeriesEntry {
  std::string signal;     // "records", "errors", "http.5xx", "template:<id>", "metric:<name>", ...
  std::string dimension;  // "" for the whole service, else "host=..", "region=..", "endpoint=.."
  SeriesPoint point;
  bool operator==(const SeriesEntry&) const = default;
};

struct ServiceBucket {
  std::string service;
  int64_t start_ns = 0;  // bucket start, a multiple of width_ns
  int64_t width_ns = 0;
  std::vector<SeriesEntry> entries;  // sorted by (signal, dimension), unique
  bool operator==(const ServiceBucket&) const = default;
};

// Merges `from` into `into`; both sorted by (signal, dimension).
void MergeEntries(std::vector<SeriesEntry>* into, const std::vector<SeriesEntry>& from);

// Stored forms (docs/storage.md). Decode returns false on malformed bytes.
std::string SeriesKey(int64_t start_ns, std::string_view service);
bool ParseSeriesKey(std::string_view key, int64_t* start_ns, std::string* service);
std::string EncodeSeriesValue(const ServiceBucket& bucket);
bool DecodeSeriesValue(std::string_view bytes, ServiceBucket* bucket);

}  // namespace faultline::storage
