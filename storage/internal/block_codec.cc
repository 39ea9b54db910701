#include "storage/internal/block_codec.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "storage/internal/bloom.h"
#include "storage/internal/hash.h"
#include "storage/internal/tokens.h"

namespace faultline::storage::internal {

namespace {

constexpr uint64_t kChecksumSeed = 0x666c626c6f636b;  // "flblock"
// No column of a sane block comes near this; a header claiming more is
// damaged, and refusing it keeps a hostile header from forcing a huge
// allocation.
constexpr uint64_t kMaxColumnBytes = uint64_t{1} << 30;
constexpr uint32_t kMaxRows = 1u << 24;
// Columns smaller than this are stored raw: zstd's frame overhead would eat
// the gain.
constexpr size_t kMinCompressBytes = 64;

struct ZstdContexts {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ZstdContexts() = default;
  ZstdContexts(const ZstdContexts&) = delete;
  ZstdContexts& operator=(const ZstdContexts&) = delete;
  ~ZstdContexts() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};

ZstdContexts& Contexts() {
  thread_local ZstdContexts contexts;
  return contexts;
}

// Appends one string per row as two sections: lengths, then bytes.
struct StringColumnBuilder {
  std::string lengths;
  std::string bytes;
  void Clear() {
    lengths.clear();
    bytes.clear();
  }
  void Add(std::string_view text) {
    PutVarint64(&lengths, text.size());
    bytes.append(text);
  }
  void AppendTo(std::string* column) const {
    PutLengthPrefixed(column, lengths);
    PutLengthPrefixed(column, bytes);
  }
};

// Hex digit values; 0xFF for anything but 0-9 and a-f (upper-case hex is not
// packed: it would not come back as written).
struct HexTable {
  unsigned char value[256];
  constexpr HexTable() : value() {
    for (int c = 0; c < 256; ++c) {
      value[c] = c >= '0' && c <= '9'   ? static_cast<unsigned char>(c - '0')
                 : c >= 'a' && c <= 'f' ? static_cast<unsigned char>(c - 'a' + 10)
                                        : 0xFF;
    }
  }
};
inline constexpr HexTable kHexTable;
constexpr char kHexDigits[] = "0123456789abcdef";

// Trace ids, span ids and span names: an encoding byte (IdEncoding bits),
// then the lengths (a section of varints, or with kUniformLength one varint
// for every row) and a section of bytes. With kHex every string of the
// column is lower-case hex of even length, and the bytes section holds two
// digits per byte. Random hex leaves zstd nothing to find but its entropy
// stage, which only gets to the same 4 bits a digit slower, so a column of
// packed or absent ids skips zstd; uniform lengths keep such a column from
// paying a length byte per row.
enum IdEncoding : uint8_t { kIdHex = 1, kIdUniformLength = 2 };

struct IdColumnBuilder {
  StringColumnBuilder strings;
  size_t odd = 0;  // nonzero once a string of odd length was added
  size_t first_size = 0;
  bool mixed_sizes = false;
  size_t rows = 0;
  void Clear() {
    strings.Clear();
    odd = 0;
    mixed_sizes = false;
    rows = 0;
  }
  void Add(std::string_view text) {
    strings.Add(text);
    odd |= text.size() & 1;
    if (rows++ == 0) first_size = text.size();
    mixed_sizes |= text.size() != first_size;
  }
  // Returns whether the column holds no text for zstd: the strings went in
  // packed, or there are none.
  bool AppendTo(std::string* column, std::string* scratch) const {
    const bool hex = odd == 0 && !strings.bytes.empty() && PackHex(strings.bytes, scratch);
    const bool uniform = !mixed_sizes;
    column->push_back(static_cast<char>((hex ? kIdHex : 0) | (uniform ? kIdUniformLength : 0)));
    if (uniform) {
      PutVarint64(column, first_size);
    } else {
      PutLengthPrefixed(column, strings.lengths);
    }
    PutLengthPrefixed(column, hex ? std::string_view(*scratch) : std::string_view(strings.bytes));
    return hex || strings.bytes.empty();
  }
  static bool PackHex(std::string_view hex, std::string* out) {
    out->resize(hex.size() / 2);
    const auto* in = reinterpret_cast<const unsigned char*>(hex.data());
    size_t i = 0;
    // Eight digits at a time (SWAR), then the rest one pair at a time.
    for (; 2 * i + 8 <= hex.size(); i += 4) {
      uint32_t packed;
      if (!PackHex8(in + 2 * i, &packed)) return false;
      std::memcpy(out->data() + i, &packed, 4);
    }
    unsigned bad = 0;
    for (; i < out->size(); ++i) {
      const unsigned high = kHexTable.value[in[2 * i]];
      const unsigned low = kHexTable.value[in[2 * i + 1]];
      bad |= high | low;
      (*out)[i] = static_cast<char>((high << 4) | (low & 0x0F));
    }
    return (bad & 0xF0) == 0;
  }
  // Packs 8 lower-case hex digits into 4 bytes (first digit in the high
  // nibble of the first byte); false if any byte is not 0-9 or a-f.
  static bool PackHex8(const unsigned char* in, uint32_t* out) {
    constexpr uint64_t kOnes = 0x0101010101010101ull;
    constexpr uint64_t kHigh = 0x8080808080808080ull;
    uint64_t x;
    std::memcpy(&x, in, 8);  // little-endian: digit k in byte k
    if ((x & kHigh) != 0) return false;
    // With every byte below 0x80, adding (0x80 - lo) sets a byte's high bit
    // iff byte >= lo, and adding (0x7F - hi) iff byte > hi; no carries cross
    // bytes.
    const auto in_range = [x](uint64_t lo, uint64_t hi) {
      return (x + (0x80 - lo) * kOnes) & ~(x + (0x7F - hi) * kOnes) & kHigh;
    };
    const uint64_t digit = in_range('0', '9');
    const uint64_t letter = in_range('a', 'f');
    if ((digit | letter) != kHigh) return false;
    // Nibble values: the low nibble, plus 9 for letters ('a' = 0x61 -> 10).
    const uint64_t nibbles = (x & 0x0F0F0F0F0F0F0F0Full) + (letter >> 7) * 9;
    // Byte 2i gets (digit 2i << 4) | digit 2i+1; then gather bytes 0, 2, 4, 6.
    uint64_t pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00FF00FF00FF00FFull;
    pairs = (pairs | (pairs >> 8)) & 0x0000FFFF0000FFFFull;
    pairs = (pairs | (pairs >> 16)) & 0x00000000FFFFFFFFull;
    *out = static_cast<uint32_t>(pairs);
    return true;
  }
};

// Kind and level: one small symbol per row, after an encoding byte. kUniform:
// one byte, every row's value; kNibbles: a section of two rows a byte (low
// nibble first); kRaw: a section of one byte a row. These need no zstd,
// which costs some 20k instructions a call before it compresses anything.
enum SymbolEncoding : uint8_t { kSymbolsRaw = 0, kSymbolsUniform = 1, kSymbolsNibbles = 2 };

void AppendSymbols(std::string_view symbols, std::string* column, std::string* scratch) {
  unsigned all = 0;
  bool uniform = true;
  for (char c : symbols) {
    all |= static_cast<unsigned char>(c);
    uniform = uniform && c == symbols[0];
  }
  if (uniform && !symbols.empty()) {
    column->push_back(static_cast<char>(kSymbolsUniform));
    column->push_back(symbols[0]);
  } else if (all < 16) {
    scratch->assign((symbols.size() + 1) / 2, '\0');
    for (size_t i = 0; i < symbols.size(); ++i) {
      (*scratch)[i / 2] = static_cast<char>(static_cast<unsigned char>((*scratch)[i / 2]) |
                                            (static_cast<unsigned>(symbols[i]) << (4 * (i & 1))));
    }
    column->push_back(static_cast<char>(kSymbolsNibbles));
    PutLengthPrefixed(column, *scratch);
  } else {
    column->push_back(static_cast<char>(kSymbolsRaw));
    PutLengthPrefixed(column, symbols);
  }
}

// Numeric column flags: sections left out because every row holds zero.
enum NumericFlags : uint8_t { kNoDurations = 1, kNoValues = 2 };
// Provenance: how rows name their source.
enum SourceIndexEncoding : uint8_t { kSourcePerRow = 0, kSourceAllFirst = 1 };

// Maps attribute keys to the block dictionary. Linear search while the
// dictionary is small (records of one service share a handful of keys), a
// hash map beyond that.
class KeyDictionary {
 public:
  void Clear() {
    keys_.clear();
    map_.clear();
    next_ = 0;
  }
  // Rows of a service mostly list the same keys in the same order: the key
  // after the previous one is tried first.
  void StartRow() { next_ = 0; }
  uint32_t IndexOf(std::string_view key) {
    // The parser stores each key once per batch, so the views usually share
    // their bytes.
    if (next_ < keys_.size() && keys_[next_].data() == key.data() &&
        keys_[next_].size() == key.size()) {
      return next_++;
    }
    if (next_ < keys_.size() && keys_[next_] == key) return next_++;
    const uint32_t index = Find(key);
    next_ = index + 1;
    return index;
  }
  const std::vector<std::string_view>& keys() const { return keys_; }

