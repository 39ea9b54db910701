#include "correlate/topology.h"

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "core/record.h"
#include "tests/testutil/test_util.h"

namespace faultline::correlate {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSecond;

constexpr uint8_t kSpanBit = static_cast<uint8_t>(EdgeSource::kSpan);
constexpr uint8_t kTraceBit = static_cast<uint8_t>(EdgeSource::kTrace);
constexpr uint8_t kFieldBit = static_cast<uint8_t>(EdgeSource::kField);
constexpr uint8_t kConfigBit = static_cast<uint8_t>(EdgeSource::kConfig);

Edge MakeEdge(std::string caller, std::string callee, uint64_t calls, uint64_t errors,
              int64_t total_ns, int64_t max_ns, int64_t first_ns, int64_t last_ns,
              uint8_t sources) {
  Edge edge;
  edge.caller = std::move(caller);
  edge.callee = std::move(callee);
  edge.calls = calls;
  edge.errors = errors;
  edge.total_duration_ns = total_ns;
  edge.max_duration_ns = max_ns;
  edge.first_seen_ns = first_ns;
  edge.last_seen_ns = last_ns;
  edge.sources = sources;
  return edge;
}

// Readable failure output for edge lists.
std::string Describe(const std::vector<Edge>& edges) {
  std::string out;
  for (const Edge& e : edges) {
    out += e.caller + "->" + e.callee + " calls=" + std::to_string(e.calls) +
           " errors=" + std::to_string(e.errors) + " total=" + std::to_string(e.total_duration_ns) +
           " max=" + std::to_string(e.max_duration_ns) +
           " first=" + std::to_string(e.first_seen_ns) + " last=" + std::to_string(e.last_seen_ns) +
           " sources=" + std::to_string(e.sources) + "\n";
  }
  return out;
}

Record Span(std::string service, std::string trace, std::string span, std::string parent,
            int64_t ts_ns, int64_t duration_ns) {
  Record record;
  record.kind = RecordKind::kSpan;
  record.service = std::move(service);
  record.trace_id = std::move(trace);
  record.span_id = std::move(span);
  record.parent_span_id = std::move(parent);
  record.ts_ns = ts_ns;
  record.duration_ns = duration_ns;
  return record;
}

Record Log(std::string service, std::string trace, int64_t ts_ns, Level level = Level::kInfo) {
  Record record;
  record.kind = RecordKind::kLog;
  record.service = std::move(service);
  record.trace_id = std::move(trace);
  record.ts_ns = ts_ns;
  record.level = level;
  record.message = "handled request";
  return record;
}

std::vector<Edge> EdgesOf(const std::vector<Record>& records, TopologyOptions options = {}) {
  TopologyBuilder builder(std::move(options));
  for (const Record& record : records) builder.AddRecord(record);
  return builder.Edges();
}

// A synthetic fleet: each trace is a random call tree over a few services,
// with same-service internal spans, errors, varying durations, logs carrying
// the trace id, and a peer field now and then. Every record lies within a
// few seconds, well inside the default horizon.
std::vector<Record> SyntheticFleet(uint32_t seed, int traces) {
  static const std::vector<std::string> kServices = {"gateway",   "orders", "payment",
                                                     "inventory", "db",     "cache"};
  std::mt19937 rng(seed);
  std::vector<Record> records;
  for (int t = 0; t < traces; ++t) {
    const std::string trace = "trace" + std::to_string(t);
    const int64_t start = kT0 + t * 10 * kMs;
    struct Node {
      std::string service;
      std::string span;
    };
    std::vector<Node> nodes = {{"gateway", trace + "-0"}};
    records.push_back(Span("gateway", trace, trace + "-0", "", start, 50 * kMs));
    const int spans = 2 + static_cast<int>(rng() % 6);
    for (int s = 1; s < spans; ++s) {
      const Node& parent = nodes[rng() % nodes.size()];
      // One span in four stays in its parent's service (an internal span).
      const std::string service =
          rng() % 4 == 0 ? parent.service : kServices[1 + rng() % (kServices.size() - 1)];
      const std::string span = trace + "-" + std::to_string(s);
      Record record = Span(service, trace, span, parent.span, start + s * kMs,
                           static_cast<int64_t>(1 + rng() % 20) * kMs);
      if (rng() % 5 == 0) record.attributes.push_back({"error", "true", AttrType::kBool});
      records.push_back(record);
      nodes.push_back({service, span});
      records.push_back(Log(service, trace, start + s * kMs + 100,
                            rng() % 7 == 0 ? Level::kError : Level::kInfo));
    }
    // The gateway logs first; an audit service that emits no spans logs in
    // some traces: only the trace ids link it to the gateway.
    records.push_back(Log("gateway", trace, start + 50));
    if (rng() % 3 == 0) records.push_back(Log("audit", trace, start + 20 * kMs));
    if (rng() % 3 == 0) {
      Record log = Log("orders", "", start + 5 * kMs);
      log.attributes.push_back({"peer.service", "payment", AttrType::kString});
      records.push_back(log);
    }
  }
  return records;
}

TEST(TopologyTest, SpansAcrossServicesGiveEdgesAndCounts) {
  TopologyBuilder builder;
  builder.AddSpan("gateway", "t1", "a", "", kT0, 100 * kMs, false);
  builder.AddSpan("orders", "t1", "b", "a", kT0 + 1 * kMs, 80 * kMs, false);
  builder.AddSpan("payment", "t1", "c", "b", kT0 + 2 * kMs, 30 * kMs, false);
  builder.AddSpan("orders", "t1", "d", "b", kT0 + 3 * kMs, 5 * kMs, false);  // internal
  builder.AddSpan("db", "t1", "e", "d", kT0 + 4 * kMs, 2 * kMs, false);
  builder.AddSpan("gateway", "t2", "a", "", kT0 + 10 * kMs, 40 * kMs, false);
  builder.AddSpan("orders", "t2", "b", "a", kT0 + 11 * kMs, 20 * kMs, false);

  const std::vector<Edge> expected = {
      // Durations are the parents' (the caller's side of each call).
      MakeEdge("gateway", "orders", 2, 0, 140 * kMs, 100 * kMs, kT0 + 1 * kMs, kT0 + 11 * kMs,
               kSpanBit),
      MakeEdge("orders", "db", 1, 0, 5 * kMs, 5 * kMs, kT0 + 4 * kMs, kT0 + 4 * kMs, kSpanBit),
      MakeEdge("orders", "payment", 1, 0, 80 * kMs, 80 * kMs, kT0 + 2 * kMs, kT0 + 2 * kMs,
               kSpanBit),
  };
  const std::vector<Edge> edges = builder.Edges();
  EXPECT_EQ(edges, expected) << Describe(edges);

  const TopologyCounters counters = builder.counters();
  EXPECT_EQ(counters.spans, 7u);
  EXPECT_EQ(counters.root_spans, 2u);
  EXPECT_EQ(counters.matched, 5u);
  EXPECT_EQ(counters.same_service, 1u);
  EXPECT_EQ(counters.pending_spans, 0u);
  EXPECT_EQ(counters.unmatched_evicted, 0u);
}

TEST(TopologyTest, SameServiceParentChildAddsNoEdge) {
  TopologyBuilder builder;
  builder.AddSpan("orders", "t1", "a", "", kT0, 10 * kMs, false);
  builder.AddSpan("orders", "t1", "b", "a", kT0 + 1, 5 * kMs, false);
  builder.AddSpan("orders", "t1", "c", "b", kT0 + 2, 1 * kMs, true);
  EXPECT_TRUE(builder.Edges().empty()) << Describe(builder.Edges());
  EXPECT_EQ(builder.counters().matched, 2u);
  EXPECT_EQ(builder.counters().same_service, 2u);
}

TEST(TopologyTest, ChildBeforeParentMatches) {
  TopologyBuilder builder;
  // Children finish, and are exported, before their parent.
  builder.AddSpan("db", "t1", "c", "b", kT0 + 2 * kMs, 1 * kMs, false);
  EXPECT_EQ(builder.counters().pending_spans, 1u);
  // b resolves c at once and waits for a in its place.
  builder.AddSpan("payment", "t1", "b", "a", kT0 + 1 * kMs, 5 * kMs, true);
  EXPECT_EQ(builder.counters().pending_spans, 1u);
  EXPECT_EQ(builder.counters().matched, 1u);
  builder.AddSpan("orders", "t1", "a", "", kT0, 10 * kMs, false);

  const std::vector<Edge> expected = {
      MakeEdge("orders", "payment", 1, 1, 10 * kMs, 10 * kMs, kT0 + 1 * kMs, kT0 + 1 * kMs,
               kSpanBit),
      MakeEdge("payment", "db", 1, 0, 5 * kMs, 5 * kMs, kT0 + 2 * kMs, kT0 + 2 * kMs, kSpanBit),
  };
  const std::vector<Edge> edges = builder.Edges();
  EXPECT_EQ(edges, expected) << Describe(edges);
  EXPECT_EQ(builder.counters().matched, 2u);
  EXPECT_EQ(builder.counters().pending_spans, 0u);
}

TEST(TopologyTest, SpanIdsAreScopedToTheirTrace) {
  TopologyBuilder builder;
  builder.AddSpan("gateway", "t1", "a", "", kT0, 10 * kMs, false);
  builder.AddSpan("search", "t2", "a", "", kT0, 10 * kMs, false);
  builder.AddSpan("orders", "t2", "b", "a", kT0 + 1, 5 * kMs, false);
  const std::vector<Edge> edges = builder.Edges();
  ASSERT_EQ(edges.size(), 1u) << Describe(edges);
  EXPECT_EQ(edges[0].caller, "search");
  EXPECT_EQ(edges[0].callee, "orders");
}

TEST(TopologyTest, ShuffledOrderGivesIdenticalEdges) {
  const std::vector<Record> records = SyntheticFleet(/*seed=*/7, /*traces=*/300);
  TopologyBuilder in_order;
  for (const Record& record : records) in_order.AddRecord(record);
  const std::vector<Edge> expected = in_order.Edges();
  const TopologyCounters expected_counters = in_order.counters();
  // The workload must exercise every kind of evidence, or the comparison
  // below proves little.
  ASSERT_GE(expected.size(), 8u) << Describe(expected);
  EXPECT_GT(expected_counters.same_service, 0u);
  bool has_error = false;
  bool has_trace_only = false;
  bool has_field = false;
  for (const Edge& edge : expected) {
    has_error = has_error || edge.errors > 0;
    has_trace_only = has_trace_only || edge.sources == kTraceBit;
    has_field = has_field || (edge.sources & kFieldBit) != 0;
  }
  EXPECT_TRUE(has_error);
  EXPECT_TRUE(has_trace_only) << Describe(expected);
  EXPECT_TRUE(has_field);

  for (uint32_t seed : {1u, 2u, 3u, 42u, 2024u}) {
    std::vector<Record> shuffled = records;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(seed));
    TopologyBuilder builder;
    for (const Record& record : shuffled) builder.AddRecord(record);
    const std::vector<Edge> edges = builder.Edges();
    EXPECT_EQ(edges, expected) << "seed " << seed << "\n" << Describe(edges);
    const TopologyCounters counters = builder.counters();
    EXPECT_EQ(counters.matched, expected_counters.matched) << "seed " << seed;
    EXPECT_EQ(counters.same_service, expected_counters.same_service) << "seed " << seed;
    EXPECT_EQ(counters.pending_spans, 0u) << "seed " << seed;
  }

