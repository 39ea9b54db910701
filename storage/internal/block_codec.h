// The block payload: the records of one service over one time slice, stored
// column by column, each column compressed separately with zstd.
//
// Format 3:
//   header   u8 version (3), varint rows, zigzag min_ts_ns, varint columns,
//            then per column: u8 method (0 raw, 1 zstd), varint raw length,
//            varint stored length
//   columns  the stored bytes of each column, in header order
//   trailer  8-byte little-endian Hash64 of everything before it
// Inside a column, sections are length-prefixed byte strings; see
// docs/storage.md for the section list of each column. Keeping columns apart
// lets a query decode only what it filters on (time, level, message, trace
// id) and materialize whole Records only for the rows that match.
//
// EncodeBlock is pure and thread-safe (per-thread zstd contexts). A
// BlockDecoder is used by one thread; every read of stored bytes is bounds
// checked and damage is reported as Corruption naming the block.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/record.h"
#include "core/status.h"
#include "storage/internal/coding.h"
#include "storage/store.h"

namespace faultline::storage::internal {

enum class BlockColumn : uint8_t {
  kTs = 0,
  kKind,
  kLevel,
  kMessage,
  kTraceId,
  kSpan,        // span_id, parent_span_id, name
  kNumeric,     // duration_ns, value
  kAttributes,
  kProvenance,
  kTemplates,   // template id (per-block dictionary) and packed parameters
};
inline constexpr size_t kBlockColumnCount = 10;
inline constexpr uint8_t kBlockFormatVersion = 4;

constexpr uint32_t ColumnBit(BlockColumn column) { return 1u << static_cast<unsigned>(column); }
inline constexpr uint32_t kAllColumns = (1u << kBlockColumnCount) - 1;

// Encodes rows `rows[0..count)` of `batch` into `block`: payload, blooms,
// counts and time range. REQUIRES: count > 0, all rows of one service, sorted
// by ts_ns.
void EncodeBlock(const RecordBatch& batch, const uint32_t* rows, size_t count,
                 const BlockOptions& options, EncodedBlock* block);

// The trailer checksum over `body` (the payload without its last 8 bytes).
// Exposed so tests can forge damaged payloads that pass the checksum and
// exercise the bounds checks behind it.
uint64_t BlockChecksum(std::string_view body);

class BlockDecoder {
 public:
  // Takes the payload, parses the header and verifies the checksum. `name`
  // identifies the block in error messages.
  Status Open(std::string payload, std::string name);

  // Decompresses and parses the columns in `column_mask` (ColumnBit values)
  // that are not loaded yet.
  Status Load(uint32_t column_mask);

  uint32_t rows() const { return rows_; }
  const std::string& name() const { return name_; }

  // Accessors; REQUIRE the column loaded and row < rows().
  int64_t ts(uint32_t row) const { return ts_[row]; }
  RecordKind kind(uint32_t row) const { return static_cast<RecordKind>(kinds_[row]); }
  Level level(uint32_t row) const { return static_cast<Level>(levels_[row]); }
  std::string_view message(uint32_t row) const { return message_.Get(row); }
  std::string_view trace_id(uint32_t row) const { return trace_id_.Get(row); }
  uint64_t template_id(uint32_t row) const {
    return template_ids_.empty() ? 0 : template_ids_[row];
  }

  // Builds the whole record. REQUIRES: Load(kAllColumns) succeeded.
  void Materialize(uint32_t row, const std::string& service, Record* out) const;

 private:
  struct StringColumn {
    std::vector<uint32_t> offsets;  // rows + 1 entries
    std::string_view bytes;
    std::string unpacked;  // what `bytes` views for hex-packed ids
    std::string_view Get(uint32_t row) const {
      return bytes.substr(offsets[row], offsets[row + 1] - offsets[row]);
    }
  };
  Status Corrupt(std::string_view what) const;
  Status LoadColumn(BlockColumn column);
  bool ParseStrings(Cursor* cursor, uint32_t count, StringColumn* out);
  // Trace and span ids: an encoding byte, then strings (hex-packed or not).
  bool ParseIds(Cursor* cursor, uint32_t count, StringColumn* out);
  // Kind and level: an encoding byte, then the symbols (see EncodeBlock).
  bool ParseSymbols(Cursor* cursor, std::string* buffer, std::string_view* out);
  Status ParseColumn(BlockColumn column, std::string_view raw);

  std::string payload_;
  std::string name_;
  uint32_t rows_ = 0;
  int64_t min_ts_ = 0;
  uint32_t loaded_ = 0;
  struct ColumnRef {
    uint8_t method = 0;
    uint64_t raw_size = 0;
    std::string_view stored;
  };
  std::array<ColumnRef, kBlockColumnCount> columns_{};
  std::array<std::string, kBlockColumnCount> decompressed_;

  std::vector<int64_t> ts_;
  std::string_view kinds_, levels_;
  std::string kinds_buffer_, levels_buffer_;  // what they view, unless raw
  StringColumn message_, trace_id_, span_id_, parent_span_id_, span_name_;
  std::vector<int64_t> durations_;
  std::vector<double> values_;
  std::vector<uint64_t> template_ids_;  // per row; empty when the block has none
  StringColumn params_;                 // per row, PackParams form
  std::vector<std::string_view> attr_keys_;  // the block's key dictionary
  std::vector<uint32_t> attr_begin_;         // rows + 1 entries
  std::vector<uint32_t> attr_key_index_;
  std::string_view attr_types_;
  StringColumn attr_values_;
  std::vector<std::pair<std::string_view, int32_t>> sources_;
  std::vector<uint32_t> source_index_;
  std::vector<uint64_t> offsets_;
};

}  // namespace faultline::storage::internal
