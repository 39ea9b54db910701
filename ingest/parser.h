// LineParser: turns raw input lines into Records, detecting each line's shape.
//
// Shapes, detected per line: flat JSON (`ts`/`time`/`timestamp`, `level`,
// `msg`/`message`, `service`), ECS (`@timestamp`, `log.level`, `service.name`,
// dotted or nested), OpenTelemetry JSON log records and spans
// (`timeUnixNano`, `severityText`, `body`, `attributes`, `resource`),
// container wrappers (`{"log":"<text line>","time":...}`: the level and time
// are looked for inside the text too), logfmt, and plain text (timestamp and
// level found at the start of the line). Plain-text continuation lines (stack
// traces: leading whitespace, `at `, `Caused by`, `...`) join the record before
// them. A line that cannot become a record becomes a DeadLetter with a
// RejectReason; parsing goes on.
//
// Thread-safety: a LineParser holds a simdjson parser and scratch buffers; use
// one per worker thread. Options must outlive the parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.h"
#include "core/status.h"
#include "core/time.h"
#include "ingest/line_format.h"

namespace faultline::ingest {

// Bytes that must be readable (any value) after the end of every chunk passed
// to ParseChunk, so that the JSON parser can read ahead without copying.
inline constexpr size_t kInputPadding = 64;

// Extra input field names, added in front of the built-in ones. Keys may be
// dotted paths ("kubernetes.labels.app"), matched against flattened names.
struct FieldAliases {
  std::vector<std::string> time;
  std::vector<std::string> level;
  std::vector<std::string> message;
  std::vector<std::string> service;
  std::vector<std::string> trace_id;
  std::vector<std::string> span_id;
  std::vector<std::string> parent_span_id;
  std::vector<std::string> duration;     // span duration (unit from name suffix or value)
  std::vector<std::string> metric_name;
  std::vector<std::string> metric_value;
};

struct ParserOptions {
  // Zone for timestamps written without an offset. Default UTC.
  TimeZone zone;
  // Lines longer than this are dead-lettered (kLineTooLong). 1 MiB: far above
  // any sane log line, low enough that one line cannot hog a worker.
  size_t max_line_bytes = 1 << 20;
  // JSON nesting deeper than this is dead-lettered (kTooDeep). Real logs
  // rarely go past 5 levels; 32 leaves room and bounds recursion.
  int max_depth = 32;
  // A record with more fields (after flattening) is dead-lettered
  // (kTooManyFields). Bounds per-record memory.
  size_t max_fields = 1000;
  // Attribute values longer than this are cut (and a "…" marker appended).
  size_t max_attr_value_bytes = 64 << 10;
  // Raw bytes kept in a dead letter; the rest is counted in raw_size only.
  size_t max_dead_letter_raw_bytes = 4 << 10;
  // Accepted event-time window: [min_ts_ns, now + max_future_ns].
  // 1990-01-01: older stamps are almost always a broken clock or a unit error.
  int64_t min_ts_ns = 631152000LL * 1'000'000'000;
  // One week ahead: tolerates skewed clocks and simulated data, rejects
  // unit mix-ups (millis read as seconds lands in the year 50000).
  int64_t max_future_ns = 7LL * 24 * 3600 * 1'000'000'000;
  // Service for records that name none (e.g. the file's base name).
  std::string default_service = "unknown";
  // Join plain-text continuation lines to the record before them.
  bool join_multiline = true;
  FieldAliases aliases;
  // Layout of plain-text lines (`--line-format`): when set, a line that is
  // not JSON is matched against it first; fields named Date, Time,
  // Timestamp, DateTime, Month, Day or Year give the time, Level the level,
  // Content (or Message) the message, Service the service; every other
  // field becomes an attribute. A line that does not match is read as if
  // there were no layout. Shared read-only between parser threads.
  std::shared_ptr<const LineFormat> line_format;
  // Layout of the line format's time text (`--time-layout`, e.g.
  // "%y%m%d %H%M%S"): when set, the time fields joined in pattern order with
  // single spaces must match it whole, and the built-in forms are not tried;
  // a line whose time text does not match is dead-lettered (bad_timestamp).
  // Unused without line_format. Shared read-only between parser threads.
  std::shared_ptr<const TimeLayout> time_layout;

  Status Validate() const;
};

// True if `line` continues the previous record (stack trace continuation).
// Used by readers so that a chunk boundary never splits a multi-line record.
bool IsContinuationLine(std::string_view line);

class LineParser {
 public:
  explicit LineParser(const ParserOptions& options);
  ~LineParser();
  LineParser(const LineParser&) = delete;
  LineParser& operator=(const LineParser&) = delete;

  // Parses every line of `chunk` (lines end in '\n'; the last may lack it)
  // into `out`: rows, dead letters and counters. `base_offset` is the byte
  // offset of chunk[0] in its source; each row's offset is its line's offset.
  // `source` is an index from out->AddSource().
  // REQUIRES: kInputPadding readable bytes after chunk.end().
  // Never fails: bad lines become dead letters.
  void ParseChunk(std::string_view chunk, uint64_t base_offset, uint32_t source,
                  RecordBatch* out);

  // Parses one line (no trailing newline needed) into `out`; same contract.
  // Used by the Kafka consumer, one message at a time. Continuation lines are
  // not joined here (messages are independent).
  void ParseLine(std::string_view line, uint64_t offset, uint32_t source, RecordBatch* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace faultline::ingest
