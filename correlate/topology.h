// Service topology: which service calls which, built from the records themselves.
//
// Root-cause ranking walks the call graph: errors travel from a callee to its
// callers, demand from a caller to its callees. TopologyBuilder derives that
// graph from four kinds of evidence, strongest first:
//
//   1. spans (EdgeSource::kSpan): a span whose parent span belongs to another
//      service is one call parent-service -> child-service. Parent and child
//      may arrive in either order, in any batch.
//   2. peer fields (kField): a record of service S with an attribute named in
//      TopologyOptions::peer_keys (`peer.service`, `upstream`, ...) whose value
//      is P is one call S -> P.
//   3. trace ids on logs (kTrace): within one trace, the service whose first
//      record is earliest is taken as upstream of every other service that
//      logged in that trace. Weak evidence: clocks skew and the first logger is
//      not always the caller, so see "How evidence combines" below.
//   4. config (kConfig): edges declared by the operator; they appear even when
//      no traffic was seen (with zero calls).
//
// How evidence combines into one Edge per (caller, callee) pair:
//   - Span and peer-field evidence: `sources` has the bit of each that saw
//     the pair; the counts (calls, errors, durations, first/last seen) come
//     from spans when any span saw the pair, else from peer fields. They are
//     never summed across sources, because a client span carrying
//     `peer.service` and the server span below it describe the same call. So
//     the mean latency is always total_duration_ns / calls of spans alone.
//   - Config adds its bit; a config edge that nothing else saw has zero calls.
//   - Trace evidence is used only for pairs that span, field and config edges
//     do not connect at all: not directly, and not by a path in either
//     direction. In a chain A -> B -> C the logs of one trace make A look
//     upstream of C as well, and clock skew can make a callee log first; both
//     are explained by the calls we did see. Such pairs are dropped entirely
//     (no kTrace bit either) and counted in TopologyCounters::
//     trace_pairs_explained. So an edge with kTrace has no other bit.
//   - For a trace edge, `calls` is the number of traces that implied it (a
//     lower bound: at least one call per trace; this is what makes it weigh
//     less than span evidence), `errors` the number of those traces in which
//     the callee logged at error or worse, and first/last seen the callee's
//     first record time in those traces.
//
// Memory is bounded: spans waiting for their parent, spans remembered as
// possible parents, and open traces are each kept for TopologyOptions::
// horizon_ns of event time (relative to the newest record time seen) and
// capped at max_pending entries per buffer; what is dropped is counted.
//
// Determinism: the edges depend only on the set of records, not on their
// order or batching, as long as records that belong together (a parent and
// its children; the records of one trace) arrive within the horizon of each
// other and no cap is hit.
//
// Callers: the correlate engine and `faultline topology`. Thread-safety: a
// TopologyBuilder is not thread-safe; build one per partition or thread and
// combine them with Merge().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/record.h"
#include "core/status.h"
#include "storage/reader.h"

namespace faultline::correlate {

// Bit flags: an Edge's `sources` is an OR of these values.
enum class EdgeSource : uint8_t { kSpan = 1, kTrace = 2, kField = 4, kConfig = 8 };

// True when `sources` (an Edge's bit set) contains `source`.
inline bool HasSource(uint8_t sources, EdgeSource source) {
  return (sources & static_cast<uint8_t>(source)) != 0;
}

// One directed edge of the service graph: `caller` calls `callee`.
struct Edge {
  std::string caller;
  std::string callee;
  uint64_t calls = 0;             // see "How evidence combines" above
  uint64_t errors = 0;            // calls that failed (span error flag,
                                  // error-level peer record, ...)
  // Spans only: the latency of the call as the caller saw it, which is the
  // duration of the parent span (the caller's client span around the call in
  // OpenTelemetry-style instrumentation, so network time is included; where
  // the caller has no client spans, its whole operation). A network delay at
  // the callee shows here and not in the callee's own spans.
  int64_t total_duration_ns = 0;  // sum over calls
  int64_t max_duration_ns = 0;
  int64_t first_seen_ns = 0;      // event time of the first / last call;
  int64_t last_seen_ns = 0;       // 0 for config-only edges
  uint8_t sources = 0;            // EdgeSource bits

