// The anomaly scan: reads a window's rollups (plus the baseline history
// before it) as dense per-bucket series, runs the detectors over every
// series in parallel (oneTBB), and turns detections whose onset falls in the
// window into findings with their family, kind and evidence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "correlate/detect.h"
#include "correlate/families.h"
#include "storage/reader.h"

namespace faultline::correlate {

// What a bucket's point is read as. Latency histograms by their p95 (the
// tail is what users feel), except edge.gap by its median: a network delay
// or a starved pod moves every call, while the odd retransmitted packet
// (a 200 ms timeout on one call in ten) is the tail of a healthy edge.
enum class Stat : uint8_t { kCount, kP95, kMean, kP50 };
const char* StatName(Stat stat);  // "count", "p95_ms", "mean", "p50_ms"

struct DenseSeries {
  std::string service, signal, dimension;
  Stat stat = Stat::kCount;
  std::vector<double> values;  // one per bucket; NaN: no data (gauges)
};

struct SeriesFilter {
  std::vector<std::string> services;  // empty: all
  // Exact names or prefixes ending in '*'; empty: every signal but
  // per-template ones.
  std::vector<std::string> signals;
  // "" whole services only; "host", "region", "endpoint"; "all": both.
  std::string dimension;
};

// Buckets [since_ns, until_ns) of width bucket_ns (since_ns aligned).
Result<std::vector<DenseSeries>> LoadDenseSeries(storage::Reader* reader, int64_t since_ns,
                                                 int64_t until_ns, int64_t bucket_ns,
                                                 const SeriesFilter& filter);

struct ScanOptions {
  DetectorOptions detector;
  SeriesFilter filter;  // signals defaults to every signal, templates included
  // Per-template series with fewer lines than this over baseline and window
  // together are skipped: too sparse to say anything.
  uint64_t min_template_lines = 20;
  // A gauge that changes the same way in the same sample on at least this
  // many services (a fleet-wide deploy or restart, a node metric that every
  // pod on the node reports, a scrape change) is one common-mode finding,
  // not one per service: it names the strongest service and lists them all
  // in Finding::services. 0 turns this off.
  size_t common_mode_min_services = 5;
  // Onsets at most this long after a group's first count as the same
  // moment for common-mode grouping (one scrape interval of most metrics;
  // a restart reaches pods over a minute or so). 0: the same bucket only.
  int64_t common_mode_window_ns = 60'000'000'000;
  // Findings of one service that start in the same bucket in the same
  // direction (a latency p90, p95 and p99 moving together; errors and the
  // templates behind them) are one finding: the strongest, with the others
  // in Finding::related. One change of one service is one thing to look at.
  bool merge_same_onset = true;
  // Template events, found from the stored templates rather than by the
  // detectors (one line is enough): a template first seen in the window on
  // a service that was logging a baseline before it, whose text says what
  // it is (an exception, a failure, a deploy, ...): a new error line; and a
  // deploy or config-change line after a baseline of quiet.
  bool template_events = true;
  // How far before since_ns the baseline may come from. 0: one baseline's
  // worth of buckets (DetectorOptions::baseline_buckets). Data with gaps
  // (a collector down, a batch of files with holes) needs more, or a change
  // right after a gap is judged on too few buckets and not reported: a
  // narrow window must give the verdicts a wide one would.
  int64_t history_ns = 0;
};

// A signal that changed with a finding's own (ScanOptions::merge_same_onset).
struct RelatedSignal {
  std::string signal, dimension;
  double strength = 0;
  Family family = Family::kUnknown;
  std::string kind;
  uint64_t template_id = 0;
};

struct Finding {
  std::string service, signal, dimension;
  Stat stat = Stat::kCount;
  Anomaly anomaly;
  int64_t onset_ns = 0, peak_ns = 0;
  int64_t end_ns = 0;  // one bucket past the last anomalous one; the window end when ongoing
  bool ongoing = false;
  Family family = Family::kUnknown;
  std::string kind;
  uint64_t template_id = 0;  // template signals
  std::string template_text, example;
  // Common-mode findings: every service that changed together, strongest
  // first (`service` is the first). Empty for a single service's change.
  std::vector<std::string> services;
  // Other signals of this service that changed in the same bucket, the same
  // way, strongest first.
  std::vector<RelatedSignal> related;
  // A template event (ScanOptions::template_events): the template was first
  // seen at the onset.
  bool first_seen = false;
};

// Findings with onset in [since_ns, until_ns), by onset then strength.
Result<std::vector<Finding>> FindAnomalies(storage::Reader* reader, int64_t since_ns,
                                           int64_t until_ns, int64_t bucket_ns,
                                           const SignalClassifier& classifier,
                                           const ScanOptions& options);

std::string FindingJson(const Finding& finding);

}  // namespace faultline::correlate
