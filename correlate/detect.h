// Anomaly detectors for per-bucket time series: for one series (a service's
// records, errors, a template's lines, p95 latency, a gauge's mean, one value
// per time bucket) says what changed, which way, how strongly, and in which
// bucket the change began. Onset order across services is the main evidence
// for root cause, so the onset is estimated to the bucket, not just the
// alarm time. The anomaly scan (correlate/scan.h) runs this over every
// series of a window. Pure functions: thread-safe, deterministic, no state
// kept between calls.
//
// Method: one pass over the buckets. Per bucket the baseline's sorted copy
// is updated by one insertion step and its MAD found by a branch-free scan
// of w/2 entries (w = baseline points): O(n * w) on paper, but at w = 60 this
// measured faster than O(log w) selection, whose branches noise makes
// unpredictable. About 85 ns a bucket at -O2: 500 services x 20 signals x
// 360 buckets take 0.31 s on one core, 0.17 s on two.
//
//   Baseline. Each bucket is compared with the median of the last
//   `baseline_buckets` known, non-anomalous buckets before it. Buckets join
//   the baseline `min_duration_buckets` late, so the first buckets of a fault
//   are judged before they can pull the baseline; buckets that end up inside
//   an anomaly (from its onset on) never join it, and any that joined before
//   the alarm are taken out again. So during a fault the baseline stays the
//   pre-fault normal. A change that lasts `adopt_after_buckets` is taken as
//   a permanent level shift: the anomaly is closed there (`adopted`), the
//   baseline is rebuilt from the new level, and the series is quiet again.
//
//   Deviation. z = (value - centre) / scale, a robust z: about one
//   standard deviation for Gaussian noise. The centre is the baseline's
//   median (for kCount at least its mean: a count median is an integer,
//   often 0 on a series whose rate is nearer 1). The scale is the larger of
//   1.4826 * MAD and 0.8 * the baseline's standard deviation: the MAD alone
//   reads half the true spread in some of thousands of windows, and is 0
//   when most points are equal (a quantised or mostly-flat series must be
//   judged by how far its other points go). It is widened by 1 + 5/n for a
//   baseline of n points, because both estimates are loose on a dozen
//   points, then raised to floors:
//     kCount: at least sqrt(max(median, mean)) (Poisson noise) and at least
//             count_min_scale (1 line). A sparse series (mostly 0, sometimes
//             1-2) thus needs a burst of several lines per bucket for several
//             buckets, or ~10 in one bucket, to alarm.
//     kGauge: at least gauge_min_relative_scale * |median| (1%), so a
//             constant series reacts to changes of several percent but not to
//             a tiny one, and at least gauge_min_scale (no division by zero).
//
//   Alarm. Either one bucket with |z| >= spike_threshold (a large spike), or
//   a sustained shift: a one-sided CUSUM of z, each term clipped to
//   [-threshold, threshold], S = max(0, S + z - cusum_drift), reaching
//   min_duration_buckets * (threshold - cusum_drift), with |z| >= threshold
//   in at least one of its buckets. A shift of `threshold` alarms after
//   min_duration_buckets buckets; a weaker one needs proportionally longer
//   (buckets at z = 3 add 1.5 each, so five of them, one reaching 4), so a
//   fault is caught within a few buckets while steady noise, which keeps
//   pulling S back to 0, stays silent.
//
//   Onset. A second, unclipped CUSUM with drift `onset_level` runs
//   alongside; the onset is where its current excursion began. That is the
//   same as walking back from the alarming bucket while the deviation, net
//   of onset_level per bucket, stays on the anomaly's side: the bucket j
//   that maximises sum(z - onset_level) over [j, alarm]. A single noisy
//   bucket inside the change does not cut the walk short, and one ordinary
//   bucket before it rarely extends it. For a step that is the first shifted
//   bucket (exact in ~94% of noisy 6-sigma steps, else one or two early);
//   for a ramp, the bucket where it has risen about 1.5-2 sigma, one or two
//   after it began.
//
//   End. An open anomaly continues while buckets keep |z| >= continue_level
//   on its side (hysteresis), and is closed when `end_grace_buckets` known
//   buckets in a row do not, so a long fault is one anomaly, not many. Its
//   `end` mirrors the onset: one past the bucket that maximises
//   sum(z - onset_level) from the onset, so a lone noisy bucket after the
//   recovery does not stretch it.
//
//   Burst (kCount). The robust z with its one-line scale floor cannot see a
//   burst of a few lines a bucket on a series that is nearly always 0. So
//   the last k known buckets (k = 2 .. 2 * min_duration_buckets) are also
//   compared with the baseline as two Poisson rates: the signed root of the
//   likelihood-ratio statistic, divided by the baseline's dispersion
//   (variance / mean when above 1, so a bursty series discounts bursts),
//   alarms at count_burst_z; the onset is found as for any alarm.
//
//   Drop to zero (kCount). A series whose baseline is steady (non-zero in at
//   least drop_min_presence of its buckets, mean >= drop_min_mean) and that
//   reads 0 for r buckets in a row is reported as kDown with drop_to_zero,
//   onset at the first zero. r is the smallest run (at least
//   min_duration_buckets) whose chance under the baseline's own zero rate
//   (the larger of e^-mean and the observed share of zeros) is below
//   drop_false_alarm_probability. A sparse series going quiet never
//   qualifies.
//
// Missing data: NaN (or any non-finite value) means no data, for both kinds:
// the bucket is skipped (no verdict, does not end or extend an anomaly, does
// not break or extend a run of zeros). Callers fill 0 into count buckets that
// had no events and leave NaN where the data has a gap (correlate/scan.cc:
// buckets where no service had records of that kind).
//
// Measured with the defaults on simulated series of 420 buckets
// (detect_test.cc holds smaller guards): no alarms in 840k buckets each of
// Gaussian noise and of Poisson counts at rates 0.02 to 5000. A 6-sigma
// step alarms after 3-4 buckets, 10-sigma and more after 1-3; a 4-sigma
// one after 3-5 when found at all (88% of the time within 40 buckets).
// Onsets of steps are exact ~94% of the time, else 1-2 buckets early; ends
// of faults exact ~93%, else 1-2 late.
//
// Not modelled: seasonality (a nightly lull is judged against the last
// baseline_buckets only); steady trends (a series that keeps rising stays
// above its trailing median and may alarm, then be adopted); strong
// autocorrelation (a gauge that wanders slowly, AR(1) with phi = 0.8, gives
// about one false alarm per 1000 buckets; phi = 0.5 one per 20000); very
// heavy tails (Student-t with 3 degrees of freedom: one false spike per
// ~1100 buckets; log-normal sigma 0.5: one per ~7500).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace faultline::correlate {

