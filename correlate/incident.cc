#include "correlate/incident.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include <tbb/parallel_for.h>

#include "core/json_writer.h"
#include "core/time.h"
#include "correlate/blame.h"

namespace faultline::correlate {

namespace {

// No single series may outvote several: log2(1 + strength) is capped here
// (strength 63).
constexpr double kMaxFindingWeight = 6.0;
// Explained evidence counts this much of its weight per call of distance
// (halved again with every further call).
constexpr double kExplainShare = 0.5;
// A candidate whose callee changed no later than it did is probably that
// callee's victim: its score is multiplied by this.
constexpr double kVictimFactor = 0.3;
// Onset order: a candidate's score is divided by 1 + this per minute its
// first change came after the incident's first.
constexpr double kLatePenalty = 0.5;
// Onsets are estimated to the bucket, and a step's is 1-2 buckets early in
// about 6% of series (correlate/detect.h): two changes this many buckets
// apart may have begun together.
constexpr int64_t kOnsetSlack = 2;

bool IsTemplate(const std::string& signal) { return signal.rfind("template:", 0) == 0; }

bool IsErrorCount(const std::string& signal) {
  return signal == "errors" || signal == "http.5xx" || signal == "span.errors" ||
         signal == "edge.errors" || signal == "edge.peer_errors";
}

bool IsLatency(const std::string& signal) {
  return signal == "latency" || signal == "span.latency" || signal == kEdgeLatency;
}

// A resource gauge that changed (CPU, memory, GPU, disk, network bytes,
// ...): a cause in itself. A gauge of a symptom (a latency percentile, a
// request rate, a success rate) describes what others did to the service.
bool SymptomKind(const std::string& kind) {
  return kind.empty() || kind == "latency" || kind == "traffic" || kind == "errors";
}

bool IsResource(const Finding& f) {
  return f.signal.rfind("metric:", 0) == 0 && f.family != Family::kUnknown && !SymptomKind(f.kind);
}

// How directly a finding says "this service is failing", before strength.
// A judgement of what each signal means, the same for every fleet.
double SignalFactor(const Finding& f) {
  const bool up = f.anomaly.direction == Direction::kUp;
  if (!f.services.empty()) return 0.2;  // common mode: a fleet-wide move
  if (f.first_seen) return 2.0;         // a new error/exception/deploy line
  if (IsTemplate(f.signal)) {
    if (!up) return 0.7;  // expected lines that stopped
    return f.family == Family::kUnknown ? 0.6 : 1.2;
  }
  if (IsErrorCount(f.signal)) return up ? 1.5 : 0.2;
  // Errors its callers logged in requests that went through it: indirect.
  if (f.signal == kTraceErrors) return 1.0;
  if (f.signal == "http.429") return up ? 1.0 : 0.2;
  // Calls waiting outside the callee (network, a starved end): specific.
  if (f.signal == kEdgeGap) return up ? 1.2 : 0.2;
  if (f.signal == kEdgeLatency) return up ? 1.0 : 0.3;
  if (IsLatency(f.signal)) return up ? 0.8 : 0.3;
  if (f.signal.rfind("metric:", 0) == 0) return IsResource(f) ? 0.6 : 0.25;
  return 0.5;  // traffic: records, calls, requests
}

double FindingWeight(const Finding& f) {
  double w = std::min(std::log2(1.0 + std::max(0.0, f.anomaly.strength)), kMaxFindingWeight) *
             SignalFactor(f);
  // Signals that changed with it are corroboration, worth a little each.
  double extra = 0;
  for (const RelatedSignal& r : f.related) {
    extra += 0.25 * std::min(std::log2(1.0 + std::max(0.0, r.strength)), kMaxFindingWeight);
  }
  return w + std::min(extra, w);
}

// Demand travels from caller to callee; everything else the other way.
bool IsDemand(const Finding& f) { return f.family == Family::kDemand; }

// What a service's callers see of its failure: its errors, its latency,
// its error lines. A gauge (CPU, memory, a per-pod latency percentile) is
// evidence about the service itself but is not what travels: a caller of a
// CPU-starved service sees slow calls, not the CPU metric.
// Blame by trace (correlate/blame.h) is split evenly over every service a
// failing request went through, healthy ones included: evidence for a
// service, but too diffuse to make others its victims.
// Time lost outside a callee (edge.gap) is the network's or a starved
// end's: like a gauge it is about where it was measured, and nothing a
// callee further down did explains it.
bool Propagates(const Finding& f) {
  return !IsDemand(f) && f.services.empty() && f.signal.rfind("metric:", 0) != 0 &&
         f.signal != kTraceErrors && f.signal != kEdgeGap;
}

// What can explain other services' changes: what travels (Propagates), a
// demand change, a resource gauge (CPU, memory, GPU, disk...) or time lost
// outside it. A gauge of
// a symptom (a latency percentile, a request rate) is not a cause of
// anything else by itself.
bool CanCause(const Finding& f) {
  if (Propagates(f) || IsDemand(f)) return true;
  return f.services.empty() && (IsResource(f) || f.signal == kEdgeGap);
}

// Slow calls (edge.latency{caller=X} on Y: the latency X saw) belong to Y,
// unless the slowness is on X's side (X starved of CPU, X's network): X
// sees several of its callees slow while Y is slow to fewer of its callers,
// or Y is slow to X alone and X's own resources changed. Then the finding is
// X's. Time outside the callee (edge.gap) belongs to whichever end more of
// the widened edges share: a pod with a network delay or starved of CPU
// widens the calls into it and out of it alike; with one edge, to the
// callee unless only the caller's resources changed. Returns the service
// each finding counts for.
std::vector<std::string> SlowCallOwners(const std::vector<Finding>& fs) {
  std::map<std::string, std::set<std::string>> slow_callers, slow_callees;
  std::map<std::string, std::set<std::pair<std::string, std::string>>> wide;  // edge.gap
  auto caller_of = [](const Finding& f) {
    return f.dimension.substr(kCallerDimension.size());
  };
  auto on_edge = [](const Finding& f, std::string_view signal) {
    return f.signal == signal && f.anomaly.direction == Direction::kUp &&
           f.dimension.rfind(kCallerDimension, 0) == 0;
  };
  std::set<std::string> starved;  // services whose own resources changed
  for (const Finding& f : fs) {
    if (IsResource(f) && f.services.empty()) starved.insert(f.service);
    if (on_edge(f, kEdgeGap)) {
      const std::pair<std::string, std::string> edge{caller_of(f), f.service};
      wide[edge.first].insert(edge);
      wide[edge.second].insert(edge);
    }
    if (!on_edge(f, kEdgeLatency)) continue;
    slow_callers[f.service].insert(caller_of(f));
    slow_callees[caller_of(f)].insert(f.service);
  }
  auto caller_side = [&](const std::string& caller, const std::string& callee) {
    return starved.count(caller) > 0 && starved.count(callee) == 0;
  };
  std::vector<std::string> owner;
  owner.reserve(fs.size());
  for (const Finding& f : fs) {
    const std::string caller = on_edge(f, kEdgeGap) || on_edge(f, kEdgeLatency) ? caller_of(f) : "";
    if (on_edge(f, kEdgeGap)) {
      const size_t at_caller = wide[caller].size(), at_callee = wide[f.service].size();
      const bool mine = at_caller > at_callee || (at_caller == at_callee && caller_side(caller, f.service));
      owner.push_back(mine ? caller : f.service);
      continue;
    }
    if (on_edge(f, kEdgeLatency)) {
      const size_t callees = slow_callees[caller].size(), callers = slow_callers[f.service].size();
      if ((callees >= 2 && callees > callers) || (callers == 1 && caller_side(caller, f.service))) {
        owner.push_back(caller);
        continue;
      }
    }
    owner.push_back(f.service);
  }
  return owner;
}

struct Candidate {
  std::string service;
  std::vector<size_t> findings;  // indices, strongest first
  double own = 0;
  double own_fault = 0;   // Propagates(): what its callers would see
  double own_demand = 0;  // demand changes: what its callees would see
  double own_cause = 0;   // CanCause(): what could explain others' changes
  double own_gap = 0;     // edge.gap: calls into or out of it waiting outside the callee
  int64_t onset_ns = INT64_MAX;
  int64_t fault_onset_ns = INT64_MAX;   // first Propagates() finding
  int64_t demand_onset_ns = INT64_MAX;  // first demand finding
  int64_t gap_onset_ns = INT64_MAX;     // first edge.gap finding
};

// w1 + w2/2 + w3/3 ...: more findings add, but less each.
double Diminishing(std::vector<double> weights) {
  std::sort(weights.begin(), weights.end(), std::greater<>());
  double sum = 0;
  for (size_t i = 0; i < weights.size(); ++i) sum += weights[i] / static_cast<double>(i + 1);
  return sum;
}

std::string Hex6(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%06llx", static_cast<unsigned long long>(h & 0xffffff));
  return buf;
}

std::string ShortValue(double v) {
  char buf[32];
  if (!std::isfinite(v)) return "?";
  if (std::abs(v) >= 100 || v == std::floor(v)) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.3g", v);
  }
  return buf;
}

// "errors up 0 -> 12", "new exception line", ...
std::string DescribeFinding(const Finding& f) {
  std::string what = f.signal;
  if (!f.dimension.empty()) what += "{" + f.dimension + "}";
  if (f.first_seen) return "new " + (f.kind.empty() ? std::string("line") : f.kind) + " line";
  if (IsTemplate(f.signal)) {
    what = f.anomaly.direction == Direction::kUp ? "more of a log line" : "a log line stopped";
    if (f.anomaly.direction == Direction::kUp && !f.kind.empty()) what = f.kind + " lines";
  }
  return what + " " + (f.anomaly.direction == Direction::kUp ? "up " : "down ") +
         ShortValue(f.anomaly.baseline) + " -> " + ShortValue(f.anomaly.peak_value);
}

// Callers and callees of each service, from edges with traffic or config.
struct Graph {
  std::map<std::string, std::vector<std::string>> callers, callees;
  explicit Graph(const std::vector<Edge>& edges) {
    for (const Edge& e : edges) {
      if (e.caller == e.callee) continue;
      callers[e.callee].push_back(e.caller);
      callees[e.caller].push_back(e.callee);
    }
    for (auto* m : {&callers, &callees}) {
      for (auto& [k, v] : *m) {
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
      }
    }
  }
  // Services reachable from `from` along `next`, with their distance (1 =
  // direct), up to max_depth; `from` itself excluded.
  static std::map<std::string, int> Reach(const std::map<std::string, std::vector<std::string>>& next,
                                          const std::string& from, int max_depth) {
    std::map<std::string, int> dist;
    std::vector<std::string> frontier = {from};
    for (int d = 1; d <= max_depth && !frontier.empty(); ++d) {
      std::vector<std::string> following;
      for (const std::string& s : frontier) {
        auto it = next.find(s);
        if (it == next.end()) continue;
        for (const std::string& n : it->second) {
          if (n == from || dist.count(n)) continue;
          dist[n] = d;
          following.push_back(n);
        }
      }
      frontier = std::move(following);
    }
    return dist;
  }
};

// Symptoms every kind of fault produces (errors, 5xx, slowness, traffic)
// say little about which kind it is; a line whose text names the fault, a
// CPU or GPU metric, a 429 do.
bool GenericSymptom(const std::string& signal, const std::string& kind) {
  return IsErrorCount(signal) || signal == kTraceErrors || IsLatency(signal) ||
         signal == "records" || signal == "span.calls" || signal == "edge.calls" ||
         SymptomKind(kind);
}

void ClassifyCause(const std::vector<Finding>& findings, Cause* cause) {
  std::map<Family, double> vote;
  std::map<std::pair<Family, std::string>, double> kinds;
  bool edge_latency = false, own_latency = false;
  auto add = [&](const std::string& signal, Family family, const std::string& kind, double w) {
    if (family == Family::kUnknown) return;
    w *= GenericSymptom(signal, kind) ? 0.3 : 1.0;
    vote[family] += w;
    kinds[{family, kind}] += w;
  };
  for (const Finding& f : findings) {
    if (f.signal == kEdgeLatency && f.anomaly.direction == Direction::kUp) edge_latency = true;
    if ((f.signal == "span.latency" || f.signal == "latency") &&
        f.anomaly.direction == Direction::kUp) {
      own_latency = true;
    }
    add(f.signal, f.family, f.kind, FindingWeight(f));
    for (const RelatedSignal& r : f.related) {
      add(r.signal, r.family, r.kind,
          0.5 * std::min(std::log2(1.0 + std::max(0.0, r.strength)), kMaxFindingWeight));
    }
  }
  if (vote.empty()) {
    // Only signals without a family: callers seeing slow calls into a
    // service whose own work is not slower is the network or the host.
    if (edge_latency) {
      cause->family = Family::kInfrastructure;
      cause->kind = own_latency ? "latency" : "network";
    }
    return;
  }
  auto best = std::max_element(vote.begin(), vote.end(), [](const auto& a, const auto& b) {
    return a.second < b.second || (a.second == b.second && a.first > b.first);
  });
  cause->family = best->first;
  double kind_weight = -1;
  for (const auto& [key, w] : kinds) {
    if (key.first == best->first && w > kind_weight) {
      kind_weight = w;
      cause->kind = key.second;
    }
  }
}

std::string JoinNames(const std::vector<std::string>& names, size_t max) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += " and " + std::to_string(names.size() - max) + " more";
  return out;
}

