#include "correlate/detect.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace faultline::correlate {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Noise from a seeded std::mt19937. The std distributions are not specified
// bit for bit (libstdc++ and libc++ differ), so the draws are made here and
// every test sees the same series on every platform.
class Noise {
 public:
  explicit Noise(uint32_t seed) : rng_(seed) {}

  double Uniform() {  // in (0, 1)
    return (static_cast<double>(rng_()) + 0.5) / 4294967296.0;
  }

  double Gaussian(double mean, double sd) {  // Box-Muller
    const double u1 = Uniform();
    const double u2 = Uniform();
    return mean + sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  double Poisson(double rate) {
    if (rate > 50) {  // normal approximation, rounded; exact enough there
      return std::max(0.0, std::round(Gaussian(rate, std::sqrt(rate))));
    }
    // Knuth: count uniforms until their product drops below e^-rate.
    const double limit = std::exp(-rate);
    double product = Uniform();
    double count = 0;
    while (product > limit) {
      product *= Uniform();
      ++count;
    }
    return count;
  }

 private:
  std::mt19937 rng_;
};

std::vector<double> GaussianSeries(Noise& noise, size_t size, double mean, double sd) {
  std::vector<double> out(size);
  for (double& v : out) v = noise.Gaussian(mean, sd);
  return out;
}

std::vector<double> PoissonSeries(Noise& noise, size_t size, double rate) {
  std::vector<double> out(size);
  for (double& v : out) v = noise.Poisson(rate);
  return out;
}

std::string Describe(const std::vector<Anomaly>& anomalies) {
  std::string out;
  for (const Anomaly& a : anomalies) {
    out += "{onset " + std::to_string(a.onset) + " peak " + std::to_string(a.peak) + " end " +
           std::to_string(a.end) + (a.direction == Direction::kUp ? " up" : " down") +
           " strength " + std::to_string(a.strength) + (a.drop_to_zero ? " drop" : "") +
           (a.adopted ? " adopted" : "") + "} ";
  }
  return out;
}

// ---------------------------------------------------------------- changes

TEST(DetectTest, GaugeStepUpIsOneAnomalyAtItsOnset) {
  Noise noise(1);
  std::vector<double> v = GaussianSeries(noise, 170, 100, 5);
  for (size_t i = 120; i < v.size(); ++i) v[i] += 50;  // 10 sigma
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 120u);
  EXPECT_EQ(found[0].direction, Direction::kUp);
  EXPECT_EQ(found[0].end, v.size());  // still ongoing
  EXPECT_FALSE(found[0].adopted);
  EXPECT_GE(found[0].strength, 7.0);
  EXPECT_NEAR(found[0].baseline, 100, 2);
  EXPECT_GE(found[0].peak, 120u);
  EXPECT_DOUBLE_EQ(found[0].peak_value, v[found[0].peak]);
}

TEST(DetectTest, ModerateGaugeStepIsFoundWithinAFewBuckets) {
  Noise noise(2);
  std::vector<double> v = GaussianSeries(noise, 130, 100, 5);
  for (size_t i = 120; i < v.size(); ++i) v[i] += 30;  // 6 sigma
  // Only five buckets after the change: it must already be reported.
  const auto found = Detect(std::span<const double>(v.data(), 125), SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_NEAR(static_cast<double>(found[0].onset), 120, 1);
  EXPECT_EQ(found[0].direction, Direction::kUp);
}

TEST(DetectTest, CountStepUp) {
  Noise noise(3);
  std::vector<double> v = PoissonSeries(noise, 160, 20);
  for (size_t i = 120; i < v.size(); ++i) v[i] = noise.Poisson(60);
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_NEAR(static_cast<double>(found[0].onset), 120, 1);
  EXPECT_EQ(found[0].direction, Direction::kUp);
  EXPECT_FALSE(found[0].drop_to_zero);
  EXPECT_NEAR(found[0].baseline, 20, 3);
}

TEST(DetectTest, GaugeStepDown) {
  Noise noise(4);
  std::vector<double> v = GaussianSeries(noise, 160, 100, 5);
  for (size_t i = 120; i < v.size(); ++i) v[i] -= 35;  // 7 sigma
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_NEAR(static_cast<double>(found[0].onset), 120, 1);
  EXPECT_EQ(found[0].direction, Direction::kDown);
  EXPECT_LT(found[0].peak_value, 80);
}

TEST(DetectTest, SingleBucketSpikes) {
  Noise noise(5);
  std::vector<double> v = GaussianSeries(noise, 200, 100, 5);
  v[100] += 100;  // 20 sigma, one bucket
  v[150] += 100;  // again; with this seed bucket 151 is +2.1 sigma by itself
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 2u) << Describe(found);
  EXPECT_EQ(found[0].onset, 100u);
  EXPECT_EQ(found[0].peak, 100u);
  EXPECT_EQ(found[0].end, 101u);
  EXPECT_EQ(found[0].direction, Direction::kUp);
  EXPECT_GE(found[0].strength, 10);
  EXPECT_EQ(found[1].onset, 150u);
  EXPECT_EQ(found[1].peak, 150u);
  // A neighbour over continue_level (2 sigma) still counts as the spike's
  // tail: the hysteresis that keeps long faults in one piece.
  EXPECT_EQ(found[1].end, 152u);
}

