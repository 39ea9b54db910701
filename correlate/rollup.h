// Rollups at ingest: turns a batch's records into per-service, per-bucket
// series (storage/series.h) that the store merges exactly-once with the
// records. Runs in the parallel encode stage, one batch per call.
//
// Signals (names are stable; docs/signals.md lists them):
//   records, errors (level >= ERROR), warnings (WARN)
//   http.requests, http.4xx, http.5xx, http.429   from a status attribute
//   latency         histogram, ms, from a latency attribute of a log record
//   span.calls, span.errors, span.latency (histogram, ms)   from spans
//   template:<16 hex digits>   lines per log template
//   metric:<name>   gauge samples (count, sum, min, max, last)
// Call edges (RollupCalls), kept on the callee with dimension caller=<svc>:
//   edge.calls, edge.errors, edge.latency (histogram, ms, as the caller saw
//   the call: correlate/topology.h Edge), edge.gap (histogram, ms, the
//   call's time outside the callee's span: kEdgeGap)   from spans
//   edge.peer_calls, edge.peer_errors        from peer/upstream fields
//   edge.trace_calls, edge.trace_errors      from shared trace ids
// Each of records, errors, http.5xx, http.429 and span.errors is also kept
// per dimension where the record carries one: host=<v>, region=<v>,
// endpoint=<v>; latency and span.latency per region and endpoint only
// (a histogram per host per bucket cost more than all the rest).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/record.h"
#include "correlate/topology.h"
#include "storage/series.h"

namespace faultline::correlate {

struct RollupOptions {
  int64_t bucket_ns = 10'000'000'000;  // 10 s
  // Attribute keys (as flattened by the parser, e.g. "http.status_code").
  std::vector<std::string> status_keys = {"status", "status_code", "http.status_code",
                                          "http.response.status_code", "response_code",
                                          "http_status"};
  // Latency keys by unit; a bare "latency"/"duration"/"response_time" is
  // taken as milliseconds.
  std::vector<std::string> latency_ms_keys = {"latency_ms",  "duration_ms", "response_time_ms",
                                              "elapsed_ms",  "took_ms",     "latency",
                                              "duration",    "response_time", "request_time_ms"};
  std::vector<std::string> latency_us_keys = {"latency_us", "duration_us", "elapsed_us"};
  std::vector<std::string> latency_s_keys = {"latency_s", "duration_s", "request_time",
                                             "latency_seconds", "duration_seconds"};
  std::vector<std::string> host_keys = {"host", "hostname", "host.name", "pod", "k8s.pod.name",
                                        "instance"};
  std::vector<std::string> region_keys = {"region", "cloud.region", "zone",
                                          "cloud.availability_zone", "availability_zone", "dc"};
  std::vector<std::string> endpoint_keys = {"endpoint", "route", "http.route", "path",
                                            "url.path", "http.target", "operation"};
  // Distinct values of one dimension key per service per batch beyond this
  // are folded into "<key>=_other" (a flood of distinct hosts must not
  // explode the series).
  size_t max_dimension_values = 1000;
};

struct RollupCounters {
  uint64_t rows = 0;
  uint64_t dimension_overflow = 0;  // values folded into _other
};

// The batch's rollups, one ServiceBucket per (service, bucket) with entries
// sorted. Pure apart from `counters`; thread-safe for distinct outputs.
std::vector<storage::ServiceBucket> Rollup(const RecordBatch& batch, const RollupOptions& options,
                                           RollupCounters* counters = nullptr);

// The rollups of resolved calls (TopologyBuilder::TakeCalls), one
// ServiceBucket per (callee, bucket), entries sorted. The store merges them
// like Rollup's, so they may share keys with a batch's Rollup output.
std::vector<storage::ServiceBucket> RollupCalls(const std::vector<Call>& calls,
                                                const RollupOptions& options);

// "template:0011223344556677"
std::string TemplateSignal(uint64_t template_id);

}  // namespace faultline::correlate
