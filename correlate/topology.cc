#include "correlate/topology.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "core/histogram.h"

namespace faultline::correlate {

namespace {

constexpr uint8_t Bit(EdgeSource source) { return static_cast<uint8_t>(source); }

// Evidence sources that carry counts, strongest first: the index is the
// precedence used when one pair was seen by several (see topology.h).
constexpr size_t kSpanIndex = 0;
constexpr size_t kFieldIndex = 1;
constexpr size_t kTraceIndex = 2;
constexpr size_t kCountedSources = 3;
constexpr std::array<EdgeSource, kCountedSources> kSourceOfIndex = {
    EdgeSource::kSpan, EdgeSource::kField, EdgeSource::kTrace};

// a + b for b >= 0, saturating: timestamps come from input and may be absurd.
int64_t SaturatingAdd(int64_t a, int64_t b) {
  if (a > std::numeric_limits<int64_t>::max() - b) {
    return std::numeric_limits<int64_t>::max();
  }
  return a + b;
}


// The integer `text` spells, or -1 when it is not a plain non-negative integer.
int64_t ParseCode(std::string_view text) {
  int64_t value = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return -1;
  return value;
}

// Whether one span attribute marks the span as failed (rules in topology.h).
bool AttributeSaysError(std::string_view key, std::string_view value) {
  if (key == "error") return EqualsIgnoreCaseAscii(value, "true") || value == "1";
  if (key == "status" || key == "status_code" || key == "otel.status_code") {
    if (EqualsIgnoreCaseAscii(value, "error") || EqualsIgnoreCaseAscii(value, "status_code_error")) {
      return true;
    }
    const int64_t code = ParseCode(value);
    return code == 2 || code >= 500;
  }
  if (key == "http.status_code" || key == "http.response.status_code") {
    return ParseCode(value) >= 500;
  }
  return false;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

// A map from string keys to values that each carry an expiry time, with the
// entry that expires first reachable in O(log n). Used for the three bounded
// buffers. The expiry index points at the keys held by the hash map: nodes of
// an unordered_map never move, so those pointers survive rehashing.
template <typename V>
class ExpiringMap {
 public:
  V* Find(std::string_view key) {
    const auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second.value;
  }

  // The value for `key` (value-initialised when new; `*inserted` says which),
  // with its expiry raised to at least `expiry_ns`.
  V& Upsert(std::string_view key, int64_t expiry_ns, bool* inserted) {
    auto it = map_.find(key);
    *inserted = it == map_.end();
    if (*inserted) {
      it = map_.emplace(std::string(key), Node{}).first;
      it->second.expiry = by_expiry_.emplace(expiry_ns, &it->first);
    } else if (it->second.expiry->first < expiry_ns) {
      by_expiry_.erase(it->second.expiry);
      it->second.expiry = by_expiry_.emplace(expiry_ns, &it->first);
    }
    return it->second.value;
  }

  void Erase(std::string_view key) {
    const auto it = map_.find(key);
    if (it == map_.end()) return;
    by_expiry_.erase(it->second.expiry);
    map_.erase(it);
  }

  // Removes the entry that expires first if its expiry is before `cutoff_ns`,
  // moving its value to `*out`. False when there is none.
  bool PopExpired(int64_t cutoff_ns, V* out) {
    if (by_expiry_.empty() || by_expiry_.begin()->first >= cutoff_ns) return false;
    PopFirst(out);
    return true;
  }
  // Removes the entry that expires first. REQUIRES: !empty().
  void PopFirst(V* out) {
    const auto first = by_expiry_.begin();
    const auto it = map_.find(*first->second);
    *out = std::move(it->second.value);
    by_expiry_.erase(first);
    map_.erase(it);
  }

  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  using ExpiryIndex = std::multimap<int64_t, const std::string*>;
  struct Node {
    V value{};
    typename ExpiryIndex::iterator expiry;
  };
  std::unordered_map<std::string, Node, StringHash, std::equal_to<>> map_;
  ExpiryIndex by_expiry_;
};

// The open traces: keyed by a 64-bit hash of the trace id (no string per
// record: every log line with a trace id passes through here, in the serial
// stage of ingest), expired in arrival order. An entry whose expiry was
// raised after it was queued is queued again when it reaches the front, so
// nothing expires early; one that arrived out of time order may wait behind
// an older one, a little longer than its horizon (the caps still bound it).
// Two trace ids with the same hash would share an entry: at 64 bits, about
// one chance in 10^7 with a million open traces, and the cost is one
// spurious trace-evidence pair.
template <typename V>
class HashedExpiringMap {
 public:
  V& Upsert(uint64_t key, int64_t expiry_ns, bool* inserted) {
    auto [it, fresh] = map_.try_emplace(key);
    *inserted = fresh;
    if (fresh) {
      it->second.expiry = expiry_ns;
      queue_.emplace_back(expiry_ns, key);
    } else {
      it->second.expiry = std::max(it->second.expiry, expiry_ns);
    }
    return it->second.value;
  }

  // Removes the oldest-queued entry if its expiry is before `cutoff_ns`,
  // moving its value to `*out`. False when there is none.
  bool PopExpired(int64_t cutoff_ns, V* out) {
    while (!queue_.empty() && queue_.front().first < cutoff_ns) {
      const auto [queued_expiry, key] = queue_.front();
      queue_.pop_front();
      const auto it = map_.find(key);
      if (it == map_.end()) continue;  // gone already (cap)
      if (it->second.expiry >= cutoff_ns) {
        queue_.emplace_back(it->second.expiry, key);  // raised since: wait again
        continue;
      }
      *out = std::move(it->second.value);
      map_.erase(it);
      return true;
    }
    return false;
  }

  // Removes the oldest-queued entry. False when empty.
  bool PopFirst(V* out) {
    while (!queue_.empty()) {
      const uint64_t key = queue_.front().second;
      queue_.pop_front();
      const auto it = map_.find(key);
      if (it == map_.end()) continue;
      *out = std::move(it->second.value);
      map_.erase(it);
      return true;
    }
    return false;
  }

  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  struct Node {
    int64_t expiry = 0;
    V value{};
  };
  std::unordered_map<uint64_t, Node> map_;
  std::deque<std::pair<int64_t, uint64_t>> queue_;  // (expiry when queued, key)
};

// What one source saw of one (caller, callee) pair.
struct SourceStats {
  bool seen = false;
  uint64_t calls = 0;
  uint64_t errors = 0;
  int64_t total_duration_ns = 0;
  int64_t max_duration_ns = 0;
  int64_t first_seen_ns = 0;  // meaningful only when calls > 0
  int64_t last_seen_ns = 0;

  void AddCall(int64_t ts_ns, int64_t duration_ns, bool error, uint32_t weight = 1) {
    SourceStats call;
    call.seen = true;
    call.calls = weight;
    call.errors = error ? weight : 0;
    call.total_duration_ns = duration_ns;
    call.max_duration_ns = duration_ns;
    call.first_seen_ns = ts_ns;
    call.last_seen_ns = ts_ns;
    Add(call);
  }

  // Sums `other` in. Stats with no calls only mark the source as seen (Merge
  // records the weaker sources of an edge that way).
  void Add(const SourceStats& other) {
    seen = seen || other.seen;
    if (other.calls == 0) return;
    if (calls == 0) {
      first_seen_ns = other.first_seen_ns;
      last_seen_ns = other.last_seen_ns;
    } else {
      first_seen_ns = std::min(first_seen_ns, other.first_seen_ns);
      last_seen_ns = std::max(last_seen_ns, other.last_seen_ns);
    }
    calls += other.calls;
    errors += other.errors;
    total_duration_ns = SaturatingAdd(total_duration_ns, other.total_duration_ns);
    max_duration_ns = std::max(max_duration_ns, other.max_duration_ns);
  }
};

struct PairStats {
  std::array<SourceStats, kCountedSources> by_source;
  bool config = false;
};

uint64_t PairKey(uint32_t caller, uint32_t callee) { return (uint64_t{caller} << 32) | callee; }

}  // namespace

struct TopologyBuilder::State {
  struct PendingChild {
    uint32_t service = 0;
    int64_t ts_ns = 0;
    int64_t duration_ns = 0;
    bool error = false;
  };
  struct KnownSpan {
    uint32_t service = 0;
    int64_t duration_ns = 0;
  };
  struct TraceService {
    uint32_t service = 0;
    int64_t first_ts_ns = 0;
    bool error = false;
  };

