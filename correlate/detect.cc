#include "correlate/detect.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace faultline::correlate {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// MAD of a normal distribution times this is its standard deviation.
constexpr double kMadToSigma = 1.4826;

// Scale widening for a baseline of n points: 1 + this / n.
constexpr double kSmallSampleWidening = 5.0;

// Share of the baseline's standard deviation the noise scale never falls
// below.
constexpr double kStdDevFloor = 0.8;

struct BaselineStats {
  double center = 0;  // the median; for kCount at least the mean
  double scale = 1;   // noise scale after the kind's floors; > 0
  double mean = 0;
  double variance = 0;
};

// The trailing baseline: the last `capacity` committed points, kept both in
// commit order (a ring, to evict the oldest and to take back the newest) and
// sorted (for the median and MAD). Points are committed in bucket
// order, so "the newest" are also the highest bucket indexes.
class Baseline {
 public:
  Baseline(size_t capacity, SeriesKind kind, const DetectorOptions& options)
      : capacity_(capacity), kind_(kind), options_(options) {
    ring_index_.resize(capacity);
    ring_value_.resize(capacity);
    sorted_.reserve(capacity);
  }

  size_t size() const { return count_; }

  void Push(size_t index, double value) {
    if (count_ == 0) {
      reference_ = value;
      sum_ = sum_squares_ = 0;
    }
    if (count_ == capacity_) {
      // Full: the new point takes the oldest one's ring slot, and one shift
      // of the sorted points between the two values replaces an erase and
      // an insert (this is the per-bucket hot path).
      const double old = ring_value_[head_];
      ReplaceSorted(old, value);
      Unsum(old);
      ring_index_[head_] = index;
      ring_value_[head_] = value;
      if (++head_ == capacity_) {
        head_ = 0;
        // Once per ring turn, re-add from scratch so rounding in the running
        // sums cannot drift over a long series.
        Resum();
        dirty_ = true;
        return;
      }
    } else {
      const size_t slot = Slot(count_);
      ring_index_[slot] = index;
      ring_value_[slot] = value;
      ++count_;
      sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), value), value);
    }
    const double shifted = value - reference_;
    sum_ += shifted;
    sum_squares_ += shifted * shifted;
    dirty_ = true;
  }

  // Takes back every point of bucket `index` or later.
  void PopFrom(size_t index) {
    while (count_ > 0) {
      const size_t slot = Slot(count_ - 1);
      if (ring_index_[slot] < index) break;
      EraseSorted(ring_value_[slot]);
      Unsum(ring_value_[slot]);
      --count_;
      dirty_ = true;
    }
  }

  void Clear() {
    head_ = count_ = 0;
    sorted_.clear();
    sum_ = sum_squares_ = 0;
    dirty_ = true;
  }

  // Number of points equal to 0 (kCount drop detection).
  size_t Zeros() const {
    auto [lo, hi] = std::equal_range(sorted_.begin(), sorted_.end(), 0.0);
    return static_cast<size_t>(hi - lo);
  }

  // REQUIRES: size() > 0.
  const BaselineStats& Stats() {
    if (dirty_) {
      Compute();
      dirty_ = false;
    }
    return stats_;
  }

 private:
  // Ring slot of the `offset`-th oldest point; offset < capacity_.
  size_t Slot(size_t offset) const {
    const size_t slot = head_ + offset;
    return slot >= capacity_ ? slot - capacity_ : slot;
  }

  void EraseSorted(double value) {
    sorted_.erase(std::lower_bound(sorted_.begin(), sorted_.end(), value));
  }

  // Replaces one point equal to `old` by `value`, keeping the order: an
  // insertion-sort step from the old point's place. Successive values are
  // usually close in rank, and a short predictable scan beats a second
  // binary search whose branches are coin tosses on noisy data.
  void ReplaceSorted(double old, double value) {
    double* s = sorted_.data();
    const size_t n = sorted_.size();
    size_t at = static_cast<size_t>(std::lower_bound(s, s + n, old) - s);
    while (at + 1 < n && s[at + 1] < value) {
      s[at] = s[at + 1];
      ++at;
    }
    while (at > 0 && s[at - 1] > value) {
      s[at] = s[at - 1];
      --at;
    }
    s[at] = value;
  }

  void Unsum(double value) {
    const double shifted = value - reference_;
    sum_ -= shifted;
    sum_squares_ -= shifted * shifted;
  }

  // Sums are kept relative to a reference near the series' level, so the
  // variance E[x^2] - E[x]^2 does not cancel away on a large level (bytes,
  // nanoseconds).
  void Resum() {
    reference_ = sorted_.empty() ? 0 : sorted_[sorted_.size() / 2];
    sum_ = sum_squares_ = 0;
    for (double v : sorted_) {
      sum_ += v - reference_;
      sum_squares_ += (v - reference_) * (v - reference_);
    }
  }

  // The k-th smallest (0-based) of the deviations |x - median|. The k+1
  // points nearest the median are k+1 neighbours in sorted order, so the
  // answer is the smallest over such blocks of the block's widest
  // deviation; a block away from the median only bounds it from above. A
  // branch-free scan of n - k blocks: cheaper at these sizes than a binary
  // search whose branches the CPU cannot predict.
  double KthDeviation(double median, size_t k) const {
    const double* s = sorted_.data();
    const size_t blocks = sorted_.size() - k;
    // Two running minima, so the loop is not one long dependency chain.
    double best0 = std::numeric_limits<double>::infinity();
    double best1 = best0;
    size_t i = 0;
    for (; i + 2 <= blocks; i += 2) {
      const double width0 = std::max(median - s[i], s[i + k] - median);
      const double width1 = std::max(median - s[i + 1], s[i + 1 + k] - median);
      best0 = std::min(best0, width0);
      best1 = std::min(best1, width1);
    }
    if (i < blocks) best0 = std::min(best0, std::max(median - s[i], s[i + k] - median));
    return std::min(best0, best1);
  }

  void Compute() {
    const size_t n = sorted_.size();
    const double median = n % 2 == 1 ? sorted_[n / 2] : 0.5 * (sorted_[n / 2 - 1] + sorted_[n / 2]);
    // For an even n the upper of the two middle deviations: a hair larger
    // than the average of the two, and one scan instead of two.
    const double mad = KthDeviation(median, n / 2);
    // The MAD alone is a noisy estimate (37% efficient at the normal): out
    // of thousands of windows some read half the true spread, and steady
    // noise then looks like a shift. The standard deviation is steadier, and
    // flagged buckets are kept out of the window, so a share of it is a
    // safe floor. It also covers a window where most points are equal (MAD
    // 0): a series flat but for a few buckets at another value is judged by
    // how far those go.
    const double mean_shifted = sum_ / static_cast<double>(n);
    const double variance =
        std::max(0.0, sum_squares_ / static_cast<double>(n) - mean_shifted * mean_shifted);
    const double spread = std::max(kMadToSigma * mad, kStdDevFloor * std::sqrt(variance));
    // Both estimates are loose on a dozen points; widen the scale for small
    // baselines (about like a t quantile) so the first verdicts at the start
    // of a series or after a re-learn are not the noisiest ones.
    const double small_sample = 1.0 + kSmallSampleWidening / static_cast<double>(n);
    const double mean = std::max(0.0, mean_shifted + reference_);
    double floor;
    if (kind_ == SeriesKind::kCount) {
      floor = std::max(std::sqrt(std::max(median, mean)), options_.count_min_scale);
    } else {
      floor =
          std::max(options_.gauge_min_relative_scale * std::abs(median), options_.gauge_min_scale);
    }
    // A count median is an integer, often 0 on a low-rate series whose
    // rate is nearer 1; the mean, when higher, is the better centre there.
    const double center = kind_ == SeriesKind::kCount ? std::max(median, mean) : median;
    stats_ = {center, std::max(spread * small_sample, floor), mean, variance};
  }

  size_t capacity_;
  SeriesKind kind_;
  const DetectorOptions& options_;
  std::vector<size_t> ring_index_;
  std::vector<double> ring_value_;
  size_t head_ = 0;
  size_t count_ = 0;
  std::vector<double> sorted_;
  double reference_ = 0;
  double sum_ = 0;          // of value - reference_
  double sum_squares_ = 0;  // of (value - reference_)^2
  bool dirty_ = true;
  BaselineStats stats_;
};