TEST(DetectTest, TwoBucketCountSpike) {
  Noise noise(6);
  std::vector<double> v = PoissonSeries(noise, 200, 5);
  v[150] = 60;
  v[151] = 45;
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 150u);
  EXPECT_EQ(found[0].peak, 150u);
  EXPECT_EQ(found[0].end, 152u);
  EXPECT_DOUBLE_EQ(found[0].peak_value, 60);
}

TEST(DetectTest, SmallTwoBucketBlipIsNotReported) {
  Noise noise(7);
  std::vector<double> v = GaussianSeries(noise, 200, 100, 5);
  v[150] += 30;  // 6 sigma for two buckets: neither a spike nor a shift
  v[151] += 30;
  EXPECT_TRUE(Detect(v, SeriesKind::kGauge).empty());
}

TEST(DetectTest, RampOnsetIsNearItsStart) {
  Noise noise(8);
  std::vector<double> v = GaussianSeries(noise, 190, 100, 5);
  // 150..159 climb by 10 each (2 sigma a bucket), then stay at +100.
  for (size_t i = 150; i < v.size(); ++i)
    v[i] += 10.0 * static_cast<double>(std::min<size_t>(i - 149, 10));
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_GE(found[0].onset, 149u);
  EXPECT_LE(found[0].onset, 152u);
  EXPECT_EQ(found[0].direction, Direction::kUp);
  EXPECT_GE(found[0].peak, 159u);
}

TEST(DetectTest, SlowGaugeRampOnset) {
  Noise noise(9);
  std::vector<double> v = GaussianSeries(noise, 200, 50, 2);
  // +1 sigma every two buckets for 30 buckets.
  for (size_t i = 140; i < v.size(); ++i)
    v[i] += std::min<double>(static_cast<double>(i - 139), 30.0);
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_GE(found[0].onset, 140u);
  EXPECT_LE(found[0].onset, 144u);
}

TEST(DetectTest, SteadyCountDropToZero) {
  Noise noise(10);
  std::vector<double> v = PoissonSeries(noise, 220, 20);
  for (size_t i = 150; i < 175; ++i) v[i] = 0;
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 150u);
  EXPECT_EQ(found[0].end, 175u);
  EXPECT_EQ(found[0].direction, Direction::kDown);
  EXPECT_TRUE(found[0].drop_to_zero);
  EXPECT_DOUBLE_EQ(found[0].peak_value, 0);
  EXPECT_GE(found[0].strength, DetectorOptions{}.threshold);
}

TEST(DetectTest, LowRateSteadyCountDropToZero) {
  // At 5 lines a bucket a zero is only -2.2 sigma: the run of zeros is the
  // evidence, not any one bucket.
  Noise noise(11);
  std::vector<double> v = PoissonSeries(noise, 200, 5);
  for (size_t i = 150; i < v.size(); ++i) v[i] = 0;
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 150u);
  EXPECT_EQ(found[0].end, v.size());
  EXPECT_TRUE(found[0].drop_to_zero);
  EXPECT_EQ(found[0].direction, Direction::kDown);
  // Reported within the run the baseline calls unlikely (3 zeros at 5/bucket).
  const auto early = Detect(std::span<const double>(v.data(), 153), SeriesKind::kCount);
  ASSERT_EQ(early.size(), 1u) << Describe(early);
  EXPECT_TRUE(early[0].drop_to_zero);
}

