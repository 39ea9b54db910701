// Root-cause ranking on small handcrafted fleets: an AI API platform
//
//   edge -> gateway -> chat       -> scheduler -> gpu-pool
//                   -> image      -> scheduler
//                   -> moderation -> cache
//           gateway -> auth -> db
//   billing -> db           (a batch job, nowhere near the user path)
//
// Each test states what the fleet's anomalies were (the scan's findings:
// signal, family, onset, strength) and checks the cause, its family, the
// chain and the incident's bookkeeping.
#include "correlate/incident.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace faultline::correlate {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kBucket = 10 * kSec;
constexpr int64_t kT0 = int64_t{1'700'000'000} * kSec;  // incident start

// Span edges with 1000 calls each.
std::vector<Edge> Edges(const std::vector<std::pair<const char*, const char*>>& calls) {
  std::vector<Edge> edges;
  for (const auto& [caller, callee] : calls) {
    Edge e;
    e.caller = caller;
    e.callee = callee;
    e.calls = 1000;
    e.sources = static_cast<uint8_t>(EdgeSource::kSpan);
    edges.push_back(e);
  }
  return edges;
}

std::vector<Edge> Fleet() {
  return Edges({{"edge", "gateway"},       {"gateway", "chat"},      {"gateway", "image"},
                {"gateway", "moderation"}, {"gateway", "auth"},      {"chat", "scheduler"},
                {"image", "scheduler"},    {"scheduler", "gpu-pool"}, {"moderation", "cache"},
                {"auth", "db"},            {"billing", "db"}});
}

Finding Make(const std::string& service, const std::string& signal, Family family,
             const std::string& kind, int64_t onset_s, double strength,
             Direction direction = Direction::kUp) {
  Finding f;
  f.service = service;
  f.signal = signal;
  f.family = family;
  f.kind = kind;
  f.onset_ns = f.peak_ns = kT0 + onset_s * kSec;
  f.end_ns = f.onset_ns + 180 * kSec;
  f.anomaly.direction = direction;
  f.anomaly.strength = strength;
  f.anomaly.baseline = 1;
  f.anomaly.peak_value = direction == Direction::kUp ? 10 : 0;
  f.stat = signal.find("latency") != std::string::npos ? Stat::kP95 : Stat::kCount;
  return f;
}

Finding NewLine(const std::string& service, Family family, const std::string& kind,
                int64_t onset_s, const std::string& text) {
  Finding f = Make(service, "template:00000000000000a1", family, kind, onset_s, 8);
  f.first_seen = true;
  f.template_id = 0xa1;
  f.template_text = text;
  return f;
}

Incident Explain(std::vector<Finding> findings) {
  return Correlate(std::move(findings), Fleet(), kBucket, kT0 + 3600 * kSec, CorrelateOptions{});
}

std::vector<std::string> CauseServices(const Incident& x) {
  std::vector<std::string> out;
  for (const Cause& c : x.causes) out.push_back(c.service);
  return out;
}

// A hardware fault at the bottom (a GPU pool's Xid errors) surfaces as
// errors in the scheduler and 5xx at every layer above it, a little later
// at each hop. The pool is the cause, infrastructure, and the chain runs
// from it to the edge.
TEST(IncidentTest, HardwareFaultAtTheBottomSurfacingAsFiveHundredsAtTheTop) {
  Incident x = Explain({
      NewLine("gpu-pool", Family::kInfrastructure, "gpu", 0, "NVRM: Xid <*>: GPU has fallen off the bus"),
      Make("gpu-pool", "errors", Family::kSoftware, "errors", 0, 12),
      Make("scheduler", "errors", Family::kSoftware, "errors", 10, 15),
      Make("scheduler", "span.latency", Family::kInfrastructure, "latency", 10, 9),
      Make("chat", "http.5xx", Family::kSoftware, "5xx", 20, 20),
      Make("image", "http.5xx", Family::kSoftware, "5xx", 20, 14),
      Make("gateway", "http.5xx", Family::kSoftware, "5xx", 30, 25),
      Make("edge", "http.5xx", Family::kSoftware, "5xx", 30, 30),
  });
  ASSERT_FALSE(x.causes.empty());
  EXPECT_TRUE(x.identified);
  EXPECT_EQ(x.causes[0].service, "gpu-pool") << x.causes[0].why;
  EXPECT_EQ(x.causes[0].family, Family::kInfrastructure);
  EXPECT_EQ(x.causes[0].kind, "gpu");
  EXPECT_EQ(x.chain, (std::vector<std::string>{"gpu-pool", "scheduler", "chat", "gateway", "edge"}));
  EXPECT_GT(x.causes[0].explains, 3u);
  EXPECT_GT(x.causes[0].confidence, x.causes[1].confidence);
}

// A demand surge at the edge (a launch) spreads down: the gateway starts
// rate limiting, the backends slow down under load. Demand travels from
// caller to callee, so the edge, where it started, is the cause.
TEST(IncidentTest, DemandSurgeAtTheEdgeSpreadingToBackends) {
  Incident x = Explain({
      Make("edge", "records", Family::kDemand, "traffic", 0, 40),
      Make("edge", "http.requests", Family::kDemand, "traffic", 0, 35),
      Make("gateway", "http.429", Family::kDemand, "rate_limit", 10, 30),
      Make("gateway", "records", Family::kDemand, "traffic", 10, 25),
      Make("chat", "records", Family::kDemand, "traffic", 20, 20),
      Make("scheduler", "metric:queue_depth", Family::kDemand, "queue", 30, 25),
      Make("chat", "span.latency", Family::kInfrastructure, "latency", 40, 8),
  });
  ASSERT_FALSE(x.causes.empty());
  EXPECT_EQ(x.causes[0].service, "edge") << x.causes[0].why;
  EXPECT_EQ(x.causes[0].family, Family::kDemand);
  EXPECT_GE(x.causes[0].explains, 2u);
  // Demand runs down the call graph: the chain goes to the backends.
  EXPECT_EQ(x.chain, (std::vector<std::string>{"edge", "gateway", "chat", "scheduler"}));
}

// A bad deploy in the middle: the chat service logs a deploy, then a new
// exception, then errors; the gateway and edge return 5xx. Nothing below
// chat changed. Chat is the cause, software, and its callers are the chain.
TEST(IncidentTest, BadDeployInTheMiddle) {
  Incident x = Explain({
      NewLine("chat", Family::kSoftware, "deploy", 0, "Deployed version <*> of chat"),
      Make("chat", "errors", Family::kSoftware, "errors", 20, 18),
      Make("chat", "template:00000000000000b2", Family::kSoftware, "exception", 20, 15),
      Make("gateway", "http.5xx", Family::kSoftware, "5xx", 30, 16),
      Make("edge", "http.5xx", Family::kSoftware, "5xx", 30, 18),
  });
  ASSERT_FALSE(x.causes.empty());
  EXPECT_EQ(x.causes[0].service, "chat") << x.causes[0].why;
  EXPECT_EQ(x.causes[0].family, Family::kSoftware);
  EXPECT_EQ(x.chain, (std::vector<std::string>{"chat", "gateway", "edge"}));
  // The gateway's own 5xx are explained by chat, which it calls and which
  // changed first: it must not outrank chat however loud it is.
  const std::vector<std::string> order = CauseServices(x);
  EXPECT_LT(std::find(order.begin(), order.end(), "chat"),
            std::find(order.begin(), order.end(), "gateway"));
}

// Two changes at the same moment: the GPU pool fails (and its failure
// reaches the users), and a billing batch job, which nothing on the user
// path calls, pegs its CPU even harder. Only the pool explains the
// incident.
TEST(IncidentTest, TwoSimultaneousChangesOnlyTheOneOnTheUserPathIsTheCause) {
  Incident x = Explain({
      Make("billing", "metric:cpu_usage", Family::kInfrastructure, "cpu", 0, 60),
      Make("billing", "metric:memory_usage", Family::kInfrastructure, "memory", 0, 40),
      Make("gpu-pool", "errors", Family::kSoftware, "errors", 0, 10),
      Make("gpu-pool", "span.latency", Family::kInfrastructure, "latency", 0, 9),
      Make("scheduler", "errors", Family::kSoftware, "errors", 10, 12),
      Make("chat", "http.5xx", Family::kSoftware, "5xx", 20, 14),
      Make("gateway", "http.5xx", Family::kSoftware, "5xx", 20, 16),
  });
  ASSERT_GE(x.causes.size(), 2u);
  EXPECT_EQ(x.causes[0].service, "gpu-pool") << x.causes[0].why;
  const std::vector<std::string> order = CauseServices(x);
  ASSERT_NE(std::find(order.begin(), order.end(), "billing"), order.end());
  EXPECT_EQ(x.causes[0].explains, 3u);  // scheduler, chat, gateway
}

// The victim rule: a service whose callee failed first ranks below it even
// when its own evidence is louder.
TEST(IncidentTest, ALouderCallerThatChangedLaterIsAVictim) {
  Incident x = Explain({
      Make("db", "errors", Family::kSoftware, "errors", 0, 8),
      Make("auth", "errors", Family::kSoftware, "errors", 10, 40),
      Make("auth", "span.latency", Family::kInfrastructure, "latency", 10, 30),
  });
  ASSERT_GE(x.causes.size(), 2u);
  EXPECT_EQ(x.causes[0].service, "db") << x.causes[0].why << " | " << x.causes[1].why;
  EXPECT_NE(x.causes[1].why.find("changed no later"), std::string::npos) << x.causes[1].why;
}

// Slow calls are what the caller saw: when the caller itself is starved of
// CPU, its calls to a healthy callee look slow. The caller is the cause.
TEST(IncidentTest, ACpuStarvedCallerIsTheCauseOfItsSlowCallsNotTheCallee) {
  Finding slow = Make("scheduler", "edge.latency", Family::kUnknown, "", 10, 40);
  slow.dimension = "caller=chat";
  Incident x = Explain({
      Make("chat", "metric:cpu_usage", Family::kInfrastructure, "cpu", 0, 60),
      slow,
      Make("gateway", "http.5xx", Family::kSoftware, "5xx", 20, 10),
  });
  ASSERT_FALSE(x.causes.empty());
  EXPECT_EQ(x.causes[0].service, "chat") << x.causes[0].why;
  EXPECT_EQ(x.causes[0].kind, "cpu");
  // The same slow calls with a healthy caller are the callee's.
  Incident y = Explain({slow, Make("gateway", "http.5xx", Family::kSoftware, "5xx", 20, 10)});
  ASSERT_FALSE(y.causes.empty());
  EXPECT_EQ(y.causes[0].service, "scheduler") << y.causes[0].why;
  EXPECT_EQ(y.causes[0].kind, "network");
}

// A network delay on one pod: every call into it and out of it waits
// outside the callee's span (edge.gap), on both of its edges, while the
// calls it makes also look slow from its side (edge.latency on its callee).
// The service the widened edges share is the cause, infrastructure/network;
// its callee, whose own work did not change, is not, and is no reason to
// call chat a victim.
TEST(IncidentTest, ANetworkDelayIsTheServiceTheWidenedCallsShare) {
  auto on_edge = [](Finding f, const std::string& caller) {
    f.dimension = "caller=" + caller;
    return f;
  };
  Incident x = Explain({
      on_edge(Make("chat", "edge.gap", Family::kInfrastructure, "network", 0, 300), "gateway"),
      on_edge(Make("scheduler", "edge.gap", Family::kInfrastructure, "network", 0, 200), "chat"),
      on_edge(Make("scheduler", "edge.latency", Family::kUnknown, "", 0, 40), "chat"),
      Make("gateway", "span.latency", Family::kInfrastructure, "latency", 10, 30),
      Make("edge", "http.5xx", Family::kSoftware, "5xx", 20, 10),
  });
  ASSERT_FALSE(x.causes.empty());
  EXPECT_EQ(x.causes[0].service, "chat") << x.causes[0].why;
  EXPECT_EQ(x.causes[0].family, Family::kInfrastructure);
  EXPECT_EQ(x.causes[0].kind, "network");
  EXPECT_EQ(x.chain, (std::vector<std::string>{"chat", "gateway", "edge"}));
  // One widened edge and nothing else: the callee's side.
  Incident y = Explain({on_edge(Make("cache", "edge.gap", Family::kInfrastructure, "network", 0, 300),
                                "moderation")});
  ASSERT_FALSE(y.causes.empty());
  EXPECT_EQ(y.causes[0].service, "cache") << y.causes[0].why;
}

// A surge at the edge makes the edge itself slow, and its callees queue:
// where demand starts, slowness that follows is the surge's doing. The cause
// is the edge, demand, though its own latency outweighs its traffic.
TEST(IncidentTest, ASurgeThatSlowsItsOwnEntryIsStillDemand) {
  auto from = [](Finding f, const std::string& caller) {
    f.dimension = "caller=" + caller;
    return f;
  };
  Incident x = Explain({
      Make("edge", "span.calls", Family::kDemand, "traffic", 0, 12),
      Make("edge", "span.latency", Family::kInfrastructure, "latency", 10, 60),
      from(Make("gateway", "edge.calls", Family::kDemand, "traffic", 0, 12), "edge"),
      Make("gateway", "span.latency", Family::kInfrastructure, "latency", 10, 50),
      from(Make("chat", "edge.calls", Family::kDemand, "traffic", 0, 10), "gateway"),
      Make("scheduler", "span.latency", Family::kInfrastructure, "latency", 10, 80),
      from(Make("gpu-pool", "edge.calls", Family::kDemand, "traffic", 10, 9), "scheduler"),
  });
  ASSERT_FALSE(x.causes.empty());
  EXPECT_EQ(x.causes[0].service, "edge") << x.causes[0].why;
  EXPECT_EQ(x.causes[0].family, Family::kDemand);
}

// A cache that evicts everything: its caller now sends every lookup to the
// database, which slows under the load, and the caller slows with it. The
// database's extra calls came from auth, which changed no later: it is
// auth's victim, and auth is the cache's. The cause is the cache.
TEST(IncidentTest, ExtraCallsFromACallerPointAtWhatChangedTheCaller) {
  const std::vector<Edge> edges = Edges({{"gateway", "auth"}, {"auth", "cache"}, {"auth", "db"}});
  Finding evicted = NewLine("cache", Family::kInfrastructure, "memory", 0,
                            "used_memory reached maxmemory (<*>): evicted <*> of keys");
  evicted.anomaly.strength = 1;
  evicted.related.push_back(RelatedSignal{"metric:memory_usage", "", 80, Family::kInfrastructure, "memory", 0});
  Finding db = Make("db", "span.latency", Family::kInfrastructure, "latency", 0, 60);
  db.related.push_back(RelatedSignal{"edge.calls", "caller=auth", 50, Family::kDemand, "traffic", 0});
  Finding auth = Make("auth", "edge.latency", Family::kUnknown, "", 0, 70);
  auth.dimension = "caller=gateway";
  Incident x = Correlate({evicted, db, auth, Make("cache", "span.latency", Family::kUnknown, "", 0, 16,
                                                  Direction::kDown)},
                         edges, kBucket, kT0 + 3600 * kSec, CorrelateOptions{});
  ASSERT_FALSE(x.causes.empty());
  EXPECT_EQ(x.causes[0].service, "cache") << x.causes[0].why;
  EXPECT_EQ(x.causes[0].kind, "memory");
  // Without the extra calls the database is just slow, and it is the cause.
  db.related.clear();
  Incident y = Correlate({evicted, db, auth}, edges, kBucket, kT0 + 3600 * kSec, CorrelateOptions{});
  ASSERT_FALSE(y.causes.empty());
  EXPECT_EQ(y.causes[0].service, "db") << y.causes[0].why;
}

TEST(IncidentTest, WeakEvidenceIsUnknownAndNoFindingsIsNoIncident) {
  Incident weak = Explain({Make("cache", "metric:memory_usage", Family::kInfrastructure, "memory", 0, 2)});
  ASSERT_EQ(weak.causes.size(), 1u);
  EXPECT_FALSE(weak.identified);
  EXPECT_EQ(weak.state, IncidentState::kResolved);  // ended long before now

  Incident none = Explain({});
  EXPECT_TRUE(none.causes.empty());
  EXPECT_TRUE(none.id.empty());
}

// The same findings in any order give the same incident, id included; the
// id is the first onset and the first service.
TEST(IncidentTest, DeterministicInAnyOrder) {
  std::vector<Finding> findings = {
      Make("gpu-pool", "errors", Family::kSoftware, "errors", 0, 10),
      Make("scheduler", "errors", Family::kSoftware, "errors", 10, 12),
      Make("chat", "http.5xx", Family::kSoftware, "5xx", 20, 14),
      Make("gateway", "http.5xx", Family::kSoftware, "5xx", 20, 16),
      Make("billing", "metric:cpu_usage", Family::kInfrastructure, "cpu", 5, 30),
  };
  const std::string expected = IncidentJson(Explain(findings));
  std::mt19937 rng(7);
  for (int i = 0; i < 5; ++i) {
    std::shuffle(findings.begin(), findings.end(), rng);
    EXPECT_EQ(IncidentJson(Explain(findings)), expected);
  }
  EXPECT_EQ(Explain(findings).id, IncidentId(kT0, "gpu-pool"));
  EXPECT_EQ(IncidentId(kT0, "gpu-pool").substr(0, 16), "20231114T221320-");
}

// GroupIncidents: a quiet gap longer than group_gap_ns separates incidents;
// weak ones are dropped; states follow the watermark.
TEST(IncidentTest, GroupingByTimeAndLifecycle) {
  std::vector<Finding> findings = {
      Make("gpu-pool", "errors", Family::kSoftware, "errors", 0, 20),
      Make("chat", "http.5xx", Family::kSoftware, "5xx", 20, 20),
      // 20 minutes later: a second, separate incident, still going on.
      Make("chat", "errors", Family::kSoftware, "errors", 1200, 25),
      Make("gateway", "http.5xx", Family::kSoftware, "5xx", 1210, 25),
      // 40 minutes later: one faint wobble, not worth an incident.
      Make("cache", "metric:memory_usage", Family::kInfrastructure, "memory", 2400, 1.5),
  };
  findings[2].ongoing = findings[3].ongoing = true;
  const int64_t now = kT0 + 1300 * kSec;
  std::vector<Incident> incidents =
      GroupIncidents(findings, Fleet(), kBucket, now, CorrelateOptions{});
  ASSERT_EQ(incidents.size(), 2u);
  EXPECT_EQ(incidents[0].causes[0].service, "gpu-pool");
  EXPECT_EQ(incidents[0].state, IncidentState::kResolved);
  EXPECT_EQ(incidents[0].resolved_ns, kT0 + 200 * kSec + CorrelateOptions{}.resolve_after_ns);
  EXPECT_EQ(incidents[1].causes[0].service, "chat");
  EXPECT_EQ(incidents[1].state, IncidentState::kIdentified);
  EXPECT_EQ(incidents[1].resolved_ns, 0);

  // Status updates walk the lifecycle in time order.
  std::vector<StatusUpdate> updates = StatusUpdates(incidents[0]);
  ASSERT_EQ(updates.size(), 4u);
  EXPECT_EQ(updates[0].state, IncidentState::kInvestigating);
  EXPECT_EQ(updates[1].state, IncidentState::kIdentified);
  EXPECT_NE(updates[1].text.find("gpu-pool"), std::string::npos) << updates[1].text;
  EXPECT_EQ(updates[2].state, IncidentState::kMonitoring);
  EXPECT_EQ(updates[3].state, IncidentState::kResolved);
  for (size_t i = 1; i < updates.size(); ++i) EXPECT_LE(updates[i - 1].at_ns, updates[i].at_ns);
  EXPECT_EQ(StatusUpdates(incidents[1]).size(), 2u);  // still going on: no Monitoring yet

  // From the middle of the first incident on: its rest would be a
  // different incident under another id, so it is left out (whoever looked
  // from before it began reported it); the second is the same as before.
  std::vector<Incident> later = GroupIncidents(findings, Fleet(), kBucket, now,
                                               CorrelateOptions{}, kT0 + 20 * kSec);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].id, incidents[1].id);
}

TEST(IncidentTest, JsonHasTheDocumentedShape) {
  Incident x = Explain({
      Make("gpu-pool", "errors", Family::kSoftware, "errors", 0, 20),
      Make("chat", "http.5xx", Family::kSoftware, "5xx", 20, 20),
  });
  x.timeline[1].dimension = "endpoint=/v1/chat/completions";
  x = Explain(x.timeline);
  const std::string json = IncidentJson(x);
  for (const char* key : {"\"causes\":[{\"service\":\"gpu-pool\",\"category\":\"software\"",
                          "\"chain\":[\"gpu-pool\",\"scheduler\",\"chat\"]",
                          "\"impacted\":{\"endpoints\":[\"/v1/chat/completions\"],\"regions\":[]",
                          "\"onset\":\"2023-11-14T22:13:20Z\"", "\"evidence\":[{"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << "\n" << json;
  }
}

}  // namespace
}  // namespace faultline::correlate
