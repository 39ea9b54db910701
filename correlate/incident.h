// Root-cause correlation: anomalies (correlate/scan.h findings) and the call
// graph (correlate/topology.h edges) in, incidents out.
//
// An incident is a set of findings close in time, with its causes ranked
// best first. A candidate cause is a service with findings of its own; its
// score combines
//
//   - its own evidence: each finding weighs log2(1 + strength), capped so
//     that one wild series cannot outvote several moderate ones, times a
//     factor for how directly the signal says "this service is failing"
//     (a new exception line or an error burst more than a gauge moving);
//   - how much of the incident it explains through the topology: errors and
//     latency travel from a callee to its callers, so a service gains the
//     (distance-discounted) evidence of the anomalous services that call it,
//     directly or through others; demand travels the other way, so a
//     demand change (more requests, 429s) is explained by its callers;
//   - onset order: the first to change is more likely the cause, so a
//     candidate that changed after a service it calls had changed (its
//     callee's failure reached it) is discounted;
//
// and the incident says "unknown" (Incident::identified false) when no
// candidate has enough evidence of its own to convince. The chain runs from
// the top cause up through anomalous callers to the user-facing end (a
// service nobody calls, or the last anomalous caller).
//
// Deterministic: the same findings and edges give the same incidents, ids
// included, in any order (inputs are sorted first). Grouping runs serially
// (one pass over findings sorted by onset); ranking runs per incident on
// oneTBB.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/record.h"
#include "correlate/scan.h"
#include "correlate/topology.h"