TEST(DetectTest, SingleZeroBucketOnBusySeriesIsADipNotADrop) {
  Noise noise(12);
  std::vector<double> v = PoissonSeries(noise, 200, 200);
  v[150] = 0;
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 150u);
  EXPECT_EQ(found[0].end, 151u);
  EXPECT_EQ(found[0].direction, Direction::kDown);
  EXPECT_FALSE(found[0].drop_to_zero);
}

TEST(DetectTest, LongFaultIsOneAnomalyWithItsEnd) {
  Noise noise(13);
  std::vector<double> v = GaussianSeries(noise, 260, 100, 5);
  for (size_t i = 150; i < 180; ++i) v[i] += 40;  // 8 sigma for 30 buckets
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 150u);
  EXPECT_EQ(found[0].end, 180u);
  EXPECT_FALSE(found[0].adopted);
}

TEST(DetectTest, NoisyModerateLongFaultStaysOnePiece) {
  // 4 sigma with noise: single buckets fall back to normal now and then;
  // they must not split the fault.
  Noise noise(14);
  std::vector<double> v = GaussianSeries(noise, 260, 100, 5);
  for (size_t i = 150; i < 190; ++i) v[i] += 25;
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_NEAR(static_cast<double>(found[0].onset), 150, 2);
  EXPECT_NEAR(static_cast<double>(found[0].end), 190, 2);
}

TEST(DetectTest, TwoFaultsAreReportedInOnsetOrder) {
  Noise noise(15);
  std::vector<double> v = PoissonSeries(noise, 300, 50);
  for (size_t i = 100; i < 110; ++i) v[i] = noise.Poisson(150);
  for (size_t i = 200; i < 215; ++i) v[i] = noise.Poisson(10);
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 2u) << Describe(found);
  EXPECT_EQ(found[0].onset, 100u);
  EXPECT_EQ(found[0].end, 110u);
  EXPECT_EQ(found[0].direction, Direction::kUp);
  EXPECT_EQ(found[1].onset, 200u);
  EXPECT_EQ(found[1].end, 215u);
  EXPECT_EQ(found[1].direction, Direction::kDown);
  EXPECT_FALSE(found[1].drop_to_zero);
}

TEST(DetectTest, ChangeRightAfterAnotherKeepsItsOnset) {
  // A rise, then at once a fall below normal: the fall's first buckets are
  // the rise's grace period, and must still count towards the fall.
  Noise noise(18);
  std::vector<double> v = GaussianSeries(noise, 200, 100, 5);
  for (size_t i = 100; i < 120; ++i) v[i] += 40;
  for (size_t i = 120; i < 140; ++i) v[i] -= 40;
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 2u) << Describe(found);
  EXPECT_EQ(found[0].onset, 100u);
  EXPECT_EQ(found[0].end, 120u);
  EXPECT_EQ(found[1].onset, 120u);
  EXPECT_EQ(found[1].end, 140u);
  EXPECT_EQ(found[1].direction, Direction::kDown);
}

TEST(DetectTest, BaselineIsWhatCameBeforeTheOnset) {
  // The change creeps in at 3 sigma for six buckets before it jumps, so
  // its first buckets have already joined the baseline when the alarm
  // fires. They are taken back: the reported baseline is the median of
  // the baseline_buckets before the onset (but for the oldest couple, which
  // left the window while the creeping buckets were in it).
  Noise noise(19);
  std::vector<double> v = GaussianSeries(noise, 200, 100, 5);
  for (size_t i = 150; i < 156; ++i) v[i] += 15;
  for (size_t i = 156; i < 170; ++i) v[i] += 60;
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  // With this seed bucket 151 reads only +0.9 sigma, so the onset is 152.
  const size_t onset = found[0].onset;
  ASSERT_EQ(onset, 152u);
  std::vector<double> before(v.begin() + static_cast<std::ptrdiff_t>(onset - 60),
                             v.begin() + static_cast<std::ptrdiff_t>(onset));
  std::sort(before.begin(), before.end());
  EXPECT_NEAR(found[0].baseline, 0.5 * (before[29] + before[30]), 0.05);
}

