#include "correlate/scan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>
#include <unordered_map>

#include <oneapi/tbb/parallel_for.h>

#include "core/json_writer.h"
#include "core/time.h"
#include "correlate/rollup.h"

namespace faultline::correlate {

namespace {

Stat StatOf(const std::string& signal, const storage::SeriesPoint& point) {
  if (!point.histogram.empty()) return signal == kEdgeGap ? Stat::kP50 : Stat::kP95;
  if (point.has_samples()) return Stat::kMean;
  return Stat::kCount;
}

double ValueOf(const storage::SeriesPoint& point, Stat stat) {
  switch (stat) {
    case Stat::kCount: return static_cast<double>(point.count);
    case Stat::kP95: return point.histogram.Quantile(0.95);
    case Stat::kP50: return point.histogram.Quantile(0.5);
    case Stat::kMean: return point.mean();
  }
  return 0;
}

bool SignalWanted(const std::vector<std::string>& wanted, const std::string& signal) {
  if (wanted.empty()) return !signal.starts_with("template:");
  for (const std::string& w : wanted) {
    if (!w.empty() && w.back() == '*') {
      if (signal.compare(0, w.size() - 1, w, 0, w.size() - 1) == 0) return true;
    } else if (w == signal) {
      return true;
    }
  }
  return false;
}

bool DimensionWanted(const std::string& wanted, const std::string& dimension) {
  if (wanted == "all") return true;
  // Call edges exist per caller only (rollup.h): they count as the service's
  // own series.
  if (wanted.empty()) return dimension.empty() || dimension.starts_with(kCallerDimension);
  return dimension.rfind(wanted + "=", 0) == 0;
}

uint64_t ParseTemplateId(const std::string& signal) {
  if (signal.rfind("template:", 0) != 0) return 0;
  return std::strtoull(signal.c_str() + 9, nullptr, 16);
}

// Gauges are often sampled more coarsely than the buckets (metrics once a
// minute in 10 s buckets: five buckets in six empty). Judged bucket by
// bucket, "three buckets in a row" would mean three minutes and the
// baseline an hour, and a one-sample spike of a heavy-tailed gauge (a
// client latency p90 jumping from 0.3 to 20 ms) alarms on its own. So a
// sparse gauge is scanned at its own sampling interval, and a gauge change
// shorter than kMinGaugeSamples samples is not reported (the detector still
// flags it, which keeps the outlier out of the baseline).
constexpr size_t kMinGaugeSamples = 3;
// Recurrence: a gauge change whose held level (the kMinGaugeSamples-th
// most extreme sample of the change) does not go kMaterialFactor beyond
// every sample of the series' last kRecurrenceSamples (6 hours of
// per-minute metrics) is that series' usual behaviour, not news. The
// detector keeps anomalies out of its baseline, so by itself it never learns
// that a chronically spiky gauge spikes; this history keeps them, but not
// the lone wild samples of changes too short to report, so one glitch does
// not mask what follows.
constexpr size_t kRecurrenceSamples = 360;
// A gauge change is reported only when its peak is at least this factor
// above the baseline (up) or below it (down).
constexpr double kMaterialFactor = 1.5;

std::vector<Anomaly> DetectGauge(const std::vector<double>& values,
                                 const DetectorOptions& options) {
  // The sampling interval: the median gap between known buckets (a gauge
  // missing for hours, or sampled at two rates, must not skew it).
  std::vector<size_t> gaps;
  size_t last = values.size();
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) continue;
    if (last < i) gaps.push_back(i - last);
    last = i;
  }
  if (last == values.size()) return {};
  size_t step = 1;
  if (!gaps.empty()) {
    std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
    step = gaps[gaps.size() / 2];
  }
  std::vector<double> coarse;
  coarse.reserve(values.size() / step + 1);
  for (size_t i = 0; i < values.size(); i += step) {
    double sum = 0;
    size_t n = 0;
    for (size_t j = i; j < std::min(values.size(), i + step); ++j) {
      if (std::isnan(values[j])) continue;
      sum += values[j];
      ++n;
    }
    coarse.push_back(n > 0 ? sum / static_cast<double>(n) : NAN);
  }
  std::vector<Anomaly> found = Detect(coarse, SeriesKind::kGauge, options);
  // Samples of changes too short to report are no history either: a lone
  // wild sample must not mask what comes after it.
  // Short is counted in samples, not buckets: a lone sample followed by
  // no data (a sparse call edge whose one slow call is the last for a
  // while) is still one sample, however long the anomaly stays open.
  auto too_short = [&](const Anomaly& a) {
    size_t samples = 0;
    for (size_t j = a.onset; j < std::min(a.end, coarse.size()); ++j) {
      samples += !std::isnan(coarse[j]);
    }
    return samples < kMinGaugeSamples;
  };
  std::vector<char> blip(coarse.size(), 0);
  for (const Anomaly& a : found) {
    if (too_short(a)) std::fill(blip.begin() + a.onset, blip.begin() + std::min(a.end, coarse.size()), 1);
  }
  std::erase_if(found, too_short);
  // A gauge change must be material: a very steady gauge moving 10% is
  // statistically certain and operationally nothing.
  std::erase_if(found, [](const Anomaly& a) {
    const double base = std::abs(a.baseline);
    const double peak = std::abs(a.peak_value);
    return a.direction == Direction::kUp ? peak < base * kMaterialFactor
                                         : peak * kMaterialFactor > base;
  });
  std::erase_if(found, [&](const Anomaly& a) {
    const size_t from = a.onset > kRecurrenceSamples ? a.onset - kRecurrenceSamples : 0;
    double lo = INFINITY, hi = -INFINITY;
    size_t seen = 0;
    for (size_t j = from; j < a.onset; ++j) {
      if (std::isnan(coarse[j]) || blip[j]) continue;
      lo = std::min(lo, coarse[j]);
      hi = std::max(hi, coarse[j]);
      ++seen;
    }
    if (seen < options.baseline_buckets) return false;  // too little history to judge
    // The level the change held for kMinGaugeSamples samples, not its peak:
    // a gauge that often sits at 12 and once in a while reads 840 for one
    // sample inside such a stretch has not done anything new.
    std::vector<double> run;
    for (size_t j = a.onset; j < std::min(a.end, coarse.size()); ++j) {
      if (!std::isnan(coarse[j])) run.push_back(coarse[j]);
    }
    if (run.size() < kMinGaugeSamples) return false;
    const bool up = a.direction == Direction::kUp;
    std::nth_element(run.begin(), run.begin() + (kMinGaugeSamples - 1), run.end(),
                     [up](double x, double y) { return up ? x > y : x < y; });
    const double held = run[kMinGaugeSamples - 1];
    return up ? held <= hi * kMaterialFactor : held * kMaterialFactor >= lo;
  });
  for (Anomaly& a : found) {
    a.onset = std::min(values.size() - 1, a.onset * step);
    a.peak = std::min(values.size() - 1, a.peak * step);
    a.end = std::min(values.size(), a.end * step);
  }
  return found;
}