// One-sided CUSUM of z on one side. `start` is where the current excursion
// (s > 0) began; `peak` its largest z.
struct Cusum {
  double s = 0;
  double peak = 0;
  size_t start = 0;

  void Update(size_t index, double z, double clip, double drift) {
    const double next = std::max(0.0, s + std::min(z, clip) - drift);
    if (next <= 0) {
      s = 0;
      peak = 0;
      return;
    }
    if (s <= 0) {
      start = index;
      peak = z;
    }
    s = next;
    peak = std::max(peak, z);
  }
  void Reset() { *this = Cusum{}; }
};

class Detector {
 public:
  Detector(std::span<const double> values, SeriesKind kind, const DetectorOptions& options)
      : values_(values),
        kind_(kind),
        options_(options),
        baseline_(options.baseline_buckets, kind, options),
        z_(values.size(), kNaN),
        alarm_level_(static_cast<double>(options.min_duration_buckets) *
                     (options.threshold - options.cusum_drift)) {}

  std::vector<Anomaly> Run() {
    const size_t n = values_.size();
    for (size_t i = 0; i < n; ++i) {
      const double x = Value(i);
      const bool known = !std::isnan(x);
      // While an anomaly is open the baseline is frozen at its pre-fault
      // content, which may be smaller than the minimum after the onset's
      // points were taken back; a verdict is still needed to end it.
      const size_t needed = open_ ? 1 : options_.min_baseline_buckets;
      if (known && baseline_.size() >= needed) {
        const BaselineStats& stats = baseline_.Stats();
        z_[i] = (x - stats.center) / stats.scale;
      }
      if (open_) Continue(i);
      if (!open_ && !std::isnan(z_[i])) Watch(i);
      if (kind_ == SeriesKind::kCount && known) WatchZeros(i, x);
      if (open_ && i + 1 - current_.onset >= options_.adopt_after_buckets) Adopt(i);
      Commit(i);
    }
    if (open_) Emit(n);
    return std::move(out_);
  }