TEST(DetectTest, PermanentLevelShiftIsAdoptedThenQuiet) {
  Noise noise(16);
  std::vector<double> v = GaussianSeries(noise, 500, 100, 5);
  for (size_t i = 150; i < v.size(); ++i) v[i] += 40;
  const DetectorOptions options;
  const auto found = Detect(v, SeriesKind::kGauge, options);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 150u);
  EXPECT_TRUE(found[0].adopted);
  EXPECT_EQ(found[0].end, 150u + options.adopt_after_buckets);
}

TEST(DetectTest, ReturnAfterAdoptedShiftIsANewChange) {
  Noise noise(17);
  std::vector<double> v = GaussianSeries(noise, 400, 100, 5);
  for (size_t i = 100; i < 300; ++i) v[i] += 40;
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 2u) << Describe(found);
  EXPECT_EQ(found[0].direction, Direction::kUp);
  EXPECT_TRUE(found[0].adopted);
  EXPECT_EQ(found[1].onset, 300u);
  EXPECT_EQ(found[1].direction, Direction::kDown);
}

// ----------------------------------------------------- false-positive guards

TEST(DetectTest, GaussianNoiseIsSilent) {
  for (uint32_t seed = 100; seed < 105; ++seed) {
    Noise noise(seed);
    const std::vector<double> v = GaussianSeries(noise, 5000, 250, 20);
    const auto found = Detect(v, SeriesKind::kGauge);
    EXPECT_TRUE(found.empty()) << "seed " << seed << ": " << Describe(found);
  }
}

TEST(DetectTest, PoissonCountsAreSilentAtEveryRate) {
  for (double rate : {0.5, 5.0, 200.0}) {
    for (uint32_t seed = 200; seed < 203; ++seed) {
      Noise noise(seed);
      const std::vector<double> v = PoissonSeries(noise, 5000, rate);
      const auto found = Detect(v, SeriesKind::kCount);
      EXPECT_TRUE(found.empty()) << "rate " << rate << " seed " << seed << ": " << Describe(found);
    }
  }
}

TEST(DetectTest, SparseCountSeriesIsSilentAndGoingQuietIsNotADrop) {
  Noise noise(300);
  std::vector<double> v(4000, 0);
  for (size_t i = 0; i < 3000; ++i) {
    const double u = noise.Uniform();
    v[i] = u < 0.03 ? 2 : u < 0.10 ? 1 : 0;  // a template seen a few times an hour
  }
  // Buckets 3000.. stay 0: the sparse series went quiet.
  const auto found = Detect(v, SeriesKind::kCount);
  EXPECT_TRUE(found.empty()) << Describe(found);
}

TEST(DetectTest, HalfPresentSeriesGoingQuietIsNotADrop) {
  // Lines in about half the buckets, two on average: not steady enough for
  // their absence to mean anything, however long it lasts.
  Noise noise(301);
  std::vector<double> v(600, 0);
  for (size_t i = 0; i < 300; ++i) v[i] = noise.Uniform() < 0.5 ? 0 : noise.Poisson(4);
  const auto found = Detect(v, SeriesKind::kCount);
  EXPECT_TRUE(found.empty()) << Describe(found);
}

TEST(DetectTest, AlwaysZeroIsSilent) {
  const std::vector<double> v(1000, 0);
  EXPECT_TRUE(Detect(v, SeriesKind::kCount).empty());
  EXPECT_TRUE(Detect(v, SeriesKind::kGauge).empty());
}

TEST(DetectTest, BurstOnQuietSeriesIsReportedOnlyWhenLarge) {
  std::vector<double> v(300, 0);
  for (size_t i = 200; i < 203; ++i) v[i] = 2;  // a couple of lines: nothing
  EXPECT_TRUE(Detect(v, SeriesKind::kCount).empty());
  for (size_t i = 200; i < 210; ++i) v[i] = 12;  // a flood of a silent template
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 200u);
  EXPECT_EQ(found[0].end, 210u);
}

// ------------------------------------------------------------ missing data

TEST(DetectTest, GaugeGapsAreNeitherAlarmsNorZeros) {
  Noise noise(400);
  std::vector<double> v = GaussianSeries(noise, 3000, 40, 3);
  for (size_t i = 0; i < v.size(); ++i) {
    if (noise.Uniform() < 0.2) v[i] = kNaN;
  }
  for (size_t i = 1000; i < 1040; ++i) v[i] = kNaN;  // a long gap too
  const auto found = Detect(v, SeriesKind::kGauge);
  EXPECT_TRUE(found.empty()) << Describe(found);
}