  explicit State(TopologyOptions opts) : options(std::move(opts)) {
    for (const std::string& key : options.peer_keys) {
      if (key.empty()) continue;
      const size_t bit = PeerKeyBit(key);
      peer_key_bits[bit / 64] |= uint64_t{1} << (bit % 64);
    }
    if (options.horizon_ns <= 0) options.horizon_ns = 1;
    if (options.trace_sample == 0) options.trace_sample = 1;
    if (options.max_pending == 0) options.max_pending = 1;
  }

  TopologyOptions options;
  std::array<uint64_t, 4> peer_key_bits{};  // MaybePeerKey's filter
  TopologyCounters counters;
  // Newest record time seen; entries whose expiry is before it are dropped.
  int64_t newest_ns = std::numeric_limits<int64_t>::min();

  // Services are interned: the buffers and pair map hold 4-byte ids.
  std::vector<std::string> service_names;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> service_ids;

  // Key: trace id, NUL, span id. Ids are hex or at least printable, so the
  // separator cannot make two different pairs collide.
  ExpiringMap<KnownSpan> spans;                    // span -> its service, duration
  ExpiringMap<std::vector<PendingChild>> pending;  // parent span -> children
  size_t pending_children = 0;
  HashedExpiringMap<std::vector<TraceService>> traces;  // trace id hash -> services
  std::unordered_map<uint64_t, PairStats> pairs;