// The chain: from the top cause up the call graph to the anomalous service
// farthest from it (the user-facing end of what changed), through whatever
// lies between, by the shortest way; or down it, for demand, which travels
// from caller to callee, when that reaches more of what changed.
std::vector<std::string> Chain(const Cause& top, const Graph& graph,
                               const std::map<std::string, Candidate>& by_service,
                               const CorrelateOptions& options) {
  auto walk = [&](const std::map<std::string, std::vector<std::string>>& next_of) {
    const std::string& root = top.service;
    std::map<std::string, std::string> parent;
    std::map<std::string, int> depth = {{root, 0}};
    // Of the shortest paths to a service, the one through the most evidence
    // (a GPU pool's errors reach the edge through chat, which carries most
    // of them, rather than through a quieter sibling).
    std::map<std::string, double> path_weight = {{root, 0}};
    auto own = [&](const std::string& s) {
      auto c = by_service.find(s);
      return c == by_service.end() ? 0.0 : c->second.own;
    };
    std::vector<std::string> frontier = {root};
    std::string far = root;
    for (int d = 1; d <= options.max_depth + 4 && !frontier.empty(); ++d) {
      std::vector<std::string> following;
      for (const std::string& s : frontier) {
        auto it = next_of.find(s);
        if (it == next_of.end()) continue;
        for (const std::string& n : it->second) {
          if (depth.count(n)) {
            if (depth[n] == d && path_weight[s] > path_weight[parent[n]]) {
              parent[n] = s;
              path_weight[n] = path_weight[s] + own(n);
            }
            continue;
          }
          depth[n] = d;
          parent[n] = s;
          path_weight[n] = path_weight[s] + own(n);
          following.push_back(n);
          auto c = by_service.find(n);
          if (c == by_service.end()) continue;
          auto f = by_service.find(far);
          if (far == root || depth[far] < d ||
              (depth[far] == d && f != by_service.end() && c->second.own > f->second.own)) {
            far = n;
          }
        }
      }
      frontier = std::move(following);
    }
    std::vector<std::string> chain;
    for (std::string at = far; at != root; at = parent[at]) chain.push_back(at);
    chain.push_back(root);
    std::reverse(chain.begin(), chain.end());
    return chain;
  };
  auto anomalous = [&](const std::vector<std::string>& chain) {
    return std::count_if(chain.begin(), chain.end(),
                         [&](const std::string& s) { return by_service.count(s) > 0; });
  };
  std::vector<std::string> up = walk(graph.callers);
  std::vector<std::string> down = walk(graph.callees);
  const auto up_n = anomalous(up), down_n = anomalous(down);
  if (down_n > up_n || (down_n == up_n && down_n > 1 && top.family == Family::kDemand)) {
    return down;
  }
  return up;
}

