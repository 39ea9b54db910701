#include "ingest/parser.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include <simdjson.h>

#include "core/time.h"
#include "ingest/internal/field_table.h"
#include "ingest/internal/text_scan.h"

namespace faultline::ingest {

static_assert(kInputPadding >= simdjson::SIMDJSON_PADDING,
              "chunks must carry the padding simdjson reads past the end");

namespace {

using internal::DurationUnit;
using internal::FieldSpec;
using internal::Slot;
namespace ondemand = simdjson::ondemand;

// Levels in a plain-text line are looked for among this many leading tokens:
// enough for "[main] ERROR" or "host app[123]: error", few enough that words in
// the message body are not mistaken for a level.
constexpr int kLevelTokens = 4;

inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view TrimRight(std::string_view text) {
  while (!text.empty() && (IsBlank(text.back()) || text.back() == '\n')) text.remove_suffix(1);
  return text;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && text.substr(0, prefix.size()) == prefix;
}

// Looks like the start of a date ("2023-" or "[2023-"): a line that starts so
// but fails to parse has a bad timestamp rather than none.
bool LooksLikeDate(std::string_view line) {
  if (!line.empty() && line[0] == '[') line.remove_prefix(1);
  if (line.size() < 5 || line[4] != '-') return false;
  for (size_t i = 0; i < 4; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
  }
  return true;
}

bool ParseDouble(std::string_view text, double* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && std::isfinite(*out);
}

// Like ParseDouble, but NaN and infinities are values too: a metric sample
// of NaN means "no data" and is kept as such.
bool ParseMetricValue(std::string_view text, double* out) {
  if (text.empty()) return false;
  if (text.front() == '+') text.remove_prefix(1);
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

// Copies `text` to `out` with bare NaN, Infinity and -Infinity values (outside
// strings) put in quotes. Returns false when there are none.
bool QuoteNonFiniteNumbers(std::string_view text, std::string* out) {
  if (text.find("NaN") == std::string_view::npos &&
      text.find("Infinity") == std::string_view::npos) {
    return false;
  }
  out->clear();
  out->reserve(text.size() + 16);
  bool in_string = false;
  bool changed = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out->push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out->push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out->push_back(c);
      continue;
    }
    for (std::string_view token : {"NaN", "Infinity", "-Infinity"}) {
      if (text.substr(i, token.size()) == token) {
        out->push_back('"');
        out->append(token);
        out->push_back('"');
        i += token.size() - 1;
        changed = true;
        c = 0;
        break;
      }
    }
    if (c != 0) out->push_back(c);
  }
  return changed;
}

// "java.lang.IllegalStateException: boom" or "com.x.FooError": the line a
// Java or Python stack trace starts with, right below the log line. A dotted
// or plain identifier ending in Exception/Error/Throwable, then ':' or the end.
bool LooksLikeExceptionHeader(std::string_view line) {
  size_t end = 0;
  while (end < line.size() && line[end] != ':' && line[end] != ' ') ++end;
  const std::string_view name = line.substr(0, end);
  if (end < line.size() && line[end] != ':') return false;
  for (std::string_view suffix : {"Exception", "Error", "Throwable"}) {
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
      for (char c : name) {
        const bool ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '$';
        if (!ident) return false;
      }
      return true;
    }
  }
  return false;
}

Level LevelFromOtelSeverity(int64_t number) {
  if (number >= 1 && number <= 4) return Level::kTrace;
  if (number >= 5 && number <= 8) return Level::kDebug;
  if (number >= 9 && number <= 12) return Level::kInfo;
  if (number >= 13 && number <= 16) return Level::kWarn;
  if (number >= 17 && number <= 20) return Level::kError;
  if (number >= 21 && number <= 24) return Level::kFatal;
  return Level::kUnknown;
}

// pino / bunyan numeric levels.
Level LevelFromNumber(int64_t number) {
  switch (number) {
    case 10: return Level::kTrace;
    case 20: return Level::kDebug;
    case 30: return Level::kInfo;
    case 40: return Level::kWarn;
    case 50: return Level::kError;
    case 60: return Level::kFatal;
    default: return Level::kUnknown;
  }
}

bool ParseInt(std::string_view text, int64_t* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

int64_t UnitNanos(DurationUnit unit) {
  switch (unit) {
    case DurationUnit::kNanos: return 1;
    case DurationUnit::kMicros: return 1'000;
    case DurationUnit::kSeconds: return kNanosPerSecond;
    case DurationUnit::kMillis:
    case DurationUnit::kAuto: break;
  }
  // A bare number in a "duration" field is read as milliseconds: the unit
  // most HTTP and RPC loggers use (documented in docs/formats.md).
  return 1'000'000;
}

// One field of the current line, before mapping: its flattened key, its
// value as text, and whether it ended up in a Record slot.
struct Leaf {
  const char* key_ptr;  // nullptr: the key lives in Impl::key_arena_
  uint32_t key_offset;
  uint32_t key_size;
  std::string_view value;  // unescaped string, or raw JSON text otherwise
  AttrType type;
  Slot slot;
  bool consumed;
};

struct Winner {
  int32_t leaf = -1;
  FieldSpec spec;
};

enum class LineResult : uint8_t { kEmpty, kRejected, kRecord, kPlainTextRecord };

// Why walking a JSON object stopped early.
enum class WalkStop : uint8_t { kNone, kJsonError, kTooDeep, kTooManyFields };

}  // namespace