// Folds each group of at least `min_size` findings into its strongest (of
// those `rank` puts first, if any): `fold(head, other)` for every other
// member, which is then dropped.
template <typename Fold>
std::vector<Finding> FoldGroups(
    std::vector<Finding> findings, std::vector<std::vector<size_t>> groups, size_t min_size,
    Fold fold, int (*rank)(const Finding&) = [](const Finding&) { return 0; }) {
  std::vector<char> drop(findings.size(), 0);
  for (std::vector<size_t>& members : groups) {
    if (members.size() < std::max<size_t>(min_size, 2)) continue;
    std::stable_sort(members.begin(), members.end(), [&](size_t a, size_t b) {
      const int ra = rank(findings[a]), rb = rank(findings[b]);
      if (ra != rb) return ra > rb;
      return findings[a].anomaly.strength > findings[b].anomaly.strength;
    });
    for (size_t m = 1; m < members.size(); ++m) {
      fold(findings[members.front()], findings[members[m]]);
      drop[members[m]] = 1;
    }
  }
  std::vector<Finding> out;
  out.reserve(findings.size());
  for (size_t i = 0; i < findings.size(); ++i) {
    if (!drop[i]) out.push_back(std::move(findings[i]));
  }
  return out;
}

// Gauge findings with the same signal, dimension and direction on
// common_mode_min_services or more services, with onsets within the window
// of the group's first (not chained: a signal changing somewhere every
// minute for an hour is not one event), become one, dated by the first.
std::vector<Finding> MergeCommonMode(std::vector<Finding> findings, const ScanOptions& options) {
  std::map<std::tuple<std::string, std::string, Direction>, std::vector<size_t>> by_signal;
  for (size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    if (f.stat != Stat::kMean) continue;
    by_signal[{f.signal, f.dimension, f.anomaly.direction}].push_back(i);
  }
  std::vector<std::vector<size_t>> groups;
  for (auto& [key, members] : by_signal) {
    std::stable_sort(members.begin(), members.end(), [&](size_t a, size_t b) {
      return findings[a].onset_ns < findings[b].onset_ns;
    });
    for (size_t m = 0; m < members.size(); ++m) {
      if (m == 0 || findings[members[m]].onset_ns - findings[groups.back().front()].onset_ns >
                        options.common_mode_window_ns) {
        groups.emplace_back();
      }
      groups.back().push_back(members[m]);
    }
  }
  return FoldGroups(std::move(findings), std::move(groups), options.common_mode_min_services,
                    [](Finding& head, const Finding& other) {
                      if (head.services.empty()) head.services.push_back(head.service);
                      head.services.push_back(other.service);
                      head.onset_ns = std::min(head.onset_ns, other.onset_ns);
                    });
}