// How often each series changed before: (service, signal, dimension) ->
// findings with onset in [from, to).
using Habits = std::map<std::tuple<std::string, std::string, std::string>, int>;

Habits CountHabits(const std::vector<Finding>& earlier, int64_t from, int64_t to) {
  Habits habits;
  for (const Finding& f : earlier) {
    if (f.onset_ns < from || f.onset_ns >= to || f.stat != Stat::kMean) continue;
    ++habits[{f.service, f.signal, f.dimension}];
  }
  return habits;
}

void Rank(Incident* incident, const Graph& graph, int64_t bucket_ns,
          const CorrelateOptions& options, const Habits& habits) {
  const std::vector<Finding>& fs = incident->timeline;
  std::map<std::string, Candidate> by_service;
  std::vector<double> weight(fs.size());
  const std::vector<std::string> owner = SlowCallOwners(fs);
  for (size_t i = 0; i < fs.size(); ++i) {
    weight[i] = FindingWeight(fs[i]);
    auto habit = habits.find({fs[i].service, fs[i].signal, fs[i].dimension});
    if (habit != habits.end()) weight[i] /= 1.0 + habit->second;
    incident->weight += weight[i];
    if (!fs[i].services.empty()) continue;  // common mode: context, not a candidate
    Candidate& c = by_service[owner[i]];
    c.service = owner[i];
    c.findings.push_back(i);
    c.onset_ns = std::min(c.onset_ns, fs[i].onset_ns);
    if (Propagates(fs[i])) c.fault_onset_ns = std::min(c.fault_onset_ns, fs[i].onset_ns);
    if (IsDemand(fs[i])) c.demand_onset_ns = std::min(c.demand_onset_ns, fs[i].onset_ns);
    if (fs[i].signal == kEdgeGap) c.gap_onset_ns = std::min(c.gap_onset_ns, fs[i].onset_ns);
  }
  if (by_service.empty()) return;
  int64_t first_onset = INT64_MAX;
  for (auto& [name, c] : by_service) {
    std::stable_sort(c.findings.begin(), c.findings.end(),
                     [&](size_t a, size_t b) { return weight[a] > weight[b]; });
    std::vector<double> all, fault, demand, cause, gap;
    for (size_t i : c.findings) {
      all.push_back(weight[i]);
      if (fs[i].signal == kEdgeGap) gap.push_back(weight[i]);
      if (IsDemand(fs[i])) demand.push_back(weight[i]);
      if (Propagates(fs[i])) fault.push_back(weight[i]);
      if (CanCause(fs[i])) cause.push_back(weight[i]);
    }
    c.own = Diminishing(all);
    c.own_fault = Diminishing(fault);
    c.own_demand = Diminishing(demand);
    c.own_cause = Diminishing(cause);
    c.own_gap = Diminishing(gap);
  }
  // Onset order is measured from the first change that matters: the
  // earliest onset among candidates with at least half the evidence of the
  // strongest, so that a faint wobble a minute before the fault does not
  // make everything after it "late".
  double strongest = 0;
  for (const auto& [name, c] : by_service) strongest = std::max(strongest, c.own);
  for (const auto& [name, c] : by_service) {
    if (c.own >= 0.5 * strongest) first_onset = std::min(first_onset, c.onset_ns);
  }
  std::vector<Cause> causes;
  for (auto& [name, c] : by_service) {
    Cause cause;
    cause.service = name;
    cause.own_weight = c.own;
    cause.onset_ns = c.onset_ns;
    std::vector<std::string> explained_names;
    // Failures reach the callers; demand reaches the callees.
    // An effect does not start before its cause, and makes its cause no
    // more credible than the cause's own evidence does: a faint change
    // explains a loud one only as far as it is itself convincing.
    // Onsets compared are those of the evidence in question: the other's
    // failure (or demand change) against this one's first change.
    auto credit = [&](int64_t other_onset, double evidence, int d) {
      if (other_onset + kOnsetSlack * bucket_ns < c.onset_ns) return 0.0;
      return std::min(evidence, c.own_cause) * kExplainShare * std::pow(0.5, d - 1);
    };
    auto gather = [&](const std::map<std::string, std::vector<std::string>>& next,
                      double Candidate::*evidence, int64_t Candidate::*onset) {
      for (const auto& [other, d] : Graph::Reach(next, name, options.max_depth)) {
        auto it = by_service.find(other);
        if (it == by_service.end() || it->second.*evidence <= 0) continue;
        const double got = credit(it->second.*onset, it->second.*evidence, d);
        if (got <= 0) continue;
        cause.explained += got;
        if (std::find(explained_names.begin(), explained_names.end(), other) ==
            explained_names.end()) {
          explained_names.push_back(other);
        }
      }
    };
    // A callee that failed no later than this service did explains its
    // failure; a caller whose demand changed no later explains its demand
    // change. Either makes it a victim, if that other change convinces.
    std::string victim_of;
    auto convincing = [&](double other, double mine) {
      return other > 0 && other >= std::min(options.min_cause_weight, 0.5 * mine);
    };
    // Where demand starts (its demand changed no later than its other
    // signals, and no caller's demand changed before it), its own slowness
    // and its callees' are the surge's effects, not a failure below it.
    const bool demand_led = c.own_demand > 0 && (c.own_demand >= c.own_fault ||
                                                 c.demand_onset_ns <= c.fault_onset_ns);
    // More calls from a caller (edge.calls{caller=X} up) are that caller's
    // doing: its own demand rose, or it calls more per request (a cache
    // that stopped answering, retries). X is where to look, if it changed.
    // The extra calls must come no later than its own trouble (retries
    // into a failing service come after it).
    std::string sent_by;
    auto more_calls_from = [&](const std::string& dimension, Family family, int64_t onset) {
      if (!sent_by.empty() || family != Family::kDemand ||
          dimension.rfind(kCallerDimension, 0) != 0 ||
          onset > std::min(c.fault_onset_ns, c.onset_ns) + kOnsetSlack * bucket_ns) {
        return;
      }
      const std::string caller = dimension.substr(kCallerDimension.size());
      auto it = by_service.find(caller);
      if (it != by_service.end() && it->second.onset_ns <= onset + kOnsetSlack * bucket_ns) {
        sent_by = caller;
      }
    };
    for (size_t i : c.findings) {
      const Finding& f = fs[i];
      if (f.anomaly.direction != Direction::kUp) continue;
      more_calls_from(f.dimension, f.family, f.onset_ns);
      for (const RelatedSignal& r : f.related) {
        more_calls_from(r.dimension, r.family, f.onset_ns);
      }
    }
    // A caller whose demand changed no later than this one's.
    std::string demand_from;
    if (demand_led) {
      for (const auto& [caller, d] : Graph::Reach(graph.callers, name, 2)) {
        auto it = by_service.find(caller);
        if (it != by_service.end() && convincing(it->second.own_demand, c.own_demand) &&
            it->second.demand_onset_ns <= c.demand_onset_ns + kOnsetSlack * bucket_ns) {
          demand_from = caller;
          break;
        }
      }
    }
    const bool demand_origin = demand_led && sent_by.empty() && demand_from.empty();
    // Calls into a callee that wait outside it (edge.gap) fail its callers
    // as surely as its own errors would.
    if (c.own_fault > 0 && !demand_origin) {
      for (const auto& [callee, d] : Graph::Reach(graph.callees, name, 2)) {
        auto it = by_service.find(callee);
        if (it == by_service.end()) continue;
        const Candidate& other = it->second;
        if (convincing(other.own_fault + other.own_gap, c.own_fault) &&
            std::min(other.fault_onset_ns, other.gap_onset_ns) <=
                c.fault_onset_ns + kOnsetSlack * bucket_ns) {
          victim_of = callee;
          break;
        }
      }
    }
    if (victim_of.empty()) victim_of = !sent_by.empty() ? sent_by : demand_from;
    gather(graph.callers, &Candidate::own_fault, &Candidate::fault_onset_ns);
    gather(graph.callees, &Candidate::own_demand, &Candidate::demand_onset_ns);
    // Where demand starts (no caller's demand changed before it), the
    // slowness and errors of overloaded callees that follow are its effects
    // too: a surge at the edge queues the GPU pools behind it.
    if (demand_origin) gather(graph.callees, &Candidate::own_fault, &Candidate::fault_onset_ns);
    cause.explains = explained_names.size();
    const double minutes_late =
        static_cast<double>(std::max<int64_t>(0, c.onset_ns - first_onset)) /
        (60.0 * 1'000'000'000.0);
    cause.score = (c.own + cause.explained) / (1.0 + kLatePenalty * minutes_late);
    if (!victim_of.empty()) cause.score *= kVictimFactor;
    for (size_t i : c.findings) cause.evidence.push_back(fs[i]);
    ClassifyCause(cause.evidence, &cause);
    if (demand_origin && cause.family != Family::kDemand) {
      // Its slowness is what its own surge did to it: the family is demand,
      // the kind its strongest demand finding's.
      cause.family = Family::kDemand;
      cause.kind = "traffic";
      for (size_t i : c.findings) {
        if (IsDemand(fs[i]) && !fs[i].kind.empty()) {
          cause.kind = fs[i].kind;
          break;
        }
      }
    }
    // Why, in one sentence.
    std::string why = std::to_string(c.findings.size()) + " change" +
                      (c.findings.size() == 1 ? "" : "s") + " of its own (" +
                      DescribeFinding(fs[c.findings.front()]);
    if (c.findings.size() > 1) why += "; " + DescribeFinding(fs[c.findings[1]]);
    why += ")";
    if (!explained_names.empty()) {
      why += "; explains " + JoinNames(explained_names, 4) + " through the call graph";
    }
    if (c.onset_ns <= first_onset) why += "; changed first";
    if (!victim_of.empty()) {
      why += "; but " + victim_of + (c.own_fault > 0 && c.own_demand < c.own_fault
                                         ? ", which it calls,"
                                         : ", which calls it,") +
             " changed no later";
    }
    cause.why = std::move(why);
    causes.push_back(std::move(cause));
  }
  std::stable_sort(causes.begin(), causes.end(), [](const Cause& a, const Cause& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.onset_ns != b.onset_ns) return a.onset_ns < b.onset_ns;
    return a.service < b.service;
  });
  double total = 0;
  for (const Cause& c : causes) total += c.score;
  for (Cause& c : causes) c.confidence = total > 0 ? c.score / total : 0;
  if (causes.size() > options.max_causes) causes.resize(options.max_causes);
  incident->identified = causes.front().own_weight >= options.min_cause_weight;
  incident->causes = std::move(causes);

  incident->chain = Chain(incident->causes.front(), graph, by_service, options);
}

