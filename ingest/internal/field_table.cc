#include "ingest/internal/field_table.h"

namespace faultline::ingest::internal {

namespace {

struct BuiltIn {
  std::string_view name;
  Slot slot;
  DurationUnit unit = DurationUnit::kAuto;
  bool zero_is_unset = false;
};

// Order matters within a slot: earlier names win when a record has several.
// Time: the most precise representation first (ts_ns carries nanoseconds that
// a formatted "timestamp" may have rounded away).
constexpr BuiltIn kBuiltIns[] = {
    {"ts_ns", Slot::kTime},
    {"timeUnixNano", Slot::kTime, DurationUnit::kAuto, true},
    {"@timestamp", Slot::kTime},
    {"timestamp", Slot::kTime},
    {"time", Slot::kTime},
    {"ts", Slot::kTime},
    {"datetime", Slot::kTime},
    {"observedTimeUnixNano", Slot::kTime, DurationUnit::kAuto, true},
    {"level", Slot::kLevel},
    {"log.level", Slot::kLevel},
    {"severity", Slot::kLevel},
    {"severityText", Slot::kLevel},
    {"lvl", Slot::kLevel},
    {"loglevel", Slot::kLevel},
    {"log_level", Slot::kLevel},
    {"levelname", Slot::kLevel},
    {"severityNumber", Slot::kSeverityNumber},
    {"msg", Slot::kMessage},
    {"message", Slot::kMessage},
    {"body", Slot::kMessage},
    {"body.stringValue", Slot::kMessage},
    {"@m", Slot::kMessage},
    {"service", Slot::kService},
    {"service.name", Slot::kService},
    {"service_name", Slot::kService},
    {"resource.service.name", Slot::kService},
    {"app", Slot::kService},
    {"application", Slot::kService},
    {"kubernetes.container_name", Slot::kService},
    {"kubernetes.labels.app", Slot::kService},
    {"container_name", Slot::kService},
    {"trace_id", Slot::kTraceId},
    {"traceId", Slot::kTraceId},
    {"trace.id", Slot::kTraceId},
    {"traceID", Slot::kTraceId},
    {"span_id", Slot::kSpanId},
    {"spanId", Slot::kSpanId},
    {"span.id", Slot::kSpanId},
    {"spanID", Slot::kSpanId},
    {"parent_span_id", Slot::kParentSpanId},
    {"parentSpanId", Slot::kParentSpanId},
    {"parent.id", Slot::kParentSpanId},
    {"parent_id", Slot::kParentSpanId},
    {"parentSpanID", Slot::kParentSpanId},
    {"name", Slot::kName},
    {"span_name", Slot::kName},
    {"operationName", Slot::kName},
    {"metric", Slot::kMetricName},
    {"metric_name", Slot::kMetricName},
    {"__name__", Slot::kMetricName},
    {"value", Slot::kMetricValue},
    {"metric_value", Slot::kMetricValue},
    {"kind", Slot::kKind},
    {"duration_ns", Slot::kDuration, DurationUnit::kNanos},
    {"event.duration", Slot::kDuration, DurationUnit::kNanos},
    {"duration_us", Slot::kDuration, DurationUnit::kMicros},
    {"duration_ms", Slot::kDuration, DurationUnit::kMillis},
    {"elapsed_ms", Slot::kDuration, DurationUnit::kMillis},
    {"duration_s", Slot::kDuration, DurationUnit::kSeconds},
    {"duration", Slot::kDuration, DurationUnit::kAuto},
    {"startTimeUnixNano", Slot::kStartTime, DurationUnit::kAuto, true},
    {"endTimeUnixNano", Slot::kEndTime, DurationUnit::kAuto, true},
    {"status.code", Slot::kStatusCode},
    {"log", Slot::kContainerLog},
    {"attributes", Slot::kOtelAttributes},
    {"resource.attributes", Slot::kOtelAttributes},
};

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// A configured duration field's unit comes from its name's suffix.
DurationUnit UnitFromName(std::string_view name) {
  if (EndsWith(name, "_ns") || EndsWith(name, "Nano") || EndsWith(name, "Nanos")) {
    return DurationUnit::kNanos;
  }
  if (EndsWith(name, "_us") || EndsWith(name, "Micros")) return DurationUnit::kMicros;
  if (EndsWith(name, "_ms") || EndsWith(name, "Millis")) return DurationUnit::kMillis;
  if (EndsWith(name, "_s") || EndsWith(name, "_sec") || EndsWith(name, "_seconds")) {
    return DurationUnit::kSeconds;
  }
  return DurationUnit::kAuto;
}

}  // namespace

FieldTable::FieldTable(const FieldAliases& aliases) : slots_(kSize, -1) {
  uint16_t rank = 0;
  const auto add_aliases = [&](const std::vector<std::string>& names, Slot slot) {
    for (const std::string& name : names) {
      FieldSpec spec{slot, slot == Slot::kDuration ? UnitFromName(name) : DurationUnit::kAuto,
                     false, rank++};
      Add(name, spec);
    }
  };
  add_aliases(aliases.time, Slot::kTime);
  add_aliases(aliases.level, Slot::kLevel);
  add_aliases(aliases.message, Slot::kMessage);
  add_aliases(aliases.service, Slot::kService);
  add_aliases(aliases.trace_id, Slot::kTraceId);
  add_aliases(aliases.span_id, Slot::kSpanId);
  add_aliases(aliases.parent_span_id, Slot::kParentSpanId);
  add_aliases(aliases.duration, Slot::kDuration);
  add_aliases(aliases.metric_name, Slot::kMetricName);
  add_aliases(aliases.metric_value, Slot::kMetricValue);
  for (const BuiltIn& built_in : kBuiltIns) {
    Add(built_in.name, FieldSpec{built_in.slot, built_in.unit, built_in.zero_is_unset, rank++});
  }
}

void FieldTable::Add(std::string_view name, FieldSpec spec) {
  // The first definition of a name wins: aliases are added before built-ins.
  if (name.empty() || Lookup(name).slot != Slot::kNone) return;
  if (entries_.size() >= kSize / 2) return;  // keeps probing short; far above real configs
  size_t i = Hash(name) & kMask;
  while (slots_[i] >= 0) i = (i + 1) & kMask;
  slots_[i] = static_cast<int32_t>(entries_.size());
  entries_.push_back(Entry{std::string(name), spec});
}

}  // namespace faultline::ingest::internal