// How a series' values behave, which decides the noise model.
enum class SeriesKind : uint8_t {
  // Non-negative event counts per bucket (records, errors, a template's
  // lines): Poisson-like noise, often sparse.
  kCount,
  // A measured level per bucket (latency quantile, CPU %, memory, success
  // rate): continuous noise.
  kGauge,
};

enum class Direction : uint8_t { kUp, kDown };

// The defaults are meant to work untuned for 10 s buckets. "z" below is the
// robust z described at the top of this file.
struct DetectorOptions {
  // How many known, non-anomalous buckets a point is compared with. 60 is
  // 10 minutes at 10 s: long enough for a stable median and MAD, short
  // enough to follow a daily cycle.
  size_t baseline_buckets = 60;
  // With fewer baseline points than this a bucket gets no verdict. 12 (two
  // minutes) keeps the MAD from being a guess.
  size_t min_baseline_buckets = 12;
  // Robust z an anomaly must reach at its peak to be reported (drops to zero
  // excepted), and the level that, held for min_duration_buckets, raises an
  // alarm. 4: Gaussian noise passes it on one side once in ~30000 buckets,
  // and a sustained alarm needs several buckets near it.
  double threshold = 4.0;
  // A shift at `threshold` must persist this long to alarm (weaker shifts
  // longer); only a spike alarms sooner. 3 buckets is 30 s, so a fault is
  // caught well within a minute.
  size_t min_duration_buckets = 3;
  // A single bucket this far out alarms on its own. 10: beyond anything
  // Gaussian or Poisson noise produces, about what a spike in a graph
  // looks like.
  double spike_threshold = 10.0;
  // Allowance subtracted from each |z| in the alarm CUSUM; the CUSUM only
  // accumulates buckets beyond it. 1.5 lets moderate shifts (z 2.5-4) alarm
  // after a few buckets and drains noise quickly.
  double cusum_drift = 1.5;
  // Drift of the onset CUSUM (see "Onset" above). 1.5 balances a step's
  // onset (lower values pull it earlier into noise: 1.0 puts 15% of noisy
  // steps early) against a ramp's (higher values place it later).
  double onset_level = 1.5;
  // An open anomaly continues while |z| >= this on its side (hysteresis:
  // far below the alarm level). 1.5 keeps a weak, noisy fault (z 2-3) in
  // one piece.
  double continue_level = 1.5;
  // This many known buckets in a row that do not continue an anomaly end
  // it. 3 keeps a noisy long fault in one piece.
  size_t end_grace_buckets = 3;
  // An anomaly still open after this many buckets is a permanent level
  // shift: it is closed (adopted = true) and the new level becomes the
  // baseline. 60 buckets (10 minutes), one baseline's worth.
  size_t adopt_after_buckets = 60;