// Findings of one service with the same onset and direction become one:
// the strongest, with the others in `related`.
std::vector<Finding> MergeSameOnset(std::vector<Finding> findings) {
  std::map<std::tuple<std::string, Direction, int64_t>, std::vector<size_t>> by_onset;
  for (size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    if (!f.services.empty()) continue;  // common-mode findings stand alone
    by_onset[{f.service, f.anomaly.direction, f.onset_ns}].push_back(i);
  }
  std::vector<std::vector<size_t>> groups;
  for (auto& [key, members] : by_onset) groups.push_back(std::move(members));
  return FoldGroups(std::move(findings), std::move(groups), 2,
                    [](Finding& head, const Finding& other) {
                      head.related.push_back(RelatedSignal{other.signal, other.dimension,
                                                           other.anomaly.strength, other.family,
                                                           other.kind, other.template_id});
                    },
                    // A line never seen before that says what it is (a new
                    // exception, an eviction, a deploy) heads what changed
                    // with it. A service's line count is the sum of its
                    // parts: when it moves with one of them (its errors, a
                    // template), the part says what happened, not "more
                    // traffic".
                    [](const Finding& f) { return f.first_seen ? 2 : f.signal != "records" ? 1 : 0; });
}

}  // namespace

const char* StatName(Stat stat) {
  switch (stat) {
    case Stat::kCount: return "count";
    case Stat::kP95: return "p95_ms";
    case Stat::kP50: return "p50_ms";
    case Stat::kMean: return "mean";
  }
  return "count";
}

