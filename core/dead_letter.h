// Rejected input: why a line was refused, and the entry kept for it.
//
// Every line that cannot become a Record is classified into exactly one
// RejectReason, counted per reason, and kept as a DeadLetter (source position,
// reason, detail and the raw bytes up to a cap) so that nothing is lost in
// silence. Plain values; thread-safe to copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace faultline {

enum class RejectReason : uint8_t {
  kTruncatedJson = 0,     // a JSON object that ends before it closes
  kInvalidJson = 1,       // starts like JSON but is not valid JSON
  kInvalidUtf8 = 2,       // bytes that are not UTF-8
  kLineTooLong = 3,       // longer than limits.max_line_bytes
  kMissingTimestamp = 4,  // no field or prefix that holds a time
  kBadTimestamp = 5,      // a time field whose value cannot be read as a time
  kTimestampOutOfRange = 6,  // a readable time outside the accepted window
  kBinary = 7,            // NUL or other control bytes: not a text line
  kTooDeep = 8,           // JSON nesting deeper than limits.max_depth
  kBadDuration = 9,       // a span duration that is not a number or duration
  kBadMetricValue = 10,   // a metric whose value is not a number
  kTooManyFields = 11,    // more fields than limits.max_fields
};
inline constexpr size_t kRejectReasonCount = 12;

// Stable snake_case code, used in counters, the store and the CLI:
// "truncated_json", "invalid_json", "invalid_utf8", "line_too_long",
// "missing_timestamp", "bad_timestamp", "timestamp_out_of_range", "binary",
// "too_deep", "bad_duration", "bad_metric_value", "too_many_fields".
std::string_view RejectReasonName(RejectReason reason);
bool ParseRejectReason(std::string_view name, RejectReason* out);

struct DeadLetter {
  RejectReason reason = RejectReason::kInvalidJson;
  std::string detail;        // one line for a human: what exactly was wrong
  std::string source;        // file path, "-" or Kafka topic
  int32_t partition = -1;    // Kafka partition, -1 for files
  uint64_t offset = 0;       // byte offset of the line (or Kafka offset)
  uint64_t raw_size = 0;     // size of the whole raw line
  std::string raw;           // the raw bytes, cut at the configured cap
  int64_t seen_unix_ns = 0;  // wall-clock time it was rejected

  bool operator==(const DeadLetter&) const = default;
};

}  // namespace faultline