 private:
  uint32_t Find(std::string_view key) {
    if (keys_.size() <= kLinearLimit) {
      for (size_t i = 0; i < keys_.size(); ++i) {
        if (keys_[i] == key) return static_cast<uint32_t>(i);
      }
      if (keys_.size() == kLinearLimit) {
        for (size_t i = 0; i < keys_.size(); ++i) map_.emplace(keys_[i], static_cast<uint32_t>(i));
      }
    } else if (auto it = map_.find(key); it != map_.end()) {
      return it->second;
    }
    auto index = static_cast<uint32_t>(keys_.size());
    keys_.push_back(key);
    if (keys_.size() > kLinearLimit) map_.emplace(key, index);
    return index;
  }

  static constexpr size_t kLinearLimit = 16;
  std::vector<std::string_view> keys_;
  std::unordered_map<std::string_view, uint32_t> map_;
  uint32_t next_ = 0;
};

// Per-thread buffers of EncodeBlock, reused from block to block so that
// steady-state encoding neither allocates nor regrows strings.
struct EncodeScratch {
  std::string ts, kind, level;
  StringColumnBuilder message, attr_values;
  IdColumnBuilder trace_id, span_id, parent_span_id, name;
  std::string durations, value_flags, values;
  std::string attr_counts, attr_key_index, attr_types;
  std::string source_index, offset_deltas;
  std::string template_index;
  std::vector<uint64_t> template_dict;
  StringColumnBuilder params;
  KeyDictionary dictionary;
  std::vector<int32_t> source_map;
  std::vector<uint32_t> block_sources;
  std::array<std::string, kBlockColumnCount> columns;
  std::string dict, table, header, body, packed, compressed, lowered;