Result<std::vector<DenseSeries>> LoadDenseSeries(storage::Reader* reader, int64_t since_ns,
                                                 int64_t until_ns, int64_t bucket_ns,
                                                 const SeriesFilter& filter) {
  if (bucket_ns <= 0 || until_ns <= since_ns) return std::vector<DenseSeries>{};
  const auto n = static_cast<size_t>((until_ns - since_ns + bucket_ns - 1) / bucket_ns);
  // Service, then "signal\0dimension": one string hash per entry (this loop
  // runs for every entry of every bucket; a map of string tuples was most
  // of a fleet-wide scan's time).
  std::unordered_map<std::string, std::unordered_map<std::string, size_t>> index;
  std::vector<DenseSeries> out;
  std::string key;
  FL_RETURN_IF_ERROR(reader->ReadSeries(
      since_ns, until_ns, filter.services, [&](storage::ServiceBucket&& bucket) {
        if (bucket.start_ns < since_ns) return true;
        const auto slot = static_cast<size_t>((bucket.start_ns - since_ns) / bucket_ns);
        if (slot >= n) return true;
        std::unordered_map<std::string, size_t>& of_service = index[bucket.service];
        for (storage::SeriesEntry& e : bucket.entries) {
          if (!SignalWanted(filter.signals, e.signal) ||
              !DimensionWanted(filter.dimension, e.dimension)) {
            continue;
          }
          key.assign(e.signal);
          key.push_back('\0');
          key.append(e.dimension);
          auto [it, inserted] = of_service.try_emplace(key, out.size());
          if (inserted) {
            DenseSeries& s = out.emplace_back();
            s.service = bucket.service;
            s.signal = e.signal;
            s.dimension = e.dimension;
            s.stat = StatOf(e.signal, e.point);
            s.values.assign(n, s.stat == Stat::kCount ? 0.0 : NAN);
          }
          DenseSeries& s = out[it->second];
          // A bucket wider than the scan's (a store written with another
          // [signals] bucket) adds into its slot.
          const double v = ValueOf(e.point, s.stat);
          s.values[slot] = s.stat == Stat::kCount ? s.values[slot] + v : v;
        }
        return true;
      }));
  // A bucket in which no service at all has records of a kind is a gap in
  // the data (ingest saw nothing), not a quiet fleet: count series of that
  // kind get no data there rather than 0, so the detectors neither see a
  // drop when the gap starts nor a surge when data resumes.
  std::vector<char> has_logs(n, 0), has_spans(n, 0);
  for (const DenseSeries& s : out) {
    std::vector<char>* coverage =
        s.signal == "records" ? &has_logs : s.signal == "span.calls" ? &has_spans : nullptr;
    if (coverage == nullptr || !s.dimension.empty()) continue;
    for (size_t i = 0; i < n; ++i) {
      if (s.values[i] > 0) (*coverage)[i] = 1;
    }
  }
  const bool logs_seen = std::find(has_logs.begin(), has_logs.end(), 1) != has_logs.end();
  const bool spans_seen = std::find(has_spans.begin(), has_spans.end(), 1) != has_spans.end();
  for (DenseSeries& s : out) {
    if (s.stat != Stat::kCount) continue;
    const EdgeSignalNames& span_edge = kEdgeSignals[0];
    const bool span_signal = s.signal.starts_with("span.") || s.signal == span_edge.calls ||
                             s.signal == span_edge.errors;
    const std::vector<char>& coverage = span_signal ? has_spans : has_logs;
    if (!(span_signal ? spans_seen : logs_seen)) continue;  // filtered out: no coverage known
    for (size_t i = 0; i < n; ++i) {
      if (!coverage[i]) s.values[i] = NAN;
    }
  }
  std::sort(out.begin(), out.end(), [](const DenseSeries& a, const DenseSeries& b) {
    return std::tie(a.service, a.signal, a.dimension) < std::tie(b.service, b.signal, b.dimension);
  });
  return out;
}