Status ParserOptions::Validate() const {
  if (max_line_bytes == 0 || max_line_bytes > (1u << 30)) {
    return Status::InvalidArgument("max_line_bytes must be in 1..1 GiB");
  }
  if (max_depth < 1 || max_depth > 1024) {
    return Status::InvalidArgument("max_depth must be in 1..1024");
  }
  if (max_fields == 0) return Status::InvalidArgument("max_fields must be at least 1");
  if (max_attr_value_bytes < 16) {
    return Status::InvalidArgument("max_attr_value_bytes must be at least 16");
  }
  if (max_future_ns < 0) return Status::InvalidArgument("max_future_ns must not be negative");
  if (default_service.empty()) return Status::InvalidArgument("default_service is empty");
  for (const auto* names :
       {&aliases.time, &aliases.level, &aliases.message, &aliases.service, &aliases.trace_id,
        &aliases.span_id, &aliases.parent_span_id, &aliases.duration, &aliases.metric_name,
        &aliases.metric_value}) {
    for (const std::string& name : *names) {
      if (name.empty()) return Status::InvalidArgument("empty field alias");
    }
  }
  return Status::Ok();
}

bool IsContinuationLine(std::string_view line) {
  if (line.empty()) return false;
  if (line[0] == ' ' || line[0] == '\t') {
    // A blank line is an empty line, not part of a stack trace.
    for (char c : line) {
      if (!IsBlank(c)) return true;
    }
    return false;
  }
  if (StartsWith(line, "at ") || StartsWith(line, "Caused by") || StartsWith(line, "...") ||
      StartsWith(line, "Traceback (most recent call last)")) {
    return true;
  }
  return LooksLikeExceptionHeader(line);
}

struct LineParser::Impl {
  explicit Impl(const ParserOptions& opts) : options(opts), table(opts.aliases) {
    leaves.reserve(64);
    key_arena.reserve(1024);
    path.reserve(256);
  }

  const ParserOptions& options;
  internal::FieldTable table;
  ondemand::parser json;
  // Per-line scratch, reused so that steady-state parsing does not allocate.
  std::vector<Leaf> leaves;
  std::string key_arena;
  std::string path;
  std::string scratch;
  std::string padded;
  std::string lenient;  // a line rewritten by QuoteNonFiniteNumbers
  std::vector<std::string_view> format_values;  // --line-format fields of a line
  std::string time_text;
  std::array<Winner, internal::kSlotCount> winners;
  uint32_t won_slots = 0;  // bit i: winners[i] is set
  static_assert(internal::kSlotCount <= 32);
  WalkStop stop = WalkStop::kNone;
  simdjson::error_code json_error = simdjson::SUCCESS;

  // Per-call context.
  RecordBatch* out = nullptr;
  uint32_t source = 0;
  uint64_t offset = 0;
  int64_t now_ns = 0;
  std::string_view line;

  void Begin(RecordBatch* batch, uint32_t source_index) {
    out = batch;
    ++shared_generation;  // the batch may be another one, or cleared
    source = source_index;
    now_ns = NowNanos();
  }

  LineResult ParseOne(const char* data, size_t size, size_t capacity, uint64_t line_offset);
  LineResult ParseJson(size_t first, size_t capacity);
  // Iterates one JSON object; sets stop and json_error.
  // REQUIRES: capacity - size >= kInputPadding.
  void WalkJson(const char* data, size_t size, size_t capacity);
  LineResult ParseText();
  LineResult ParseLogfmt();
  // The --line-format path; nullopt when the line does not match it.
  std::optional<LineResult> ParseWithLineFormat();
  LineResult Finalize();
  LineResult Reject(RejectReason reason, std::string detail);
  void JoinContinuation(size_t row_index, std::string_view text);

  void ResetFields() {
    leaves.clear();
    key_arena.clear();
    path.clear();
    // Only the slots this line set; clearing all of them per line cost more
    // than the rest of the reset.
    while (won_slots != 0) {
      winners[static_cast<size_t>(__builtin_ctz(won_slots))] = Winner{};
      won_slots &= won_slots - 1;
    }
    stop = WalkStop::kNone;
  }
  WalkStop WalkObject(ondemand::object object, int depth);
  WalkStop WalkOtelAttributes(ondemand::array array, int depth);
  WalkStop JsonError(simdjson::error_code error) {
    json_error = error;
    return WalkStop::kJsonError;
  }
  // Raw JSON text of any value (objects and arrays whole).
  simdjson::error_code RawValue(ondemand::value value, std::string_view* raw);
  bool AddLeaf(std::string_view key, bool key_is_stable, std::string_view value, AttrType type);