  // Reversed order: every child arrives before its parent.
  std::vector<Record> reversed(records.rbegin(), records.rend());
  EXPECT_EQ(EdgesOf(reversed), expected);
}

TEST(TopologyTest, BatchSplitAnywhereGivesIdenticalEdges) {
  const std::vector<Record> records = SyntheticFleet(/*seed=*/11, /*traces=*/12);
  RecordBatch whole;
  for (const Record& record : records) whole.Append(record);
  TopologyBuilder reference;
  reference.AddBatch(whole);
  const std::vector<Edge> expected = reference.Edges();
  ASSERT_FALSE(expected.empty());
  // AddBatch must agree with AddRecord.
  EXPECT_EQ(EdgesOf(records), expected);

  for (size_t split = 0; split <= records.size(); ++split) {
    RecordBatch first;
    RecordBatch second;
    for (size_t i = 0; i < records.size(); ++i) {
      (i < split ? first : second).Append(records[i]);
    }
    TopologyBuilder builder;
    builder.AddBatch(first);
    builder.AddBatch(second);
    EXPECT_EQ(builder.Edges(), expected) << "split at " << split;
  }
}

TEST(TopologyTest, ErrorsAndDurationsAreSummedPerEdge) {
  // The api's server span p makes four calls to db, each inside a client span
  // of its own (k1..k4); the edge's latency is the client spans' (what the
  // caller saw, network included), not the db server spans'.
  TopologyBuilder builder;
  builder.AddSpan("api", "t1", "p", "", kT0, 100 * kMs, false);
  builder.AddSpan("api", "t1", "k1", "p", kT0 + 1 * kMs, 10 * kMs, false);
  builder.AddSpan("api", "t1", "k2", "p", kT0 + 2 * kMs, 30 * kMs, false);
  builder.AddSpan("db", "t1", "c1", "k1", kT0 + 1 * kMs, 8 * kMs, false);
  builder.AddSpan("db", "t1", "c2", "k2", kT0 + 2 * kMs, 25 * kMs, true);
  // Children first this time: they wait for their parents.
  builder.AddSpan("db", "t1", "c3", "k3", kT0 + 3 * kMs, 15 * kMs, true);
  builder.AddSpan("db", "t1", "c4", "k4", kT0 + 4 * kMs, 1 * kMs, false);
  builder.AddSpan("api", "t1", "k3", "p", kT0 + 3 * kMs, 20 * kMs, false);
  builder.AddSpan("api", "t1", "k4", "p", kT0 + 4 * kMs, -5, false);  // clamped to 0

  const std::vector<Edge> edges = builder.Edges();
  ASSERT_EQ(edges.size(), 1u) << Describe(edges);
  const Edge& edge = edges[0];
  EXPECT_EQ(edge.calls, 4u);
  EXPECT_EQ(edge.errors, 2u);
  EXPECT_EQ(edge.total_duration_ns, 60 * kMs);
  EXPECT_EQ(edge.max_duration_ns, 30 * kMs);
  EXPECT_EQ(edge.first_seen_ns, kT0 + 1 * kMs);
  EXPECT_EQ(edge.last_seen_ns, kT0 + 4 * kMs);
  EXPECT_EQ(MeanDurationNs(edge), 15 * kMs);
  EXPECT_EQ(MeanDurationNs(Edge{}), 0);
}