namespace faultline::correlate {

struct CorrelateOptions {
  // Findings whose onsets are at most this far after the latest onset of an
  // incident join it; a longer quiet gap starts a new incident.
  int64_t group_gap_ns = int64_t{60} * 1'000'000'000;
  // An incident resolves when every finding has ended and stayed ended this
  // long (every signal back to its baseline).
  int64_t resolve_after_ns = int64_t{5} * 60 * 1'000'000'000;
  // How far (in calls) evidence travels through the topology.
  int max_depth = 4;
  // A top cause whose own evidence weighs less than this is not convincing:
  // the incident is kept, its cause is "unknown". One finding at strength
  // 7 (a clear change, z about 7) weighs about 3.
  double min_cause_weight = 2.5;
  // GroupIncidents drops incidents whose findings weigh less than this in
  // total: one weak, lonely gauge wobble is an anomaly to list, not an
  // incident to page about.
  double min_incident_weight = 5.0;
  size_t max_causes = 5;
  // Habits: a series that changed like this in the hour before (a chronic
  // spiker, a flapping check) says less when it changes again. A finding's
  // weight is divided by 1 + the number of findings of the same service,
  // signal and dimension with onsets in this long before the incident's.
  int64_t habit_window_ns = int64_t{3600} * 1'000'000'000;
  // Incidents are numbered by their onset; the id says when they began and
  // where (see IncidentId).
};

struct Cause {
  std::string service;
  Family family = Family::kUnknown;
  std::string kind;
  double score = 0;
  // Share of the incident's total cause score, 0..1.
  double confidence = 0;
  double own_weight = 0;    // evidence on this service alone
  double explained = 0;     // evidence of the services it explains
  size_t explains = 0;      // anomalous services it explains
  int64_t onset_ns = 0;     // its first finding
  // One sentence on why it ranks where it does.
  std::string why;
  // Its findings, strongest first.
  std::vector<Finding> evidence;
};

// A raw line behind a cause's evidence, with where it came from.
struct EvidenceLine {
  int64_t ts_ns = 0;
  std::string service;
  Level level = Level::kUnknown;
  std::string message;
  uint64_t template_id = 0;
  Provenance provenance;
};

enum class IncidentState : uint8_t { kInvestigating, kIdentified, kMonitoring, kResolved };
const char* IncidentStateName(IncidentState state);  // "investigating", ...

struct Incident {
  // "<UTC onset yyyymmddThhmmss>-<first service's name, hashed to 6 hex>":
  // sortable, stable across recomputation over any range that covers it.
  std::string id;
  int64_t onset_ns = 0;     // the first finding's onset
  int64_t detected_ns = 0;  // when the data showed it: the first finding's
                            // onset plus one bucket
  int64_t end_ns = 0;       // the last finding's end (the window end if ongoing)
  int64_t resolved_ns = 0;  // end_ns + resolve_after_ns once that has passed; 0 before
  bool ongoing = false;
  IncidentState state = IncidentState::kInvestigating;
  // The top cause convinces (CorrelateOptions::min_cause_weight); when
  // false, causes may still list candidates, but the answer is "unknown".
  bool identified = false;
  std::vector<Cause> causes;       // best first
  std::vector<std::string> chain;  // top cause first, user-facing end last
  std::vector<std::string> services;  // every service with a finding
  std::vector<std::string> endpoints, regions;  // from dimensions of findings
  std::vector<Finding> timeline;                // every finding, by onset
  std::vector<EvidenceLine> lines;              // filled by CollectEvidenceLines
  double weight = 0;                            // total evidence
};

// "infrastructure / gpu": the cause's family and, if known, kind.
std::string CauseLabel(const Cause& cause);

// The incident id: see Incident::id.
std::string IncidentId(int64_t onset_ns, const std::string& service);

// Ranks causes over every finding given, as one incident (explain --at).
// `earlier`: findings before them, for habits (CorrelateOptions::
// habit_window_ns); the scan of the hour before the window.
Incident Correlate(std::vector<Finding> findings, const std::vector<Edge>& edges,
                   int64_t bucket_ns, int64_t now_ns, const CorrelateOptions& options,
                   const std::vector<Finding>& earlier = {});

// Splits findings with onset at or after `from_ns` into incidents by time
// (CorrelateOptions::group_gap_ns), ranks each (in parallel), drops those
// under min_incident_weight. Findings before `from_ns` are history only
// (habits). `now_ns` is the end of the data seen (the watermark): incidents
// whose findings ended at least resolve_after_ns before it are resolved.
std::vector<Incident> GroupIncidents(std::vector<Finding> findings, const std::vector<Edge>& edges,
                                     int64_t bucket_ns, int64_t now_ns,
                                     const CorrelateOptions& options,
                                     int64_t from_ns = INT64_MIN);

// Adds trace blame (correlate/blame.h) over the incident's span, from its
// onset to its end, to its findings and ranks it again; the id stays what
// the scan's findings made it. For incidents from GroupIncidents; `edges`,
// `earlier` and `options` as they were given there.
Status AddTraceBlame(storage::Reader* reader, const std::vector<Edge>& edges, int64_t bucket_ns,
                     int64_t now_ns, const CorrelateOptions& options,
                     const std::vector<Finding>& earlier, Incident* incident);

// The endpoints and regions an incident hit: the region= and endpoint=
// series of its services (errors, 5xx, 429s, latency) that got worse from
// its onset to its end, added to Incident::endpoints and ::regions. The
// whole-service scan that found the incident does not read dimensions.
Status AddImpact(storage::Reader* reader, const SignalClassifier& classifier, int64_t bucket_ns,
                 Incident* incident);

// Reads up to `per_cause` stored lines of each top cause's template and
// error findings (and of the chain's services) for Incident::lines.
Status CollectEvidenceLines(storage::Reader* reader, Incident* incident, size_t per_cause = 3);

// The status-page updates of an incident: Investigating at detection,
// Identified when a cause is convincing, Monitoring when its signals are
// recovering, Resolved at resolution.
struct StatusUpdate {
  IncidentState state = IncidentState::kInvestigating;
  int64_t at_ns = 0;
  std::vector<std::string> components;  // affected services and endpoints
  std::string text;                     // plain language
};
std::vector<StatusUpdate> StatusUpdates(const Incident& incident);

// {"id":..., "onset":..., "causes":[{"service","category","kind","score",
// "confidence","evidence":[...]}], "chain":[...], "impacted":{"endpoints",
// "regions","services"}, "timeline":[...], "lines":[...], ...}
std::string IncidentJson(const Incident& incident);

}  // namespace faultline::correlate