  bool operator==(const Edge&) const = default;
};

// Mean call latency of a span edge: total_duration_ns / calls, or 0 when
// there are no calls.
int64_t MeanDurationNs(const Edge& edge);

// The dimension of the call-edge rollups: "caller=<service>".
inline constexpr std::string_view kCallerDimension = "caller=";

// The rollup signals a call edge is stored as (correlate/rollup.h
// RollupCalls writes them; LoadStoredEdges and the anomaly scan read them):
// calls and errors per source, and for spans the caller-side latency.
struct EdgeSignalNames {
  EdgeSource source;
  std::string_view calls, errors;
};
inline constexpr std::array<EdgeSignalNames, 3> kEdgeSignals = {{
    {EdgeSource::kSpan, "edge.calls", "edge.errors"},
    {EdgeSource::kField, "edge.peer_calls", "edge.peer_errors"},
    {EdgeSource::kTrace, "edge.trace_calls", "edge.trace_errors"},
}};
inline constexpr std::string_view kEdgeLatency = "edge.latency";
// Spans only: the part of a call spent outside the callee's own span (the
// caller's client span minus the callee's server span): the network both
// ways, connection pools, the callee's accept queue, a CPU-starved end
// waiting to run. Normally a few milliseconds whatever the callee does, so a
// network delay or a starved pod stands out here where the whole call's
// latency, which carries the callee's work, hides it.
inline constexpr std::string_view kEdgeGap = "edge.gap";

// One call as the builder resolved it, for rollups at ingest
// (TopologyOptions::record_calls; correlate/rollup.h RollupCalls): a span
// matched to its parent in another service, a peer-field record, or a trace
// pair when its trace is resolved. The rollups keep them per callee and
// caller per time bucket, which is how the topology is stored as data arrives.
struct Call {
  std::string caller;
  std::string callee;
  int64_t ts_ns = 0;       // the child span's (or record's) event time
  int64_t latency_ns = 0;  // spans: the parent span's duration (see Edge); else 0
  int64_t gap_ns = 0;      // spans: latency_ns minus the child span's duration, >= 0
  bool error = false;
  EdgeSource source = EdgeSource::kSpan;
  // Calls this one stands for: TopologyOptions::trace_sample for a trace
  // pair (its trace was sampled), else 1.
  uint32_t weight = 1;
};

struct TopologyOptions {
  // How long, in event time, a span waits for its parent (or is remembered as
  // a possible parent) and how long a trace stays open for more records. An
  // entry expires when the newest record time seen passes its end time (span:
  // ts + duration; trace: its latest record) by more than this. Five minutes
  // covers the spread between a child's and its parent's arrival in normal
  // exporters (children finish and are flushed first) with a wide margin.
  int64_t horizon_ns = int64_t{5} * 60 * 1'000'000'000;
  // Cap on each of the three buffers (spans remembered as parents, spans
  // waiting for a parent, open traces). On overflow the entry that would
  // expire first goes (for traces, the one opened first; a trace is
  // resolved early rather than dropped). An
  // entry costs about 250 bytes, so the default bounds a buffer near 250 MB:
  // far above a normal horizon's worth, so that a burst costs some unmatched
  // spans rather than the process.
  size_t max_pending = size_t{1} << 20;
  // Attribute keys whose value names the service a record's service calls.
  // The common OpenTelemetry, proxy and ad-hoc spellings.
  std::vector<std::string> peer_keys = {"peer.service",   "upstream",     "upstream_service",
                                        "target",         "downstream",   "callee",
                                        "server.address", "net.peer.name"};
  // Keep every resolved call for TakeCalls() (ingest does, to store them as
  // rollups); off, only the aggregated edges are kept.
  bool record_calls = false;
  // Trace evidence from 1 trace in this many, chosen by a hash of the trace
  // id (so the same traces on every service, in any batching), each counted
  // this many times. Every log line with a trace id would otherwise pass
  // through the open-trace table in ingest's serial stage; trace evidence is
  // the weakest kind and a lower bound anyway. Ingest uses 8; 1 keeps all.
  uint32_t trace_sample = 1;

