#include "tools/metrics.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <type_traits>
#include <utility>
#include <variant>

namespace faultline::tools::metrics {
namespace {

bool IsValidName(std::string_view name) {
  if (name.empty()) return false;
  auto is_alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  if (!is_alpha(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return is_alpha(c) || (c >= '0' && c <= '9');
  });
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.substr(text.size() - suffix.size()) == suffix;
}

void AppendUint(uint64_t value, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, end);
}

void AppendInt(int64_t value, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, end);
}

// Shortest text that reads back as the same double; Prometheus spells the
// special values NaN, +Inf and -Inf.
void AppendDouble(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    out->append(buf, end);
  }
}

void AppendEscaped(std::string_view text, bool escape_quote, std::string* out) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && escape_quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// `{a="x",b="y"}`, with `le` last when given; nothing without labels.
void AppendLabels(const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const char* le,
                  std::string* out) {
  if (names.empty() && le == nullptr) return;
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append(names[i]);
    out->append("=\"");
    AppendEscaped(values[i], /*escape_quote=*/true, out);
    out->push_back('"');
  }
  if (le != nullptr) {
    if (!names.empty()) out->push_back(',');
    out->append("le=\"");
    out->append(le);
    out->push_back('"');
  }
  out->push_back('}');
}

// One sample line: name{labels} value.
template <typename Value>
void AppendSample(std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, const char* le,
                  Value value, std::string* out) {
  out->append(name);
  out->append(suffix);
  AppendLabels(label_names, label_values, le, out);
  out->push_back(' ');
  if constexpr (std::is_same_v<Value, uint64_t>) {
    AppendUint(value, out);
  } else if constexpr (std::is_same_v<Value, int64_t>) {
    AppendInt(value, out);
  } else {
    AppendDouble(value, out);
  }
  out->push_back('\n');
}

// Counter, Gauge and DoubleGauge: one sample.
template <typename Metric>
void RenderChild(std::string_view name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Metric& metric,
                 std::string* out) {
  AppendSample(name, "", names, values, nullptr, metric.value(), out);
}

void RenderChild(std::string_view name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values,
                 const Histogram& metric, std::string* out) {
  // _count is the +Inf bucket, so the two always agree even while other
  // threads observe; _sum may be a few observations ahead or behind.
  const std::vector<double>& bounds = metric.bucket_bounds();
  std::vector<uint64_t> counts = metric.BucketCounts();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += counts[i];
    std::string le;
    AppendDouble(bounds[i], &le);
    AppendSample(name, "_bucket", names, values, le.c_str(), cumulative, out);
  }
  cumulative += counts.back();
  AppendSample(name, "_bucket", names, values, "+Inf", cumulative, out);
  AppendSample(name, "_sum", names, values, nullptr, metric.sum(), out);
  AppendSample(name, "_count", names, values, nullptr, cumulative, out);
}

using CallbackFn = std::function<std::vector<CallbackSample>()>;

}  // namespace

// ---- Histogram ----

Histogram::Histogram(const std::vector<double>* bucket_bounds)
    : bounds_(bucket_bounds),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_->size() + 1)) {}

void Histogram::Observe(double value) noexcept {
  if (std::isnan(value)) return;
  // The first bound >= value: Prometheus buckets are "less than or equal".
  auto bucket = std::lower_bound(bounds_->begin(), bounds_->end(), value);
  counts_[static_cast<size_t>(bucket - bounds_->begin())].fetch_add(
      1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> counts(bounds_->size() + 1);
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  return counts;
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (uint64_t n : BucketCounts()) total += n;
  return total;
}

// ---- Family ----

template <typename Metric>
Family<Metric>::Family(std::vector<std::string> label_names,
                       std::vector<double> bucket_bounds)
    : label_names_(std::move(label_names)),
      bucket_bounds_(std::move(bucket_bounds)) {}

template <typename Metric>
std::unique_ptr<Metric> Family<Metric>::MakeChild() const {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    return std::make_unique<Histogram>(&bucket_bounds_);
  } else {
    return std::make_unique<Metric>();
  }
}

template <typename Metric>
Metric* Family<Metric>::WithLabels(
    std::initializer_list<std::string_view> label_values) {
  return GetOrCreate(
      std::vector<std::string>(label_values.begin(), label_values.end()));
}

template <typename Metric>
Metric* Family<Metric>::WithLabels(
    const std::vector<std::string>& label_values) {
  return GetOrCreate(label_values);
}

template <typename Metric>
Metric* Family<Metric>::GetOrCreate(std::vector<std::string> label_values) {
  std::scoped_lock lock(mu_);
  if (label_values.size() != label_names_.size()) {
    assert(false && "Family::WithLabels: wrong number of label values");
    if (detached_ == nullptr) detached_ = MakeChild();
    return detached_.get();
  }
  auto it = children_.find(label_values);
  if (it == children_.end()) {
    it = children_.emplace(std::move(label_values), MakeChild()).first;
  }
  return it->second.get();
}