  std::string_view Key(const Leaf& leaf) const {
    return leaf.key_ptr != nullptr ? std::string_view(leaf.key_ptr, leaf.key_size)
                                   : std::string_view(key_arena.data() + leaf.key_offset,
                                                      leaf.key_size);
  }
  Leaf* Winning(Slot slot) {
    const int32_t index = winners[static_cast<size_t>(slot)].leaf;
    return index < 0 ? nullptr : &leaves[static_cast<size_t>(index)];
  }
  TimeParse ParseTimeLeaf(const Leaf& leaf, int64_t* ns) const;
  bool ParseDurationLeaf(const Leaf& leaf, DurationUnit unit, int64_t* ns) const;
  bool InRange(int64_t ts_ns) const {
    return ts_ns >= options.min_ts_ns && ts_ns <= now_ns + options.max_future_ns;
  }
  LineResult RejectRange(int64_t ts_ns) {
    return Reject(RejectReason::kTimestampOutOfRange,
                  "timestamp " + FormatRfc3339(ts_ns) + " is outside the accepted window");
  }
  StrRef Intern(std::string_view text) {
    return text.empty() ? StrRef{out->ArenaSize(), 0} : out->Intern(text);
  }
  // Attribute keys and service names repeat from record to record: each is
  // stored once per ParseChunk/ParseLine call and its ref shared by the rows
  // (a small direct-mapped cache, checked against the arena bytes).
  StrRef InternShared(std::string_view text) {
    if (text.empty() || text.size() > kSharedMaxBytes) return Intern(text);
    const auto first = static_cast<unsigned char>(text.front());
    const auto last = static_cast<unsigned char>(text.back());
    const size_t slot = (text.size() * 7 + first * 31 + last * 131) & (kSharedSlots - 1);
    SharedEntry& entry = shared[slot];
    if (entry.generation == shared_generation && entry.ref.size == text.size() &&
        internal::ShortEquals(out->Get(entry.ref).data(), text.data(), text.size())) {
      return entry.ref;
    }
    entry.ref = out->Intern(text);
    entry.generation = shared_generation;
    return entry.ref;
  }
  static constexpr size_t kSharedMaxBytes = 64;
  static constexpr size_t kSharedSlots = 256;
  struct SharedEntry {
    StrRef ref;
    uint64_t generation = 0;
  };
  std::array<SharedEntry, kSharedSlots> shared{};
  uint64_t shared_generation = 0;
  void AddAttr(std::string_view key, std::string_view value, AttrType type);
  RecordRow& NewRow(int64_t ts_ns) {
    RecordRow& row = out->AddRow();
    row.ts_ns = ts_ns;
    row.source = source;
    row.offset = offset;
    row.attr_begin = out->AttrCount();
    return row;
  }
};

LineResult LineParser::Impl::Reject(RejectReason reason, std::string detail) {
  out->counters().rejects[static_cast<size_t>(reason)]++;
  DeadLetter dead_letter;
  dead_letter.reason = reason;
  dead_letter.detail = std::move(detail);
  if (source < out->sources().size()) {
    dead_letter.source = out->sources()[source].name;
    dead_letter.partition = out->sources()[source].partition;
  }
  dead_letter.offset = offset;
  dead_letter.raw_size = line.size();
  dead_letter.raw = std::string(line.substr(0, options.max_dead_letter_raw_bytes));
  dead_letter.seen_unix_ns = NowNanos();
  out->AddDeadLetter(std::move(dead_letter));
  return LineResult::kRejected;
}

LineResult LineParser::Impl::ParseOne(const char* data, size_t size, size_t capacity,
                                      uint64_t line_offset) {
  line = std::string_view(data, size);
  offset = line_offset;
  if (size > options.max_line_bytes) {
    return Reject(RejectReason::kLineTooLong,
                  "line of " + std::to_string(size) + " bytes exceeds max_line_bytes " +
                      std::to_string(options.max_line_bytes));
  }
  size_t first = 0;
  while (first < size && IsBlank(data[first])) ++first;
  if (first == size) {
    out->counters().empty_lines++;
    return LineResult::kEmpty;
  }
  ResetFields();
  if (data[first] == '{') return ParseJson(first, capacity);
  return ParseText();
}

void LineParser::Impl::WalkJson(const char* data, size_t size, size_t capacity) {
  const simdjson::padded_string_view view(data, size, capacity);
  ondemand::document doc;
  ondemand::object object;
  json_error = simdjson::SUCCESS;
  if (json_error = json.iterate(view).get(doc); json_error == simdjson::SUCCESS) {
    if (json_error = doc.get_object().get(object); json_error == simdjson::SUCCESS) {
      stop = WalkObject(object, 1);
    }
  }
  if (json_error != simdjson::SUCCESS) stop = WalkStop::kJsonError;
}

LineResult LineParser::Impl::ParseJson(size_t first, size_t capacity) {
  const std::string_view text = TrimRight(line.substr(first));
  // simdjson stops at the end of the root object and does not look further,
  // so a line that does not end in '}' is judged here.
  if (text.back() != '}') {
    const RejectReason reason = internal::ClassifyBrokenJson(text);
    return Reject(reason, reason == RejectReason::kTruncatedJson
                              ? "JSON object ends before it closes"
                              : "text after the JSON object");
  }
  WalkJson(text.data(), text.size(), capacity - first);
  if (stop == WalkStop::kJsonError && json_error != simdjson::UTF8_ERROR &&
      json_error != simdjson::DEPTH_ERROR && QuoteNonFiniteNumbers(text, &lenient)) {
    // Python's json module and others write NaN and Infinity, which JSON
    // does not allow. Real fleets emit them (metrics with no sample), so the
    // line is read again with those tokens quoted rather than rejected.
    ResetFields();
    stop = WalkStop::kNone;
    const size_t size = lenient.size();
    lenient.append(kInputPadding, '\0');
    WalkJson(lenient.data(), size, lenient.size());
  }
  switch (stop) {
    case WalkStop::kNone: break;
    case WalkStop::kTooDeep:
      return Reject(RejectReason::kTooDeep,
                    "JSON nesting deeper than max_depth " + std::to_string(options.max_depth));
    case WalkStop::kTooManyFields:
      return Reject(RejectReason::kTooManyFields,
                    "more than max_fields " + std::to_string(options.max_fields) + " fields");
    case WalkStop::kJsonError: {
      std::string detail = simdjson::error_message(json_error);
      if (json_error == simdjson::UTF8_ERROR) {
        return Reject(RejectReason::kInvalidUtf8, std::move(detail));
      }
      if (json_error == simdjson::DEPTH_ERROR) {
        return Reject(RejectReason::kTooDeep, std::move(detail));
      }
      return Reject(internal::ClassifyBrokenJson(text), std::move(detail));
    }
  }
  return Finalize();
}