  // kCount: the noise scale is never below this many lines. 1 keeps counts
  // of 0-2 on a quiet series from looking like many sigmas.
  double count_min_scale = 1.0;
  // kCount burst: the last k known buckets (k from 2 to twice
  // min_duration_buckets) alarm together when their lines, compared with
  // the baseline's as two Poisson rates, reach this signed-root likelihood
  // ratio z (divided by the baseline's dispersion, variance / mean, where
  // that is above 1). 7: about one in 10^12 windows of Poisson noise. It
  // catches what the robust z cannot on a low-rate series, where the scale
  // floor of one line hides a real burst: 12 error lines in a minute
  // (2, 4, 0, 4, ...) from a service that logged none in the last ten
  // minutes alarm at the fourth bucket, 2 lines a bucket for three buckets
  // do not.
  double count_burst_z = 7.0;

  // kCount drop to zero: the baseline must be non-zero in at least this
  // share of its buckets...
  double drop_min_presence = 0.8;
  // ...with at least this mean per bucket...
  double drop_min_mean = 1.0;
  // ...and the zero run must be less likely than this under the baseline's
  // own zero rate. 1e-6: a few false drops a year per series at 10 s
  // buckets, if its noise were exactly as the baseline says.
  double drop_false_alarm_probability = 1e-6;

  // kGauge: the noise scale is never below this share of |median|. 1%: a
  // flat series alarms on a sustained change of ~4% or a 10% spike, not on
  // a tiny wobble.
  double gauge_min_relative_scale = 0.01;
  // kGauge: absolute floor of the noise scale, in the series' units, so a
  // series flat at 0 does not divide by zero.
  double gauge_min_scale = 1e-9;

  // InvalidArgument naming the field when a value is out of range (sizes of
  // 0, non-positive or non-finite levels, continue_level above threshold,
  // probabilities outside (0, 1)).
  Status Validate() const;
};

struct Anomaly {
  // First bucket of the change (index into the series): where the onset
  // CUSUM's excursion began, or the first zero of a drop to zero.
  size_t onset = 0;
  // Bucket of the largest deviation on the anomaly's side (the first of
  // equals).
  size_t peak = 0;
  // One past the last anomalous bucket; the series' size when still ongoing
  // (fewer than end_grace_buckets recovered buckets at the end).
  size_t end = 0;
  Direction direction = Direction::kUp;
  // |z| at the peak: robust standard deviations, comparable across series.
  // For a drop to zero at least `threshold`, because on a low-rate series the
  // run of zeros is the evidence, not the size of one bucket.
  double strength = 0;
  // The series' typical value before the onset: the baseline's median (for
  // kCount the larger of median and mean), over the buckets before it.
  double baseline = 0;
  double peak_value = 0;
  // A steady kCount series stopped: the "expected lines missing" signal.
  bool drop_to_zero = false;
  // The change lasted adopt_after_buckets and became the new baseline; `end`
  // is where that happened, not a recovery.
  bool adopted = false;
};

// Scans `values` (one per bucket, oldest first; NaN = no data for that
// bucket, which is different from 0) and returns the anomalies in onset order, non-overlapping. Pure,
// deterministic, thread-safe; see the top of this file for the cost.
// REQUIRES: options.Validate() is OK. Options that are not give no
// anomalies rather than undefined behaviour.
std::vector<Anomaly> Detect(std::span<const double> values, SeriesKind kind,
                            const DetectorOptions& options = {});

}  // namespace faultline::correlate
