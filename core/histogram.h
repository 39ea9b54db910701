// Histogram: a mergeable log-linear histogram of positive values (latencies
// in milliseconds, durations), for rollups that must add up exactly however
// the records were batched, and that must stay small when stored per service
// and time bucket.
//
// Bucket i holds values in (gamma^(i-1), gamma^i], gamma = (1+a)/(1-a) with
// a = 1%: any quantile read back is within 1% of a value that was added (the
// DDSketch construction, Masson et al., VLDB 2019). Values <= 0 (and NaN) go
// to a zero bucket. Only non-empty buckets are kept, sorted by index, so a
// typical latency distribution costs a few dozen (index, count) pairs.
// Merging adds counts bucket by bucket: associative and commutative, so any
// order of merges gives the same histogram. Not thread-safe.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace faultline {

class Histogram {
 public:
  using Bucket = std::pair<int32_t, uint64_t>;  // (index, count)

  void Add(double value, uint64_t n = 1);
  // Adds to the bucket of a value already mapped with IndexOf (or to the
  // zero bucket for kZeroIndex): for adding one value to several histograms
  // at the cost of one logarithm.
  static constexpr int32_t kZeroIndex = INT32_MIN;
  static int32_t IndexOfValue(double value);  // IndexOf, or kZeroIndex for <= 0 / NaN
  void AddIndex(int32_t index, uint64_t n = 1);
  void Merge(const Histogram& other);
  // The q-quantile (0 <= q <= 1) of the added values, to 1% relative
  // accuracy; NaN when empty.
  double Quantile(double q) const;
  uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }

  // The stored form: zero-bucket count and the non-empty buckets in index
  // order. FromParts rejects (returns false) unsorted or duplicate indexes
  // and zero counts, so decoded bytes cannot build an inconsistent histogram.
  uint64_t zero_count() const { return zero_count_; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  static bool FromParts(uint64_t zero_count, std::vector<Bucket> buckets, Histogram* out);

  // The value a bucket index stands for (its upper bound's midpoint in log
  // space), and the index of a value; exposed for tests.
  static double BucketValue(int32_t index);
  static int32_t IndexOf(double value);

  bool operator==(const Histogram&) const = default;

 private:
  uint64_t count_ = 0;
  uint64_t zero_count_ = 0;
  std::vector<Bucket> buckets_;
};

}  // namespace faultline
