#include "correlate/blame.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace faultline::correlate {

namespace {

struct ErrorLine {
  int64_t ts_ns = 0;
  std::string service, trace_id, span_id;
};

struct SpanNode {
  std::string service, parent;
};

// Per trace: span id -> (service, parent span id), and children lists.
struct Trace {
  std::unordered_map<std::string, SpanNode> spans;
  std::unordered_map<std::string, std::vector<std::string>> children;
};

// The services other than `own` below `span_id` in the trace.
std::set<std::string> Below(const Trace& trace, const std::string& span_id,
                            const std::string& own) {
  std::set<std::string> reached;
  std::vector<std::string> stack = {span_id};
  std::unordered_set<std::string> seen;
  while (!stack.empty()) {
    std::string at = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(at).second) continue;
    auto it = trace.children.find(at);
    if (it == trace.children.end()) continue;
    for (const std::string& child : it->second) {
      const SpanNode& node = trace.spans.at(child);
      if (node.service != own) reached.insert(node.service);
      stack.push_back(child);
    }
  }
  return reached;
}

}  // namespace

Result<BlameResult> TraceBlame(storage::Reader* reader, int64_t since_ns, int64_t until_ns,
                               int64_t bucket_ns, const BlameOptions& options) {
  BlameResult result;
  if (until_ns <= since_ns || bucket_ns <= 0) return result;
  const int64_t base_from = since_ns - options.baseline_ns;
  std::vector<ErrorLine> errors;
  storage::Query query;
  query.kind = RecordKind::kLog;
  query.level_mask = (1u << static_cast<unsigned>(Level::kError)) |
                     (1u << static_cast<unsigned>(Level::kFatal));
  query.since_ns = base_from;
  query.until_ns = until_ns;
  FL_RETURN_IF_ERROR(reader->Search(query, [&](const Record& r) {
    if (r.trace_id.empty() || r.span_id.empty()) return true;
    if (errors.size() >= options.max_error_lines) {
      result.truncated = true;
      return false;
    }
    errors.push_back(ErrorLine{r.ts_ns, r.service, r.trace_id, r.span_id});
    return true;
  }));
  result.error_lines = errors.size();
  if (errors.empty()) return result;
  std::unordered_map<std::string, Trace> traces;
  for (const ErrorLine& e : errors) traces.emplace(e.trace_id, Trace{});
  storage::Query spans;
  spans.kind = RecordKind::kSpan;
  spans.since_ns = base_from - options.span_slack_ns;
  spans.until_ns = until_ns + options.span_slack_ns;
  FL_RETURN_IF_ERROR(reader->Search(spans, [&](const Record& r) {
    auto it = traces.find(r.trace_id);
    if (it == traces.end() || r.span_id.empty()) return true;
    Trace& t = it->second;
    if (!t.spans.emplace(r.span_id, SpanNode{r.service, r.parent_span_id}).second) return true;
    if (!r.parent_span_id.empty()) t.children[r.parent_span_id].push_back(r.span_id);
    return true;
  }));
  // Blame per service, in the window and in the baseline; the window's
  // first and last blamed line.
  struct Tally {
    double window = 0, baseline = 0;
    int64_t first = INT64_MAX, last = INT64_MIN;
  };
  std::map<std::string, Tally> tally;
  for (const ErrorLine& e : errors) {
    const Trace& t = traces.at(e.trace_id);
    if (t.spans.empty()) continue;
    ++result.traced;
    std::set<std::string> blamed = Below(t, e.span_id, e.service);
    if (blamed.empty()) blamed.insert(e.service);
    const double share = 1.0 / static_cast<double>(blamed.size());
    const bool in_window = e.ts_ns >= since_ns;
    for (const std::string& s : blamed) {
      Tally& x = tally[s];
      if (in_window) {
        x.window += share;
        x.first = std::min(x.first, e.ts_ns);
        x.last = std::max(x.last, e.ts_ns);
      } else {
        x.baseline += share;
      }
    }
  }
  const double scale =
      static_cast<double>(until_ns - since_ns) / static_cast<double>(options.baseline_ns);
  for (const auto& [service, x] : tally) {
    if (x.window <= 0) continue;
    const double expected = x.baseline * scale;
    const double z = (x.window - expected) / std::sqrt(expected + 1.0);
    if (z < options.min_strength) continue;
    Finding f;
    f.service = service;
    f.signal = std::string(kTraceErrors);
    f.stat = Stat::kCount;
    f.family = Family::kSoftware;
    f.kind = "errors";
    f.onset_ns = x.first - ((x.first % bucket_ns) + bucket_ns) % bucket_ns;
    f.peak_ns = f.onset_ns;
    f.end_ns = x.last - ((x.last % bucket_ns) + bucket_ns) % bucket_ns + bucket_ns;
    f.ongoing = f.end_ns >= until_ns;
    f.anomaly.direction = Direction::kUp;
    f.anomaly.strength = z;
    f.anomaly.baseline = expected;
    f.anomaly.peak_value = x.window;
    result.findings.push_back(std::move(f));
  }
  std::stable_sort(result.findings.begin(), result.findings.end(),
                   [](const Finding& a, const Finding& b) {
                     return a.anomaly.strength > b.anomaly.strength;
                   });
  return result;
}

}  // namespace faultline::correlate