  // InvalidArgument when horizon_ns <= 0, max_pending == 0, trace_sample
  // == 0 or a peer key is empty.
  Status Validate() const;
};

struct TopologyCounters {
  uint64_t spans = 0;                  // spans fed to AddSpan
  uint64_t root_spans = 0;             // spans without a parent id
  uint64_t matched = 0;                // spans whose parent span was found
  uint64_t same_service = 0;           // of those, parent in the same service
                                       // (no edge)
  uint64_t unmatched_evicted = 0;      // spans dropped while waiting for their
                                       // parent (horizon or cap)
  uint64_t duplicate_spans = 0;        // span ids seen again in the same trace;
                                       // the first one is kept
  uint64_t pending_spans = 0;          // spans waiting for their parent now
  uint64_t buffered_spans = 0;         // spans remembered as possible parents now
  uint64_t cap_evictions = 0;          // entries dropped (or traces resolved
                                       // early) because a buffer hit max_pending
  uint64_t trace_records = 0;          // records fed to AddTraceRecord
  uint64_t traces = 0;                 // traces resolved
  uint64_t open_traces = 0;            // traces still collecting records
  uint64_t trace_pairs_explained = 0;  // trace-derived pairs the last Edges()
                                       // dropped (connected by stronger edges)
  uint64_t peer_records = 0;           // calls counted from peer fields
  uint64_t config_edges = 0;           // AddConfigEdge calls accepted
  uint64_t ignored = 0;                // inputs that cannot form an edge: empty
                                       // service or peer, peer or config edge to
                                       // itself
};

// Builds the service graph incrementally.
//
// Lifecycle: construct, feed records with the Add* methods in any order, call
// Edges() whenever a view of the graph is wanted (with flush = true at the end
// of input). The builder copies what it keeps; no argument needs to outlive a
// call. Not thread-safe; not copyable (it can be large), but movable.
class TopologyBuilder {
 public:
  // REQUIRES: options.Validate() is OK (out-of-range values are clamped).
  explicit TopologyBuilder(TopologyOptions options = {});
  ~TopologyBuilder();
  TopologyBuilder(TopologyBuilder&&) noexcept;
  TopologyBuilder& operator=(TopologyBuilder&&) noexcept;
  TopologyBuilder(const TopologyBuilder&) = delete;
  TopologyBuilder& operator=(const TopologyBuilder&) = delete;

  // One span. Span ids are looked up within their trace (`trace_id` may be
  // empty, then within the spans without a trace). `parent_span_id` empty
  // marks a root span. The call's event time is the child's ts_ns; a negative
  // duration counts as 0.
  void AddSpan(std::string_view service, std::string_view trace_id, std::string_view span_id,
               std::string_view parent_span_id, int64_t ts_ns, int64_t duration_ns, bool error);
  // One log (or other non-span) record that carries a trace id. `error`:
  // the record is at error level or worse.
  void AddTraceRecord(std::string_view service, std::string_view trace_id, int64_t ts_ns,
                      bool error = false);
  // One record of `service` naming `peer` as the service it calls. `error`:
  // the record reports a failure (error level or worse).
  void AddPeer(std::string_view service, std::string_view peer, int64_t ts_ns, bool error = false);
  // An operator-declared edge.
  void AddConfigEdge(std::string_view caller, std::string_view callee);

  // Feeds every row of `batch` by kind:
  //   - spans -> AddSpan, with error = true when the row's level is error or
  //     worse, or an attribute says so: `error` = true/1; `status`,
  //     `status_code` or `otel.status_code` = ERROR (any case) or 2 or an
  //     HTTP code >= 500; `http.status_code` / `http.response.status_code`
  //     >= 500;
  //   - logs with a trace id -> AddTraceRecord (error: level >= kError);
  //   - any row with attributes named in peer_keys -> AddPeer, once per
  //     distinct value per row (error as above for spans and logs; never for
  //     metrics: a sample is not a failed call).
  void AddBatch(const RecordBatch& batch);
  // The same rules for the owning type.
  void AddRecord(const Record& record);

  // Resolves the traces whose horizon has passed, or every open trace when
  // `flush` (meant for the end of input: records of a flushed trace that
  // arrive later start a new trace), and returns every edge sorted by
  // (caller, callee). Spans still waiting for their parent stay buffered.
  std::vector<Edge> Edges(bool flush = true);

  // Adds edges returned by another builder's Edges() (one partition each),
  // summing counts. Edges() of the merged builder equals Edges() of one
  // builder fed every partition, given each partition resolved its spans and
  // traces (flush) and no span or trace straddles two partitions.
  void Merge(const std::vector<Edge>& edges);

  TopologyCounters counters() const;

  // The calls resolved since the last call (record_calls on; else empty), in
  // the order they were resolved.
  std::vector<Call> TakeCalls();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Renders edges as a Graphviz digraph, one `"caller" -> "callee"` line per
// edge labelled with its calls, errors and mean latency. Trace-only edges are
// dashed, config-only edges dotted, edges with errors red. Used by
// `faultline topology --output dot`.
std::string ToDot(const std::vector<Edge>& edges);

// The topology as stored at ingest: the edge.* rollups (correlate/rollup.h
// RollupCalls) of buckets starting in [since_ns, until_ns), combined by the
// rules above (span counts win over peer-field counts; trace-only pairs
// that the others explain are dropped), plus `config_edges`. Times are to
// the bucket (first_seen/last_seen are bucket starts) and latencies to the
// histogram's 1%.
Result<std::vector<Edge>> LoadStoredEdges(
    storage::Reader* reader, int64_t since_ns, int64_t until_ns,
    const std::vector<std::pair<std::string, std::string>>& config_edges = {});

}  // namespace faultline::correlate
