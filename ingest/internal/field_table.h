// FieldTable: maps an input field name (a flattened, dotted key) to the
// Record slot it fills, with a rank so that configured aliases beat built-in
// names and precise fields beat vague ones. Built once per LineParser; lookups
// are the hot path (one per JSON or logfmt field), so the table is a small
// open-addressing hash with a cheap hash, no allocation per lookup.
// Immutable after construction; safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/internal/text_scan.h"
#include "ingest/parser.h"

namespace faultline::ingest::internal {

// The Record slot a field can fill. kNone: the field becomes an attribute.
enum class Slot : uint8_t {
  kNone = 0,
  kTime,
  kLevel,
  kSeverityNumber,  // OTel severityNumber, used when no level text exists
  kMessage,
  kService,
  kTraceId,
  kSpanId,
  kParentSpanId,
  kName,        // span name, or metric name when the record is a metric
  kMetricName,  // names that always mean a metric ("metric", "__name__")
  kMetricValue,
  kKind,        // "span" / "metric" / "log"
  kDuration,
  kStartTime,   // OTel span start (also the event time of a span)
  kEndTime,
  kStatusCode,  // OTel span status.code: 2 = error
  kContainerLog,  // Docker json-file "log": a whole text line
  kOtelAttributes,  // OTel [{"key":..,"value":{..}}] arrays
};
inline constexpr size_t kSlotCount = 19;

// Unit of a duration field's value.
enum class DurationUnit : uint8_t { kNanos, kMicros, kMillis, kSeconds, kAuto };

struct FieldSpec {
  Slot slot = Slot::kNone;
  DurationUnit unit = DurationUnit::kAuto;
  bool zero_is_unset = false;  // OTel: a 0 time means "not set"
  uint16_t rank = 0;           // lower wins
};

class FieldTable {
 public:
  explicit FieldTable(const FieldAliases& aliases);

  // The spec for `key`, or a spec with Slot::kNone.
  FieldSpec Lookup(std::string_view key) const {
    if (key.empty()) return FieldSpec{};
    for (size_t i = Hash(key) & kMask;; i = (i + 1) & kMask) {
      const int32_t entry = slots_[i];
      if (entry < 0) return FieldSpec{};
      const Entry& candidate = entries_[static_cast<size_t>(entry)];
      if (candidate.name.size() == key.size() &&
          ShortEquals(candidate.name.data(), key.data(), key.size())) {
        return candidate.spec;
      }
    }
  }

 private:
  static constexpr size_t kSize = 1024;  // power of two, far above entry count
  static constexpr size_t kMask = kSize - 1;
  struct Entry {
    std::string name;
    FieldSpec spec;
  };
  static size_t Hash(std::string_view key) {
    const auto first = static_cast<unsigned char>(key.front());
    const auto last = static_cast<unsigned char>(key.back());
    const auto mid = static_cast<unsigned char>(key[key.size() / 2]);
    return key.size() * 0x9E37u + first * 31u + mid * 131u + last * 1031u;
  }
  void Add(std::string_view name, FieldSpec spec);

  std::vector<Entry> entries_;
  std::vector<int32_t> slots_;
};

}  // namespace faultline::ingest::internal