 private:
  // The bucket's value: NaN when unknown. A caller fills 0 into count
  // buckets that had no events; NaN there means a gap in the data (nothing
  // of the fleet was ingested), which is no evidence either way.
  double Value(size_t i) const {
    const double v = values_[i];
    return std::isfinite(v) ? v : kNaN;
  }

  // Deviation of bucket i on side `direction` (positive = on that side).
  double Side(size_t i, Direction direction) const {
    return direction == Direction::kUp ? z_[i] : -z_[i];
  }

  // No anomaly open: feed the CUSUMs and raise an alarm if one trips.
  void Watch(size_t i) {
    const double z = z_[i];
    FeedCusums(i);
    const double level = alarm_level_ - 1e-9;  // three buckets at exactly threshold count
    if (z >= options_.spike_threshold || (up_.s >= level && up_.peak >= options_.threshold)) {
      Open(i, Direction::kUp, onset_up_.s > 0 ? onset_up_.start : i);
    } else if (-z >= options_.spike_threshold ||
               (down_.s >= level && down_.peak >= options_.threshold)) {
      Open(i, Direction::kDown, onset_down_.s > 0 ? onset_down_.start : i);
    } else if (kind_ == SeriesKind::kCount) {
      const size_t start = CountBurst(i);
      if (start != kNoBurst) Open(i, Direction::kUp, onset_up_.s > 0 ? onset_up_.start : start);
    }
  }

  static constexpr size_t kNoBurst = std::numeric_limits<size_t>::max();