void Describe(Incident* incident, int64_t bucket_ns, int64_t now_ns,
              const CorrelateOptions& options) {
  const std::vector<Finding>& fs = incident->timeline;  // sorted (SortFindings)
  std::set<std::string> services, endpoints, regions;
  incident->onset_ns = fs.front().onset_ns;
  incident->detected_ns = fs.front().onset_ns + bucket_ns;
  incident->end_ns = 0;
  incident->ongoing = false;
  auto dimension = [&](const std::string& dim) {
    if (dim.rfind("endpoint=", 0) == 0) endpoints.insert(dim.substr(9));
    if (dim.rfind("region=", 0) == 0) regions.insert(dim.substr(7));
  };
  for (const Finding& f : fs) {
    services.insert(f.service);
    for (const std::string& s : f.services) services.insert(s);
    dimension(f.dimension);
    for (const RelatedSignal& r : f.related) dimension(r.dimension);
    incident->end_ns = std::max(incident->end_ns, f.end_ns);
    incident->ongoing = incident->ongoing || f.ongoing;
  }
  incident->services.assign(services.begin(), services.end());
  incident->endpoints.assign(endpoints.begin(), endpoints.end());
  incident->regions.assign(regions.begin(), regions.end());
  incident->id = IncidentId(incident->onset_ns, fs.front().service);
  incident->resolved_ns = 0;
  if (!incident->ongoing && now_ns - incident->end_ns >= options.resolve_after_ns) {
    incident->resolved_ns = incident->end_ns + options.resolve_after_ns;
  }
}

