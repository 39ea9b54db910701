// Trace blame: error lines attributed, through their traces, to the
// services the failing request went through.
//
// A service that fails without logging anything (a wrong return value, an
// exception it does not log) shows only in its callers' error lines. When
// logs carry trace and span ids, each error line can be followed into its
// trace: the spans below the span that logged the error are the calls the
// failing operation made, and the services they reached are where the error
// may have come from. Each error line blames those services equally (its own
// service when its span called no other). Counted over a window and compared
// with the same count over a baseline before it, a service blamed much more
// than usual is a finding: signal `trace.errors`, strength the excess in
// standard deviations (Poisson), onset the bucket of its first blamed line.
//
// Reads the store: the error lines of the window and the baseline, then the
// spans of their traces. Deterministic for the same stored records.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "correlate/scan.h"
#include "storage/reader.h"

namespace faultline::correlate {

inline constexpr std::string_view kTraceErrors = "trace.errors";

struct BlameOptions {
  // How much before the window the usual rate of blame is taken from.
  int64_t baseline_ns = int64_t{30} * 60 * 1'000'000'000;
  // Excess, in Poisson standard deviations, for a finding.
  double min_strength = 2.0;
  // Error lines read at most (window and baseline together); past it the
  // newest are dropped and the result says so in `truncated`.
  size_t max_error_lines = 50'000;
  // A span may start this long before the error line's window (a long
  // request logging its error at the end).
  int64_t span_slack_ns = int64_t{60} * 1'000'000'000;
};

struct BlameResult {
  std::vector<Finding> findings;  // by strength, strongest first
  size_t error_lines = 0;         // with a trace id, window and baseline
  size_t traced = 0;              // of those, whose trace had spans
  bool truncated = false;
};

// Findings for changes of blame with onsets in [since_ns, until_ns).
Result<BlameResult> TraceBlame(storage::Reader* reader, int64_t since_ns, int64_t until_ns,
                               int64_t bucket_ns, const BlameOptions& options = {});

}  // namespace faultline::correlate