// ScanOptions::template_events over the window's template series (before
// sparse ones are dropped: one line is enough here).
std::vector<Finding> TemplateEvents(
    const std::vector<DenseSeries>& series,
    const std::unordered_map<uint64_t, const storage::StoredTemplate*>& templates,
    const std::vector<storage::StoredTemplate>& stored, int64_t read_from, int64_t since_ns,
    int64_t until_ns, int64_t bucket_ns, const SignalClassifier& classifier,
    const ScanOptions& options) {
  const size_t baseline = options.detector.baseline_buckets;
  const int64_t history_ns = static_cast<int64_t>(baseline) * bucket_ns;
  // When each service started logging, as far as its templates tell: a
  // template is only news on a service that was logging before it.
  std::unordered_map<std::string_view, int64_t> service_start;
  for (const storage::StoredTemplate& t : stored) {
    auto [it, fresh] = service_start.try_emplace(t.service, t.first_seen_ns);
    if (!fresh) it->second = std::min(it->second, t.first_seen_ns);
  }
  std::vector<Finding> out;
  for (const DenseSeries& s : series) {
    const uint64_t id = ParseTemplateId(s.signal);
    if (id == 0 || !s.dimension.empty()) continue;
    const auto found = templates.find(id);
    if (found == templates.end()) continue;
    const storage::StoredTemplate& t = *found->second;
    // By its text alone: a new line of unknown meaning is mining churn.
    const Classification c = classifier.Classify("", t.text, 1);
    if (c.family == Family::kUnknown) continue;
    auto event = [&](size_t slot, bool first_seen) {
      Finding& f = out.emplace_back();
      f.service = s.service;
      f.signal = s.signal;
      f.stat = Stat::kCount;
      f.anomaly.direction = Direction::kUp;
      f.anomaly.onset = f.anomaly.peak = slot;
      f.anomaly.end = slot + 1;
      f.anomaly.baseline = 0;
      f.anomaly.peak_value = s.values[slot];
      // Lines from the onset to the end of the window: a one-off weighs
      // less than a line that keeps coming.
      double lines = 0;
      for (size_t j = slot; j < s.values.size(); ++j) {
        if (!std::isnan(s.values[j])) lines += s.values[j];
      }
      f.anomaly.strength = lines;
      f.onset_ns = f.peak_ns = read_from + static_cast<int64_t>(slot) * bucket_ns;
      f.end_ns = f.onset_ns + bucket_ns;
      f.family = c.family;
      f.kind = c.kind;
      f.template_id = id;
      f.template_text = t.text;
      f.example = t.example;
      f.first_seen = first_seen;
    };
    const bool is_change = c.kind == "deploy" || c.kind == "config_change";
    const auto start = service_start.find(t.service);
    const bool new_here = t.first_seen_ns >= since_ns && t.first_seen_ns < until_ns &&
                          start != service_start.end() &&
                          start->second <= t.first_seen_ns - history_ns;
    if (new_here) {
      const auto slot = static_cast<size_t>((t.first_seen_ns - read_from) / bucket_ns);
      if (slot < s.values.size()) event(slot, true);
      continue;
    }
    if (!is_change) continue;
    // A deploy or config line after a baseline of buckets without it.
    size_t quiet = 0;
    for (size_t i = 0; i < s.values.size(); ++i) {
      if (std::isnan(s.values[i])) continue;
      const int64_t at = read_from + static_cast<int64_t>(i) * bucket_ns;
      if (s.values[i] > 0 && quiet >= baseline && at >= since_ns) event(i, false);
      quiet = s.values[i] > 0 ? 0 : quiet + 1;
    }
  }
  return out;
}