TEST(TopologyTest, UnmatchedChildIsEvictedAfterHorizonAndCounted) {
  TopologyOptions options;
  options.horizon_ns = 1 * kSecond;
  TopologyBuilder builder(options);
  // The parent of this child never arrives in time.
  builder.AddSpan("orders", "t1", "child", "lost", kT0, 10 * kMs, false);
  builder.AddSpan("gateway", "t2", "x", "", kT0 + 500 * kMs, 1 * kMs, false);
  EXPECT_EQ(builder.counters().pending_spans, 1u);
  EXPECT_EQ(builder.counters().unmatched_evicted, 0u);

  // Still within the horizon of the child's end (kT0 + 10ms + 1s).
  builder.AddSpan("gateway", "t3", "y", "", kT0 + 1 * kSecond, 1 * kMs, false);
  EXPECT_EQ(builder.counters().pending_spans, 1u);

  builder.AddSpan("gateway", "t4", "z", "", kT0 + 2 * kSecond, 1 * kMs, false);
  EXPECT_EQ(builder.counters().pending_spans, 0u);
  EXPECT_EQ(builder.counters().unmatched_evicted, 1u);
  EXPECT_EQ(builder.counters().cap_evictions, 0u);

  // The parent arrives too late: no edge, and the stale spans are gone.
  builder.AddSpan("gateway", "t1", "lost", "", kT0, 20 * kMs, false);
  EXPECT_TRUE(builder.Edges().empty()) << Describe(builder.Edges());
  EXPECT_LE(builder.counters().buffered_spans, 2u);
}

