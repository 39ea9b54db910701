// The incident report as one self-contained HTML page: the page an on-call
// engineer shares in the incident channel. It shows the header (id, onset,
// state, time to detection and recovery, cause), the cascade as an SVG graph
// from root cause to user-facing end, the ranked causes, per-service
// sparklines on one time axis, the impact, the evidence lines, the timeline
// of findings, the status updates and a footer.
//
// The page fetches nothing: CSS and SVG are inline, there is no script, and
// a Content-Security-Policy meta tag forbids any fetch, so it can be mailed,
// attached or archived and opened offline. Every piece of text taken from
// the data (service names, log lines, why-sentences, status summaries) is
// HTML-escaped.
//
// Called by the `report` command (tools/). Pure function of its input;
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "correlate/incident.h"

namespace faultline::tools {

// One per-service signal over the report's time axis, for a sparkline.
struct ReportSeries {
  std::string service;
  std::string label;           // e.g. "errors", "p95 latency ms", "calls"
  std::vector<double> values;  // one per bucket; NaN = no data
};

// One status-page update as shown in the report (correlate::StatusUpdate
// with its state and components already turned into text).
struct StatusUpdateView {
  std::string state;  // "investigating", "identified", ...
  int64_t at_ns = 0;
  std::string components;  // affected services and endpoints, comma-separated
  std::string summary;     // plain language
};

struct ReportInput {
  // Ranked, with lines filled (correlate::CollectEvidenceLines). Not owned;
  // must outlive the ReportHtml call. nullptr renders a page that says so.
  const correlate::Incident* incident = nullptr;
  std::vector<StatusUpdateView> status;  // oldest first
  // Any order; grouped by service, chain services first. Bucket i of every
  // series covers [start_ns + i * bucket_ns, start_ns + (i + 1) * bucket_ns).
  std::vector<ReportSeries> series;
  int64_t start_ns = 0, bucket_ns = 10'000'000'000;  // the series' time axis
  // (caller, callee) among the incident's services: incident services that
  // call or are called by a chain service are drawn faintly in the cascade.
  std::vector<std::pair<std::string, std::string>> edges;
  std::string generated_by;  // e.g. "faultline report" + version; shown in the footer
};

// The whole HTML5 document, starting with "<!DOCTYPE html>". Never fails:
// missing pieces (no causes, no chain, no series, no status) render as a
// short note in their section.
std::string ReportHtml(const ReportInput& input);

}  // namespace faultline::tools
