#include "core/record.h"

#include <algorithm>

namespace faultline {

bool EqualsIgnoreCaseAscii(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char folded = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    if (folded != lower[i]) return false;
  }
  return true;
}

namespace {


}  // namespace

std::string_view RecordKindName(RecordKind kind) {
  switch (kind) {
    case RecordKind::kLog: return "log";
    case RecordKind::kSpan: return "span";
    case RecordKind::kMetric: return "metric";
  }
  return "log";
}

bool ParseRecordKind(std::string_view text, RecordKind* out) {
  for (RecordKind kind : {RecordKind::kLog, RecordKind::kSpan, RecordKind::kMetric}) {
    if (EqualsIgnoreCaseAscii(text, RecordKindName(kind))) {
      *out = kind;
      return true;
    }
  }
  return false;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kUnknown: return "UNKNOWN";
    case Level::kTrace: return "TRACE";
    case Level::kDebug: return "DEBUG";
    case Level::kInfo: return "INFO";
    case Level::kWarn: return "WARN";
    case Level::kError: return "ERROR";
    case Level::kFatal: return "FATAL";
  }
  return "UNKNOWN";
}

bool ParseLevel(std::string_view text, Level* out) {
  struct Name {
    std::string_view text;
    Level level;
  };
  static constexpr Name kNames[] = {
      {"info", Level::kInfo},        {"error", Level::kError},
      {"warn", Level::kWarn},        {"warning", Level::kWarn},
      {"debug", Level::kDebug},      {"trace", Level::kTrace},
      {"fatal", Level::kFatal},      {"err", Level::kError},
      {"information", Level::kInfo}, {"informational", Level::kInfo},
      {"notice", Level::kInfo},      {"critical", Level::kFatal},
      {"crit", Level::kFatal},       {"panic", Level::kFatal},
      {"emerg", Level::kFatal},      {"emergency", Level::kFatal},
      {"alert", Level::kFatal},      {"severe", Level::kError},
      {"dbg", Level::kDebug},        {"inf", Level::kInfo},
      {"wrn", Level::kWarn},         {"eror", Level::kError},
      {"trc", Level::kTrace},        {"ftl", Level::kFatal},
      {"verbose", Level::kTrace},    {"fine", Level::kDebug},
      {"finer", Level::kTrace},      {"finest", Level::kTrace},
      {"unknown", Level::kUnknown},
  };
  if (text.empty() || text.size() > 13) return false;
  for (const Name& name : kNames) {
    if (EqualsIgnoreCaseAscii(text, name.text)) {
      *out = name.level;
      return true;
    }
  }
  return false;
}

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kTruncatedJson: return "truncated_json";
    case RejectReason::kInvalidJson: return "invalid_json";
    case RejectReason::kInvalidUtf8: return "invalid_utf8";
    case RejectReason::kLineTooLong: return "line_too_long";
    case RejectReason::kMissingTimestamp: return "missing_timestamp";
    case RejectReason::kBadTimestamp: return "bad_timestamp";
    case RejectReason::kTimestampOutOfRange: return "timestamp_out_of_range";
    case RejectReason::kBinary: return "binary";
    case RejectReason::kTooDeep: return "too_deep";
    case RejectReason::kBadDuration: return "bad_duration";
    case RejectReason::kBadMetricValue: return "bad_metric_value";
    case RejectReason::kTooManyFields: return "too_many_fields";
  }
  return "invalid_json";
}

bool ParseRejectReason(std::string_view name, RejectReason* out) {
  for (size_t i = 0; i < kRejectReasonCount; ++i) {
    auto reason = static_cast<RejectReason>(i);
    if (name == RejectReasonName(reason)) {
      *out = reason;
      return true;
    }
  }
  return false;
}

bool operator==(const Attribute& a, const Attribute& b) {
  return a.key == b.key && a.value == b.value && a.type == b.type;
}

bool operator==(const Provenance& a, const Provenance& b) {
  return a.source == b.source && a.partition == b.partition && a.offset == b.offset;
}

void ParseCounters::Add(const ParseCounters& other) {
  lines += other.lines;
  empty_lines += other.empty_lines;
  joined_lines += other.joined_lines;
  bytes += other.bytes;
  for (size_t i = 0; i < kRejectReasonCount; ++i) rejects[i] += other.rejects[i];
}

uint64_t ParseCounters::TotalRejects() const {
  uint64_t total = 0;
  for (uint64_t count : rejects) total += count;
  return total;
}