  std::vector<Call> calls;  // options.record_calls: resolved since TakeCalls
  // StronglyConnected's graph of span/field/config pairs and its memo.
  bool strong_changed = true;
  std::vector<std::vector<uint32_t>> strong_out_cache;
  std::unordered_map<uint32_t, std::vector<bool>> reach_cache;

  std::string key_scratch;
  std::vector<std::string_view> peer_scratch;

  uint32_t Intern(std::string_view service) {
    // Rows of one service come in runs: compare with the last one first.
    if (last_interned < service_names.size() && service_names[last_interned] == service) {
      return last_interned;
    }
    const auto it = service_ids.find(service);
    if (it != service_ids.end()) return last_interned = it->second;
    const auto id = static_cast<uint32_t>(service_names.size());
    service_names.emplace_back(service);
    service_ids.emplace(std::string(service), id);
    return last_interned = id;
  }
  uint32_t last_interned = UINT32_MAX;

  const std::string& SpanKey(std::string_view trace_id, std::string_view span_id) {
    key_scratch.assign(trace_id);
    key_scratch.push_back('\0');
    key_scratch.append(span_id);
    return key_scratch;
  }

  void SeeTime(int64_t ts_ns) { newest_ns = std::max(newest_ns, ts_ns); }

  // One call seen by `source`: counted in its pair, and kept for TakeCalls.
  // A trace pair that span or field evidence seen so far already explains
  // (Edges() would drop it) is not kept: stored, it would only repeat the
  // stronger edge's calls.
  void Count(size_t source, uint32_t caller, uint32_t callee, int64_t ts_ns, int64_t latency_ns,
             bool error, int64_t gap_ns = 0) {
    SourceStats& stats = pairs[PairKey(caller, callee)].by_source[source];
    if (!stats.seen && source != kTraceIndex) strong_changed = true;
    const uint32_t weight = source == kTraceIndex ? options.trace_sample : 1;
    stats.AddCall(ts_ns, latency_ns, error, weight);
    if (!options.record_calls) return;
    if (source == kTraceIndex && StronglyConnected(caller, callee)) return;
    calls.push_back(Call{service_names[caller], service_names[callee], ts_ns, latency_ns, gap_ns,
                         error, kSourceOfIndex[source], weight});
  }

  // Whether span or field evidence connects the two services, either way
  // round; the reachability sets are kept until a new strong pair appears.
  bool StronglyConnected(uint32_t a, uint32_t b) {
    if (strong_changed) {
      strong_out_cache.assign(service_names.size(), {});
      for (const auto& [key, stats] : pairs) {
        if (stats.config || stats.by_source[kSpanIndex].seen || stats.by_source[kFieldIndex].seen) {
          strong_out_cache[key >> 32].push_back(static_cast<uint32_t>(key));
        }
      }
      reach_cache.clear();
      strong_changed = false;
    }
    if (std::max(a, b) >= strong_out_cache.size()) return false;  // interned since
    return Reaches(a, b, strong_out_cache, &reach_cache) ||
           Reaches(b, a, strong_out_cache, &reach_cache);
  }

  void SpanCall(const KnownSpan& parent, const PendingChild& child) {
    ++counters.matched;
    if (parent.service == child.service) {
      ++counters.same_service;
      return;
    }
    Count(kSpanIndex, parent.service, child.service, child.ts_ns, parent.duration_ns, child.error,
          std::max<int64_t>(parent.duration_ns - child.duration_ns, 0));
  }