bool LineParser::Impl::AddLeaf(std::string_view key, bool key_is_stable, std::string_view value,
                               AttrType type) {
  if (leaves.size() >= options.max_fields) {
    stop = WalkStop::kTooManyFields;
    return false;
  }
  FieldSpec spec = table.Lookup(key);
  // A name only fills its slot when the value has the right shape.
  if ((spec.slot == Slot::kContainerLog && type != AttrType::kString) ||
      spec.slot == Slot::kOtelAttributes || (spec.zero_is_unset && value == "0") ||
      type == AttrType::kNull) {
    spec.slot = Slot::kNone;
  }
  Leaf leaf{nullptr, 0, static_cast<uint32_t>(key.size()), value, type, spec.slot, false};
  if (key_is_stable) {
    leaf.key_ptr = key.data();
  } else {
    leaf.key_offset = static_cast<uint32_t>(key_arena.size());
    key_arena.append(key);
  }
  const auto index = static_cast<int32_t>(leaves.size());
  leaves.push_back(leaf);
  if (spec.slot != Slot::kNone) {
    Winner& winner = winners[static_cast<size_t>(spec.slot)];
    won_slots |= 1u << static_cast<unsigned>(spec.slot);
    if (winner.leaf < 0 || spec.rank < winner.spec.rank) winner = Winner{index, spec};
  }
  return true;
}

simdjson::error_code LineParser::Impl::RawValue(ondemand::value value, std::string_view* raw) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type == ondemand::json_type::object) {
    ondemand::object object;
    if (auto error = value.get_object().get(object)) return error;
    return object.raw_json().get(*raw);
  }
  if (type == ondemand::json_type::array) {
    ondemand::array array;
    if (auto error = value.get_array().get(array)) return error;
    return array.raw_json().get(*raw);
  }
  *raw = TrimRight(value.raw_json_token());
  return simdjson::SUCCESS;
}

WalkStop LineParser::Impl::WalkObject(ondemand::object object, int depth) {
  const size_t prefix_size = path.size();
  for (auto field_result : object) {
    ondemand::field field;
    if (auto error = std::move(field_result).get(field)) return JsonError(error);
    std::string_view name;
    if (auto error = field.unescaped_key().get(name)) return JsonError(error);
    // Top-level keys are used in place (they live in simdjson's string buffer
    // until the next line); nested ones are built as dotted paths.
    std::string_view key = name;
    if (prefix_size > 0) {
      path.resize(prefix_size);
      path.append(name);
      key = path;
    }
    const bool stable = prefix_size == 0;
    ondemand::value value = field.value();
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return JsonError(error);
    switch (type) {
      case ondemand::json_type::object: {
        if (depth + 1 > options.max_depth) return WalkStop::kTooDeep;
        ondemand::object child;
        if (auto error = value.get_object().get(child)) return JsonError(error);
        if (prefix_size == 0) path.assign(name);
        path.push_back('.');
        if (WalkStop result = WalkObject(child, depth + 1); result != WalkStop::kNone) {
          return result;
        }
        break;
      }
      case ondemand::json_type::array: {
        ondemand::array array;
        if (auto error = value.get_array().get(array)) return JsonError(error);
        if (table.Lookup(key).slot == Slot::kOtelAttributes) {
          if (WalkStop result = WalkOtelAttributes(array, depth + 1);
              result != WalkStop::kNone) {
            return result;
          }
          break;
        }
        std::string_view raw;
        if (auto error = array.raw_json().get(raw)) return JsonError(error);
        raw = TrimRight(raw);
        if (depth + internal::JsonNestingDepth(raw) > options.max_depth) {
          return WalkStop::kTooDeep;
        }
        if (!AddLeaf(key, stable, raw, AttrType::kJson)) return stop;
        break;
      }
      case ondemand::json_type::string: {
        std::string_view text;
        if (auto error = value.get_string().get(text)) return JsonError(error);
        if (!AddLeaf(key, stable, text, AttrType::kString)) return stop;
        break;
      }
      case ondemand::json_type::number:
      case ondemand::json_type::boolean:
      case ondemand::json_type::null: {
        const std::string_view raw = TrimRight(value.raw_json_token());
        // On-Demand only validates scalars that are read; check the raw
        // token so that "12x" or "tru" is not stored as a number or bool.
        AttrType attr_type = AttrType::kNumber;
        if (type == ondemand::json_type::number) {
          if (!internal::IsJsonNumber(raw)) return JsonError(simdjson::NUMBER_ERROR);
        } else if (type == ondemand::json_type::boolean) {
          if (raw != "true" && raw != "false") return JsonError(simdjson::T_ATOM_ERROR);
          attr_type = AttrType::kBool;
        } else {
          if (raw != "null") return JsonError(simdjson::N_ATOM_ERROR);
          attr_type = AttrType::kNull;
        }
        if (!AddLeaf(key, stable, raw, attr_type)) return stop;
        break;
      }
    }
  }
  path.resize(prefix_size);
  return WalkStop::kNone;
}