void FinishState(Incident* incident) {
  if (incident->resolved_ns != 0) {
    incident->state = IncidentState::kResolved;
  } else if (!incident->ongoing) {
    incident->state = IncidentState::kMonitoring;
  } else if (incident->identified) {
    incident->state = IncidentState::kIdentified;
  } else {
    incident->state = IncidentState::kInvestigating;
  }
}

void SortFindings(std::vector<Finding>* findings) {
  std::stable_sort(findings->begin(), findings->end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.onset_ns, a.service, a.signal, a.dimension) <
           std::tie(b.onset_ns, b.service, b.signal, b.dimension);
  });
}

std::string Number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

void AppendStrings(std::string* out, const std::vector<std::string>& values) {
  *out += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) *out += ',';
    AppendJsonString(out, values[i]);
  }
  *out += ']';
}

}  // namespace

const char* IncidentStateName(IncidentState state) {
  switch (state) {
    case IncidentState::kInvestigating: return "investigating";
    case IncidentState::kIdentified: return "identified";
    case IncidentState::kMonitoring: return "monitoring";
    case IncidentState::kResolved: return "resolved";
  }
  return "investigating";
}

std::string IncidentId(int64_t onset_ns, const std::string& service) {
  std::string t = FormatRfc3339(onset_ns, 0);  // 2023-01-29T10:04:30Z
  std::string compact;
  for (char c : t) {
    if (c != '-' && c != ':' && c != 'Z') compact += c;
  }
  return compact + "-" + Hex6(service);
}