  void AddSpan(std::string_view service, std::string_view trace_id, std::string_view span_id,
               std::string_view parent_span_id, int64_t ts_ns, int64_t duration_ns, bool error) {
    ++counters.spans;
    if (service.empty()) {
      ++counters.ignored;
      return;
    }
    SeeTime(ts_ns);
    const PendingChild self{Intern(service), ts_ns, std::max<int64_t>(duration_ns, 0), error};
    // A span can still gain children until it ends, and a child waits for a
    // parent that ends after it: both live until end + horizon.
    const int64_t expiry_ns =
        SaturatingAdd(SaturatingAdd(ts_ns, self.duration_ns), options.horizon_ns);

    // Remember the span as a possible parent first, so that a duplicate (the
    // same span exported twice) is spotted before it counts a second call.
    if (!span_id.empty()) {
      bool inserted = false;
      KnownSpan& known = spans.Upsert(SpanKey(trace_id, span_id), expiry_ns, &inserted);
      if (!inserted) {
        ++counters.duplicate_spans;
        Evict();
        return;
      }
      known = KnownSpan{self.service, self.duration_ns};
    }

    if (parent_span_id.empty()) {
      ++counters.root_spans;
    } else {
      const std::string& parent_key = SpanKey(trace_id, parent_span_id);
      if (const KnownSpan* parent = spans.Find(parent_key)) {
        SpanCall(*parent, self);
      } else {
        bool inserted = false;
        pending.Upsert(parent_key, expiry_ns, &inserted).push_back(self);
        ++pending_children;
      }
    }

    // Children that arrived before this span (the common case: they finish
    // first) can be resolved now.
    if (!span_id.empty()) {
      const std::string& key = SpanKey(trace_id, span_id);
      if (std::vector<PendingChild>* waiting = pending.Find(key)) {
        const KnownSpan parent{self.service, self.duration_ns};
        for (const PendingChild& child : *waiting) SpanCall(parent, child);
        pending_children -= waiting->size();
        pending.Erase(key);
      }
    }
    Evict();
  }

  void AddTraceRecord(std::string_view service, std::string_view trace_id, int64_t ts_ns,
                      bool error) {
    ++counters.trace_records;
    if (service.empty() || trace_id.empty()) {
      ++counters.ignored;
      return;
    }
    SeeTime(ts_ns);
    if (!Sampled(trace_id)) return;
    const uint32_t id = Intern(service);
    bool inserted = false;
    std::vector<TraceService>& seen =
        traces.Upsert(std::hash<std::string_view>{}(trace_id),
                      SaturatingAdd(ts_ns, options.horizon_ns), &inserted);
    // A trace touches a handful of services: a linear scan beats a map here.
    auto it = std::find_if(seen.begin(), seen.end(),
                           [id](const TraceService& entry) { return entry.service == id; });
    if (it == seen.end()) {
      seen.push_back(TraceService{id, ts_ns, error});
    } else {
      it->first_ts_ns = std::min(it->first_ts_ns, ts_ns);
      it->error = it->error || error;
    }
    Evict();
  }

  void AddPeer(std::string_view service, std::string_view peer, int64_t ts_ns, bool error) {
    if (service.empty() || peer.empty() || service == peer) {
      ++counters.ignored;
      return;
    }
    ++counters.peer_records;
    SeeTime(ts_ns);
    const uint32_t caller = Intern(service);
    Count(kFieldIndex, caller, Intern(peer), ts_ns, 0, error);
    Evict();
  }

  void AddConfigEdge(std::string_view caller, std::string_view callee) {
    if (caller.empty() || callee.empty() || caller == callee) {
      ++counters.ignored;
      return;
    }
    ++counters.config_edges;
    pairs[PairKey(Intern(caller), Intern(callee))].config = true;
    strong_changed = true;
  }

  // The service with the earliest first record (ties: smallest name) is
  // upstream of every other service of the trace.
  void ResolveTrace(const std::vector<TraceService>& seen) {
    ++counters.traces;
    if (seen.size() < 2) return;
    const auto first = std::min_element(
        seen.begin(), seen.end(), [this](const TraceService& a, const TraceService& b) {
          if (a.first_ts_ns != b.first_ts_ns) return a.first_ts_ns < b.first_ts_ns;
          return service_names[a.service] < service_names[b.service];
        });
    for (const TraceService& other : seen) {
      if (other.service == first->service) continue;
      Count(kTraceIndex, first->service, other.service, other.first_ts_ns, 0, other.error);
    }
  }