  // kCount: the last k known buckets (k = 2 .. 2 * min_duration_buckets)
  // against the baseline as two Poisson rates, by the signed root of the
  // likelihood-ratio statistic, divided by the baseline's dispersion
  // (quasi-Poisson: variance / mean when above 1). Returns the first bucket
  // of the first window that reaches count_burst_z, or kNoBurst. Windows
  // start after the last reported anomaly.
  size_t CountBurst(size_t i) {
    const BaselineStats& stats = baseline_.Stats();
    const double n = static_cast<double>(baseline_.size());
    const double b = stats.mean * n;  // baseline lines
    const double dispersion = stats.mean > 0 ? std::max(1.0, stats.variance / stats.mean) : 1.0;
    const size_t longest = 2 * options_.min_duration_buckets;
    double x = 0;
    size_t k = 0;
    for (size_t j = i + 1; j-- > burst_from_ && k < longest;) {
      const double v = Value(j);
      if (std::isnan(v)) continue;
      x += v;
      ++k;
      if (k < 2) continue;
      const double kk = static_cast<double>(k);
      if (x / kk <= b / n) continue;
      const double rate = (x + b) / (n + kk);
      double llr = x * std::log(x / (kk * rate));
      if (b > 0) llr += b * std::log(b / (n * rate));
      if (llr > 0 && std::sqrt(2 * llr / dispersion) >= options_.count_burst_z) return j;
    }
    return kNoBurst;
  }

  void FeedCusums(size_t i) {
    const double z = z_[i];
    const double clip = options_.threshold;
    up_.Update(i, z, clip, options_.cusum_drift);
    down_.Update(i, -z, clip, options_.cusum_drift);
    const double inf = std::numeric_limits<double>::infinity();
    onset_up_.Update(i, z, inf, options_.onset_level);
    onset_down_.Update(i, -z, inf, options_.onset_level);
  }

  void ResetCusums() {
    up_.Reset();
    down_.Reset();
    onset_up_.Reset();
    onset_down_.Reset();
  }

  void Open(size_t i, Direction direction, size_t onset) {
    open_ = true;
    current_ = Anomaly{};
    current_.onset = onset;
    current_.direction = direction;
    current_.peak = onset;
    for (size_t j = onset; j <= i; ++j) {
      if (!std::isnan(z_[j]) && Side(j, direction) > Side(current_.peak, direction)) {
        current_.peak = j;
      }
    }
    last_continuing_ = i;
    quiet_ = 0;
    // Points from the onset on that already joined the baseline belong to
    // the fault: take them back so the baseline stays the normal before it.
    const double median_before = baseline_.size() > 0 ? baseline_.Stats().center : kNaN;
    baseline_.PopFrom(onset);
    commit_next_ = std::min(commit_next_, onset);
    current_.baseline = baseline_.size() > 0 ? baseline_.Stats().center : median_before;
    ResetCusums();
  }

  // An anomaly is open at bucket i: extend it, or end it after
  // end_grace_buckets known buckets that do not continue it.
  void Continue(size_t i) {
    if (std::isnan(z_[i])) return;  // no data: neither continues nor ends it
    const double side = Side(i, current_.direction);
    const bool continuing =
        side >= options_.continue_level || (current_.drop_to_zero && Value(i) == 0);
    if (continuing) {
      last_continuing_ = i;
      quiet_ = 0;
      if (side > Side(current_.peak, current_.direction) || std::isnan(z_[current_.peak])) {
        current_.peak = i;
      }
      return;
    }
    if (++quiet_ < options_.end_grace_buckets) return;
    const size_t end = EvidenceEnd();
    Emit(end);
    // The buckets after the end were judged against the same baseline; run
    // them through the CUSUMs so a change right after this one keeps its
    // true onset. Bucket i itself is watched by the caller.
    for (size_t j = end; j < i; ++j) {
      if (!std::isnan(z_[j])) FeedCusums(j);
    }
  }

