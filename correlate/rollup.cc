#include "correlate/rollup.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <map>
#include <string_view>
#include <tuple>
#include <unordered_map>

namespace faultline::correlate {

namespace {

using storage::SeriesEntry;
using storage::SeriesPoint;
using storage::ServiceBucket;

enum Builtin : uint32_t {
  kRecords,
  kErrors,
  kWarnings,
  kHttpRequests,
  kHttp4xx,
  kHttp5xx,
  kHttp429,
  kLatency,
  kSpanCalls,
  kSpanErrors,
  kSpanLatency,
  kBuiltinCount
};
constexpr std::array<std::string_view, kBuiltinCount> kBuiltinNames = {
    "records",  "errors",  "warnings", "http.requests", "http.4xx",    "http.5xx",
    "http.429", "latency", "span.calls", "span.errors", "span.latency"};

enum class Role : uint8_t {
  kStatus,
  kLatencyMs,
  kLatencyUs,
  kLatencyS,
  kHost,
  kRegion,
  kEndpoint,
  kNone
};

// Signals kept per dimension too, and where they sit in DimAcc.
enum DimSignal : uint32_t { kDimRecords, kDimErrors, kDim5xx, kDim429, kDimSpanErrors, kDimCount };
constexpr std::array<std::string_view, 3> kDimPrefix = {"host=", "region=", "endpoint="};

bool ParseNumber(std::string_view text, double* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && std::isfinite(*out);
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// uint64 key -> uint32 value with open addressing and linear probing: the
// rollup's per-record lookups (attribute roles, dimension slots, distinct
// values per service) without a node per entry and a pointer chase per
// probe, which is where a node-based map spent its time here.
class FlatIndex {
 public:
  FlatIndex() { Rehash(64); }
  // The value of `key`, set to `value` first when absent (`*inserted`).
  // REQUIRES: key != ~0.
  uint32_t& Insert(uint64_t key, uint32_t value, bool* inserted) {
    if ((size_ + 1) * 2 > keys_.size()) Rehash(keys_.size() * 2);
    for (size_t i = Slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) {
        *inserted = false;
        return values_[i];
      }
      if (keys_[i] == kEmpty) {
        keys_[i] = key;
        values_[i] = value;
        ++size_;
        *inserted = true;
        return values_[i];
      }
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  size_t Slot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ull) >> shift_);
  }
  void Rehash(size_t capacity) {  // a power of two
    std::vector<uint64_t> keys(capacity, kEmpty);
    std::vector<uint32_t> values(capacity);
    keys.swap(keys_);
    values.swap(values_);
    mask_ = capacity - 1;
    shift_ = 64 - std::countr_zero(capacity);
    size_ = 0;
    bool inserted = false;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] != kEmpty) Insert(keys[i], values[i], &inserted);
    }
  }

  std::vector<uint64_t> keys_;
  std::vector<uint32_t> values_;
  size_t size_ = 0;
  size_t mask_ = 0;
  int shift_ = 0;
};

// Histogram bucket indexes as they come, turned into a Histogram once at
// the end: appending is cheaper than a sorted insert per value, and a
// batch adds thousands of values to a few dozen buckets.
struct IndexBuffer {
  std::vector<int32_t> indexes;

  bool empty() const { return indexes.empty(); }
  void Add(int32_t index) { indexes.push_back(index); }
  Histogram Build() {
    Histogram h;
    if (indexes.empty()) return h;
    // Latencies span a few hundred buckets: count them in a dense array
    // (the zero bucket's index aside) rather than sort.
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    uint64_t zeros = 0;
    for (int32_t i : indexes) {
      if (i == Histogram::kZeroIndex) {
        ++zeros;
        continue;
      }
      lo = std::min(lo, i);
      hi = std::max(hi, i);
    }
    if (zeros > 0) h.AddIndex(Histogram::kZeroIndex, zeros);
    if (lo > hi) return h;
    const auto range = static_cast<size_t>(static_cast<int64_t>(hi) - lo + 1);
    if (range <= 4 * indexes.size() + 64) {
      std::vector<uint32_t> counts(range, 0);
      for (int32_t i : indexes) {
        if (i != Histogram::kZeroIndex) ++counts[static_cast<size_t>(i - lo)];
      }
      for (size_t k = 0; k < range; ++k) {
        if (counts[k] != 0) h.AddIndex(lo + static_cast<int32_t>(k), counts[k]);
      }
      return h;
    }
    std::sort(indexes.begin(), indexes.end());
    for (size_t i = 0; i < indexes.size();) {
      size_t j = i + 1;
      while (j < indexes.size() && indexes[j] == indexes[i]) ++j;
      if (indexes[i] != Histogram::kZeroIndex) h.AddIndex(indexes[i], j - i);
      i = j;
    }
    return h;
  }
};

