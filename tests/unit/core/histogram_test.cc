#include "core/histogram.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace faultline {
namespace {

TEST(Histogram, QuantilesWithinOnePercentOfExact) {
  std::mt19937 rng(7);
  std::lognormal_distribution<double> latency(3.0, 1.2);  // ms, heavy tail
  Histogram h;
  std::vector<double> values;
  for (int i = 0; i < 100000; ++i) {
    values.push_back(latency(rng));
    h.Add(values.back());
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    const double exact = values[static_cast<size_t>(q * static_cast<double>(values.size() - 1))];
    EXPECT_NEAR(h.Quantile(q), exact, exact * 0.0101) << "q=" << q;
  }
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_LT(h.buckets().size(), 700u);
}

TEST(Histogram, MergeEqualsAddingEverythingInAnyOrder) {
  std::mt19937 rng(3);
  std::exponential_distribution<double> d(0.05);
  Histogram all, a, b, c;
  for (int i = 0; i < 3000; ++i) {
    const double v = i % 97 == 0 ? 0.0 : d(rng);
    all.Add(v);
    (i % 3 == 0 ? a : i % 3 == 1 ? b : c).Add(v);
  }
  Histogram ab_c = a;
  ab_c.Merge(b);
  ab_c.Merge(c);
  Histogram c_ba = c;
  Histogram ba = b;
  ba.Merge(a);
  c_ba.Merge(ba);
  EXPECT_EQ(ab_c, all);
  EXPECT_EQ(c_ba, all);
  EXPECT_EQ(all.zero_count(), 31u);
}

TEST(Histogram, EmptyZeroAndNonFiniteValues) {
  Histogram h;
  EXPECT_TRUE(std::isnan(h.Quantile(0.5)));
  h.Add(0);
  h.Add(-5);
  h.Add(std::nan(""));
  EXPECT_EQ(h.Quantile(0.5), 0);
  h.Add(INFINITY);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_GT(h.Quantile(1.0), 1e300);
}

TEST(Histogram, FromPartsRejectsInconsistentBuckets) {
  Histogram h;
  EXPECT_TRUE(Histogram::FromParts(2, {{1, 3}, {5, 1}}, &h));
  EXPECT_EQ(h.count(), 6u);
  EXPECT_FALSE(Histogram::FromParts(0, {{5, 1}, {1, 3}}, &h));  // unsorted
  EXPECT_FALSE(Histogram::FromParts(0, {{1, 1}, {1, 3}}, &h));  // duplicate
  EXPECT_FALSE(Histogram::FromParts(0, {{1, 0}}, &h));          // empty bucket
  EXPECT_FALSE(Histogram::FromParts(0, {{1 << 30, 1}}, &h));    // out of range
}

}  // namespace
}  // namespace faultline