void RecordBatch::GrowArena(size_t more) {
  const size_t capacity = std::max({arena_capacity_ * 2, arena_size_ + more, size_t{4096}});
  std::unique_ptr<char[]> grown(new char[capacity]);
  if (arena_size_ > 0) std::memcpy(grown.get(), arena_.get(), arena_size_);
  arena_ = std::move(grown);
  arena_capacity_ = capacity;
}

uint32_t RecordBatch::AddSource(std::string name, int32_t partition) {
  for (size_t i = 0; i < sources_.size(); ++i) {
    if (sources_[i].name == name && sources_[i].partition == partition) {
      return static_cast<uint32_t>(i);
    }
  }
  sources_.push_back(SourceRef{std::move(name), partition});
  return static_cast<uint32_t>(sources_.size() - 1);
}

Record RecordBatch::ToRecord(size_t i) const {
  const RecordRow& row = rows_[i];
  Record record;
  record.kind = row.kind;
  record.ts_ns = row.ts_ns;
  record.level = row.level;
  record.service = std::string(Get(row.service));
  record.message = std::string(Get(row.message));
  record.trace_id = std::string(Get(row.trace_id));
  record.span_id = std::string(Get(row.span_id));
  record.parent_span_id = std::string(Get(row.parent_span_id));
  record.name = std::string(Get(row.name));
  record.duration_ns = row.duration_ns;
  record.value = row.value;
  record.attributes.reserve(row.attr_count);
  for (uint32_t a = row.attr_begin; a < row.attr_begin + row.attr_count; ++a) {
    const AttrRef& attr = attrs_[a];
    record.attributes.push_back(
        Attribute{std::string(Get(attr.key)), std::string(Get(attr.value)), attr.type});
  }
  if (row.source < sources_.size()) {
    record.provenance.source = sources_[row.source].name;
    record.provenance.partition = sources_[row.source].partition;
  }
  record.provenance.offset = row.offset;
  record.template_id = row.template_id;
  // Rows come from the parser or a decoded block; both write valid packing.
  UnpackParams(Get(row.params), &record.params);
  return record;
}

void RecordBatch::Append(const Record& record) {
  uint32_t source = AddSource(record.provenance.source, record.provenance.partition);
  RecordRow row;
  row.kind = record.kind;
  row.ts_ns = record.ts_ns;
  row.level = record.level;
  row.service = Intern(record.service);
  row.message = Intern(record.message);
  row.trace_id = Intern(record.trace_id);
  row.span_id = Intern(record.span_id);
  row.parent_span_id = Intern(record.parent_span_id);
  row.name = Intern(record.name);
  row.duration_ns = record.duration_ns;
  row.value = record.value;
  row.attr_begin = AttrCount();
  row.attr_count = static_cast<uint32_t>(record.attributes.size());
  for (const Attribute& attr : record.attributes) {
    attrs_.push_back(AttrRef{Intern(attr.key), Intern(attr.value), attr.type});
  }
  row.source = source;
  row.offset = record.provenance.offset;
  row.template_id = record.template_id;
  if (!record.params.empty()) {
    std::string packed;
    PackParams(record.params, &packed);
    row.params = Intern(packed);
  }
  rows_.push_back(row);
}

void RecordBatch::Reserve(size_t rows, size_t arena_bytes) {
  rows_.reserve(rows);
  attrs_.reserve(rows * 4);
  if (arena_bytes > arena_capacity_) GrowArena(arena_bytes - arena_size_);
}

void RecordBatch::Clear() {
  arena_size_ = 0;
  rows_.clear();
  attrs_.clear();
  sources_.clear();
  dead_letters_.clear();
  counters_ = ParseCounters{};
}

void PackParam(std::string_view param, std::string* out) {
  uint64_t n = param.size();
  while (n >= 0x80) {
    out->push_back(static_cast<char>((n & 0x7F) | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
  out->append(param);
}

void PackParams(const std::vector<std::string>& params, std::string* out) {
  for (const std::string& param : params) PackParam(param, out);
}

bool UnpackParams(std::string_view packed, std::vector<std::string>* out) {
  out->clear();
  size_t pos = 0;
  while (pos < packed.size()) {
    uint64_t n = 0;
    int shift = 0;
    while (true) {
      if (pos >= packed.size() || shift > 35) return false;
      const auto byte = static_cast<unsigned char>(packed[pos++]);
      n |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) break;
      shift += 7;
    }
    if (n > packed.size() - pos) return false;
    out->emplace_back(packed.substr(pos, n));
    pos += n;
  }
  return true;
}

}  // namespace faultline