TEST(TopologyTest, ParentIsForgottenAfterHorizon) {
  TopologyOptions options;
  options.horizon_ns = 1 * kSecond;
  TopologyBuilder builder(options);
  builder.AddSpan("gateway", "t1", "a", "", kT0, 10 * kMs, false);
  builder.AddSpan("gateway", "t9", "z", "", kT0 + 5 * kSecond, 1 * kMs, false);
  EXPECT_EQ(builder.counters().buffered_spans, 1u);
  // A straggler whose parent has been forgotten waits, then is evicted.
  builder.AddSpan("orders", "t1", "b", "a", kT0 + 1 * kMs, 1 * kMs, false);
  EXPECT_TRUE(builder.Edges().empty());
  EXPECT_EQ(builder.counters().unmatched_evicted, 1u);
}

TEST(TopologyTest, CapBoundsEveryBuffer) {
  TopologyOptions options;
  options.max_pending = 8;
  TopologyBuilder builder(options);
  for (int i = 0; i < 100; ++i) {
    const std::string id = std::to_string(i);
    builder.AddSpan("orders", "t" + id, "child" + id, "missing" + id, kT0 + i * kMs, 1, false);
    builder.AddTraceRecord("orders", "log" + id, kT0 + i * kMs);
    const TopologyCounters counters = builder.counters();
    ASSERT_LE(counters.pending_spans, 8u);
    ASSERT_LE(counters.buffered_spans, 8u);
    ASSERT_LE(counters.open_traces, 8u);
  }
  const TopologyCounters counters = builder.counters();
  EXPECT_EQ(counters.pending_spans, 8u);
  EXPECT_EQ(counters.unmatched_evicted, 92u);
  // 92 pending children, 92 remembered spans, 92 traces resolved early.
  EXPECT_EQ(counters.cap_evictions, 3u * 92u);
  EXPECT_EQ(counters.traces, 92u);
  // The newest spans are the ones kept: the last child still matches.
  builder.AddSpan("gateway", "t99", "missing99", "", kT0 + 99 * kMs, 1 * kMs, false);
  const std::vector<Edge> edges = builder.Edges();
  ASSERT_EQ(edges.size(), 1u) << Describe(edges);
  EXPECT_EQ(edges[0].caller, "gateway");
}

TEST(TopologyTest, TraceIdsGiveFirstServiceToOthersEdges) {
  TopologyBuilder builder;
  for (int t = 0; t < 3; ++t) {
    const std::string trace = "tr" + std::to_string(t);
    const int64_t start = kT0 + t * kSecond;
    // Arrival order does not matter, only event time.
    builder.AddTraceRecord("inventory", trace, start + 3 * kMs, t == 1);
    builder.AddTraceRecord("frontend", trace, start + 5 * kMs);
    builder.AddTraceRecord("frontend", trace, start);
    builder.AddTraceRecord("cart", trace, start + 2 * kMs);
  }
  builder.AddTraceRecord("cart", "lonely", kT0);  // a one-service trace

  const std::vector<Edge> expected = {
      MakeEdge("frontend", "cart", 3, 0, 0, 0, kT0 + 2 * kMs, kT0 + 2 * kSecond + 2 * kMs,
               kTraceBit),
      MakeEdge("frontend", "inventory", 3, 1, 0, 0, kT0 + 3 * kMs, kT0 + 2 * kSecond + 3 * kMs,
               kTraceBit),
  };
  const std::vector<Edge> edges = builder.Edges();
  EXPECT_EQ(edges, expected) << Describe(edges);
  EXPECT_EQ(builder.counters().traces, 4u);
  EXPECT_EQ(builder.counters().trace_records, 13u);
}

TEST(TopologyTest, TraceTieIsBrokenByServiceName) {
  TopologyBuilder builder;
  builder.AddTraceRecord("zeta", "t", kT0);
  builder.AddTraceRecord("alpha", "t", kT0);
  const std::vector<Edge> edges = builder.Edges();
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].caller, "alpha");
  EXPECT_EQ(edges[0].callee, "zeta");
}

