// The record model: one shape for log lines, trace spans and metric samples.
//
// `Record` is the owning type that crosses module boundaries (query results,
// tests, evidence). `RecordBatch` is the hot-path form: rows whose strings live
// in one arena owned by the batch, so parsing a million lines allocates a few
// large buffers instead of millions of small strings. The ingest parser fills a
// RecordBatch, the storage encoder reads it; both run in parallel on different
// batches. A RecordBatch is not thread-safe; one thread owns it at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dead_letter.h"

namespace faultline {

enum class RecordKind : uint8_t { kLog = 0, kSpan = 1, kMetric = 2 };
inline constexpr size_t kRecordKindCount = 3;
std::string_view RecordKindName(RecordKind kind);  // "log", "span", "metric"
bool ParseRecordKind(std::string_view text, RecordKind* out);

// `text` equals `lower` (lower-case ASCII) ignoring ASCII case. ASCII
// folding, not std::tolower: no call per byte, no dependence on the locale.
bool EqualsIgnoreCaseAscii(std::string_view text, std::string_view lower);

// Severity, ordered so that `level >= Level::kWarn` means "warn or worse".
// kUnknown sorts below everything: a record without a level is never "warn+".
enum class Level : uint8_t {
  kUnknown = 0,
  kTrace = 1,
  kDebug = 2,
  kInfo = 3,
  kWarn = 4,
  kError = 5,
  kFatal = 6,
};
inline constexpr size_t kLevelCount = 7;
std::string_view LevelName(Level level);  // "TRACE", ..., "UNKNOWN"
// Accepts common spellings in any case: trace, debug, info, information,
// notice (info), warn, warning, error, err, fatal, critical, crit, panic,
// emerg, alert, severe. Returns false when the text is not a level.
bool ParseLevel(std::string_view text, Level* out);

// How an attribute value was written in the input, so it can be printed back
// faithfully (a JSON number stays a number).
enum class AttrType : uint8_t { kString = 0, kNumber = 1, kBool = 2, kNull = 3, kJson = 4 };

struct Attribute {
  std::string key;    // dotted path for flattened objects: "http.status_code"
  std::string value;  // unescaped text of strings, raw text otherwise
  AttrType type = AttrType::kString;
};

// Where a record came from, precise enough to find the raw line again.
struct Provenance {
  std::string source;      // file path, "-" for stdin, or the Kafka topic
  int32_t partition = -1;  // Kafka partition; -1 for files and stdin
  uint64_t offset = 0;     // byte offset of the line's first byte in the
                           // (decompressed) file, or the Kafka offset
};

struct Record {
  RecordKind kind = RecordKind::kLog;
  int64_t ts_ns = 0;  // event time, Unix epoch nanoseconds, UTC
  Level level = Level::kUnknown;
  std::string service;
  std::string message;         // log body; empty for most spans and metrics
  std::string trace_id;        // lower-case hex as received; may be empty
  std::string span_id;
  std::string parent_span_id;
  std::string name;            // span name or metric name
  int64_t duration_ns = 0;     // spans only
  double value = 0;            // metrics only
  std::vector<Attribute> attributes;  // every input field not mapped above
  Provenance provenance;
  // Template of the message (logs with a message; 0: none), and the values
  // behind the template's wildcards at the time the record was mined.
  uint64_t template_id = 0;
  std::vector<std::string> params;

  bool operator==(const Record&) const = default;
};

bool operator==(const Attribute& a, const Attribute& b);
bool operator==(const Provenance& a, const Provenance& b);

// ---- Hot-path batch ----------------------------------------------------

// A string stored in a RecordBatch arena.
struct StrRef {
  uint32_t offset = 0;
  uint32_t size = 0;
};

struct AttrRef {
  StrRef key;
  StrRef value;
  AttrType type = AttrType::kString;
};

struct RecordRow {
  int64_t ts_ns = 0;
  int64_t duration_ns = 0;
  double value = 0;
  RecordKind kind = RecordKind::kLog;
  Level level = Level::kUnknown;
  StrRef service, message, trace_id, span_id, parent_span_id, name;
  uint32_t attr_begin = 0;  // index into RecordBatch::attrs()
  uint32_t attr_count = 0;
  uint32_t source = 0;      // index into RecordBatch::sources()
  uint64_t offset = 0;      // Provenance::offset
  uint64_t template_id = 0;
  StrRef params;            // PackParams() form, in the arena
};

// Template parameters travel and are stored as one string: for each value,
// its length as a LEB128 varint, then its bytes.
void PackParams(const std::vector<std::string>& params, std::string* out);
void PackParam(std::string_view param, std::string* out);
// False when `packed` is malformed (then `out` holds what was read).
bool UnpackParams(std::string_view packed, std::vector<std::string>* out);

struct SourceRef {
  std::string name;
  int32_t partition = -1;
};

// Counters a parse produces alongside its rows.
struct ParseCounters {
  uint64_t lines = 0;          // physical lines seen, including empty ones
  uint64_t empty_lines = 0;    // counted, never dead-lettered
  uint64_t joined_lines = 0;   // continuation lines folded into a record
  uint64_t bytes = 0;          // input bytes consumed
  std::array<uint64_t, kRejectReasonCount> rejects{};