  // Where the anomaly ended: the bucket after the last one that maximises
  // the sum of (deviation - onset_level) from the onset. The mirror of the
  // onset estimate: a lone bucket just over continue_level after the
  // series has recovered does not stretch the end, while a dip inside the
  // fault does not cut it short. A zero inside a drop to zero counts as
  // evidence whatever its z (on a low-rate series a zero is only a couple
  // of sigma).
  size_t EvidenceEnd() const {
    double sum = 0;
    double best = -std::numeric_limits<double>::infinity();
    size_t end = last_continuing_ + 1;
    for (size_t j = current_.onset; j <= last_continuing_; ++j) {
      if (std::isnan(z_[j])) continue;
      double evidence = Side(j, current_.direction) - options_.onset_level;
      if (current_.drop_to_zero && Value(j) == 0) evidence = std::max(evidence, 1.0);
      sum += evidence;
      if (sum >= best) {
        best = sum;
        end = j + 1;
      }
    }
    return end;
  }

  // kCount: a run of zeros on a series that is steady enough for the run to
  // be news.
  void WatchZeros(size_t i, double x) {
    if (x != 0) {
      zero_run_ = 0;
      zero_run_needed_ = 0;
      return;
    }
    if (zero_run_++ == 0) {
      zero_start_ = i;
      zero_run_needed_ = ZeroRunNeeded();
    }
    if (zero_run_needed_ == 0 || zero_run_ != zero_run_needed_) return;
    if (open_ && current_.direction == Direction::kDown) {
      current_.drop_to_zero = true;
      return;
    }
    // An open rise cannot have continued into the zeros, so it ended before
    // them.
    if (open_) Emit(EvidenceEnd());
    Open(i, Direction::kDown, zero_start_);
    current_.drop_to_zero = true;
    current_.peak = zero_start_;
  }

  // How many zeros in a row make a drop on the current baseline; 0 when the
  // baseline is too short or not steady.
  size_t ZeroRunNeeded() {
    const size_t n = baseline_.size();
    if (n < options_.min_baseline_buckets) return 0;
    const size_t zeros = baseline_.Zeros();
    const double presence = 1.0 - static_cast<double>(zeros) / static_cast<double>(n);
    const double mean = baseline_.Stats().mean;
    if (presence < options_.drop_min_presence || mean < options_.drop_min_mean) return 0;
    // Chance of one zero bucket: Poisson at the mean, or the observed share
    // of zeros (with half a pseudo-count so "never seen" is not "impossible")
    // when the series is burstier than Poisson.
    const double p_zero = std::max(
        std::exp(-mean), (static_cast<double>(zeros) + 0.5) / (static_cast<double>(n) + 1.0));
    if (!(p_zero < 1)) return 0;
    const double run =
        std::ceil(std::log(options_.drop_false_alarm_probability) / std::log(p_zero));
    return std::max(options_.min_duration_buckets, static_cast<size_t>(std::max(1.0, run)));
  }

  // A change that lasted adopt_after_buckets is the new normal: close the
  // anomaly and rebuild the baseline from the buckets since its onset.
  void Adopt(size_t i) {
    current_.adopted = true;
    const size_t onset = current_.onset;
    Emit(i + 1);
    baseline_.Clear();
    const size_t window = options_.baseline_buckets;
    for (size_t j = std::max(onset, i + 1 >= window ? i + 1 - window : 0); j <= i; ++j) {
      const double v = Value(j);
      if (!std::isnan(v)) baseline_.Push(j, v);
    }
    commit_next_ = i + 1;
    zero_run_needed_ = 0;  // zeros are normal now
  }

  void Emit(size_t end) {
    current_.end = std::max(end, current_.peak + 1);
    const double z = Side(current_.peak, current_.direction);
    current_.strength = std::isnan(z) ? 0 : z;
    if (current_.drop_to_zero) current_.strength = std::max(current_.strength, options_.threshold);
    current_.peak_value = Value(current_.peak);
    // A burst window never reaches back into a reported anomaly.
    burst_from_ = current_.end;
    out_.push_back(current_);
    open_ = false;
    ResetCusums();
  }