// OTel attributes: [{"key":"k","value":{"stringValue":"v"}}, ...]. Each
// element becomes a field named by its key, so that resource attributes such
// as service.name fill their slot like any other field.
WalkStop LineParser::Impl::WalkOtelAttributes(ondemand::array array, int depth) {
  // element object + its "value" object
  if (depth + 2 > options.max_depth) return WalkStop::kTooDeep;
  for (auto element_result : array) {
    ondemand::object element;
    if (auto error = element_result.get_object().get(element)) return JsonError(error);
    std::string_view key;
    std::string_view value;
    AttrType type = AttrType::kNull;
    bool has_key = false;
    for (auto member_result : element) {
      ondemand::field member;
      if (auto error = std::move(member_result).get(member)) return JsonError(error);
      std::string_view member_name;
      if (auto error = member.unescaped_key().get(member_name)) return JsonError(error);
      if (member_name == "key") {
        if (auto error = member.value().get_string().get(key)) return JsonError(error);
        has_key = true;
        continue;
      }
      if (member_name != "value") continue;
      ondemand::object any_value;
      if (auto error = member.value().get_object().get(any_value)) return JsonError(error);
      for (auto typed_result : any_value) {
        ondemand::field typed;
        if (auto error = std::move(typed_result).get(typed)) return JsonError(error);
        std::string_view kind;
        if (auto error = typed.unescaped_key().get(kind)) return JsonError(error);
        ondemand::value inner = typed.value();
        if (kind == "stringValue" || kind == "bytesValue") {
          if (auto error = inner.get_string().get(value)) return JsonError(error);
          type = AttrType::kString;
          continue;
        }
        ondemand::json_type inner_type;
        if (auto error = inner.type().get(inner_type)) return JsonError(error);
        if (inner_type == ondemand::json_type::string) {
          // intValue is a JSON string in OTLP/JSON (int64 does not fit a double).
          if (auto error = inner.get_string().get(value)) return JsonError(error);
        } else if (auto error = RawValue(inner, &value)) {
          return JsonError(error);
        }
        if (depth + 2 + internal::JsonNestingDepth(value) > options.max_depth) {
          return WalkStop::kTooDeep;
        }
        if (kind == "intValue" || kind == "doubleValue") {
          type = internal::IsJsonNumber(value) ? AttrType::kNumber : AttrType::kString;
        } else if (kind == "boolValue") {
          type = AttrType::kBool;
        } else {
          type = AttrType::kJson;  // arrayValue, kvlistValue
        }
      }
    }
    if (has_key && !AddLeaf(key, true, value, type)) return stop;
  }
  return WalkStop::kNone;
}

TimeParse LineParser::Impl::ParseTimeLeaf(const Leaf& leaf, int64_t* ns) const {
  if (leaf.type == AttrType::kString) return ParseTimestamp(leaf.value, options.zone, ns);
  if (leaf.type == AttrType::kNumber) return ParseEpochNumber(leaf.value, ns);
  return TimeParse::kNotATime;
}

bool LineParser::Impl::ParseDurationLeaf(const Leaf& leaf, DurationUnit unit,
                                         int64_t* ns) const {
  if (leaf.type != AttrType::kNumber && leaf.type != AttrType::kString) return false;
  if (leaf.type == AttrType::kString && unit == DurationUnit::kAuto) {
    if (Result<int64_t> parsed = ParseDuration(leaf.value); parsed.ok()) {
      *ns = *parsed;
      return true;
    }
  }
  int64_t whole;
  if (ParseInt(leaf.value, &whole)) {
    return whole >= 0 && !__builtin_mul_overflow(whole, UnitNanos(unit), ns);
  }
  double number;
  if (!ParseDouble(leaf.value, &number) || number < 0) return false;
  const double scaled = number * static_cast<double>(UnitNanos(unit));
  if (scaled >= 9.2e18) return false;
  *ns = static_cast<int64_t>(std::llround(scaled));
  return true;
}

void LineParser::Impl::AddAttr(std::string_view key, std::string_view value, AttrType type) {
  AttrRef attr;
  attr.key = InternShared(key);
  attr.type = type;
  if (value.size() <= options.max_attr_value_bytes) {
    attr.value = Intern(value);
  } else {
    // Cut on a UTF-8 character boundary and mark the cut.
    size_t cut = options.max_attr_value_bytes;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
    const uint32_t begin = out->ArenaSize();
    out->AppendToArena(value.substr(0, cut));
    out->AppendToArena("\xE2\x80\xA6");
    attr.value = out->RefFrom(begin);
    // A cut JSON text is no longer JSON.
    if (type == AttrType::kJson || type == AttrType::kNumber) attr.type = AttrType::kString;
  }
  out->AddAttr(attr);
}