Result<std::vector<Finding>> FindAnomalies(storage::Reader* reader, int64_t since_ns,
                                           int64_t until_ns, int64_t bucket_ns,
                                           const SignalClassifier& classifier,
                                           const ScanOptions& options) {
  // Read the baseline history before the window too: a change at the
  // window's start is judged against what came before it.
  const int64_t history_ns =
      options.history_ns > 0
          ? options.history_ns
          : static_cast<int64_t>(options.detector.baseline_buckets) * bucket_ns;
  const int64_t read_from = since_ns - history_ns;
  SeriesFilter filter = options.filter;
  // Every signal by default, but trace-id call edges: they are sampled lower
  // bounds, topology evidence only (correlate/topology.h trace_sample).
  const bool every_signal = filter.signals.empty();
  if (every_signal) filter.signals = {"*"};
  FL_ASSIGN_OR_RETURN(std::vector<DenseSeries> series,
                      LoadDenseSeries(reader, read_from, until_ns, bucket_ns, filter));
  // The bucket the data ends in is only partly written (a batch of files
  // ends mid-bucket; a stream's newest seconds): its counts would read as a
  // drop of every service at once. Count series know nothing there yet.
  if (Result<storage::Reader::EventTimeRange> range = reader->TimeRange();
      range.ok() && range->records) {
    const int64_t data_end = std::min(until_ns, range->max_ts_ns + 1);
    if (data_end > read_from && (data_end - read_from) % bucket_ns != 0) {
      const auto partial = static_cast<size_t>((data_end - read_from) / bucket_ns);
      for (DenseSeries& s : series) {
        if (s.stat != Stat::kCount) continue;
        for (size_t i = partial; i < s.values.size(); ++i) s.values[i] = NAN;
      }
    }
  }
  std::unordered_map<uint64_t, const storage::StoredTemplate*> templates;
  std::vector<storage::StoredTemplate> stored;
  bool templates_loaded = false;
  auto load_templates = [&]() -> Status {
    if (templates_loaded) return Status::Ok();
    FL_ASSIGN_OR_RETURN(stored, reader->Templates());
    for (const storage::StoredTemplate& t : stored) templates[t.id] = &t;
    templates_loaded = true;
    return Status::Ok();
  };
  std::vector<Finding> events;
  if (options.template_events) {
    FL_RETURN_IF_ERROR(load_templates());
    events = TemplateEvents(series, templates, stored, read_from, since_ns, until_ns, bucket_ns,
                            classifier, options);
  }
  // Sparse template series say nothing to the detectors; drop them first.
  std::erase_if(series, [&](const DenseSeries& s) {
    const EdgeSignalNames& trace = kEdgeSignals[2];
    if (every_signal && (s.signal == trace.calls || s.signal == trace.errors)) return true;
    if (s.signal.rfind("template:", 0) != 0) return false;
    double lines = 0;
    for (double v : s.values) lines += v;
    return lines < static_cast<double>(options.min_template_lines);
  });

  std::vector<std::vector<Anomaly>> detected(series.size());
  tbb::parallel_for(size_t{0}, series.size(), [&](size_t i) {
    const DenseSeries& s = series[i];
    if (s.stat == Stat::kCount) {
      detected[i] = Detect(s.values, SeriesKind::kCount, options.detector);
      return;
    }
    detected[i] = DetectGauge(s.values, options.detector);
  });

  std::vector<Finding> out;
  for (size_t i = 0; i < series.size(); ++i) {
    const DenseSeries& s = series[i];
    for (const Anomaly& a : detected[i]) {
      const int64_t onset_ns = read_from + static_cast<int64_t>(a.onset) * bucket_ns;
      if (onset_ns < since_ns || onset_ns >= until_ns) continue;
      Finding f;
      f.service = s.service;
      f.signal = s.signal;
      f.dimension = s.dimension;
      f.stat = s.stat;
      f.anomaly = a;
      f.onset_ns = onset_ns;
      f.peak_ns = read_from + static_cast<int64_t>(a.peak) * bucket_ns;
      f.ongoing = a.end >= s.values.size();
      f.end_ns = read_from + static_cast<int64_t>(a.end) * bucket_ns;
      f.template_id = ParseTemplateId(s.signal);
      if (f.template_id != 0) {
        FL_RETURN_IF_ERROR(load_templates());
        if (auto it = templates.find(f.template_id); it != templates.end()) {
          f.template_text = it->second->text;
          f.example = it->second->example;
        }
      }
      const int direction = a.direction == Direction::kUp ? 1 : -1;
      const Classification c = classifier.Classify(s.signal, f.template_text, direction);
      f.family = c.family;
      f.kind = c.kind;
      out.push_back(std::move(f));
    }
  }
  // A template event the detectors also found is one finding, marked.
  for (Finding& event : events) {
    auto same = std::find_if(out.begin(), out.end(), [&](const Finding& f) {
      return f.service == event.service && f.signal == event.signal && f.onset_ns == event.onset_ns;
    });
    if (same == out.end()) {
      out.push_back(std::move(event));
    } else {
      same->first_seen = event.first_seen;
      same->family = event.family;
      same->kind = event.kind;
    }
  }
  if (options.common_mode_min_services > 0) out = MergeCommonMode(std::move(out), options);
  if (options.merge_same_onset) out = MergeSameOnset(std::move(out));
  std::sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    if (a.onset_ns != b.onset_ns) return a.onset_ns < b.onset_ns;
    if (a.anomaly.strength != b.anomaly.strength) return a.anomaly.strength > b.anomaly.strength;
    return std::tie(a.service, a.signal, a.dimension) < std::tie(b.service, b.signal, b.dimension);
  });
  return out;
}