Incident Correlate(std::vector<Finding> findings, const std::vector<Edge>& edges,
                   int64_t bucket_ns, int64_t now_ns, const CorrelateOptions& options,
                   const std::vector<Finding>& earlier) {
  Incident incident;
  if (findings.empty()) return incident;
  SortFindings(&findings);
  incident.timeline = std::move(findings);
  Describe(&incident, bucket_ns, now_ns, options);
  const int64_t onset = incident.onset_ns;
  Rank(&incident, Graph(edges), bucket_ns, options,
       CountHabits(earlier, onset - options.habit_window_ns, onset));
  FinishState(&incident);
  return incident;
}

std::vector<Incident> GroupIncidents(std::vector<Finding> findings, const std::vector<Edge>& edges,
                                     int64_t bucket_ns, int64_t now_ns,
                                     const CorrelateOptions& options, int64_t from_ns) {
  SortFindings(&findings);
  std::vector<Incident> incidents;
  // The latest onset before from_ns: an incident that chains to it began
  // before the range (an earlier pass or range reported it), and without its
  // beginning it would be a different incident under another id.
  int64_t last_onset = INT64_MIN;
  bool continuing = false;
  for (const Finding& f : findings) {
    if (f.onset_ns < from_ns) {
      last_onset = f.onset_ns;
      continue;
    }
    if (last_onset != INT64_MIN && f.onset_ns - last_onset <= options.group_gap_ns &&
        (incidents.empty() || continuing)) {
      continuing = true;  // still the one begun before from_ns
      last_onset = f.onset_ns;
      continue;
    }
    continuing = false;
    if (incidents.empty() || f.onset_ns - last_onset > options.group_gap_ns) {
      incidents.emplace_back();
    }
    last_onset = f.onset_ns;
    incidents.back().timeline.push_back(f);
  }
  const Graph graph(edges);
  tbb::parallel_for(size_t{0}, incidents.size(), [&](size_t i) {
    Describe(&incidents[i], bucket_ns, now_ns, options);
    const int64_t onset = incidents[i].onset_ns;
    Rank(&incidents[i], graph, bucket_ns, options,
         CountHabits(findings, onset - options.habit_window_ns, onset));
    FinishState(&incidents[i]);
  });
  std::erase_if(incidents,
                [&](const Incident& x) { return x.weight < options.min_incident_weight; });
  return incidents;
}

Status AddTraceBlame(storage::Reader* reader, const std::vector<Edge>& edges, int64_t bucket_ns,
                     int64_t now_ns, const CorrelateOptions& options,
                     const std::vector<Finding>& earlier, Incident* incident) {
  if (incident->timeline.empty()) return Status::Ok();
  FL_ASSIGN_OR_RETURN(BlameResult blamed,
                      TraceBlame(reader, incident->onset_ns,
                                 std::max(incident->end_ns, incident->onset_ns + bucket_ns),
                                 bucket_ns));
  if (blamed.findings.empty()) return Status::Ok();
  std::vector<Finding> findings = incident->timeline;
  for (Finding& f : blamed.findings) findings.push_back(std::move(f));
  const std::string id = incident->id;
  *incident = Correlate(std::move(findings), edges, bucket_ns, now_ns, options, earlier);
  incident->id = id;
  return Status::Ok();
}