TEST(TopologyTest, TraceEvidenceDoesNotAddToSpanEdges) {
  TopologyBuilder builder;
  // Spans: a -> b -> c. Logs of the same trace: a first, then b, then c.
  builder.AddSpan("a", "t1", "s1", "", kT0, 10 * kMs, false);
  builder.AddSpan("b", "t1", "s2", "s1", kT0 + 1 * kMs, 5 * kMs, false);
  builder.AddSpan("c", "t1", "s3", "s2", kT0 + 2 * kMs, 1 * kMs, false);
  builder.AddTraceRecord("a", "t1", kT0);
  builder.AddTraceRecord("b", "t1", kT0 + 1 * kMs);
  builder.AddTraceRecord("c", "t1", kT0 + 2 * kMs);
  // Another trace where d logs first, then b: nothing connects d and b.
  builder.AddTraceRecord("d", "t2", kT0);
  builder.AddTraceRecord("b", "t2", kT0 + 1 * kMs);
  // And one where c logs before b (clock skew): b -> c explains the pair.
  builder.AddTraceRecord("c", "t3", kT0);
  builder.AddTraceRecord("b", "t3", kT0 + 1 * kMs);

  const std::vector<Edge> expected = {
      // Span evidence alone: the trace adds neither counts nor its bit.
      MakeEdge("a", "b", 1, 0, 10 * kMs, 10 * kMs, kT0 + 1 * kMs, kT0 + 1 * kMs, kSpanBit),
      // No a -> c edge: a reaches c through b.
      MakeEdge("b", "c", 1, 0, 5 * kMs, 5 * kMs, kT0 + 2 * kMs, kT0 + 2 * kMs, kSpanBit),
      MakeEdge("d", "b", 1, 0, 0, 0, kT0 + 1 * kMs, kT0 + 1 * kMs, kTraceBit),
  };
  const std::vector<Edge> edges = builder.Edges();
  EXPECT_EQ(edges, expected) << Describe(edges);
  // a -> b (direct), a -> c (through b), c -> b (b -> c, reversed).
  EXPECT_EQ(builder.counters().trace_pairs_explained, 3u);
}

TEST(TopologyTest, TraceResolvesAfterHorizonWithoutFlush) {
  TopologyOptions options;
  options.horizon_ns = 1 * kSecond;
  TopologyBuilder builder(options);
  builder.AddTraceRecord("web", "t1", kT0);
  builder.AddTraceRecord("api", "t1", kT0 + 1 * kMs);
  EXPECT_TRUE(builder.Edges(/*flush=*/false).empty());
  EXPECT_EQ(builder.counters().open_traces, 1u);

  builder.AddTraceRecord("other", "t2", kT0 + 3 * kSecond);
  const std::vector<Edge> edges = builder.Edges(/*flush=*/false);
  ASSERT_EQ(edges.size(), 1u) << Describe(edges);
  EXPECT_EQ(edges[0].caller, "web");
  EXPECT_EQ(edges[0].callee, "api");
  EXPECT_EQ(builder.counters().open_traces, 1u);  // t2
  // Edges() is idempotent once everything is resolved.
  const std::vector<Edge> flushed = builder.Edges();
  EXPECT_EQ(builder.Edges(), flushed);
  EXPECT_EQ(builder.counters().open_traces, 0u);
}

TEST(TopologyTest, PeerFieldsGiveEdges) {
  TopologyBuilder builder;
  builder.AddPeer("checkout", "payment", kT0, false);
  builder.AddPeer("checkout", "payment", kT0 + 5, true);
  builder.AddPeer("checkout", "checkout", kT0, false);  // self: ignored
  builder.AddPeer("checkout", "", kT0, false);          // empty: ignored

  Record log = Log("nginx", "", kT0 + 10, Level::kError);
  // Two keys naming the same peer count once; a different value is a second edge.
  log.attributes.push_back({"upstream", "orders", AttrType::kString});
  log.attributes.push_back({"peer.service", "orders", AttrType::kString});
  log.attributes.push_back({"net.peer.name", "orders-db", AttrType::kString});
  log.attributes.push_back({"user", "alice", AttrType::kString});
  builder.AddRecord(log);

  const std::vector<Edge> expected = {
      MakeEdge("checkout", "payment", 2, 1, 0, 0, kT0, kT0 + 5, kFieldBit),
      MakeEdge("nginx", "orders", 1, 1, 0, 0, kT0 + 10, kT0 + 10, kFieldBit),
      MakeEdge("nginx", "orders-db", 1, 1, 0, 0, kT0 + 10, kT0 + 10, kFieldBit),
  };
  const std::vector<Edge> edges = builder.Edges();
  EXPECT_EQ(edges, expected) << Describe(edges);
  EXPECT_EQ(builder.counters().peer_records, 4u);
  EXPECT_EQ(builder.counters().ignored, 2u);
}

TEST(TopologyTest, PeerKeysAreAnOption) {
  TopologyOptions options;
  options.peer_keys = {"dest"};
  TopologyBuilder builder(options);
  Record log = Log("a", "", kT0);
  log.attributes.push_back({"peer.service", "b", AttrType::kString});
  log.attributes.push_back({"dest", "c", AttrType::kString});
  builder.AddRecord(log);
  const std::vector<Edge> edges = builder.Edges();
  ASSERT_EQ(edges.size(), 1u) << Describe(edges);
  EXPECT_EQ(edges[0].callee, "c");
}