// One dimension value's series within a (service, bucket).
struct DimAcc {
  std::array<uint64_t, kDimCount> counts{};
  IndexBuffer latency, span_latency;
};

// The order Finish emits a bucket's entries in, which is the byte order of
// their names ("errors" < "http.429" < ... < "warnings"), so that entries
// come out sorted without comparing strings. kMetrics and kTemplates stand
// for the "metric:" and "template:" groups.
enum class Slot : uint8_t { kBuiltin, kMetrics, kTemplates };
struct EmitStep {
  Slot slot;
  Builtin builtin;
  int dim_signal;  // index into DimAcc::counts, -1: not kept per dimension
};
constexpr std::array<EmitStep, 13> kEmitOrder = {{
    {Slot::kBuiltin, kErrors, kDimErrors},
    {Slot::kBuiltin, kHttp429, kDim429},
    {Slot::kBuiltin, kHttp4xx, -1},
    {Slot::kBuiltin, kHttp5xx, kDim5xx},
    {Slot::kBuiltin, kHttpRequests, -1},
    {Slot::kBuiltin, kLatency, -1},
    {Slot::kMetrics, kRecords, -1},
    {Slot::kBuiltin, kRecords, kDimRecords},
    {Slot::kBuiltin, kSpanCalls, -1},
    {Slot::kBuiltin, kSpanErrors, kDimSpanErrors},
    {Slot::kBuiltin, kSpanLatency, -1},
    {Slot::kTemplates, kRecords, -1},
    {Slot::kBuiltin, kWarnings, -1},
}};

// Everything one service's rows said within one bucket. Plain counters and
// small maps: the per-row cost is a few increments, not a map of strings.
struct Acc {
  uint32_t service = 0;
  int64_t bucket = 0;
  std::array<uint64_t, kBuiltinCount> counts{};
  IndexBuffer latency, span_latency;
  std::unordered_map<uint64_t, uint64_t> templates;
  std::unordered_map<uint32_t, SeriesPoint> metrics;  // by metric name index
  // (dimension id, index into Builder::dim_accs_) of every dimension value
  // seen in this bucket.
  std::vector<std::pair<uint32_t, uint32_t>> dims;
};

class Builder {
 public:
  Builder(const RecordBatch& batch, const RollupOptions& options)
      : batch_(batch), options_(options) {
    auto add = [&](const std::vector<std::string>& keys, Role role) {
      for (const std::string& key : keys) roles_.emplace(key, role);
    };
    add(options.status_keys, Role::kStatus);
    add(options.latency_ms_keys, Role::kLatencyMs);
    add(options.latency_us_keys, Role::kLatencyUs);
    add(options.latency_s_keys, Role::kLatencyS);
    add(options.host_keys, Role::kHost);
    add(options.region_keys, Role::kRegion);
    add(options.endpoint_keys, Role::kEndpoint);
  }