  void Clear() {
    for (std::string* buffer :
         {&ts, &kind, &level, &durations, &value_flags, &values, &attr_counts, &attr_key_index,
          &attr_types, &source_index, &offset_deltas, &template_index, &dict, &table, &header,
          &body}) {
      buffer->clear();
    }
    template_dict.clear();
    params.Clear();
    for (std::string& column : columns) column.clear();
    message.Clear();
    name.Clear();
    attr_values.Clear();
    trace_id.Clear();
    span_id.Clear();
    parent_span_id.Clear();
    dictionary.Clear();
    block_sources.clear();
  }
};

// Appends `raw` to `body` as one column, zstd-compressed when `compress` and
// it shrinks, and its entry to `header`. `compressed` is scratch.
void AppendColumn(std::string_view raw, bool compress, int level, std::string* header,
                  std::string* body, std::string* compressed) {
  uint8_t method = 0;
  size_t stored_size = raw.size();
  if (compress && raw.size() >= kMinCompressBytes) {
    const size_t bound = ZSTD_compressBound(raw.size());
    if (compressed->size() < bound) compressed->resize(bound);
    const size_t written = ZSTD_compressCCtx(Contexts().cctx, compressed->data(), bound,
                                             raw.data(), raw.size(), level);
    if (!ZSTD_isError(written) && written < raw.size()) {
      method = 1;
      stored_size = written;
      body->append(compressed->data(), written);
    }
  }
  if (method == 0) body->append(raw);
  header->push_back(static_cast<char>(method));
  PutVarint64(header, raw.size());
  PutVarint64(header, stored_size);
}

}  // namespace

void EncodeBlock(const RecordBatch& batch, const uint32_t* rows, size_t count,
                 const BlockOptions& options, EncodedBlock* block) {
  const std::vector<RecordRow>& all = batch.rows();
  const std::vector<AttrRef>& attrs = batch.attrs();
  block->service = std::string(batch.Get(all[rows[0]].service));
  block->record_count = static_cast<uint32_t>(count);
  block->level_counts.fill(0);
  block->kind_counts.fill(0);

  int64_t min_ts = INT64_MAX;
  int64_t max_ts = INT64_MIN;
  for (size_t i = 0; i < count; ++i) {
    min_ts = std::min(min_ts, all[rows[i]].ts_ns);
    max_ts = std::max(max_ts, all[rows[i]].ts_ns);
  }
  block->min_ts_ns = min_ts;
  block->max_ts_ns = max_ts;

  thread_local BloomBuilder token_bloom;
  thread_local BloomBuilder trace_bloom;
  thread_local EncodeScratch scratch;
  scratch.Clear();
  std::string& lowered = scratch.lowered;
  std::string& ts_column = scratch.ts;
  std::string& kind_column = scratch.kind;
  std::string& level_column = scratch.level;
  StringColumnBuilder& message = scratch.message;
  IdColumnBuilder& name = scratch.name;
  StringColumnBuilder& attr_values = scratch.attr_values;
  IdColumnBuilder& trace_id = scratch.trace_id;
  IdColumnBuilder& span_id = scratch.span_id;
  IdColumnBuilder& parent_span_id = scratch.parent_span_id;
  std::string& durations = scratch.durations;
  std::string& value_flags = scratch.value_flags;
  std::string& values = scratch.values;
  std::string& attr_counts = scratch.attr_counts;
  std::string& attr_key_index = scratch.attr_key_index;
  std::string& attr_types = scratch.attr_types;
  std::string& source_index = scratch.source_index;
  std::string& offset_deltas = scratch.offset_deltas;
  std::string& template_index = scratch.template_index;
  std::vector<uint64_t>& template_dict = scratch.template_dict;
  StringColumnBuilder& params = scratch.params;
  KeyDictionary& dictionary = scratch.dictionary;
  std::vector<int32_t>& source_map = scratch.source_map;
  source_map.assign(batch.sources().size(), -1);
  std::vector<uint32_t>& block_sources = scratch.block_sources;
  int32_t unknown_source = -1;
  bool any_duration = false;
  bool any_template = false;
  bool any_value = false;

  uint64_t prev_ts = static_cast<uint64_t>(min_ts);
  uint64_t prev_offset = 0;
  const char* arena = count > 0 ? batch.Get(StrRef{0, 0}).data() : nullptr;
  for (size_t i = 0; i < count; ++i) {
    // The rows of one service are scattered through the batch (and its
    // arena), so the loop is bound by cache misses; fetch ahead in two
    // stages so that no prefetch waits on a missing load: the row itself 12
    // iterations early; 6 iterations early (the row is cached by then) its
    // attribute refs and every line of its arena bytes, which the parser
    // writes contiguously from the trace id (stored at the arena's end even
    // when empty) to the message. Service and attribute keys are shared
    // between rows and need no fetch.
    if (i + 12 < count) __builtin_prefetch(&all[rows[i + 12]]);
    if (i + 6 < count) {
      const RecordRow& ahead = all[rows[i + 6]];
      if (ahead.attr_count > 0) {
        __builtin_prefetch(&attrs[ahead.attr_begin]);
        __builtin_prefetch(&attrs[ahead.attr_begin + ahead.attr_count - 1]);
      }
      const size_t last = size_t{ahead.message.offset} + ahead.message.size;
      size_t first = ahead.trace_id.offset;
      // Bounded, in case a batch was built in another order.
      if (first > ahead.message.offset || last - first > 1024) first = ahead.message.offset;
      const size_t end = std::min(last, first + 1024);
      for (size_t at = first; at < end; at += 64) __builtin_prefetch(arena + at);
      __builtin_prefetch(arena + ahead.message.offset);
      __builtin_prefetch(arena + ahead.trace_id.offset);
    }
    const RecordRow& row = all[rows[i]];
    // Deltas are computed in unsigned arithmetic so extreme times wrap
    // instead of overflowing; decoding wraps back.
    PutZigZag(&ts_column, static_cast<int64_t>(static_cast<uint64_t>(row.ts_ns) - prev_ts));
    prev_ts = static_cast<uint64_t>(row.ts_ns);
    kind_column.push_back(static_cast<char>(row.kind));
    level_column.push_back(static_cast<char>(row.level));
    const auto level_index = static_cast<size_t>(row.level);
    const auto kind_index = static_cast<size_t>(row.kind);
    if (level_index < kLevelCount) ++block->level_counts[level_index];
    if (kind_index < kRecordKindCount) ++block->kind_counts[kind_index];

    const std::string_view text = batch.Get(row.message);
    message.Add(text);
    ForEachLoweredToken(text, &lowered, [](std::string_view token) {
      if (IsIndexedToken(token)) token_bloom.AddHash(HashLoweredToken(token));
    });
    const std::string_view trace = batch.Get(row.trace_id);
    trace_id.Add(trace);
    if (!trace.empty()) trace_bloom.AddHash(HashTraceId(trace));
    span_id.Add(batch.Get(row.span_id));
    parent_span_id.Add(batch.Get(row.parent_span_id));
    name.Add(batch.Get(row.name));

    PutZigZag(&durations, row.duration_ns);
    any_duration = any_duration || row.duration_ns != 0;
    uint64_t value_bits;
    std::memcpy(&value_bits, &row.value, 8);
    value_flags.push_back(value_bits == 0 ? '\0' : '\1');
    if (value_bits != 0) PutDouble(&values, row.value);
    any_value = any_value || value_bits != 0;

    PutVarint64(&attr_counts, row.attr_count);
    dictionary.StartRow();
    for (uint32_t a = row.attr_begin; a < row.attr_begin + row.attr_count; ++a) {
      const AttrRef& attr = attrs[a];
      PutVarint64(&attr_key_index, dictionary.IndexOf(batch.Get(attr.key)));
      attr_types.push_back(static_cast<char>(attr.type));
      attr_values.Add(batch.Get(attr.value));
    }

    uint32_t local_source = 0;
    if (row.source < source_map.size()) {
      if (source_map[row.source] < 0) {
        source_map[row.source] = static_cast<int32_t>(block_sources.size());
        block_sources.push_back(row.source);
      }
      local_source = static_cast<uint32_t>(source_map[row.source]);
    } else {
      // A row without a registered source shares one empty source entry.
      if (unknown_source < 0) {
        unknown_source = static_cast<int32_t>(block_sources.size());
        block_sources.push_back(UINT32_MAX);
      }
      local_source = static_cast<uint32_t>(unknown_source);
    }
    PutVarint64(&source_index, local_source);
    PutZigZag(&offset_deltas, static_cast<int64_t>(row.offset - prev_offset));
    prev_offset = row.offset;

    // A block holds few distinct templates (tens): a dictionary keeps the
    // per-row index to one byte. Linear search beats hashing at that size.
    size_t template_slot = 0;
    while (template_slot < template_dict.size() && template_dict[template_slot] != row.template_id) {
      ++template_slot;
    }
    if (template_slot == template_dict.size()) template_dict.push_back(row.template_id);
    PutVarint64(&template_index, template_slot);
    params.Add(batch.Get(row.params));
    any_template = any_template || row.template_id != 0 || row.params.size != 0;
  }

  std::array<std::string, kBlockColumnCount>& raw = scratch.columns;
  // Templates: a presence byte; when present, the id dictionary, the row
  // indexes and the parameters.
  std::string& templates = raw[static_cast<size_t>(BlockColumn::kTemplates)];
  templates.push_back(any_template ? '\1' : '\0');
  if (any_template) {
    PutVarint64(&templates, template_dict.size());
    for (uint64_t id : template_dict) PutVarint64(&templates, id);
    PutLengthPrefixed(&templates, template_index);
    params.AppendTo(&templates);
  }
  PutLengthPrefixed(&raw[0], ts_column);
  AppendSymbols(kind_column, &raw[1], &scratch.packed);
  AppendSymbols(level_column, &raw[2], &scratch.packed);
  message.AppendTo(&raw[3]);
  const bool trace_packed = trace_id.AppendTo(&raw[4], &scratch.packed);
  const bool span_packed = span_id.AppendTo(&raw[5], &scratch.packed);
  const bool parent_packed = parent_span_id.AppendTo(&raw[5], &scratch.packed);
  const bool name_packed = name.AppendTo(&raw[5], &scratch.packed);
  const auto numeric_flags =
      static_cast<uint8_t>((any_duration ? 0 : kNoDurations) | (any_value ? 0 : kNoValues));
  raw[6].push_back(static_cast<char>(numeric_flags));
  if (any_duration) PutLengthPrefixed(&raw[6], durations);
  if (any_value) {
    PutLengthPrefixed(&raw[6], value_flags);
    PutLengthPrefixed(&raw[6], values);
  }
  std::string& dict = scratch.dict;
  PutVarint64(&dict, dictionary.keys().size());
  for (std::string_view key : dictionary.keys()) PutLengthPrefixed(&dict, key);
  PutLengthPrefixed(&raw[7], dict);
  PutLengthPrefixed(&raw[7], attr_counts);
  PutLengthPrefixed(&raw[7], attr_key_index);
  PutLengthPrefixed(&raw[7], attr_types);
  attr_values.AppendTo(&raw[7]);
  std::string& table = scratch.table;
  PutVarint64(&table, block_sources.size());
  for (uint32_t source : block_sources) {
    if (source == UINT32_MAX) {
      PutLengthPrefixed(&table, "");
      PutZigZag(&table, -1);
    } else {
      PutLengthPrefixed(&table, batch.sources()[source].name);
      PutZigZag(&table, batch.sources()[source].partition);
    }
  }
  PutLengthPrefixed(&raw[8], table);
  if (block_sources.size() == 1) {
    raw[8].push_back(static_cast<char>(kSourceAllFirst));
  } else {
    raw[8].push_back(static_cast<char>(kSourcePerRow));
    PutLengthPrefixed(&raw[8], source_index);
  }
  PutLengthPrefixed(&raw[8], offset_deltas);

  // Columns zstd cannot shrink enough to pay for its time: time deltas in
  // nanoseconds (close to random in their low bits), kind and level (packed
  // above), numbers when all are zero, provenance of a single source, and id
  // columns whose strings are all packed hex or absent.
  std::array<bool, kBlockColumnCount> compress;
  compress.fill(true);
  compress[static_cast<size_t>(BlockColumn::kTs)] = false;
  compress[static_cast<size_t>(BlockColumn::kKind)] = false;
  compress[static_cast<size_t>(BlockColumn::kLevel)] = false;
  compress[static_cast<size_t>(BlockColumn::kNumeric)] = any_duration || any_value;
  // Offset deltas alone (one source) are varints of scattered line offsets,
  // which zstd did not shrink at all.
  compress[static_cast<size_t>(BlockColumn::kProvenance)] = block_sources.size() > 1;
  compress[static_cast<size_t>(BlockColumn::kTraceId)] = !trace_packed;
  compress[static_cast<size_t>(BlockColumn::kSpan)] =
      !(span_packed && parent_packed && name_packed);
  compress[static_cast<size_t>(BlockColumn::kTemplates)] = any_template;

  std::string& header = scratch.header;
  header.push_back(static_cast<char>(kBlockFormatVersion));
  PutVarint64(&header, count);
  PutZigZag(&header, min_ts);
  PutVarint64(&header, kBlockColumnCount);
  std::string& body = scratch.body;
  uint64_t raw_bytes = 0;
  for (size_t i = 0; i < kBlockColumnCount; ++i) {
    AppendColumn(raw[i], compress[i], options.compression_level, &header, &body,
                 &scratch.compressed);
    raw_bytes += raw[i].size();
  }
  block->payload.clear();
  block->payload.reserve(header.size() + body.size() + 8);
  block->payload.append(header);
  block->payload.append(body);
  const uint64_t checksum = BlockChecksum(block->payload);
  char trailer[8];
  std::memcpy(trailer, &checksum, 8);
  block->payload.append(trailer, 8);
  block->raw_bytes = raw_bytes;
  // Word blooms hold tens to hundreds of keys a block (IsIndexedToken), so
  // 6 more bits a key cost little and cut false positives about tenfold: each
  // one costs a grep a whole block decode.
  block->token_bloom = token_bloom.Finish(options.bloom_bits_per_key + 6);
  block->trace_bloom = trace_bloom.Finish(options.bloom_bits_per_key);
}

uint64_t BlockChecksum(std::string_view body) { return Hash64(body, kChecksumSeed); }

Status BlockDecoder::Corrupt(std::string_view what) const {
  return Status::Corruption("block " + name_ + ": " + std::string(what));
}

Status BlockDecoder::Open(std::string payload, std::string name) {
  payload_ = std::move(payload);
  name_ = std::move(name);
  loaded_ = 0;
  if (payload_.size() < 9) return Corrupt("payload too short");
  const size_t body_size = payload_.size() - 8;
  uint64_t stored_checksum;
  std::memcpy(&stored_checksum, payload_.data() + body_size, 8);
  if (BlockChecksum(std::string_view(payload_.data(), body_size)) != stored_checksum) {
    return Corrupt("checksum mismatch");
  }
  Cursor cursor(std::string_view(payload_.data(), body_size));
  uint8_t version = 0;
  uint64_t column_count = 0;
  if (!cursor.GetByte(&version)) return Corrupt("truncated header");
  if (version != kBlockFormatVersion) {
    return Corrupt("unknown block format version " + std::to_string(version));
  }
  if (!cursor.GetVarint32(&rows_) || !cursor.GetZigZag(&min_ts_) ||
      !cursor.GetVarint64(&column_count)) {
    return Corrupt("truncated header");
  }
  if (rows_ == 0 || rows_ > kMaxRows) return Corrupt("bad row count");
  if (column_count != kBlockColumnCount) return Corrupt("bad column count");
  std::array<uint64_t, kBlockColumnCount> stored_sizes{};
  for (size_t i = 0; i < kBlockColumnCount; ++i) {
    if (!cursor.GetByte(&columns_[i].method) || !cursor.GetVarint64(&columns_[i].raw_size) ||
        !cursor.GetVarint64(&stored_sizes[i])) {
      return Corrupt("truncated column table");
    }
    if (columns_[i].method > 1 || columns_[i].raw_size > kMaxColumnBytes) {
      return Corrupt("bad column table");
    }
  }
  for (size_t i = 0; i < kBlockColumnCount; ++i) {
    if (!cursor.GetBytes(static_cast<size_t>(std::min(stored_sizes[i], kMaxColumnBytes)),
                         &columns_[i].stored) ||
        stored_sizes[i] > kMaxColumnBytes) {
      return Corrupt("column " + std::to_string(i) + " extends past the payload");
    }
    if (columns_[i].method == 0 && columns_[i].raw_size != stored_sizes[i]) {
      return Corrupt("raw column size mismatch");
    }
  }
  if (!cursor.empty()) return Corrupt("trailing bytes after the columns");
  return Status::Ok();
}

Status BlockDecoder::Load(uint32_t column_mask) {
  for (size_t i = 0; i < kBlockColumnCount; ++i) {
    const uint32_t bit = 1u << i;
    if ((column_mask & bit) == 0 || (loaded_ & bit) != 0) continue;
    FL_RETURN_IF_ERROR(LoadColumn(static_cast<BlockColumn>(i)));
    loaded_ |= bit;
  }
  return Status::Ok();
}

Status BlockDecoder::LoadColumn(BlockColumn column) {
  const auto index = static_cast<size_t>(column);
  const ColumnRef& ref = columns_[index];
  std::string_view raw = ref.stored;
  if (ref.method == 1) {
    const unsigned long long frame_size =
        ZSTD_getFrameContentSize(ref.stored.data(), ref.stored.size());
    if (frame_size != ref.raw_size) return Corrupt("column size disagrees with its zstd frame");
    std::string& buffer = decompressed_[index];
    buffer.resize(static_cast<size_t>(ref.raw_size));
    const size_t got = ZSTD_decompressDCtx(Contexts().dctx, buffer.data(), buffer.size(),
                                           ref.stored.data(), ref.stored.size());
    if (ZSTD_isError(got) || got != ref.raw_size) {
      return Corrupt(std::string("zstd: ") +
                     (ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short column"));
    }
    raw = buffer;
  }
  return ParseColumn(column, raw);
}

bool BlockDecoder::ParseStrings(Cursor* cursor, uint32_t count, StringColumn* out) {
  std::string_view lengths_bytes;
  if (!cursor->GetLengthPrefixed(&lengths_bytes) || !cursor->GetLengthPrefixed(&out->bytes)) {
    return false;
  }
  Cursor lengths(lengths_bytes);
  out->offsets.resize(size_t{count} + 1);
  uint64_t offset = 0;
  out->offsets[0] = 0;
  for (uint32_t row = 0; row < count; ++row) {
    uint64_t length = 0;
    if (!lengths.GetVarint64(&length)) return false;
    offset += length;
    if (offset > out->bytes.size()) return false;
    out->offsets[row + 1] = static_cast<uint32_t>(offset);
  }
  return lengths.empty() && offset == out->bytes.size();
}

bool BlockDecoder::ParseSymbols(Cursor* cursor, std::string* buffer, std::string_view* out) {
  uint8_t encoding = 0;
  std::string_view section;
  if (!cursor->GetByte(&encoding)) return false;
  switch (encoding) {
    case kSymbolsRaw:
      if (!cursor->GetLengthPrefixed(&section) || section.size() != rows_) return false;
      *out = section;
      return true;
    case kSymbolsUniform: {
      uint8_t value = 0;
      if (!cursor->GetByte(&value)) return false;
      buffer->assign(rows_, static_cast<char>(value));
      *out = *buffer;
      return true;
    }
    case kSymbolsNibbles:
      if (!cursor->GetLengthPrefixed(&section) || section.size() != (size_t{rows_} + 1) / 2) {
        return false;
      }
      buffer->resize(rows_);
      for (size_t row = 0; row < rows_; ++row) {
        const auto byte = static_cast<unsigned char>(section[row / 2]);
        (*buffer)[row] = static_cast<char>((byte >> (4 * (row & 1))) & 0x0F);
      }
      *out = *buffer;
      return true;
    default:
      return false;
  }
}

bool BlockDecoder::ParseIds(Cursor* cursor, uint32_t count, StringColumn* out) {
  uint8_t encoding = 0;
  if (!cursor->GetByte(&encoding) || (encoding & ~(kIdHex | kIdUniformLength)) != 0) {
    return false;
  }
  const bool hex = (encoding & kIdHex) != 0;
  uint64_t uniform_length = 0;
  std::string_view lengths_bytes;
  std::string_view stored;
  if ((encoding & kIdUniformLength) != 0) {
    if (!cursor->GetVarint64(&uniform_length)) return false;
  } else if (!cursor->GetLengthPrefixed(&lengths_bytes)) {
    return false;
  }
  if (!cursor->GetLengthPrefixed(&stored)) return false;
  // Offsets into the (unpacked) text, checked against its size before
  // anything is unpacked.
  const uint64_t text_size = hex ? uint64_t{stored.size()} * 2 : stored.size();
  Cursor lengths(lengths_bytes);
  out->offsets.resize(size_t{count} + 1);
  uint64_t offset = 0;
  out->offsets[0] = 0;
  for (uint32_t row = 0; row < count; ++row) {
    uint64_t length = uniform_length;
    if ((encoding & kIdUniformLength) == 0 && !lengths.GetVarint64(&length)) return false;
    if (hex && (length & 1) != 0) return false;
    offset += length;
    if (length > text_size || offset > text_size) return false;
    out->offsets[row + 1] = static_cast<uint32_t>(offset);
  }
  if (!lengths.empty() || offset != text_size) return false;
  if (!hex) {
    out->bytes = stored;
    return true;
  }
  out->unpacked.resize(static_cast<size_t>(text_size));
  char* text = out->unpacked.data();
  for (size_t i = 0; i < stored.size(); ++i) {
    const auto byte = static_cast<unsigned char>(stored[i]);
    text[2 * i] = kHexDigits[byte >> 4];
    text[2 * i + 1] = kHexDigits[byte & 0x0F];
  }
  out->bytes = out->unpacked;
  return true;
}

Status BlockDecoder::ParseColumn(BlockColumn column, std::string_view raw) {
  Cursor cursor(raw);
  bool ok = true;
  switch (column) {
    case BlockColumn::kTs: {
      std::string_view section;
      ok = cursor.GetLengthPrefixed(&section);
      Cursor deltas(section);
      ts_.resize(rows_);
      uint64_t ts = static_cast<uint64_t>(min_ts_);
      for (uint32_t row = 0; ok && row < rows_; ++row) {
        int64_t delta = 0;
        ok = deltas.GetZigZag(&delta);
        ts += static_cast<uint64_t>(delta);
        ts_[row] = static_cast<int64_t>(ts);
      }
      ok = ok && deltas.empty();
      break;
    }
    case BlockColumn::kKind:
    case BlockColumn::kLevel: {
      const bool kind = column == BlockColumn::kKind;
      std::string_view symbols;
      ok = ParseSymbols(&cursor, kind ? &kinds_buffer_ : &levels_buffer_, &symbols);
      const auto limit = static_cast<unsigned char>(kind ? kRecordKindCount : kLevelCount);
      for (size_t row = 0; ok && row < symbols.size(); ++row) {
        ok = static_cast<unsigned char>(symbols[row]) < limit;
      }
      (kind ? kinds_ : levels_) = symbols;
      break;
    }
    case BlockColumn::kMessage:
      ok = ParseStrings(&cursor, rows_, &message_);
      break;
    case BlockColumn::kTraceId:
      ok = ParseIds(&cursor, rows_, &trace_id_);
      break;
    case BlockColumn::kSpan:
      ok = ParseIds(&cursor, rows_, &span_id_) && ParseIds(&cursor, rows_, &parent_span_id_) &&
           ParseIds(&cursor, rows_, &span_name_);
      break;
    case BlockColumn::kNumeric: {
      uint8_t numeric_flags = 0;
      ok = cursor.GetByte(&numeric_flags) && (numeric_flags & ~(kNoDurations | kNoValues)) == 0;
      const bool has_durations = (numeric_flags & kNoDurations) == 0;
      const bool has_values = (numeric_flags & kNoValues) == 0;
      std::string_view duration_bytes, flags, value_bytes;
      if (ok && has_durations) ok = cursor.GetLengthPrefixed(&duration_bytes);
      if (ok && has_values) {
        ok = cursor.GetLengthPrefixed(&flags) && cursor.GetLengthPrefixed(&value_bytes) &&
             flags.size() == rows_;
      }
      Cursor durations(duration_bytes), values(value_bytes);
      durations_.assign(rows_, 0);
      values_.assign(rows_, 0);
      for (uint32_t row = 0; ok && row < rows_; ++row) {
        if (has_durations) ok = durations.GetZigZag(&durations_[row]);
        if (ok && has_values && flags[row] != 0) ok = values.GetDouble(&values_[row]);
      }
      ok = ok && durations.empty() && values.empty();
      break;
    }
    case BlockColumn::kAttributes: {
      std::string_view dict, counts_bytes, key_bytes;
      ok = cursor.GetLengthPrefixed(&dict) && cursor.GetLengthPrefixed(&counts_bytes) &&
           cursor.GetLengthPrefixed(&key_bytes) && cursor.GetLengthPrefixed(&attr_types_);
      Cursor dict_cursor(dict);
      uint64_t key_count = 0;
      ok = ok && dict_cursor.GetVarint64(&key_count) && key_count <= dict.size();
      attr_keys_.clear();
      for (uint64_t k = 0; ok && k < key_count; ++k) {
        std::string_view key;
        ok = dict_cursor.GetLengthPrefixed(&key);
        attr_keys_.push_back(key);
      }
      Cursor counts(counts_bytes);
      attr_begin_.resize(size_t{rows_} + 1);
      attr_begin_[0] = 0;
      uint64_t total = 0;
      for (uint32_t row = 0; ok && row < rows_; ++row) {
        uint64_t n = 0;
        ok = counts.GetVarint64(&n) && n <= attr_types_.size();
        total += n;
        ok = ok && total <= attr_types_.size();
        attr_begin_[row + 1] = static_cast<uint32_t>(total);
      }
      ok = ok && counts.empty() && total == attr_types_.size();
      Cursor keys(key_bytes);
      attr_key_index_.resize(ok ? static_cast<size_t>(total) : 0);
      for (size_t a = 0; ok && a < attr_key_index_.size(); ++a) {
        ok = keys.GetVarint32(&attr_key_index_[a]) && attr_key_index_[a] < attr_keys_.size() &&
             static_cast<unsigned char>(attr_types_[a]) <= static_cast<unsigned char>(AttrType::kJson);
      }
      ok = ok && keys.empty() && ParseStrings(&cursor, static_cast<uint32_t>(total), &attr_values_);
      break;
    }
    case BlockColumn::kTemplates: {
      uint8_t present = 0;
      ok = cursor.GetByte(&present) && present <= 1;
      template_ids_.clear();
      params_.offsets.assign(size_t{rows_} + 1, 0);
      params_.bytes = {};
      if (!ok || present == 0) break;
      uint64_t dict_size = 0;
      ok = cursor.GetVarint64(&dict_size) && dict_size <= raw.size();
      std::vector<uint64_t> dict;
      for (uint64_t d = 0; ok && d < dict_size; ++d) {
        uint64_t id = 0;
        ok = cursor.GetVarint64(&id);
        dict.push_back(id);
      }
      std::string_view index_bytes;
      ok = ok && cursor.GetLengthPrefixed(&index_bytes);
      Cursor indexes(index_bytes);
      template_ids_.resize(rows_);
      for (uint32_t row = 0; ok && row < rows_; ++row) {
        uint32_t slot = 0;
        ok = indexes.GetVarint32(&slot) && slot < dict.size();
        if (ok) template_ids_[row] = dict[slot];
      }
      ok = ok && indexes.empty() && ParseStrings(&cursor, rows_, &params_);
      break;
    }
    case BlockColumn::kProvenance: {
      std::string_view table, index_bytes, offset_bytes;
      uint8_t index_encoding = 0;
      ok = cursor.GetLengthPrefixed(&table) && cursor.GetByte(&index_encoding) &&
           (index_encoding == kSourcePerRow || index_encoding == kSourceAllFirst);
      const bool per_row = index_encoding == kSourcePerRow;
      if (ok && per_row) ok = cursor.GetLengthPrefixed(&index_bytes);
      ok = ok && cursor.GetLengthPrefixed(&offset_bytes);
      Cursor table_cursor(table);
      uint64_t source_count = 0;
      ok = ok && table_cursor.GetVarint64(&source_count) && source_count <= table.size();
      sources_.clear();
      for (uint64_t s = 0; ok && s < source_count; ++s) {
        std::string_view source_name;
        int64_t partition = 0;
        ok = table_cursor.GetLengthPrefixed(&source_name) && table_cursor.GetZigZag(&partition) &&
             partition >= INT32_MIN && partition <= INT32_MAX;
        sources_.emplace_back(source_name, static_cast<int32_t>(partition));
      }
      Cursor indexes(index_bytes), deltas(offset_bytes);
      source_index_.resize(rows_);
      offsets_.resize(rows_);
      uint64_t offset = 0;
      for (uint32_t row = 0; ok && row < rows_; ++row) {
        int64_t delta = 0;
        source_index_[row] = 0;
        ok = (!per_row || indexes.GetVarint32(&source_index_[row])) &&
             source_index_[row] < sources_.size() && deltas.GetZigZag(&delta);
        offset += static_cast<uint64_t>(delta);
        offsets_[row] = offset;
      }
      ok = ok && indexes.empty() && deltas.empty();
      break;
    }
  }
  if (!ok || !cursor.empty()) {
    return Corrupt("column " + std::to_string(static_cast<int>(column)) + " is malformed");
  }
  return Status::Ok();
}

void BlockDecoder::Materialize(uint32_t row, const std::string& service, Record* out) const {
  out->kind = kind(row);
  out->ts_ns = ts_[row];
  out->level = level(row);
  out->service = service;
  out->message = std::string(message_.Get(row));
  out->trace_id = std::string(trace_id_.Get(row));
  out->span_id = std::string(span_id_.Get(row));
  out->parent_span_id = std::string(parent_span_id_.Get(row));
  out->name = std::string(span_name_.Get(row));
  out->duration_ns = durations_[row];
  out->value = values_[row];
  out->template_id = template_ids_.empty() ? 0 : template_ids_[row];
  // A malformed parameter string was caught by no check above (it is opaque
  // to the column parser); show what could be read rather than fail.
  UnpackParams(params_.offsets.size() > row + 1 ? params_.Get(row) : std::string_view(),
               &out->params);
  out->attributes.clear();
  out->attributes.reserve(attr_begin_[row + 1] - attr_begin_[row]);
  for (uint32_t a = attr_begin_[row]; a < attr_begin_[row + 1]; ++a) {
    out->attributes.push_back(Attribute{std::string(attr_keys_[attr_key_index_[a]]),
                                        std::string(attr_values_.Get(a)),
                                        static_cast<AttrType>(attr_types_[a])});
  }
  out->provenance.source = std::string(sources_[source_index_[row]].first);
  out->provenance.partition = sources_[source_index_[row]].second;
  out->provenance.offset = offsets_[row];
}

}  // namespace faultline::storage::internal