Status AddImpact(storage::Reader* reader, const SignalClassifier& classifier, int64_t bucket_ns,
                 Incident* incident) {
  if (incident->timeline.empty()) return Status::Ok();
  std::set<std::string> endpoints(incident->endpoints.begin(), incident->endpoints.end());
  std::set<std::string> regions(incident->regions.begin(), incident->regions.end());
  const int64_t since = (incident->onset_ns - 2 * bucket_ns) / bucket_ns * bucket_ns;
  const int64_t until = std::max(incident->end_ns, incident->onset_ns + 6 * bucket_ns);
  for (const char* dimension : {"region", "endpoint"}) {
    ScanOptions scan;
    scan.filter.services = incident->services;
    scan.filter.signals = {"errors", "http.5xx", "http.429", "latency", "span.errors", "span.latency"};
    scan.filter.dimension = dimension;
    scan.template_events = false;
    scan.merge_same_onset = false;
    scan.common_mode_min_services = 0;
    FL_ASSIGN_OR_RETURN(std::vector<Finding> found,
                        FindAnomalies(reader, since, until, bucket_ns, classifier, scan));
    for (const Finding& f : found) {
      if (f.anomaly.direction != Direction::kUp) continue;
      const size_t eq = f.dimension.find('=');
      if (eq == std::string::npos) continue;
      const std::string value = f.dimension.substr(eq + 1);
      if (value == "_other") continue;
      (f.dimension.rfind("region=", 0) == 0 ? regions : endpoints).insert(value);
    }
  }
  incident->endpoints.assign(endpoints.begin(), endpoints.end());
  incident->regions.assign(regions.begin(), regions.end());
  return Status::Ok();
}

Status CollectEvidenceLines(storage::Reader* reader, Incident* incident, size_t per_cause) {
  if (incident->causes.empty()) return Status::Ok();
  // The top causes' template findings, then their error lines.
  for (size_t c = 0; c < incident->causes.size() && c < 3; ++c) {
    const Cause& cause = incident->causes[c];
    std::set<uint64_t> templates;
    bool errors = false;
    int64_t since = INT64_MAX, until = INT64_MIN;
    for (const Finding& f : cause.evidence) {
      if (f.template_id != 0 && f.anomaly.direction == Direction::kUp) {
        templates.insert(f.template_id);
      }
      for (const RelatedSignal& r : f.related) {
        if (r.template_id != 0) templates.insert(r.template_id);
      }
      if (IsErrorCount(f.signal) && f.anomaly.direction == Direction::kUp) errors = true;
      since = std::min(since, f.onset_ns);
      until = std::max(until, f.end_ns);
    }
    if (templates.empty() && !errors) continue;
    storage::Query query;
    query.services = {cause.service};
    query.kind = RecordKind::kLog;
    query.since_ns = since;
    query.until_ns = std::max(until, since + 1);
    size_t taken = 0;
    std::map<uint64_t, size_t> per_template;
    FL_RETURN_IF_ERROR(reader->Search(query, [&](const Record& r) {
      const bool wanted_template = templates.count(r.template_id) > 0;
      const bool error_line = errors && r.level >= Level::kError;
      if (!wanted_template && !error_line) return true;
      if (per_template[r.template_id]++ >= 1 && taken > 0) return true;  // variety first
      EvidenceLine line;
      line.ts_ns = r.ts_ns;
      line.service = r.service;
      line.level = r.level;
      line.message = r.message.substr(0, 2000);
      line.template_id = r.template_id;
      line.provenance = r.provenance;
      incident->lines.push_back(std::move(line));
      return ++taken < per_cause;
    }));
  }
  return Status::Ok();
}

std::vector<StatusUpdate> StatusUpdates(const Incident& incident) {
  std::vector<StatusUpdate> updates;
  if (incident.timeline.empty()) return updates;
  std::vector<std::string> components = incident.chain;
  for (const std::string& e : incident.endpoints) components.push_back("endpoint " + e);
  for (const std::string& r : incident.regions) components.push_back("region " + r);
  const std::string impact =
      incident.chain.empty() ? incident.services.front() : incident.chain.back();
  StatusUpdate investigating;
  investigating.state = IncidentState::kInvestigating;
  investigating.at_ns = incident.detected_ns;
  investigating.components = components;
  investigating.text = "We are investigating degraded service affecting " + impact +
                       (incident.services.size() > 1
                            ? " and " + std::to_string(incident.services.size() - 1) +
                                  " other component" +
                                  (incident.services.size() == 2 ? "" : "s")
                            : std::string()) +
                       ".";
  updates.push_back(investigating);
  if (incident.identified && !incident.causes.empty()) {
    const Cause& top = incident.causes.front();
    StatusUpdate identified;
    identified.state = IncidentState::kIdentified;
    // The cause is known once its evidence has been seen: its last
    // finding's onset plus a bucket's delay, as the detection was.
    int64_t at = incident.detected_ns;
    for (const Finding& f : top.evidence) at = std::max(at, f.onset_ns);
    identified.at_ns = std::max(at, incident.detected_ns);
    identified.components = components;
    identified.text = "The issue has been identified: " +
                      std::string(top.family == Family::kUnknown
                                      ? "a fault"
                                      : std::string(FamilyName(top.family)) + " " +
                                            (top.kind.empty() ? "fault" : top.kind)) +
                      " in " + top.service +
                      (incident.chain.size() > 1
                           ? ", which reached " + JoinNames(std::vector<std::string>(
                                                                incident.chain.begin() + 1,
                                                                incident.chain.end()),
                                                            4)
                           : std::string()) +
                      ".";
    updates.push_back(identified);
  }
  if (!incident.ongoing) {
    StatusUpdate monitoring;
    monitoring.state = IncidentState::kMonitoring;
    monitoring.at_ns = std::max(incident.end_ns, updates.back().at_ns);
    monitoring.components = components;
    monitoring.text =
        "Error rates and latency are returning to normal. We are monitoring the recovery.";
    updates.push_back(monitoring);
  }
  if (incident.resolved_ns != 0) {
    StatusUpdate resolved;
    resolved.state = IncidentState::kResolved;
    resolved.at_ns = std::max(incident.resolved_ns, updates.back().at_ns);
    resolved.components = components;
    resolved.text = "This incident has been resolved: every affected signal has been back at "
                    "its baseline since " +
                    FormatRfc3339(incident.end_ns, 0) + ".";
    updates.push_back(resolved);
  }
  return updates;
}