  void AddRow(const RecordRow& row) {
    const uint32_t service = ServiceIndex(row.service);
    Acc& acc = AccFor(service, FloorBucket(row.ts_ns));
    std::array<uint32_t, 3> dims{};  // host, region, endpoint ids (0: none)
    int status = -1;
    double latency_ms = NAN;
    const std::vector<AttrRef>& attrs = batch_.attrs();
    for (uint32_t a = row.attr_begin; a < row.attr_begin + row.attr_count; ++a) {
      const Role role = RoleOf(attrs[a].key);
      if (role == Role::kNone) continue;
      const std::string_view value = batch_.Get(attrs[a].value);
      double number = 0;
      switch (role) {
        case Role::kStatus:
          if (ParseNumber(value, &number) && number >= 100 && number < 600) {
            status = static_cast<int>(number);
          }
          break;
        case Role::kLatencyMs:
          if (ParseNumber(value, &number)) latency_ms = number;
          break;
        case Role::kLatencyUs:
          if (ParseNumber(value, &number)) latency_ms = number / 1e3;
          break;
        case Role::kLatencyS:
          if (ParseNumber(value, &number)) latency_ms = number * 1e3;
          break;
        case Role::kHost:
          dims[0] = Dimension(service, 0, value);
          break;
        case Role::kRegion:
          dims[1] = Dimension(service, 1, value);
          break;
        case Role::kEndpoint:
          dims[2] = Dimension(service, 2, value);
          break;
        case Role::kNone:
          break;
      }
    }
    // Slots first, pointers after: adding a slot can move dim_accs_.
    std::array<uint32_t, 3> slots{};
    const auto acc_key = static_cast<uint64_t>(last_acc_) << 32;
    for (size_t d = 0; d < 3; ++d) {
      if (dims[d] == 0) continue;
      bool inserted = false;
      slots[d] = dim_slots_.Insert(acc_key | dims[d], static_cast<uint32_t>(dim_accs_.size()),
                                   &inserted);
      if (inserted) {
        dim_accs_.emplace_back();
        acc.dims.emplace_back(dims[d], slots[d]);
      }
    }
    std::array<DimAcc*, 3> dim_accs{};
    for (size_t d = 0; d < 3; ++d) {
      if (dims[d] != 0) dim_accs[d] = &dim_accs_[slots[d]];
    }
    auto count = [&](Builtin signal, int dim_signal) {
      ++acc.counts[signal];
      if (dim_signal < 0) return;
      for (DimAcc* d : dim_accs) {
        if (d != nullptr) ++d->counts[static_cast<size_t>(dim_signal)];
      }
    };
    switch (row.kind) {
      case RecordKind::kLog:
        count(kRecords, kDimRecords);
        if (row.level >= Level::kError) count(kErrors, kDimErrors);
        if (row.level == Level::kWarn) count(kWarnings, -1);
        if (row.template_id != 0) ++acc.templates[row.template_id];
        if (status >= 0) {
          count(kHttpRequests, -1);
          if (status >= 500) count(kHttp5xx, kDim5xx);
          if (status >= 400 && status < 500) count(kHttp4xx, -1);
          if (status == 429) count(kHttp429, kDim429);
        }
        if (!std::isnan(latency_ms)) {
          const int32_t index = Histogram::IndexOfValue(latency_ms);
          acc.latency.Add(index);
          // Per region and endpoint, not per host: hosts are many, and a
          // histogram per host per bucket cost more than the rest of the
          // rollup (host counts stay).
          for (size_t d = 1; d < dim_accs.size(); ++d) {
            if (dim_accs[d] != nullptr) dim_accs[d]->latency.Add(index);
          }
        }
        break;
      case RecordKind::kSpan: {
        count(kSpanCalls, -1);
        if (row.level >= Level::kError || status >= 500) count(kSpanErrors, kDimSpanErrors);
        const int32_t index = Histogram::IndexOfValue(static_cast<double>(row.duration_ns) / 1e6);
        acc.span_latency.Add(index);
        for (size_t d = 1; d < dim_accs.size(); ++d) {
          if (dim_accs[d] != nullptr) dim_accs[d]->span_latency.Add(index);
        }
        break;
      }
      case RecordKind::kMetric:
        acc.metrics[MetricIndex(row.name)].AddSample(row.value, row.ts_ns);
        break;
    }
  }