std::string FindingJson(const Finding& f) {
  auto number = [](double v) {
    if (!std::isfinite(v)) return std::string("null");
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6g", v);
    return std::string(buf);
  };
  std::string out = "{\"service\":";
  AppendJsonString(&out, f.service);
  out += ",\"signal\":";
  AppendJsonString(&out, f.signal);
  out += ",\"dimension\":";
  AppendJsonString(&out, f.dimension);
  out += ",\"family\":\"" + std::string(FamilyName(f.family)) + "\",\"kind\":";
  AppendJsonString(&out, f.kind);
  out += ",\"direction\":\"" + std::string(f.anomaly.direction == Direction::kUp ? "up" : "down") +
         "\",\"onset\":\"" + FormatRfc3339(f.onset_ns, 0) + "\",\"peak\":\"" +
         FormatRfc3339(f.peak_ns, 0) + "\",\"end\":";
  out += f.ongoing ? "null" : "\"" + FormatRfc3339(f.end_ns, 0) + "\"";
  if (!f.services.empty()) {
    out += ",\"services\":[";
    for (size_t i = 0; i < f.services.size(); ++i) {
      if (i > 0) out += ',';
      AppendJsonString(&out, f.services[i]);
    }
    out += ']';
  }
  if (f.first_seen) out += ",\"first_seen\":true";
  out += ",\"strength\":" + number(f.anomaly.strength) + ",\"stat\":\"" + StatName(f.stat) +
         "\",\"baseline\":" + number(f.anomaly.baseline) +
         ",\"peak_value\":" + number(f.anomaly.peak_value) +
         ",\"drop_to_zero\":" + (f.anomaly.drop_to_zero ? "true" : "false") + ",\"evidence\":{";
  if (f.template_id != 0) {
    char id[24];
    std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(f.template_id));
    out += "\"template_id\":\"" + std::string(id) + "\",\"template\":";
    AppendJsonString(&out, f.template_text);
    out += ",\"example\":";
    AppendJsonString(&out, f.example);
  }
  out += '}';
  if (!f.related.empty()) {
    out += ",\"related\":[";
    for (size_t i = 0; i < f.related.size(); ++i) {
      const RelatedSignal& r = f.related[i];
      out += i > 0 ? ",{\"signal\":" : "{\"signal\":";
      AppendJsonString(&out, r.signal);
      out += ",\"dimension\":";
      AppendJsonString(&out, r.dimension);
      out += ",\"family\":\"" + std::string(FamilyName(r.family)) + "\",\"kind\":";
      AppendJsonString(&out, r.kind);
      out += ",\"strength\":" + number(r.strength) + '}';
    }
    out += ']';
  }
  out += '}';
  return out;
}

}  // namespace faultline::correlate