  // Buckets join the baseline min_duration_buckets late, and only when they
  // are known and outside every anomaly; none join while one is open, as it
  // may yet extend over them.
  void Commit(size_t i) {
    const size_t lag = options_.min_duration_buckets;
    if (i < lag) return;
    for (; commit_next_ <= i - lag; ++commit_next_) {
      const size_t j = commit_next_;
      if (open_ && j >= current_.onset) return;
      while (skip_cursor_ < out_.size() && out_[skip_cursor_].end <= j) ++skip_cursor_;
      if (skip_cursor_ < out_.size() && out_[skip_cursor_].onset <= j) continue;
      const double v = Value(j);
      if (!std::isnan(v)) baseline_.Push(j, v);
    }
  }

  std::span<const double> values_;
  SeriesKind kind_;
  const DetectorOptions& options_;
  Baseline baseline_;
  std::vector<double> z_;  // per bucket; NaN: no verdict
  double alarm_level_;

  Cusum up_, down_, onset_up_, onset_down_;

  bool open_ = false;
  Anomaly current_;
  size_t last_continuing_ = 0;
  size_t quiet_ = 0;

  size_t zero_run_ = 0;
  size_t zero_start_ = 0;
  size_t zero_run_needed_ = 0;

  size_t commit_next_ = 0;
  size_t skip_cursor_ = 0;
  size_t burst_from_ = 0;
  std::vector<Anomaly> out_;
};

}  // namespace

Status DetectorOptions::Validate() const {
  auto bad = [](const char* field, const std::string& why) {
    return Status::InvalidArgument(std::string("detector option ") + field + ": " + why);
  };
  auto positive = [](double v) { return std::isfinite(v) && v > 0; };
  if (baseline_buckets == 0) return bad("baseline_buckets", "must be > 0");
  if (min_baseline_buckets == 0 || min_baseline_buckets > baseline_buckets) {
    return bad("min_baseline_buckets", "must be in [1, baseline_buckets]");
  }
  if (min_duration_buckets == 0) return bad("min_duration_buckets", "must be > 0");
  if (end_grace_buckets == 0) return bad("end_grace_buckets", "must be > 0");
  if (adopt_after_buckets == 0) return bad("adopt_after_buckets", "must be > 0");
  if (!positive(threshold)) return bad("threshold", "must be finite and > 0");
  if (!positive(spike_threshold) || spike_threshold < threshold) {
    return bad("spike_threshold", "must be finite and >= threshold");
  }
  if (!std::isfinite(cusum_drift) || cusum_drift < 0 || cusum_drift >= threshold) {
    return bad("cusum_drift", "must be in [0, threshold)");
  }
  if (!std::isfinite(onset_level) || onset_level < 0) return bad("onset_level", "must be >= 0");
  if (!positive(continue_level) || continue_level > threshold) {
    return bad("continue_level", "must be in (0, threshold]");
  }
  if (!positive(count_burst_z)) return bad("count_burst_z", "must be finite and > 0");
  if (!positive(count_min_scale)) return bad("count_min_scale", "must be finite and > 0");
  if (!std::isfinite(drop_min_presence) || drop_min_presence <= 0 || drop_min_presence > 1) {
    return bad("drop_min_presence", "must be in (0, 1]");
  }
  if (!std::isfinite(drop_min_mean) || drop_min_mean < 0) {
    return bad("drop_min_mean", "must be finite and >= 0");
  }
  if (!(drop_false_alarm_probability > 0 && drop_false_alarm_probability < 1)) {
    return bad("drop_false_alarm_probability", "must be in (0, 1)");
  }
  if (!std::isfinite(gauge_min_relative_scale) || gauge_min_relative_scale < 0) {
    return bad("gauge_min_relative_scale", "must be finite and >= 0");
  }
  if (!positive(gauge_min_scale)) return bad("gauge_min_scale", "must be finite and > 0");
  return Status::Ok();
}

std::vector<Anomaly> Detect(std::span<const double> values, SeriesKind kind,
                            const DetectorOptions& options) {
  if (values.empty() || !options.Validate().ok()) return {};
  return Detector(values, kind, options).Run();
}

}  // namespace faultline::correlate