  std::vector<ServiceBucket> Finish(RollupCounters* counters) {
    // Name ranks of the batch's dimension values and metrics, so that each
    // bucket's come out in name order by sorting integers.
    const std::vector<uint32_t> dim_rank = Ranks(dimension_names_);
    const std::vector<uint32_t> metric_rank = Ranks(metrics_);
    std::vector<ServiceBucket> out;
    out.reserve(accs_.size());
    // Per bucket, in name order: (rank, dimension id, its accumulator) and
    // (rank, metric index, its point).
    std::vector<std::tuple<uint32_t, uint32_t, DimAcc*>> dims;
    std::vector<std::tuple<uint32_t, uint32_t, SeriesPoint*>> metrics;
    std::vector<std::pair<uint64_t, uint64_t>> templates;
    for (Acc& acc : accs_) {
      ServiceBucket& bucket = out.emplace_back();
      bucket.service = services_[acc.service];
      bucket.start_ns = acc.bucket;
      bucket.width_ns = options_.bucket_ns;
      auto entry = [&](std::string_view signal, std::string_view dimension) -> SeriesPoint& {
        SeriesEntry& e = bucket.entries.emplace_back();
        e.signal = signal;
        e.dimension = dimension;
        return e.point;
      };
      dims.clear();
      for (const auto& [dim, slot] : acc.dims) {
        dims.emplace_back(dim_rank[dim - 1], dim, &dim_accs_[slot]);
      }
      std::sort(dims.begin(), dims.end());
      metrics.clear();
      for (auto& [metric, point] : acc.metrics) {
        metrics.emplace_back(metric_rank[metric], metric, &point);
      }
      std::sort(metrics.begin(), metrics.end());
      templates.assign(acc.templates.begin(), acc.templates.end());
      std::sort(templates.begin(), templates.end());
      bucket.entries.reserve(kBuiltinCount + metrics.size() + templates.size() +
                             dims.size() * 3);

      for (const EmitStep& step : kEmitOrder) {
        if (step.slot == Slot::kMetrics) {
          for (const auto& [rank, metric, point] : metrics) {
            entry("metric:" + metrics_[metric], "") = std::move(*point);
          }
          continue;
        }
        if (step.slot == Slot::kTemplates) {
          for (const auto& [id, n] : templates) entry(TemplateSignal(id), "").count = n;
          continue;
        }
        const std::string_view name = kBuiltinNames[step.builtin];
        const bool histogram = step.builtin == kLatency || step.builtin == kSpanLatency;
        if (histogram) {
          IndexBuffer& whole = step.builtin == kLatency ? acc.latency : acc.span_latency;
          if (!whole.empty()) entry(name, "").histogram = whole.Build();
          for (const auto& [rank, dim, d] : dims) {
            IndexBuffer& per = step.builtin == kLatency ? d->latency : d->span_latency;
            if (!per.empty()) entry(name, dimension_names_[dim - 1]).histogram = per.Build();
          }
          continue;
        }
        if (acc.counts[step.builtin] != 0) entry(name, "").count = acc.counts[step.builtin];
        if (step.dim_signal < 0) continue;
        for (const auto& [rank, dim, d] : dims) {
          const uint64_t n = d->counts[static_cast<size_t>(step.dim_signal)];
          if (n != 0) entry(name, dimension_names_[dim - 1]).count = n;
        }
      }
    }
    std::sort(out.begin(), out.end(), [](const ServiceBucket& a, const ServiceBucket& b) {
      return std::tie(a.start_ns, a.service) < std::tie(b.start_ns, b.service);
    });
    if (counters != nullptr) counters->dimension_overflow += dimension_overflow_;
    return out;
  }

 private:
  // The role of an attribute key. The parser stores each distinct key of a
  // batch once (RecordBatch keys are shared), so the role is looked up by
  // the key's place in the arena: an integer hash per attribute instead of
  // a string hash.
  Role RoleOf(StrRef key) {
    const uint64_t where = (uint64_t{key.offset} << 32) | key.size;
    bool fresh = false;
    uint32_t& role = role_cache_.Insert(where, static_cast<uint32_t>(Role::kNone), &fresh);
    if (fresh) {
      const auto found = roles_.find(batch_.Get(key));
      if (found != roles_.end()) role = static_cast<uint32_t>(found->second);
    }
    return static_cast<Role>(role);
  }

  // rank[i] = the position of names[i] in name order.
  static std::vector<uint32_t> Ranks(const std::vector<std::string>& names) {
    std::vector<uint32_t> order(names.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return names[a] < names[b]; });
    std::vector<uint32_t> rank(names.size());
    for (uint32_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
    return rank;
  }

  int64_t FloorBucket(int64_t ts_ns) const {
    const int64_t w = options_.bucket_ns;
    int64_t q = ts_ns / w;
    if (ts_ns % w != 0 && ts_ns < 0) --q;
    return q * w;
  }

  uint32_t ServiceIndex(StrRef ref) {
    if (last_service_ != UINT32_MAX && ref.offset == last_ref_.offset &&
        ref.size == last_ref_.size) {
      return last_service_;
    }
    // Service names are shared refs within a batch's parse (like attribute
    // keys), so the ref finds the name's index without hashing the name.
    bool fresh = false;
    uint32_t& by_ref =
        service_by_ref_.Insert((uint64_t{ref.offset} << 32) | ref.size, 0, &fresh);
    if (fresh) {
      const std::string_view name = batch_.Get(ref);
      auto it = service_index_.find(name);
      if (it == service_index_.end()) {
        it = service_index_.emplace(std::string(name), static_cast<uint32_t>(services_.size()))
                 .first;
        services_.emplace_back(name);
        distinct_.emplace_back();
      }
      by_ref = it->second;
    }
    last_ref_ = ref;
    last_service_ = by_ref;
    return last_service_;
  }