std::string CauseLabel(const Cause& cause) {
  return std::string(FamilyName(cause.family)) + (cause.kind.empty() ? "" : " / " + cause.kind);
}

std::string IncidentJson(const Incident& incident) {
  std::string out = "{\"id\":";
  AppendJsonString(&out, incident.id);
  out += ",\"state\":\"" + std::string(IncidentStateName(incident.state)) + "\"";
  out += ",\"onset\":\"" + FormatRfc3339(incident.onset_ns, 0) + "\"";
  out += ",\"detected\":\"" + FormatRfc3339(incident.detected_ns, 0) + "\"";
  out += ",\"end\":";
  out += incident.ongoing ? "null" : "\"" + FormatRfc3339(incident.end_ns, 0) + "\"";
  out += ",\"resolved\":";
  out += incident.resolved_ns != 0 ? "\"" + FormatRfc3339(incident.resolved_ns, 0) + "\""
                                   : std::string("null");
  out += ",\"time_to_detect_s\":" +
         Number(static_cast<double>(incident.detected_ns - incident.onset_ns) / 1e9);
  out += ",\"time_to_recover_s\":";
  out += incident.ongoing
             ? std::string("null")
             : Number(static_cast<double>(incident.end_ns - incident.onset_ns) / 1e9);
  out += ",\"identified\":";
  out += incident.identified ? "true" : "false";
  out += ",\"causes\":[";
  for (size_t i = 0; i < incident.causes.size(); ++i) {
    const Cause& c = incident.causes[i];
    if (i > 0) out += ',';
    out += "{\"service\":";
    AppendJsonString(&out, c.service);
    out += ",\"category\":\"" + std::string(FamilyName(c.family)) + "\",\"kind\":";
    AppendJsonString(&out, c.kind);
    out += ",\"score\":" + Number(c.score) + ",\"confidence\":" + Number(c.confidence) +
           ",\"own_weight\":" + Number(c.own_weight) + ",\"explained\":" + Number(c.explained) +
           ",\"explains\":" + std::to_string(c.explains) + ",\"onset\":\"" +
           FormatRfc3339(c.onset_ns, 0) + "\",\"why\":";
    AppendJsonString(&out, c.why);
    out += ",\"evidence\":[";
    for (size_t e = 0; e < c.evidence.size(); ++e) {
      if (e > 0) out += ',';
      out += FindingJson(c.evidence[e]);
    }
    out += "]}";
  }
  out += "],\"chain\":";
  AppendStrings(&out, incident.chain);
  out += ",\"impacted\":{\"endpoints\":";
  AppendStrings(&out, incident.endpoints);
  out += ",\"regions\":";
  AppendStrings(&out, incident.regions);
  out += ",\"services\":";
  AppendStrings(&out, incident.services);
  out += "},\"timeline\":[";
  for (size_t i = 0; i < incident.timeline.size(); ++i) {
    const Finding& f = incident.timeline[i];
    if (i > 0) out += ',';
    out += "{\"at\":\"" + FormatRfc3339(f.onset_ns, 0) + "\",\"service\":";
    AppendJsonString(&out, f.service);
    out += ",\"signal\":";
    AppendJsonString(&out, f.signal);
    out += ",\"dimension\":";
    AppendJsonString(&out, f.dimension);
    out += ",\"direction\":\"" +
           std::string(f.anomaly.direction == Direction::kUp ? "up" : "down") +
           "\",\"strength\":" + Number(f.anomaly.strength) + ",\"what\":";
    AppendJsonString(&out, DescribeFinding(f));
    out += '}';
  }
  out += "],\"lines\":[";
  for (size_t i = 0; i < incident.lines.size(); ++i) {
    const EvidenceLine& l = incident.lines[i];
    if (i > 0) out += ',';
    out += "{\"ts\":\"" + FormatRfc3339(l.ts_ns) + "\",\"service\":";
    AppendJsonString(&out, l.service);
    out += ",\"level\":\"" + std::string(LevelName(l.level)) + "\",\"message\":";
    AppendJsonString(&out, l.message);
    out += ",\"source\":";
    AppendJsonString(&out, l.provenance.source);
    if (l.provenance.partition >= 0) {
      out += ",\"partition\":" + std::to_string(l.provenance.partition);
    }
    out += ",\"offset\":" + std::to_string(l.provenance.offset) + "}";
  }
  out += "],\"weight\":" + Number(incident.weight) + "}";
  return out;
}

}  // namespace faultline::correlate