TEST(DetectTest, GaugeStepAfterGapStartsAtFirstKnownBucket) {
  Noise noise(401);
  std::vector<double> v = GaussianSeries(noise, 170, 40, 3);
  for (size_t i = 120; i < v.size(); ++i) v[i] += 30;
  for (size_t i = 117; i < 122; ++i) v[i] = kNaN;  // no data across the change
  v[130] = kNaN;                                   // and a hole inside it
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 122u);
  EXPECT_EQ(found[0].end, v.size());
  EXPECT_FALSE(std::isnan(found[0].peak_value));
}

// NaN in a count series is a gap in the data, not zero lines: no drop when
// the gap starts, no surge when data resumes; real zeros still drop.
TEST(DetectTest, MissingCountBucketsAreGapsNotZeros) {
  Noise noise(402);
  std::vector<double> v = PoissonSeries(noise, 200, 30);
  for (size_t i = 150; i < 160; ++i) v[i] = kNaN;
  EXPECT_TRUE(Detect(v, SeriesKind::kCount).empty()) << Describe(Detect(v, SeriesKind::kCount));
  for (size_t i = 150; i < 160; ++i) v[i] = 0;
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 150u);
  EXPECT_EQ(found[0].end, 160u);
  EXPECT_TRUE(found[0].drop_to_zero);
}

TEST(DetectTest, TooLittleHistoryGivesNoVerdict) {
  EXPECT_TRUE(Detect({}, SeriesKind::kGauge).empty());
  // Ten normal buckets are not a baseline, however large the change after.
  std::vector<double> v(10, 100);
  v.resize(30, 1000);
  EXPECT_TRUE(Detect(v, SeriesKind::kGauge).empty());
  EXPECT_TRUE(Detect(v, SeriesKind::kCount).empty());
  // Nor are ten known buckets spread among gaps.
  std::vector<double> gappy(60, kNaN);
  for (size_t i = 0; i < 60; i += 6) gappy[i] = 100;  // ten known buckets
  gappy.push_back(1000);
  EXPECT_TRUE(Detect(gappy, SeriesKind::kGauge).empty());
}

// --------------------------------------------------------- flat baselines

TEST(DetectTest, ConstantGaugeIgnoresTinyChangeAndReportsBigOne) {
  std::vector<double> v(150, 100);
  for (size_t i = 100; i < 120; ++i) v[i] = 100.5;  // 0.5%: a wobble
  EXPECT_TRUE(Detect(v, SeriesKind::kGauge).empty());

  for (size_t i = 100; i < 120; ++i) v[i] = 130;
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 100u);
  EXPECT_EQ(found[0].end, 120u);
  EXPECT_TRUE(std::isfinite(found[0].strength));
  EXPECT_DOUBLE_EQ(found[0].baseline, 100);
}

TEST(DetectTest, FlatZeroGaugeDoesNotDivideByZero) {
  std::vector<double> v(150, 0);
  for (size_t i = 100; i < 110; ++i) v[i] = 0.25;
  const auto found = Detect(v, SeriesKind::kGauge);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 100u);
  EXPECT_TRUE(std::isfinite(found[0].strength));
}

TEST(DetectTest, LowRateErrorBurstIsFoundAtItsStart) {
  // A service that logged no errors for ten minutes logs 12 in a minute,
  // unevenly: each bucket alone is within the one-line scale floor, the
  // burst as a whole is not.
  std::vector<double> v(200, 0);
  const double burst[] = {2, 4, 0, 4, 1, 1};
  for (size_t i = 0; i < 6; ++i) v[100 + i] = burst[i];
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 100u);
  EXPECT_EQ(found[0].direction, Direction::kUp);
  EXPECT_LE(found[0].end, 107u);
}