// Maps the collected fields of a JSON or logfmt line onto one row.
LineResult LineParser::Impl::Finalize() {
  // Kind, when stated.
  RecordKind kind = RecordKind::kLog;
  bool kind_stated = false;
  if (Leaf* leaf = Winning(Slot::kKind);
      leaf != nullptr && leaf->type == AttrType::kString && ParseRecordKind(leaf->value, &kind)) {
    kind_stated = true;
    leaf->consumed = true;
  }

  // A container wrapper's text line, used for the message, and for the time
  // and level when the wrapper itself has none.
  std::string_view container_text;
  Leaf* container = Winning(Slot::kContainerLog);
  if (container != nullptr) container_text = TrimRight(container->value);

  // Event time: the best-ranked time field, else an OTel span start, else a
  // timestamp at the start of the container text.
  int64_t ts_ns = 0;
  size_t container_ts_size = 0;
  Leaf* time_leaf = Winning(Slot::kTime);
  if (time_leaf == nullptr) time_leaf = Winning(Slot::kStartTime);
  if (time_leaf != nullptr) {
    switch (ParseTimeLeaf(*time_leaf, &ts_ns)) {
      case TimeParse::kOk: break;
      case TimeParse::kNotATime:
        return Reject(RejectReason::kBadTimestamp,
                      "field \"" + std::string(Key(*time_leaf)) + "\" is not a time: " +
                          std::string(time_leaf->value.substr(0, 64)));
      case TimeParse::kOutOfRange:
        return Reject(RejectReason::kTimestampOutOfRange,
                      "field \"" + std::string(Key(*time_leaf)) + "\" is out of range: " +
                          std::string(time_leaf->value.substr(0, 64)));
    }
    // Every time field is a view of the same instant; the less precise
    // ones are dropped rather than stored as attributes.
    for (Leaf& leaf : leaves) {
      if (leaf.slot == Slot::kTime) leaf.consumed = true;
    }
    time_leaf->consumed = true;
  } else if (container != nullptr &&
             (container_ts_size = ParseLeadingTimestamp(container_text, options.zone, &ts_ns)) >
                 0) {
  } else {
    return Reject(RejectReason::kMissingTimestamp, "no time field");
  }
  if (!InRange(ts_ns)) return RejectRange(ts_ns);

  // Span: stated, or span fields with a duration.
  Leaf* span_id = Winning(Slot::kSpanId);
  Leaf* duration_leaf = Winning(Slot::kDuration);
  Leaf* start = Winning(Slot::kStartTime);
  Leaf* end = Winning(Slot::kEndTime);
  int64_t duration_ns = 0;
  bool has_duration = false;
  const bool span_like = kind_stated ? kind == RecordKind::kSpan
                                     : span_id != nullptr || (start != nullptr && end != nullptr);
  if (span_like) {
    if (duration_leaf != nullptr) {
      if (!ParseDurationLeaf(*duration_leaf, winners[static_cast<size_t>(Slot::kDuration)].spec.unit,
                             &duration_ns)) {
        return Reject(RejectReason::kBadDuration,
                      "field \"" + std::string(Key(*duration_leaf)) + "\" is not a duration: " +
                          std::string(duration_leaf->value.substr(0, 64)));
      }
      has_duration = true;
      duration_leaf->consumed = true;
    } else if (start != nullptr && end != nullptr) {
      int64_t start_ns = 0;
      int64_t end_ns = 0;
      if (ParseTimeLeaf(*start, &start_ns) != TimeParse::kOk ||
          ParseTimeLeaf(*end, &end_ns) != TimeParse::kOk || end_ns < start_ns) {
        return Reject(RejectReason::kBadDuration, "span end is not a time after its start");
      }
      duration_ns = end_ns - start_ns;
      has_duration = true;
    }
  }
  if (kind_stated ? kind == RecordKind::kSpan : has_duration) {
    kind = RecordKind::kSpan;
    if (start != nullptr) start->consumed = true;
    if (end != nullptr) end->consumed = true;
  }

  // Metric: stated, or a metric name (or a name with a numeric value and no
  // message) with a value.
  Leaf* metric_name = Winning(Slot::kMetricName);
  Leaf* name = Winning(Slot::kName);
  Leaf* value_leaf = Winning(Slot::kMetricValue);
  Leaf* message = Winning(Slot::kMessage);
  double value = 0;
  const bool metric_like =
      kind_stated ? kind == RecordKind::kMetric
                  : kind != RecordKind::kSpan &&
                        (metric_name != nullptr ||
                         (name != nullptr && value_leaf != nullptr &&
                          value_leaf->type == AttrType::kNumber && message == nullptr));
  if (metric_like) {
    if (value_leaf == nullptr) {
      return Reject(RejectReason::kBadMetricValue, "metric without a value field");
    }
    if ((value_leaf->type != AttrType::kNumber && value_leaf->type != AttrType::kString) ||
        !ParseMetricValue(value_leaf->value, &value)) {
      return Reject(RejectReason::kBadMetricValue,
                    "field \"" + std::string(Key(*value_leaf)) + "\" is not a number: " +
                        std::string(value_leaf->value.substr(0, 64)));
    }
    kind = RecordKind::kMetric;
    value_leaf->consumed = true;
  }
  if (kind == RecordKind::kLog) {
    metric_name = nullptr;
    name = nullptr;
  } else if (metric_name != nullptr && kind == RecordKind::kMetric) {
    name = metric_name;
  }
  if (name != nullptr) name->consumed = true;

  // Level: text, then numbers (pino), OTel severityNumber, a span's error
  // status, and last a level word in a container's text line.
  Level level = Level::kUnknown;
  if (Leaf* leaf = Winning(Slot::kLevel); leaf != nullptr) {
    int64_t number;
    if (leaf->type == AttrType::kString && ParseLevel(leaf->value, &level)) {
      leaf->consumed = true;
    } else if (leaf->type == AttrType::kNumber && ParseInt(leaf->value, &number) &&
               (level = LevelFromNumber(number)) != Level::kUnknown) {
      leaf->consumed = true;
    }
  }
  if (Leaf* leaf = Winning(Slot::kSeverityNumber); leaf != nullptr && level == Level::kUnknown) {
    int64_t number;
    if (ParseInt(leaf->value, &number) &&
        (level = LevelFromOtelSeverity(number)) != Level::kUnknown) {
      leaf->consumed = true;
    }
  }
  if (Leaf* leaf = Winning(Slot::kStatusCode);
      leaf != nullptr && level == Level::kUnknown && kind == RecordKind::kSpan &&
      (leaf->value == "2" || leaf->value == "STATUS_CODE_ERROR" || leaf->value == "ERROR")) {
    level = Level::kError;
  }
  if (level == Level::kUnknown && container != nullptr) {
    level = internal::FindLevelToken(container_text.substr(container_ts_size), kLevelTokens);
  }

  std::string_view message_text;
  if (message != nullptr) {
    message_text = message->value;
    message->consumed = true;
  } else if (container != nullptr) {
    message_text = container_text;
    container->consumed = true;
  }

  RecordRow& row = NewRow(ts_ns);
  row.kind = kind;
  row.level = level;
  row.duration_ns = duration_ns;
  row.value = value;
  const auto take = [&](Slot slot) -> StrRef {
    Leaf* leaf = Winning(slot);
    if (leaf == nullptr) return StrRef{};
    leaf->consumed = true;
    return Intern(leaf->value);
  };
  if (Leaf* service = Winning(Slot::kService); service != nullptr) {
    service->consumed = true;
    row.service = InternShared(service->value);
  }
  if (row.service.size == 0) row.service = InternShared(options.default_service);
  row.trace_id = take(Slot::kTraceId);
  row.span_id = take(Slot::kSpanId);
  row.parent_span_id = take(Slot::kParentSpanId);
  if (name != nullptr) row.name = Intern(name->value);
  for (const Leaf& leaf : leaves) {
    if (!leaf.consumed) AddAttr(Key(leaf), leaf.value, leaf.type);
  }
  row.attr_count = out->AttrCount() - row.attr_begin;
  row.message = Intern(message_text);
  return LineResult::kRecord;
}

