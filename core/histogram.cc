#include "core/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace faultline {

namespace {

constexpr double kRelativeAccuracy = 0.01;
const double kGamma = (1 + kRelativeAccuracy) / (1 - kRelativeAccuracy);
const double kLogGamma = std::log(kGamma);
// Indexes are clamped to this range: 1e-300 .. 1e300 in any unit.
constexpr int32_t kMinIndex = -35000;
constexpr int32_t kMaxIndex = 35000;

}  // namespace

int32_t Histogram::IndexOf(double value) {
  const double index = std::ceil(std::log(value) / kLogGamma);
  return static_cast<int32_t>(std::clamp<double>(index, kMinIndex, kMaxIndex));
}

double Histogram::BucketValue(int32_t index) {
  // The bucket is (gamma^(i-1), gamma^i]; this point is within the relative
  // accuracy of both ends.
  return 2 * std::pow(kGamma, index) / (kGamma + 1);
}

int32_t Histogram::IndexOfValue(double value) {
  // Zero, negative and NaN: no meaningful log bucket. Infinity is clamped
  // to the largest bucket rather than lost.
  if (value == std::numeric_limits<double>::infinity()) return kMaxIndex;
  if (!(value > 0) || !std::isfinite(value)) return kZeroIndex;
  return IndexOf(value);
}

void Histogram::Add(double value, uint64_t n) { AddIndex(IndexOfValue(value), n); }

void Histogram::AddIndex(int32_t index, uint64_t n) {
  if (n == 0) return;
  count_ += n;
  if (index == kZeroIndex) {
    zero_count_ += n;
    return;
  }
  index = std::clamp(index, kMinIndex, kMaxIndex);
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), index,
                             [](const Bucket& b, int32_t i) { return b.first < i; });
  if (it != buckets_.end() && it->first == index) {
    it->second += n;
  } else {
    buckets_.insert(it, Bucket{index, n});
  }
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  count_ += other.count_;
  zero_count_ += other.zero_count_;
  std::vector<Bucket> merged;
  merged.reserve(buckets_.size() + other.buckets_.size());
  auto a = buckets_.begin();
  auto b = other.buckets_.begin();
  while (a != buckets_.end() || b != other.buckets_.end()) {
    if (b == other.buckets_.end() || (a != buckets_.end() && a->first < b->first)) {
      merged.push_back(*a++);
    } else if (a == buckets_.end() || b->first < a->first) {
      merged.push_back(*b++);
    } else {
      merged.emplace_back(a->first, a->second + b->second);
      ++a;
      ++b;
    }
  }
  buckets_ = std::move(merged);
}

double Histogram::Quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the wanted value, 0-based, as in "the value below which a
  // fraction q of the values lie".
  const auto rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1));
  if (rank < zero_count_) return 0;
  uint64_t seen = zero_count_;
  for (const Bucket& bucket : buckets_) {
    seen += bucket.second;
    if (rank < seen) return BucketValue(bucket.first);
  }
  return BucketValue(buckets_.back().first);
}

bool Histogram::FromParts(uint64_t zero_count, std::vector<Bucket> buckets, Histogram* out) {
  uint64_t count = zero_count;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i].second == 0 || (i > 0 && buckets[i].first <= buckets[i - 1].first) ||
        buckets[i].first < kMinIndex || buckets[i].first > kMaxIndex) {
      return false;
    }
    count += buckets[i].second;
  }
  out->count_ = count;
  out->zero_count_ = zero_count;
  out->buckets_ = std::move(buckets);
  return true;
}

}  // namespace faultline