  // Drops what is past the horizon, then what is over the caps (the entries
  // that would expire first). Traces are resolved rather than dropped: a
  // trace's evidence is complete enough once its horizon has passed.
  void Evict() {
    const size_t cap = options.max_pending;
    KnownSpan service;
    while (spans.PopExpired(newest_ns, &service)) {
    }
    std::vector<PendingChild> children;
    while (pending.PopExpired(newest_ns, &children)) DropPending(children);
    std::vector<TraceService> seen;
    while (traces.PopExpired(newest_ns, &seen)) ResolveTrace(seen);

    while (spans.size() > cap) {
      spans.PopFirst(&service);
      ++counters.cap_evictions;
    }
    while (pending_children > cap) {
      pending.PopFirst(&children);
      counters.cap_evictions += children.size();
      DropPending(children);
    }
    while (traces.size() > cap) {
      traces.PopFirst(&seen);
      ++counters.cap_evictions;
      ResolveTrace(seen);
    }
  }

  void DropPending(const std::vector<PendingChild>& children) {
    counters.unmatched_evicted += children.size();
    pending_children -= children.size();
  }

  // Whether a path of span, field or config edges leads from `from` to `to`.
  // `reach` memoises one breadth-first search per start service.
  bool Reaches(uint32_t from, uint32_t to, const std::vector<std::vector<uint32_t>>& strong_out,
               std::unordered_map<uint32_t, std::vector<bool>>* reach) const {
    auto [it, fresh] = reach->try_emplace(from);
    std::vector<bool>& seen = it->second;
    if (fresh) {
      seen.assign(service_names.size(), false);
      std::vector<uint32_t> queue = {from};
      seen[from] = true;
      for (size_t next = 0; next < queue.size(); ++next) {
        for (uint32_t callee : strong_out[queue[next]]) {
          if (!seen[callee]) {
            seen[callee] = true;
            queue.push_back(callee);
          }
        }
      }
    }
    return seen[to];
  }

  std::vector<Edge> Edges(bool flush) {
    Evict();
    if (flush) {
      std::vector<TraceService> seen;
      while (!traces.empty()) {
        traces.PopFirst(&seen);
        ResolveTrace(seen);
      }
    }

    // The graph of the stronger sources, to tell which trace-only pairs it
    // already explains.
    std::vector<std::vector<uint32_t>> strong_out(service_names.size());
    for (const auto& [key, stats] : pairs) {
      if (stats.config || stats.by_source[kSpanIndex].seen || stats.by_source[kFieldIndex].seen) {
        strong_out[key >> 32].push_back(static_cast<uint32_t>(key));
      }
    }
    std::unordered_map<uint32_t, std::vector<bool>> reach;

    counters.trace_pairs_explained = 0;
    std::vector<Edge> edges;
    edges.reserve(pairs.size());
    for (const auto& [key, stats] : pairs) {
      const auto caller = static_cast<uint32_t>(key >> 32);
      const auto callee = static_cast<uint32_t>(key);
      const bool strong =
          stats.config || stats.by_source[kSpanIndex].seen || stats.by_source[kFieldIndex].seen;
      const SourceStats* counted = nullptr;
      Edge edge;
      if (strong) {
        for (size_t index : {kSpanIndex, kFieldIndex}) {
          const SourceStats& source = stats.by_source[index];
          if (!source.seen) continue;
          edge.sources |= Bit(kSourceOfIndex[index]);
          if (counted == nullptr) counted = &source;
        }
        if (stats.config) edge.sources |= Bit(EdgeSource::kConfig);
        if (stats.by_source[kTraceIndex].seen) ++counters.trace_pairs_explained;
      } else if (stats.by_source[kTraceIndex].seen) {
        if (Reaches(caller, callee, strong_out, &reach) ||
            Reaches(callee, caller, strong_out, &reach)) {
          ++counters.trace_pairs_explained;
          continue;
        }
        edge.sources = Bit(EdgeSource::kTrace);
        counted = &stats.by_source[kTraceIndex];
      } else {
        continue;
      }
      edge.caller = service_names[caller];
      edge.callee = service_names[callee];
      if (counted != nullptr) {
        edge.calls = counted->calls;
        edge.errors = counted->errors;
        edge.total_duration_ns = counted->total_duration_ns;
        edge.max_duration_ns = counted->max_duration_ns;
        if (counted->calls > 0) {
          edge.first_seen_ns = counted->first_seen_ns;
          edge.last_seen_ns = counted->last_seen_ns;
        }
      }
      edges.push_back(std::move(edge));
    }
    std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
      if (a.caller != b.caller) return a.caller < b.caller;
      return a.callee < b.callee;
    });
    return edges;
  }

