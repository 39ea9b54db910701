// Keys and values of every column family except the block payload (see
// block_codec.h): block keys, block_index keys and summaries, dead-letter
// entries, source positions and the meta counters. docs/storage.md describes
// the same layout for operators.
//
// Encoders never fail; decoders return false on malformed bytes (callers turn
// that into Corruption naming the key). Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/dead_letter.h"
#include "core/record.h"
#include "storage/store.h"

namespace faultline::storage::internal {

// Column family names. `default` is RocksDB's own and stays empty.
inline constexpr std::string_view kBlocksCf = "blocks";
inline constexpr std::string_view kBlockIndexCf = "block_index";
inline constexpr std::string_view kDeadLetterCf = "deadletter";
inline constexpr std::string_view kMetaCf = "meta";
inline constexpr std::string_view kTemplatesCf = "templates";
inline constexpr std::string_view kSeriesCf = "series";
inline constexpr std::string_view kIncidentsCf = "incidents";

// Bumped when any stored format changes incompatibly; Store::Open and
// Reader::Open refuse other versions.
inline constexpr uint32_t kSchemaVersion = 1;

// meta keys.
inline constexpr std::string_view kSchemaVersionKey = "schema_version";
inline constexpr std::string_view kCountersKey = "counters";
inline constexpr std::string_view kNextBlockSeqKey = "next_block_seq";
inline constexpr std::string_view kPositionPrefix = "pos/";
// Followed by a sequence (u64 big-endian): one record of template counters
// per batch (TemplateUpdates), until a fold deletes them.
inline constexpr std::string_view kTemplateCountsPrefix = "template_counts/";

// block_index key prefixes; each followed by the block seq (u64 big-endian),
// so one prefix scan lists every summary in write order.
inline constexpr char kSummaryPrefix = 's';
inline constexpr char kTraceBloomPrefix = 't';
inline constexpr char kTokenBloomPrefix = 'w';

// blocks key: varint service length, service, slice start (sign-flipped u64
// big-endian), seq (u64 big-endian). Groups a service's blocks by time.
std::string BlockKey(std::string_view service, int64_t slice_start_ns, uint64_t seq);
// Floors `ts_ns` to a multiple of `span_ns` (toward negative infinity).
int64_t SliceStart(int64_t ts_ns, int64_t span_ns);

std::string IndexKey(char prefix, uint64_t seq);
bool ParseIndexKey(std::string_view key, char* prefix, uint64_t* seq);

struct BlockSummary {
  uint64_t seq = 0;  // from the key
  std::string service;
  std::string block_key;
  int64_t min_ts_ns = 0;
  int64_t max_ts_ns = 0;
  uint32_t record_count = 0;
  std::array<uint32_t, kLevelCount> level_counts{};
  std::array<uint32_t, kRecordKindCount> kind_counts{};
  uint64_t raw_bytes = 0;
  uint64_t stored_bytes = 0;
};
std::string EncodeSummary(const BlockSummary& summary);
bool DecodeSummary(std::string_view bytes, BlockSummary* summary);

// deadletter key: arrival sequence, u64 big-endian.
std::string DeadLetterKey(uint64_t seq);
std::string EncodeDeadLetter(const DeadLetter& dead_letter);
bool DecodeDeadLetter(std::string_view bytes, DeadLetter* dead_letter);

std::string PositionKey(std::string_view source_key);

// templates key: the template id, u64 big-endian (id order).
std::string TemplateKey(uint64_t id);
std::string EncodeTemplate(const StoredTemplate& stored);
bool DecodeTemplate(std::string_view bytes, StoredTemplate* stored);
std::string TemplateCountsKey(uint64_t seq);
std::string EncodeTemplateCounts(const std::vector<TemplateCount>& counts);
bool DecodeTemplateCounts(std::string_view bytes, std::vector<TemplateCount>* counts);
std::string EncodePosition(const SourcePosition& position);
// `key` is the source key (the meta key without its prefix).
bool DecodePosition(std::string_view key, std::string_view bytes, SourcePosition* position);

// Everything the single writer keeps in memory and rewrites with each batch.
struct StoreCounters {
  ParseCounters parse;
  uint64_t dead_letters = 0;          // stored in the deadletter CF
  uint64_t dead_letters_dropped = 0;  // over the byte budget
  uint64_t dead_letter_bytes = 0;     // encoded bytes stored
  uint64_t next_dead_letter_seq = 1;
  uint64_t records = 0;
  // Every dead letter Write saw, stored or dropped, per RejectReason.
  std::array<uint64_t, kRejectReasonCount> dead_letters_by_reason{};
};
std::string EncodeCounters(const StoreCounters& counters);
bool DecodeCounters(std::string_view bytes, StoreCounters* counters);

std::string EncodeU64(uint64_t value);
bool DecodeU64(std::string_view bytes, uint64_t* value);

}  // namespace faultline::storage::internal