TEST(TopologyTest, ConfigEdgesAppearWithZeroCalls) {
  TopologyBuilder builder;
  builder.AddConfigEdge("web", "auth");
  builder.AddConfigEdge("web", "orders");
  builder.AddConfigEdge("web", "web");  // ignored
  builder.AddSpan("web", "t", "p", "", kT0, 10 * kMs, false);
  builder.AddSpan("orders", "t", "c", "p", kT0 + 1, 4 * kMs, false);

  const std::vector<Edge> expected = {
      MakeEdge("web", "auth", 0, 0, 0, 0, 0, 0, kConfigBit),
      MakeEdge("web", "orders", 1, 0, 10 * kMs, 10 * kMs, kT0 + 1, kT0 + 1, kSpanBit | kConfigBit),
  };
  const std::vector<Edge> edges = builder.Edges();
  EXPECT_EQ(edges, expected) << Describe(edges);
  EXPECT_EQ(builder.counters().config_edges, 2u);
}

TEST(TopologyTest, SpanCountsWinOverPeerFieldCounts) {
  TopologyBuilder builder;
  // A client span carrying peer.service, and the server span below it: one call.
  Record client = Span("web", "t", "p", "", kT0, 10 * kMs);
  client.attributes.push_back({"peer.service", "orders", AttrType::kString});
  builder.AddRecord(client);
  builder.AddRecord(Span("orders", "t", "c", "p", kT0 + 1, 4 * kMs));
  const std::vector<Edge> expected = {
      MakeEdge("web", "orders", 1, 0, 10 * kMs, 10 * kMs, kT0 + 1, kT0 + 1, kSpanBit | kFieldBit)};
  EXPECT_EQ(builder.Edges(), expected) << Describe(builder.Edges());
}

TEST(TopologyTest, MergeSumsCounts) {
  const std::vector<Record> records = SyntheticFleet(/*seed=*/5, /*traces=*/200);
  // Partition by trace, so no span or trace straddles two builders.
  TopologyBuilder even;
  TopologyBuilder odd;
  for (const Record& record : records) {
    const bool is_even = record.trace_id.empty() || (record.trace_id.back() - '0') % 2 == 0;
    (is_even ? even : odd).AddRecord(record);
  }
  TopologyBuilder merged;
  merged.Merge(even.Edges());
  merged.Merge(odd.Edges());
  EXPECT_EQ(merged.Edges(), EdgesOf(records)) << Describe(merged.Edges());

  // Plain sums on a small case, including the precedence of sources.
  TopologyBuilder left;
  left.AddSpan("a", "t1", "p", "", kT0, 10 * kMs, false);
  left.AddSpan("b", "t1", "c", "p", kT0 + 1, 4 * kMs, true);
  left.AddConfigEdge("a", "z");
  TopologyBuilder right;
  right.AddSpan("a", "t2", "p", "", kT0, 10 * kMs, false);
  right.AddSpan("b", "t2", "c", "p", kT0 + 9, 6 * kMs, false);
  right.AddPeer("a", "b", kT0 + 20, true);
  right.AddTraceRecord("a", "t3", kT0);
  right.AddTraceRecord("y", "t3", kT0 + 1);
  TopologyBuilder total;
  total.Merge(left.Edges());
  total.Merge(right.Edges());
  const std::vector<Edge> expected = {
      MakeEdge("a", "b", 2, 1, 20 * kMs, 10 * kMs, kT0 + 1, kT0 + 9, kSpanBit | kFieldBit),
      MakeEdge("a", "y", 1, 0, 0, 0, kT0 + 1, kT0 + 1, kTraceBit),
      MakeEdge("a", "z", 0, 0, 0, 0, 0, 0, kConfigBit),
  };
  EXPECT_EQ(total.Edges(), expected) << Describe(total.Edges());
}

TEST(TopologyTest, MergeDropsTraceOnlyPairsExplainedByOtherPartitions) {
  TopologyBuilder logs_only;
  logs_only.AddTraceRecord("a", "t1", kT0);
  logs_only.AddTraceRecord("c", "t1", kT0 + 1);
  TopologyBuilder spans_only;
  spans_only.AddSpan("a", "t2", "1", "", kT0, 1, false);
  spans_only.AddSpan("b", "t2", "2", "1", kT0, 1, false);
  spans_only.AddSpan("c", "t2", "3", "2", kT0, 1, false);
  const std::vector<Edge> from_logs = logs_only.Edges();
  ASSERT_EQ(from_logs.size(), 1u);  // a -> c on its own

  TopologyBuilder merged;
  merged.Merge(from_logs);
  merged.Merge(spans_only.Edges());
  const std::vector<Edge> edges = merged.Edges();
  ASSERT_EQ(edges.size(), 2u) << Describe(edges);
  EXPECT_EQ(edges[0].callee, "b");
  EXPECT_EQ(edges[1].callee, "c");
  EXPECT_EQ(edges[1].caller, "b");
}

TEST(TopologyTest, ToDotContainsTheEdges) {
  std::vector<Edge> edges = {
      MakeEdge("gateway", "orders", 4, 1, 8 * kMs, 3 * kMs, kT0, kT0, kSpanBit),
      MakeEdge("we\"ird", "db", 2, 0, 0, 0, kT0, kT0, kTraceBit),
      MakeEdge("web", "auth", 0, 0, 0, 0, 0, 0, kConfigBit),
  };
  const std::string dot = ToDot(edges);
  EXPECT_EQ(dot.rfind("digraph topology {", 0), 0u) << dot;
  EXPECT_NE(dot.find("\"gateway\" -> \"orders\" [label=\"4 calls\\n1 errors\\nmean 2.0ms\""),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find("color=red"), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"we\\\"ird\" -> \"db\" [label=\"2 traces\", style=dashed]"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find("\"web\" -> \"auth\" [label=\"config\", style=dotted]"), std::string::npos)
      << dot;
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
}