template <typename Metric>
void Family<Metric>::Render(std::string_view name, std::string* out) const {
  std::scoped_lock lock(mu_);
  for (const auto& [values, child] : children_) {
    RenderChild(name, label_names_, values, *child, out);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<DoubleGauge>;
template class Family<Histogram>;

// ---- Registry ----

struct Registry::Entry {
  std::string name;
  std::string help;
  std::vector<std::string> label_names;
  std::vector<double> bucket_bounds;
  // The variant index is the metric's kind.
  std::variant<std::unique_ptr<Family<Counter>>, std::unique_ptr<Family<Gauge>>,
               std::unique_ptr<Family<DoubleGauge>>,
               std::unique_ptr<Family<Histogram>>, CallbackFn>
      metric;

  bool is_counter() const { return metric.index() == 0; }
  bool is_histogram() const { return metric.index() == 3; }
  bool is_callback() const { return metric.index() == 4; }
  std::string_view type() const {
    if (is_counter()) return "counter";
    if (is_histogram()) return "histogram";
    return "gauge";
  }
  // Every sample name this family writes.
  std::vector<std::string> SampleNames() const {
    if (!is_histogram()) return {name};
    return {name, name + "_bucket", name + "_sum", name + "_count"};
  }
  bool SameDefinition(const Entry& other) const {
    return !is_callback() && metric.index() == other.metric.index() &&
           help == other.help && label_names == other.label_names &&
           bucket_bounds == other.bucket_bounds;
  }
};

namespace {

Status ValidateEntryShape(std::string_view name, std::string_view help,
                          const std::vector<std::string>& label_names,
                          const std::vector<double>& bucket_bounds,
                          bool is_counter, bool is_histogram) {
  const std::string where = "metric \"" + std::string(name) + "\"";
  if (!IsValidName(name)) {
    return Status::InvalidArgument(where +
                                   ": name must match [a-zA-Z_][a-zA-Z0-9_]*");
  }
  if (is_counter != EndsWith(name, "_total")) {
    return Status::InvalidArgument(
        where + (is_counter ? ": counter names end in _total"
                            : ": only counter names end in _total"));
  }
  if (help.empty()) return Status::InvalidArgument(where + ": help is empty");
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsValidName(label) || label.starts_with("__")) {
      return Status::InvalidArgument(
          where + ": label \"" + label +
          "\" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __");
    }
    if (is_histogram && label == "le") {
      return Status::InvalidArgument(
          where + ": label \"le\" is reserved for histogram buckets");
    }
    if (std::find(label_names.begin(), label_names.begin() + i, label) !=
        label_names.begin() + i) {
      return Status::InvalidArgument(where + ": label \"" + label +
                                     "\" appears twice");
    }
  }
  if (is_histogram) {
    if (bucket_bounds.empty()) {
      return Status::InvalidArgument(where + ": histogram needs buckets");
    }
    for (size_t i = 0; i < bucket_bounds.size(); ++i) {
      if (!std::isfinite(bucket_bounds[i]) ||
          (i > 0 && bucket_bounds[i] <= bucket_bounds[i - 1])) {
        return Status::InvalidArgument(
            where + ": bucket bounds must be finite and strictly increasing");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Registry::Registry() = default;
Registry::~Registry() = default;

Status Registry::AddEntry(std::unique_ptr<Entry> entry, Entry** existing) {
  *existing = nullptr;
  FL_RETURN_IF_ERROR(ValidateEntryShape(
      entry->name, entry->help, entry->label_names, entry->bucket_bounds,
      entry->is_counter(), entry->is_histogram()));
  const std::vector<std::string> new_samples = entry->SampleNames();
  std::scoped_lock lock(mu_);
  for (const std::unique_ptr<Entry>& old : entries_) {
    if (old->name == entry->name) {
      if (!old->SameDefinition(*entry)) {
        return Status::InvalidArgument(
            "metric \"" + entry->name +
            "\" is already registered with another kind, help, labels or "
            "buckets (or as a callback)");
      }
      *existing = old.get();
      return Status::Ok();
    }
    for (const std::string& sample : old->SampleNames()) {
      if (std::find(new_samples.begin(), new_samples.end(), sample) !=
          new_samples.end()) {
        return Status::InvalidArgument(
            "metric \"" + entry->name + "\": sample name \"" + sample +
            "\" is already used by " + std::string(old->type()) + " \"" +
            old->name + "\"");
      }
    }
  }
  entries_.push_back(std::move(entry));
  return Status::Ok();
}

template <typename Metric>
Result<Family<Metric>*> Registry::AddFamily(
    std::string_view name, std::string_view help,
    std::vector<std::string> label_names, std::vector<double> bucket_bounds) {
  auto entry = std::make_unique<Entry>();
  entry->name = std::string(name);
  entry->help = std::string(help);
  entry->label_names = label_names;
  entry->bucket_bounds = bucket_bounds;
  // Family's constructor is private to the registry, so make_unique cannot
  // reach it; the pointer is owned at once.
  std::unique_ptr<Family<Metric>> family(
      new Family<Metric>(std::move(label_names), std::move(bucket_bounds)));
  Family<Metric>* created = family.get();
  entry->metric = std::move(family);
  Entry* existing = nullptr;
  FL_RETURN_IF_ERROR(AddEntry(std::move(entry), &existing));
  if (existing != nullptr) {
    return std::get<std::unique_ptr<Family<Metric>>>(existing->metric).get();
  }
  return created;
}

template <typename Metric>
Result<Metric*> Registry::AddUnlabelled(std::string_view name,
                                        std::string_view help,
                                        std::vector<double> bucket_bounds) {
  FL_ASSIGN_OR_RETURN(
      Family<Metric>* family,
      AddFamily<Metric>(name, help, {}, std::move(bucket_bounds)));
  return family->WithLabels({});
}

Result<Counter*> Registry::AddCounter(std::string_view name,
                                      std::string_view help) {
  return AddUnlabelled<Counter>(name, help, {});
}

Result<Family<Counter>*> Registry::AddCounterFamily(
    std::string_view name, std::string_view help,
    std::vector<std::string> label_names) {
  return AddFamily<Counter>(name, help, std::move(label_names), {});
}

Result<Gauge*> Registry::AddGauge(std::string_view name,
                                  std::string_view help) {
  return AddUnlabelled<Gauge>(name, help, {});
}

Result<Family<Gauge>*> Registry::AddGaugeFamily(
    std::string_view name, std::string_view help,
    std::vector<std::string> label_names) {
  return AddFamily<Gauge>(name, help, std::move(label_names), {});
}

Result<DoubleGauge*> Registry::AddDoubleGauge(std::string_view name,
                                              std::string_view help) {
  return AddUnlabelled<DoubleGauge>(name, help, {});
}

Result<Family<DoubleGauge>*> Registry::AddDoubleGaugeFamily(
    std::string_view name, std::string_view help,
    std::vector<std::string> label_names) {
  return AddFamily<DoubleGauge>(name, help, std::move(label_names), {});
}

Result<Histogram*> Registry::AddHistogram(std::string_view name,
                                          std::string_view help,
                                          std::vector<double> bucket_bounds) {
  return AddUnlabelled<Histogram>(name, help, std::move(bucket_bounds));
}

Result<Family<Histogram>*> Registry::AddHistogramFamily(
    std::string_view name, std::string_view help,
    std::vector<std::string> label_names, std::vector<double> bucket_bounds) {
  return AddFamily<Histogram>(name, help, std::move(label_names),
                              std::move(bucket_bounds));
}

Status Registry::AddCallbackGauge(std::string_view name, std::string_view help,
                                  std::function<double()> callback) {
  return AddCallbackGaugeFamily(
      name, help, {},
      [callback = std::move(callback)]() -> std::vector<CallbackSample> {
        return {CallbackSample{{}, callback()}};
      });
}

Status Registry::AddCallbackGaugeFamily(
    std::string_view name, std::string_view help,
    std::vector<std::string> label_names,
    std::function<std::vector<CallbackSample>()> callback) {
  auto entry = std::make_unique<Entry>();
  entry->name = std::string(name);
  entry->help = std::string(help);
  entry->label_names = std::move(label_names);
  entry->metric = std::move(callback);
  Entry* existing = nullptr;
  FL_RETURN_IF_ERROR(AddEntry(std::move(entry), &existing));
  // A callback family never matches an existing one (SameDefinition).
  assert(existing == nullptr);
  return Status::Ok();
}

std::string Registry::Exposition() const {
  std::vector<const Entry*> entries;
  {
    std::scoped_lock lock(mu_);
    entries.reserve(entries_.size());
    for (const std::unique_ptr<Entry>& entry : entries_) {
      entries.push_back(entry.get());
    }
  }
  // Callbacks and child rendering run without mu_: a callback may be slow or
  // take its own locks, and must not block registration.
  std::string out;
  for (const Entry* entry : entries) {
    out.append("# HELP ").append(entry->name).push_back(' ');
    AppendEscaped(entry->help, /*escape_quote=*/false, &out);
    out.append("\n# TYPE ").append(entry->name).push_back(' ');
    out.append(entry->type()).push_back('\n');
    std::visit(
        [&](const auto& metric) {
          using T = std::decay_t<decltype(metric)>;
          if constexpr (std::is_same_v<T, CallbackFn>) {
            std::vector<CallbackSample> samples = metric();
            std::stable_sort(
                samples.begin(), samples.end(),
                [](const CallbackSample& a, const CallbackSample& b) {
                  return a.label_values < b.label_values;
                });
            for (const CallbackSample& sample : samples) {
              if (sample.label_values.size() != entry->label_names.size()) {
                continue;
              }
              AppendSample(entry->name, "", entry->label_names,
                           sample.label_values, nullptr, sample.value, &out);
            }
          } else {
            metric->Render(entry->name, &out);
          }
        },
        entry->metric);
  }
  return out;
}

}  // namespace faultline::tools::metrics