  Acc& AccFor(uint32_t service, int64_t bucket) {
    if (last_acc_ != SIZE_MAX && accs_[last_acc_].service == service &&
        accs_[last_acc_].bucket == bucket) {
      return accs_[last_acc_];
    }
    const uint64_t key = static_cast<uint64_t>(bucket / options_.bucket_ns) * 1'000'003 + service;
    auto [it, inserted] = acc_index_.try_emplace(key, accs_.size());
    if (inserted || accs_[it->second].service != service || accs_[it->second].bucket != bucket) {
      if (!inserted) {
        // A key collision (a service index past a million): fall back to
        // a scan. Never happens with real fleets, but must stay correct.
        for (size_t i = 0; i < accs_.size(); ++i) {
          if (accs_[i].service == service && accs_[i].bucket == bucket) {
            last_acc_ = i;
            return accs_[i];
          }
        }
      }
      Acc& acc = accs_.emplace_back();
      acc.service = service;
      acc.bucket = bucket;
      if (inserted) it->second = accs_.size() - 1;
      last_acc_ = accs_.size() - 1;
      return acc;
    }
    last_acc_ = it->second;
    return accs_[last_acc_];
  }

  // The id of "<prefix><value>" (1-based), folding values past the cap.
  uint32_t Dimension(uint32_t service, size_t role, std::string_view value) {
    if (value.empty()) return 0;
    // A small direct-mapped cache in front of the map: three lookups per
    // record, and hashing the values was a good part of the rollup's cost.
    const size_t slot = (value.size() * 7 + static_cast<uint8_t>(value.front()) * 31 +
                         static_cast<uint8_t>(value.back()) * 131) &
                        (kRecentSlots - 1);
    RecentValue& recent = recent_[role][slot];
    if (recent.id != 0 && recent.text == value) {
      return Capped(CountDistinct(service, role, recent.id), role, recent.id);
    }
    StringMap<uint32_t>& index = dimension_index_[role];
    auto found = index.find(value);
    uint32_t id = 0;
    if (found != index.end()) {
      id = found->second;  // known, but maybe not yet for this service
    } else {
      id = static_cast<uint32_t>(dimension_names_.size() + 1);
      dimension_names_.push_back(std::string(kDimPrefix[role]) + std::string(value));
      index.emplace(std::string(value), id);
    }
    recent.text.assign(value);
    recent.id = id;
    return Capped(CountDistinct(service, role, id), role, id);
  }

  // Whether `id` is within the service's first max_dimension_values values
  // of this role, remembering it if new: one hash lookup.
  bool CountDistinct(uint32_t service, size_t role, uint32_t id) {
    uint32_t& seen = distinct_[service][role];
    const bool room = seen < options_.max_dimension_values;
    bool inserted = false;
    const uint64_t key = (uint64_t{service} << 34) | (uint64_t{role} << 32) | id;
    const uint32_t within = distinct_ids_.Insert(key, room ? 1 : 0, &inserted);
    if (inserted) ++seen;
    return within != 0;
  }

  uint32_t Capped(bool within, size_t role, uint32_t id) {
    if (within) return id;
    ++dimension_overflow_;
    if (other_[role] == 0) {
      dimension_names_.push_back(std::string(kDimPrefix[role]) + "_other");
      other_[role] = static_cast<uint32_t>(dimension_names_.size());
    }
    return other_[role];
  }

  uint32_t MetricIndex(StrRef ref) {
    const std::string_view name = batch_.Get(ref);
    auto it = metric_index_.find(name);
    if (it == metric_index_.end()) {
      it = metric_index_.emplace(std::string(name), static_cast<uint32_t>(metrics_.size())).first;
      metrics_.emplace_back(name);
    }
    return it->second;
  }