LineResult LineParser::Impl::ParseText() {
  if (const size_t at = internal::FindBinaryByte(line); at != std::string_view::npos) {
    char detail[64];
    std::snprintf(detail, sizeof(detail), "control byte 0x%02x at byte %zu",
                  static_cast<unsigned char>(line[at]), at);
    return Reject(RejectReason::kBinary, detail);
  }
  if (!simdjson::validate_utf8(line.data(), line.size())) {
    return Reject(RejectReason::kInvalidUtf8, "bytes that are not UTF-8");
  }
  if (options.line_format != nullptr) {
    if (std::optional<LineResult> result = ParseWithLineFormat()) return *result;
  }
  if (internal::LooksLikeLogfmt(line)) return ParseLogfmt();

  int64_t ts_ns = 0;
  const size_t ts_size = ParseLeadingTimestamp(line, options.zone, &ts_ns);
  if (ts_size == 0) {
    if (LooksLikeDate(line)) {
      return Reject(RejectReason::kBadTimestamp, "line starts with a date that cannot be read");
    }
    return Reject(RejectReason::kMissingTimestamp, "no timestamp at the start of the line");
  }
  if (!InRange(ts_ns)) return RejectRange(ts_ns);
  std::string_view rest = line.substr(ts_size);
  while (!rest.empty() && IsBlank(rest.front())) rest.remove_prefix(1);
  RecordRow& row = NewRow(ts_ns);
  row.level = internal::FindLevelToken(rest, kLevelTokens);
  row.service = InternShared(options.default_service);
  // The message goes last into the arena so that continuation lines can
  // extend it in place.
  row.message = Intern(rest);
  return LineResult::kPlainTextRecord;
}

std::optional<LineResult> LineParser::Impl::ParseWithLineFormat() {
  const LineFormat& format = *options.line_format;
  if (!format.Match(line, &format_values)) return std::nullopt;
  const std::vector<std::string>& names = format.fields();
  auto is = [](std::string_view name, std::initializer_list<std::string_view> options_list) {
    for (std::string_view candidate : options_list) {
      if (name.size() != candidate.size()) continue;
      bool equal = true;
      for (size_t i = 0; i < name.size() && equal; ++i) {
        equal = (name[i] | 0x20) == (candidate[i] | 0x20);
      }
      if (equal) return true;
    }
    return false;
  };
  // Time: the time fields joined in pattern order ("<Date> <Time>"), else
  // each alone (a header may carry an epoch and a date both).
  time_text.clear();
  size_t time_fields = 0;
  int64_t ts_ns = 0;
  bool have_time = false;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!is(names[i], {"date", "time", "timestamp", "datetime", "month", "day", "year"})) continue;
    if (format_values[i].empty()) continue;
    if (!time_text.empty()) time_text.push_back(' ');
    time_text.append(format_values[i]);
    ++time_fields;
  }
  auto parse_time = [&](std::string_view text) {
    if (ParseTimestamp(text, options.zone, &ts_ns) == TimeParse::kOk) return true;
    int64_t leading = 0;
    if (ParseLeadingTimestamp(text, options.zone, &leading) == text.size()) {
      ts_ns = leading;
      return true;
    }
    return false;
  };
  if (time_fields == 0) {
    return Reject(RejectReason::kMissingTimestamp, "the line format has no time field");
  }
  if (options.time_layout != nullptr) {
    // The layout says what the time looks like: no guessing after it.
    switch (options.time_layout->Parse(time_text, options.zone, now_ns, &ts_ns)) {
      case TimeParse::kOk: break;
      case TimeParse::kNotATime:
        return Reject(RejectReason::kBadTimestamp,
                      "line format time \"" + time_text.substr(0, 64) +
                          "\" does not match time layout \"" + options.time_layout->layout() +
                          "\"");
      case TimeParse::kOutOfRange:
        return Reject(RejectReason::kTimestampOutOfRange,
                      "line format time \"" + time_text.substr(0, 64) +
                          "\" is beyond the years 1678-2262");
    }
    have_time = true;
  } else {
    have_time = parse_time(time_text);
  }
  for (size_t i = 0; !have_time && time_fields > 1 && i < names.size(); ++i) {
    const std::string_view value = format_values[i];
    if (!is(names[i], {"date", "time", "timestamp", "datetime"}) || value.empty()) continue;
    // Alone, a short number ("1", "081109") is part of a date, not seconds
    // since 1970: only epoch-sized numbers (>= 9 digits) count.
    size_t digits = 0;
    while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') ++digits;
    if (digits == value.size() && digits < 9) continue;
    have_time = parse_time(value);
  }
  if (!have_time) {
    return Reject(RejectReason::kBadTimestamp,
                  "line format time \"" + time_text.substr(0, 64) + "\" is not a time");
  }
  if (!InRange(ts_ns)) return RejectRange(ts_ns);
  RecordRow& row = NewRow(ts_ns);
  row.service = InternShared(options.default_service);
  std::string_view message;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string_view value = format_values[i];
    if (is(names[i], {"date", "time", "timestamp", "datetime", "month", "day", "year"})) continue;
    if (is(names[i], {"content", "message", "msg"})) {
      message = value;
    } else if (is(names[i], {"level", "severity", "loglevel"})) {
      Level level;
      if (ParseLevel(value, &level)) row.level = level;
      AddAttr(names[i], value, AttrType::kString);
    } else if (is(names[i], {"service"})) {
      row.service = Intern(value);
    } else {
      AddAttr(names[i], value, AttrType::kString);
    }
  }
  row.attr_count = out->AttrCount() - row.attr_begin;
  // The message goes last into the arena so that continuation lines can
  // extend it in place.
  row.message = Intern(message);
  return LineResult::kPlainTextRecord;
}