  void Add(const ParseCounters& other);
  uint64_t TotalRejects() const;
};

class RecordBatch {
 public:
  RecordBatch() = default;
  RecordBatch(RecordBatch&&) = default;
  RecordBatch& operator=(RecordBatch&&) = default;
  RecordBatch(const RecordBatch&) = delete;
  RecordBatch& operator=(const RecordBatch&) = delete;

  // Copies `text` into the arena. References stay valid for the batch's life
  // (they are offsets, so arena growth does not invalidate them).
  StrRef Intern(std::string_view text) {
    const StrRef ref{ArenaSize(), static_cast<uint32_t>(text.size())};
    AppendToArena(text);
    return ref;
  }
  // Appends to the arena and returns a ref covering `first` .. the arena end;
  // used to build a string in pieces: Begin() then Append()... then End().
  uint32_t ArenaSize() const { return static_cast<uint32_t>(arena_size_); }
  void AppendToArena(std::string_view text) {
    const size_t n = text.size();
    if (n > arena_capacity_ - arena_size_) GrowArena(n);
    char* out = arena_.get() + arena_size_;
    const char* in = text.data();
    // Most strings are short (keys, hosts, ids, numbers): two overlapping
    // fixed-size copies inline instead of a call to memcpy.
    if (n >= 8 && n <= 16) {
      CopyTwoWords<uint64_t>(out, in, n);
    } else if (n >= 4 && n < 8) {
      CopyTwoWords<uint32_t>(out, in, n);
    } else if (n > 0) {
      std::memcpy(out, in, n);
    }
    arena_size_ += n;
  }
  StrRef RefFrom(uint32_t begin) const {
    return StrRef{begin, static_cast<uint32_t>(arena_size_ - begin)};
  }

  std::string_view Get(StrRef ref) const {
    return std::string_view(arena_.get() + ref.offset, ref.size);
  }

  uint32_t AddSource(std::string name, int32_t partition);
  RecordRow& AddRow() { return rows_.emplace_back(); }
  void AddAttr(AttrRef attr) { attrs_.push_back(attr); }
  uint32_t AttrCount() const { return static_cast<uint32_t>(attrs_.size()); }
  void AddDeadLetter(DeadLetter dead_letter) {
    dead_letters_.push_back(std::move(dead_letter));
  }

  const std::vector<RecordRow>& rows() const { return rows_; }
  std::vector<RecordRow>& mutable_rows() { return rows_; }
  const std::vector<AttrRef>& attrs() const { return attrs_; }
  std::vector<AttrRef>& mutable_attrs() { return attrs_; }
  const std::vector<SourceRef>& sources() const { return sources_; }
  const std::vector<DeadLetter>& dead_letters() const { return dead_letters_; }
  std::vector<DeadLetter>& mutable_dead_letters() { return dead_letters_; }
  ParseCounters& counters() { return counters_; }
  const ParseCounters& counters() const { return counters_; }
  size_t size() const { return rows_.size(); }
  size_t ArenaBytes() const { return arena_size_; }

  // Builds an owning Record from row `i`.
  Record ToRecord(size_t i) const;
  // Appends an owning Record (tests, replays).
  void Append(const Record& record);

  void Reserve(size_t rows, size_t arena_bytes);
  void Clear();

 private:
  // Copies n bytes, sizeof(Word) <= n <= 2 * sizeof(Word), as two
  // overlapping fixed-size moves.
  template <typename Word>
  static void CopyTwoWords(char* out, const char* in, size_t n) {
    Word head;
    Word tail;
    std::memcpy(&head, in, sizeof(Word));
    std::memcpy(&tail, in + n - sizeof(Word), sizeof(Word));
    std::memcpy(out, &head, sizeof(Word));
    std::memcpy(out + n - sizeof(Word), &tail, sizeof(Word));
  }
  // Grows the arena to hold `more` bytes beyond its size.
  void GrowArena(size_t more);

  // A plain buffer rather than a std::string: appends need no terminator,
  // and growth does not zero what is about to be overwritten.
  std::unique_ptr<char[]> arena_;
  size_t arena_size_ = 0;
  size_t arena_capacity_ = 0;
  std::vector<RecordRow> rows_;
  std::vector<AttrRef> attrs_;
  std::vector<SourceRef> sources_;
  std::vector<DeadLetter> dead_letters_;
  ParseCounters counters_;
};

}  // namespace faultline