  void Merge(const std::vector<Edge>& edges) {
    for (const Edge& edge : edges) {
      if (edge.caller.empty() || edge.callee.empty() || edge.caller == edge.callee ||
          edge.sources == 0) {
        ++counters.ignored;
        continue;
      }
      PairStats& stats = pairs[PairKey(Intern(edge.caller), Intern(edge.callee))];
      strong_changed = true;
      if (HasSource(edge.sources, EdgeSource::kConfig)) stats.config = true;
      // The counts of an Edge belong to its strongest source; its weaker
      // sources are only marked as seen, which keeps the precedence rule
      // intact across merges.
      bool counted = false;
      for (size_t index = 0; index < kCountedSources; ++index) {
        if (!HasSource(edge.sources, kSourceOfIndex[index])) continue;
        SourceStats incoming;
        incoming.seen = true;
        if (!counted) {
          incoming.calls = edge.calls;
          incoming.errors = edge.errors;
          incoming.total_duration_ns = edge.total_duration_ns;
          incoming.max_duration_ns = edge.max_duration_ns;
          incoming.first_seen_ns = edge.first_seen_ns;
          incoming.last_seen_ns = edge.last_seen_ns;
          counted = true;
        }
        stats.by_source[index].Add(incoming);
      }
    }
  }

  // A filter on (length, first byte) before comparing a key with every
  // peer key: every attribute of every record passes here, and almost none
  // is a peer key.
  static size_t PeerKeyBit(std::string_view key) {
    return (key.size() * 31 + static_cast<uint8_t>(key.front())) & 255;
  }
  bool MaybePeerKey(std::string_view key) const {
    if (key.empty()) return false;
    const size_t bit = PeerKeyBit(key);
    return (peer_key_bits[bit / 64] >> (bit % 64)) & 1;
  }

  bool Sampled(std::string_view trace_id) const {
    if (options.trace_sample <= 1) return true;
    // Every log line with a trace id asks, so no full string hash: the
    // length and the last 16 bytes (where ids differ, random or counted),
    // mixed by two multiplications.
    uint64_t tail[2] = {0, 0};
    const size_t n = std::min<size_t>(trace_id.size(), sizeof(tail));
    std::memcpy(tail, trace_id.data() + trace_id.size() - n, n);
    uint64_t h = (tail[0] ^ (trace_id.size() * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 31) ^ tail[1]) * 0x94d049bb133111ebull;
    return (h >> 32) % options.trace_sample == 0;
  }

  // Feeds one row; `attr(i)` returns the i-th attribute as a (key, value)
  // pair of views valid for the duration of the call.
  template <typename AttrAt>
  void AddRow(RecordKind kind, Level level, std::string_view service, std::string_view trace_id,
              std::string_view span_id, std::string_view parent_span_id, int64_t ts_ns,
              int64_t duration_ns, size_t attr_count, const AttrAt& attr) {
    bool error = level >= Level::kError;
    peer_scratch.clear();
    for (size_t i = 0; i < attr_count; ++i) {
      const auto [key, value] = attr(i);
      if (kind == RecordKind::kSpan && !error) error = AttributeSaysError(key, value);
      if (value.empty() || !MaybePeerKey(key)) continue;
      if (std::find(options.peer_keys.begin(), options.peer_keys.end(), key) ==
          options.peer_keys.end()) {
        continue;
      }
      // One call per distinct peer: `peer.service` and `net.peer.name` often
      // name the same callee on one record.
      if (std::find(peer_scratch.begin(), peer_scratch.end(), value) == peer_scratch.end()) {
        peer_scratch.push_back(value);
      }
    }
    if (kind == RecordKind::kSpan) {
      AddSpan(service, trace_id, span_id, parent_span_id, ts_ns, duration_ns, error);
    } else if (kind == RecordKind::kLog && !trace_id.empty()) {
      AddTraceRecord(service, trace_id, ts_ns, error);
    }
    // Metrics carry no error of their own: a sample is not a failed call.
    const bool peer_error = kind != RecordKind::kMetric && error;
    for (std::string_view peer : peer_scratch) AddPeer(service, peer, ts_ns, peer_error);
  }
};