TEST(TopologyTest, SpanErrorAttributes) {
  struct Case {
    std::string key;
    std::string value;
    bool error;
  };
  const std::vector<Case> cases = {
      {"error", "true", true},
      {"error", "false", false},
      {"status", "ERROR", true},
      {"status", "ok", false},
      {"status_code", "2", true},
      {"status_code", "1", false},
      {"otel.status_code", "Error", true},
      {"otel.status_code", "OK", false},
      {"http.status_code", "503", true},
      {"http.status_code", "404", false},
      {"http.response.status_code", "500", true},
      {"status", "502", true},
      {"http.status_code", "5xx", false},
      {"message", "error", false},
  };
  for (const Case& c : cases) {
    TopologyBuilder builder;
    builder.AddRecord(Span("a", "t", "p", "", kT0, 1));
    Record child = Span("b", "t", "c", "p", kT0 + 1, 1);
    child.attributes.push_back({c.key, c.value, AttrType::kString});
    builder.AddRecord(child);
    const std::vector<Edge> edges = builder.Edges();
    ASSERT_EQ(edges.size(), 1u);
    EXPECT_EQ(edges[0].errors, c.error ? 1u : 0u) << c.key << "=" << c.value;
  }
  // The row's own level counts too.
  TopologyBuilder builder;
  builder.AddRecord(Span("a", "t", "p", "", kT0, 1));
  Record child = Span("b", "t", "c", "p", kT0 + 1, 1);
  child.level = Level::kFatal;
  builder.AddRecord(child);
  EXPECT_EQ(builder.Edges().at(0).errors, 1u);
}

TEST(TopologyTest, DuplicateSpanCountsOnce) {
  TopologyBuilder builder;
  builder.AddSpan("a", "t", "p", "", kT0, 10, false);
  builder.AddSpan("b", "t", "c", "p", kT0 + 1, 5, false);
  builder.AddSpan("b", "t", "c", "p", kT0 + 1, 5, false);
  const std::vector<Edge> edges = builder.Edges();
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].calls, 1u);
  EXPECT_EQ(builder.counters().duplicate_spans, 1u);
}

// Builds a batch by hand, the way the ingest parser fills one.
class BatchWriter {
 public:
  RecordRow& Row(RecordKind kind, std::string_view service, std::string_view trace,
                 std::string_view span, std::string_view parent, int64_t ts_ns,
                 int64_t duration_ns) {
    RecordRow& row = batch_.AddRow();
    row.kind = kind;
    row.service = batch_.Intern(service);
    row.trace_id = batch_.Intern(trace);
    row.span_id = batch_.Intern(span);
    row.parent_span_id = batch_.Intern(parent);
    row.ts_ns = ts_ns;
    row.duration_ns = duration_ns;
    row.attr_begin = batch_.AttrCount();
    return row;
  }
  // Adds an attribute to the last row.
  void Attr(std::string_view key, std::string_view value) {
    batch_.AddAttr(AttrRef{batch_.Intern(key), batch_.Intern(value), AttrType::kString});
    ++batch_.mutable_rows().back().attr_count;
  }
  const RecordBatch& batch() const { return batch_; }

 private:
  RecordBatch batch_;
};

TEST(TopologyTest, AddBatchReadsSpansLogsAndPeerFields) {
  BatchWriter writer;
  // Child first, with an error status; then its parent.
  writer.Row(RecordKind::kSpan, "cart", "t1", "s2", "s1", kT0 + 1 * kMs, 7 * kMs);
  writer.Attr("otel.status_code", "ERROR");
  writer.Row(RecordKind::kSpan, "frontend", "t1", "s1", "", kT0, 20 * kMs);
  writer.Row(RecordKind::kSpan, "redis", "t1", "s3", "s2", kT0 + 2 * kMs, 1 * kMs);
  writer.Attr("http.status_code", "200");
  // Logs of a second trace, without spans: frontend first, then ads.
  writer.Row(RecordKind::kLog, "ads", "t2", "", "", kT0 + 4 * kMs, 0).level = Level::kError;
  writer.Row(RecordKind::kLog, "frontend", "t2", "", "", kT0 + 3 * kMs, 0);
  // A log without a trace id that names its upstream.
  writer.Row(RecordKind::kLog, "ads", "", "", "", kT0 + 5 * kMs, 0);
  writer.Attr("request", "GET /ad");
  writer.Attr("upstream_service", "adstore");
  // A metric: neither span nor trace record, but its peer field counts.
  writer.Row(RecordKind::kMetric, "cart", "", "", "", kT0 + 6 * kMs, 0);
  writer.Attr("peer.service", "redis");

  TopologyBuilder builder;
  builder.AddBatch(writer.batch());
  const std::vector<Edge> expected = {
      MakeEdge("ads", "adstore", 1, 0, 0, 0, kT0 + 5 * kMs, kT0 + 5 * kMs, kFieldBit),
      MakeEdge("cart", "redis", 1, 0, 7 * kMs, 7 * kMs, kT0 + 2 * kMs, kT0 + 2 * kMs,
               kSpanBit | kFieldBit),
      MakeEdge("frontend", "ads", 1, 1, 0, 0, kT0 + 4 * kMs, kT0 + 4 * kMs, kTraceBit),
      MakeEdge("frontend", "cart", 1, 1, 20 * kMs, 20 * kMs, kT0 + 1 * kMs, kT0 + 1 * kMs,
               kSpanBit),
  };
  const std::vector<Edge> edges = builder.Edges();
  EXPECT_EQ(edges, expected) << Describe(edges);
  const TopologyCounters counters = builder.counters();
  EXPECT_EQ(counters.spans, 3u);
  EXPECT_EQ(counters.matched, 2u);
  EXPECT_EQ(counters.trace_records, 2u);
  EXPECT_EQ(counters.peer_records, 2u);
}