TEST(DetectTest, BurstOnBurstySeriesIsNotNews) {
  // The same burst on a template that comes in bursts of ten lines now and
  // then: its dispersion (variance / mean) discounts it.
  Noise noise(77);
  std::vector<double> v(400, 0);
  for (size_t i = 0; i < v.size(); ++i) {
    if (noise.Uniform() < 0.08) v[i] = noise.Poisson(10);
  }
  const double burst[] = {2, 4, 0, 4, 1, 1};
  for (size_t i = 0; i < 6; ++i) v[300 + i] = burst[i];
  for (const Anomaly& a : Detect(v, SeriesKind::kCount)) {
    EXPECT_FALSE(a.onset >= 295 && a.onset <= 306) << Describe({a});
  }
}

TEST(DetectTest, ConstantCountUsesPoissonFloor) {
  std::vector<double> v(150, 5);
  for (size_t i = 100; i < 120; ++i) v[i] = 7;  // within Poisson noise at 5
  EXPECT_TRUE(Detect(v, SeriesKind::kCount).empty());
  for (size_t i = 100; i < 120; ++i) v[i] = 30;
  const auto found = Detect(v, SeriesKind::kCount);
  ASSERT_EQ(found.size(), 1u) << Describe(found);
  EXPECT_EQ(found[0].onset, 100u);
}

TEST(DetectTest, QuantisedGaugeIsSilent) {
  // Mostly one value, sometimes the next: MAD 0, but not a flat line.
  Noise noise(500);
  std::vector<double> v(3000);
  for (double& x : v) x = noise.Uniform() < 0.1 ? 101 : 100;
  EXPECT_TRUE(Detect(v, SeriesKind::kGauge).empty());
}

TEST(DetectTest, HostileValuesDoNotBreakIt) {
  // Infinities are no data; huge, negative and all-missing series must
  // neither crash nor trip the sanitizers, and what comes out is in range.
  const double inf = std::numeric_limits<double>::infinity();
  Noise noise(510);
  std::vector<double> v = GaussianSeries(noise, 400, 0, 1e300);
  for (size_t i = 0; i < v.size(); i += 7) v[i] = i % 2 == 0 ? inf : -inf;
  for (size_t i = 0; i < v.size(); i += 11) v[i] = kNaN;
  for (SeriesKind kind : {SeriesKind::kCount, SeriesKind::kGauge}) {
    for (const Anomaly& a : Detect(v, kind)) {
      EXPECT_LE(a.onset, a.peak);
      EXPECT_LT(a.peak, a.end);
      EXPECT_LE(a.end, v.size());
    }
    EXPECT_TRUE(Detect(std::vector<double>(500, kNaN), kind).empty());
  }
  std::vector<double> negative = PoissonSeries(noise, 300, 5);
  for (double& x : negative) x = -x;
  for (const Anomaly& a : Detect(negative, SeriesKind::kCount)) EXPECT_LT(a.peak, a.end);
}

// ------------------------------------------------------------------ options

TEST(DetectorOptionsTest, DefaultsAreValid) { EXPECT_TRUE(DetectorOptions{}.Validate().ok()); }

TEST(DetectorOptionsTest, RejectsOutOfRangeValues) {
  DetectorOptions o;
  o.baseline_buckets = 0;
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  o = {};
  o.min_baseline_buckets = 100;  // above baseline_buckets
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  o = {};
  o.threshold = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  o = {};
  o.cusum_drift = o.threshold;
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  o = {};
  o.drop_false_alarm_probability = 1;
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(o.Validate().message().find("drop_false_alarm_probability"), std::string::npos);
}

TEST(DetectorOptionsTest, InvalidOptionsGiveNoAnomalies) {
  std::vector<double> v(100, 100);
  for (size_t i = 50; i < 100; ++i) v[i] = 1000;
  DetectorOptions o;
  o.min_duration_buckets = 0;
  EXPECT_TRUE(Detect(v, SeriesKind::kGauge, o).empty());
}

TEST(DetectorOptionsTest, ThresholdControlsSensitivity) {
  Noise noise(600);
  std::vector<double> v = GaussianSeries(noise, 200, 100, 5);
  for (size_t i = 150; i < 170; ++i) v[i] += 25;  // 5 sigma
  EXPECT_EQ(Detect(v, SeriesKind::kGauge).size(), 1u);
  DetectorOptions strict;
  strict.threshold = 8;
  strict.spike_threshold = 12;
  EXPECT_TRUE(Detect(v, SeriesKind::kGauge, strict).empty());
}

}  // namespace
}  // namespace faultline::correlate