Status TopologyOptions::Validate() const {
  if (horizon_ns <= 0) {
    return Status::InvalidArgument("topology horizon_ns must be positive, got " +
                                   std::to_string(horizon_ns));
  }
  if (max_pending == 0) {
    return Status::InvalidArgument("topology max_pending must be positive");
  }
  if (trace_sample == 0) {
    return Status::InvalidArgument("topology trace_sample must be positive");
  }
  for (const std::string& key : peer_keys) {
    if (key.empty()) return Status::InvalidArgument("topology peer_keys holds an empty key");
  }
  return Status::Ok();
}

int64_t MeanDurationNs(const Edge& edge) {
  if (edge.calls == 0) return 0;
  return edge.total_duration_ns / static_cast<int64_t>(edge.calls);
}

TopologyBuilder::TopologyBuilder(TopologyOptions options)
    : state_(std::make_unique<State>(std::move(options))) {}
TopologyBuilder::~TopologyBuilder() = default;
TopologyBuilder::TopologyBuilder(TopologyBuilder&&) noexcept = default;
TopologyBuilder& TopologyBuilder::operator=(TopologyBuilder&&) noexcept = default;

void TopologyBuilder::AddSpan(std::string_view service, std::string_view trace_id,
                              std::string_view span_id, std::string_view parent_span_id,
                              int64_t ts_ns, int64_t duration_ns, bool error) {
  state_->AddSpan(service, trace_id, span_id, parent_span_id, ts_ns, duration_ns, error);
}

void TopologyBuilder::AddTraceRecord(std::string_view service, std::string_view trace_id,
                                     int64_t ts_ns, bool error) {
  state_->AddTraceRecord(service, trace_id, ts_ns, error);
}

void TopologyBuilder::AddPeer(std::string_view service, std::string_view peer, int64_t ts_ns,
                              bool error) {
  state_->AddPeer(service, peer, ts_ns, error);
}

void TopologyBuilder::AddConfigEdge(std::string_view caller, std::string_view callee) {
  state_->AddConfigEdge(caller, callee);
}

void TopologyBuilder::AddBatch(const RecordBatch& batch) {
  const std::vector<AttrRef>& attrs = batch.attrs();
  for (const RecordRow& row : batch.rows()) {
    state_->AddRow(row.kind, row.level, batch.Get(row.service), batch.Get(row.trace_id),
                   batch.Get(row.span_id), batch.Get(row.parent_span_id), row.ts_ns,
                   row.duration_ns, row.attr_count, [&](size_t i) {
                     const AttrRef& attr = attrs[row.attr_begin + i];
                     return std::pair(batch.Get(attr.key), batch.Get(attr.value));
                   });
  }
}

void TopologyBuilder::AddRecord(const Record& record) {
  state_->AddRow(record.kind, record.level, record.service, record.trace_id, record.span_id,
                 record.parent_span_id, record.ts_ns, record.duration_ns, record.attributes.size(),
                 [&](size_t i) {
                   const Attribute& attr = record.attributes[i];
                   return std::pair(std::string_view(attr.key), std::string_view(attr.value));
                 });
}

std::vector<Edge> TopologyBuilder::Edges(bool flush) { return state_->Edges(flush); }

void TopologyBuilder::Merge(const std::vector<Edge>& edges) { state_->Merge(edges); }

std::vector<Call> TopologyBuilder::TakeCalls() { return std::exchange(state_->calls, {}); }

TopologyCounters TopologyBuilder::counters() const {
  TopologyCounters counters = state_->counters;
  counters.pending_spans = state_->pending_children;
  counters.buffered_spans = state_->spans.size();
  counters.open_traces = state_->traces.size();
  return counters;
}

namespace {

// Quotes `text` as a dot string.
std::string DotQuote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string FormatDuration(int64_t ns) {
  char buffer[32];
  if (ns < 1'000) {
    std::snprintf(buffer, sizeof(buffer), "%lldns", static_cast<long long>(ns));
  } else if (ns < 1'000'000) {
    std::snprintf(buffer, sizeof(buffer), "%.1fus", static_cast<double>(ns) / 1e3);
  } else if (ns < 1'000'000'000) {
    std::snprintf(buffer, sizeof(buffer), "%.1fms", static_cast<double>(ns) / 1e6);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.2fs", static_cast<double>(ns) / 1e9);
  }
  return buffer;
}

}  // namespace