TEST(TopologyTest, OptionsValidate) {
  EXPECT_OK(TopologyOptions{}.Validate());
  TopologyOptions options;
  options.horizon_ns = 0;
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
  options = TopologyOptions{};
  options.max_pending = 0;
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
  options = TopologyOptions{};
  options.peer_keys.push_back("");
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
}

TEST(TopologyTest, RecordedCallsAreTheResolvedCallsOfEverySource) {
  TopologyOptions options;
  options.record_calls = true;
  TopologyBuilder builder(options);
  builder.AddSpan("db", "t1", "c", "k", kT0 + 2 * kMs, 5 * kMs, true);  // waits for k
  EXPECT_TRUE(builder.TakeCalls().empty());
  builder.AddSpan("api", "t1", "k", "", kT0 + 1 * kMs, 9 * kMs, false);
  builder.AddPeer("api", "cache", kT0 + 3 * kMs, false);
  builder.AddTraceRecord("web", "t2", kT0, false);
  builder.AddTraceRecord("auth", "t2", kT0 + 1 * kMs, true);

  std::vector<Call> calls = builder.TakeCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].caller, "api");
  EXPECT_EQ(calls[0].callee, "db");
  EXPECT_EQ(calls[0].ts_ns, kT0 + 2 * kMs);
  EXPECT_EQ(calls[0].latency_ns, 9 * kMs);  // the caller's span
  EXPECT_EQ(calls[0].gap_ns, 4 * kMs);      // ... minus the callee's
  EXPECT_TRUE(calls[0].error);
  EXPECT_EQ(calls[0].source, EdgeSource::kSpan);
  EXPECT_EQ(calls[1].callee, "cache");
  EXPECT_EQ(calls[1].source, EdgeSource::kField);
  EXPECT_EQ(calls[1].gap_ns, 0);
  EXPECT_TRUE(builder.TakeCalls().empty()) << "taken once";
  // A callee span outlasting its caller's (an asynchronous call) has no gap.
  builder.AddSpan("api", "t3", "p", "", kT0, 2 * kMs, false);
  builder.AddSpan("queue", "t3", "q", "p", kT0 + 1 * kMs, 30 * kMs, false);
  calls = builder.TakeCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].gap_ns, 0);

  builder.Edges(/*flush=*/true);  // resolves trace t2
  calls = builder.TakeCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].caller, "web");
  EXPECT_EQ(calls[0].callee, "auth");
  EXPECT_TRUE(calls[0].error);
  EXPECT_EQ(calls[0].source, EdgeSource::kTrace);

  TopologyBuilder quiet;  // record_calls off
  quiet.AddPeer("api", "cache", kT0, false);
  EXPECT_TRUE(quiet.TakeCalls().empty());
}

TEST(TopologyTest, SampledTraceEvidenceIsScaledAndTheSameInAnyOrder) {
  TopologyOptions options;
  options.trace_sample = 4;
  std::vector<std::tuple<std::string, std::string, int64_t>> rows;  // service, trace, ts
  for (int t = 0; t < 400; ++t) {
    const std::string trace = "trace-" + std::to_string(t);
    rows.emplace_back("web", trace, kT0 + t * kMs);
    rows.emplace_back("auth", trace, kT0 + t * kMs + 1);
  }
  TopologyBuilder forward(options);
  for (const auto& [service, trace, ts] : rows) forward.AddTraceRecord(service, trace, ts);
  const std::vector<Edge> edges = forward.Edges();
  ASSERT_EQ(edges.size(), 1u) << Describe(edges);
  EXPECT_EQ(edges[0].calls % 4, 0u) << "each sampled trace stands for 4";
  EXPECT_GT(edges[0].calls, 280u);
  EXPECT_LT(edges[0].calls, 520u);

  TopologyBuilder backward(options);
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    backward.AddTraceRecord(std::get<0>(*it), std::get<1>(*it), std::get<2>(*it));
  }
  EXPECT_EQ(backward.Edges()[0].calls, edges[0].calls) << "the same traces whatever the order";

  TopologyBuilder all;  // trace_sample 1: every trace
  for (const auto& [service, trace, ts] : rows) all.AddTraceRecord(service, trace, ts);
  EXPECT_EQ(all.Edges()[0].calls, 400u);
}

}  // namespace
}  // namespace faultline::correlate