LineResult LineParser::Impl::ParseLogfmt() {
  scratch.clear();
  // Unescaped values are views into scratch: it must not reallocate.
  scratch.reserve(line.size());
  internal::LogfmtScanner scanner(line, &scratch);
  internal::LogfmtScanner::Pair pair;
  while (scanner.Next(&pair)) {
    AttrType type = AttrType::kString;
    if (pair.bare) {
      type = AttrType::kBool;
    } else if (!pair.quoted && internal::IsJsonNumber(pair.value)) {
      type = AttrType::kNumber;
    }
    if (!AddLeaf(pair.key, true, pair.value, type)) {
      return Reject(RejectReason::kTooManyFields,
                    "more than max_fields " + std::to_string(options.max_fields) + " fields");
    }
  }
  return Finalize();
}

void LineParser::Impl::JoinContinuation(size_t row_index, std::string_view text) {
  RecordRow& row = out->mutable_rows()[row_index];
  const uint32_t begin = row.message.offset;
  if (row.message.size > 0) out->AppendToArena("\n");
  out->AppendToArena(text);
  row.message = out->RefFrom(begin);
  out->counters().joined_lines++;
}

LineParser::LineParser(const ParserOptions& options) : impl_(std::make_unique<Impl>(options)) {}
LineParser::~LineParser() = default;

void LineParser::ParseChunk(std::string_view chunk, uint64_t base_offset, uint32_t source,
                            RecordBatch* out) {
  Impl& impl = *impl_;
  impl.Begin(out, source);
  const char* const begin = chunk.data();
  const char* const end = begin + chunk.size();
  // Row of the last plain-text record of this chunk that continuation lines
  // may still extend; its message is the last thing in the arena.
  int64_t open_row = -1;
  for (const char* pos = begin; pos < end;) {
    const auto* newline = static_cast<const char*>(std::memchr(pos, '\n', end - pos));
    const char* line_end = newline != nullptr ? newline : end;
    const char* next = newline != nullptr ? newline + 1 : end;
    ParseCounters& counters = out->counters();
    counters.lines++;
    counters.bytes += static_cast<uint64_t>(next - pos);
    auto size = static_cast<size_t>(line_end - pos);
    if (size > 0 && pos[size - 1] == '\r') --size;
    const std::string_view line(pos, size);
    const uint64_t offset = base_offset + static_cast<uint64_t>(pos - begin);
    if (open_row >= 0 && impl.options.join_multiline && size <= impl.options.max_line_bytes &&
        IsContinuationLine(line) && internal::FindBinaryByte(line) == std::string_view::npos &&
        simdjson::validate_utf8(line.data(), line.size())) {
      impl.JoinContinuation(static_cast<size_t>(open_row), line);
      pos = next;
      continue;
    }
    const auto capacity = static_cast<size_t>(end - pos) + kInputPadding;
    const LineResult result = impl.ParseOne(pos, size, capacity, offset);
    open_row = result == LineResult::kPlainTextRecord ? static_cast<int64_t>(out->size()) - 1 : -1;
    pos = next;
  }
}

void LineParser::ParseLine(std::string_view line, uint64_t offset, uint32_t source,
                           RecordBatch* out) {
  Impl& impl = *impl_;
  impl.Begin(out, source);
  out->counters().lines++;
  out->counters().bytes += line.size();
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.size() > impl.options.max_line_bytes) {
    // Rejected on its size alone; no padding is read.
    impl.ParseOne(line.data(), line.size(), line.size(), offset);
    return;
  }
  // A message buffer carries no padding of its own; copy it into one that
  // does (a few hundred bytes, far cheaper than the parse).
  impl.padded.assign(line);
  impl.padded.resize(line.size() + kInputPadding, '\0');
  impl.ParseOne(impl.padded.data(), line.size(), impl.padded.size(), offset);
}

}  // namespace faultline::ingest