  const RecordBatch& batch_;
  const RollupOptions& options_;
  StringMap<Role> roles_;
  FlatIndex role_cache_;  // by key (offset, size) -> Role
  StringMap<uint32_t> service_index_;
  FlatIndex service_by_ref_;  // (offset, size) of a service name -> index
  std::vector<std::string> services_;
  StrRef last_ref_;
  uint32_t last_service_ = UINT32_MAX;
  std::vector<Acc> accs_;
  std::unordered_map<uint64_t, size_t> acc_index_;
  size_t last_acc_ = SIZE_MAX;
  std::array<StringMap<uint32_t>, 3> dimension_index_;  // by role: value -> id
  static constexpr size_t kRecentSlots = 256;
  struct RecentValue {
    std::string text;
    uint32_t id = 0;  // 0: empty slot
  };
  std::array<std::array<RecentValue, kRecentSlots>, 3> recent_;  // by role
  std::vector<std::string> dimension_names_;            // id - 1 -> "host=a"
  // Per service and role: how many distinct dimension values so far, and
  // whether each seen is within the cap.
  std::vector<std::array<uint32_t, 3>> distinct_;
  FlatIndex distinct_ids_;  // (service, role, id) -> within the cap
  FlatIndex dim_slots_;     // (acc index, dimension id) -> index into dim_accs_
  std::vector<DimAcc> dim_accs_;
  std::array<uint32_t, 3> other_{};
  uint64_t dimension_overflow_ = 0;
  StringMap<uint32_t> metric_index_;
  std::vector<std::string> metrics_;
};

}  // namespace

std::string TemplateSignal(uint64_t template_id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "template:";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(template_id >> shift) & 15]);
  return out;
}

std::vector<storage::ServiceBucket> RollupCalls(const std::vector<Call>& calls,
                                                const RollupOptions& options) {
  // Calls are few next to records (one per cross-service span), so a sorted
  // map keyed by what the output is sorted by does.
  struct EdgeAcc {
    uint64_t calls = 0, errors = 0;
    Histogram latency, gap;
  };
  auto source_index = [](EdgeSource source) -> size_t {
    for (size_t i = 0; i < kEdgeSignals.size(); ++i) {
      if (kEdgeSignals[i].source == source) return i;
    }
    return kEdgeSignals.size();
  };
  const int64_t w = options.bucket_ns;
  std::map<std::tuple<int64_t, std::string_view, std::string_view, size_t>, EdgeAcc> accs;
  for (const Call& call : calls) {
    const size_t source = source_index(call.source);
    if (call.caller.empty() || call.callee.empty() || source == kEdgeSignals.size()) continue;
    int64_t bucket = call.ts_ns / w;
    if (call.ts_ns % w != 0 && call.ts_ns < 0) --bucket;
    EdgeAcc& acc = accs[{bucket * w, call.callee, call.caller, source}];
    acc.calls += call.weight;
    if (call.error) acc.errors += call.weight;
    if (call.source == EdgeSource::kSpan) {
      acc.latency.Add(static_cast<double>(call.latency_ns) / 1e6);
      acc.gap.Add(static_cast<double>(call.gap_ns) / 1e6);
    }
  }
  std::vector<ServiceBucket> out;
  for (auto& [key, acc] : accs) {
    const auto& [start_ns, callee, caller, source] = key;
    if (out.empty() || out.back().start_ns != start_ns || out.back().service != callee) {
      ServiceBucket& bucket = out.emplace_back();
      bucket.service = callee;
      bucket.start_ns = start_ns;
      bucket.width_ns = w;
    }
    std::vector<SeriesEntry>& entries = out.back().entries;
    const std::string dimension = std::string(kCallerDimension) + std::string(caller);
    auto entry = [&](std::string_view signal) -> SeriesPoint& {
      SeriesEntry& e = entries.emplace_back();
      e.signal = signal;
      e.dimension = dimension;
      return e.point;
    };
    entry(kEdgeSignals[source].calls).count = acc.calls;
    if (acc.errors != 0) entry(kEdgeSignals[source].errors).count = acc.errors;
    if (!acc.gap.empty()) entry(kEdgeGap).histogram = std::move(acc.gap);
    if (!acc.latency.empty()) entry(kEdgeLatency).histogram = std::move(acc.latency);
  }
  for (ServiceBucket& bucket : out) {
    std::sort(bucket.entries.begin(), bucket.entries.end(),
              [](const SeriesEntry& a, const SeriesEntry& b) {
                return std::tie(a.signal, a.dimension) < std::tie(b.signal, b.dimension);
              });
  }
  return out;
}

std::vector<storage::ServiceBucket> Rollup(const RecordBatch& batch, const RollupOptions& options,
                                           RollupCounters* counters) {
  Builder builder(batch, options);
  for (const RecordRow& row : batch.rows()) builder.AddRow(row);
  if (counters != nullptr) counters->rows += batch.rows().size();
  return builder.Finish(counters);
}

}  // namespace faultline::correlate