std::string ToDot(const std::vector<Edge>& edges) {
  std::string out = "digraph topology {\n  rankdir=LR;\n  node [shape=box];\n";
  for (const Edge& edge : edges) {
    std::string label;
    if (edge.sources == Bit(EdgeSource::kConfig)) {
      label = "config";
    } else if (edge.sources == Bit(EdgeSource::kTrace)) {
      label = std::to_string(edge.calls) + " traces";
    } else {
      label = std::to_string(edge.calls) + " calls";
    }
    if (edge.errors > 0) label += "\n" + std::to_string(edge.errors) + " errors";
    if (edge.total_duration_ns > 0) label += "\nmean " + FormatDuration(MeanDurationNs(edge));

    std::string attributes = "label=" + DotQuote(label);
    if (edge.sources == Bit(EdgeSource::kConfig)) {
      attributes += ", style=dotted";
    } else if (!HasSource(edge.sources, EdgeSource::kSpan) &&
               !HasSource(edge.sources, EdgeSource::kField)) {
      attributes += ", style=dashed";
    }
    if (edge.errors > 0) attributes += ", color=red";
    out +=
        "  " + DotQuote(edge.caller) + " -> " + DotQuote(edge.callee) + " [" + attributes + "];\n";
  }
  out += "}\n";
  return out;
}

Result<std::vector<Edge>> LoadStoredEdges(
    storage::Reader* reader, int64_t since_ns, int64_t until_ns,
    const std::vector<std::pair<std::string, std::string>>& config_edges) {
  // What one source's series said of one pair over the window.
  struct Stored {
    uint64_t calls = 0, errors = 0;
    Histogram latency;
    int64_t first_ns = std::numeric_limits<int64_t>::max();
    int64_t last_ns = std::numeric_limits<int64_t>::min();
  };
  std::map<std::tuple<std::string, std::string, uint8_t>, Stored> stored;
  FL_RETURN_IF_ERROR(reader->ReadSeries(
      since_ns, until_ns, {}, [&](storage::ServiceBucket&& bucket) {
        for (storage::SeriesEntry& entry : bucket.entries) {
          if (!entry.dimension.starts_with(kCallerDimension)) continue;
          // Which source, and what of it: 0 calls, 1 errors, 2 latency.
          EdgeSource source = EdgeSource::kSpan;
          int what = -1;
          if (entry.signal == kEdgeLatency) what = 2;
          for (const EdgeSignalNames& names : kEdgeSignals) {
            if (entry.signal == names.calls || entry.signal == names.errors) {
              source = names.source;
              what = entry.signal == names.calls ? 0 : 1;
            }
          }
          if (what < 0) continue;
          Stored& s = stored[{entry.dimension.substr(kCallerDimension.size()),
                              bucket.service, static_cast<uint8_t>(source)}];
          switch (what) {
            case 0:
              s.calls += entry.point.count;
              s.first_ns = std::min(s.first_ns, bucket.start_ns);
              s.last_ns = std::max(s.last_ns, bucket.start_ns);
              break;
            case 1:
              s.errors += entry.point.count;
              break;
            default:
              s.latency.Merge(entry.point.histogram);
          }
        }
        return true;
      }));

  TopologyBuilder builder;
  std::vector<Edge> edges;
  for (const auto& [key, s] : stored) {
    if (s.calls == 0) continue;
    Edge& edge = edges.emplace_back();
    edge.caller = std::get<0>(key);
    edge.callee = std::get<1>(key);
    edge.sources = std::get<2>(key);
    edge.calls = s.calls;
    edge.errors = s.errors;
    edge.first_seen_ns = s.first_ns;
    edge.last_seen_ns = s.last_ns;
    double total_ms = 0;
    for (const auto& [index, count] : s.latency.buckets()) {
      total_ms += Histogram::BucketValue(index) * static_cast<double>(count);
    }
    edge.total_duration_ns = static_cast<int64_t>(total_ms * 1e6);
    if (!s.latency.buckets().empty()) {
      edge.max_duration_ns =
          static_cast<int64_t>(Histogram::BucketValue(s.latency.buckets().back().first) * 1e6);
    }
  }
  builder.Merge(edges);
  for (const auto& [caller, callee] : config_edges) builder.AddConfigEdge(caller, callee);
  return builder.Edges(/*flush=*/false);
}

}  // namespace faultline::correlate
