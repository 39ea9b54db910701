// The faultline store: RocksDB in block layout.
//
// Records are kept in blocks: the records of one service over a short time
// slice, column by column, compressed. Each block has a small summary (time
// range, counts per level and kind) and bloom filters of trace ids and message
// tokens, so queries skip blocks without opening them. Dead letters, source
// positions and counters live beside them. See docs/storage.md.
//
// Writing is split in two so that the expensive part runs in parallel:
//   EncodeBatch()  pure, thread-safe: RecordBatch -> EncodedBatch (blocks
//                  built and compressed, blooms built). Parallel stage.
//   Store::Write() serial: assigns block sequence numbers and writes blocks,
//                  summaries, dead letters, counters and the source positions
//                  they cover in ONE RocksDB WriteBatch, so after a crash the
//                  store is consistent and resumes from its own positions.
//
// Thread-safety: Store is used by one writer thread (Write, positions);
// EncodeBatch may be called from any thread. One process opens a store for
// writing at a time (RocksDB's lock); readers use storage/reader.h.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/record.h"
#include "core/status.h"
#include "storage/series.h"

namespace faultline::storage {

struct BlockOptions {
  // A block is cut when it holds this many records. 8192 rows keeps a block
  // around 0.5-3 MiB raw: big enough to compress well, small enough that a
  // "first 100 results" query decodes little.
  uint32_t max_records = 8192;
  // A block never spans more than this much event time, so time-range
  // queries skip precisely. 60 s.
  int64_t max_span_ns = 60LL * 1'000'000'000;
  // zstd level for the block columns. 1: fastest level with zstd's ratio.
  int compression_level = 1;
  // Bloom filter bits per distinct key (trace ids, message tokens). 10 bits
  // gives about a 1% false-positive rate.
  int bloom_bits_per_key = 10;

  Status Validate() const;
};

// A block ready to be written: everything except its sequence number.
struct EncodedBlock {
  std::string service;
  int64_t min_ts_ns = 0;
  int64_t max_ts_ns = 0;
  uint32_t record_count = 0;
  std::array<uint32_t, kLevelCount> level_counts{};
  std::array<uint32_t, kRecordKindCount> kind_counts{};
  std::string payload;      // encoded, compressed columns
  std::string trace_bloom;  // serialized bloom of trace ids
  std::string token_bloom;  // serialized bloom of lower-cased message tokens
  uint64_t raw_bytes = 0;   // uncompressed size, for stats
};

// A log template as the store keeps it (mined during ingest; storage only
// keeps it). Key: the id; a later write of the same id replaces it.
struct StoredTemplate {
  uint64_t id = 0;
  std::string service;
  std::string text;     // tokens joined by spaces, wildcards as <*>
  uint64_t count = 0;   // records mined into it, all time
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
  std::string example;  // the first message that made it, as written

  bool operator==(const StoredTemplate&) const = default;
};

// The counters of a template whose text did not change. Each only grows
// (count, last seen) or shrinks (first seen), so records of them merge in
// any order.
struct TemplateCount {
  uint64_t id = 0;
  uint64_t count = 0;
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;

  bool operator==(const TemplateCount&) const = default;
};

// What a batch's records changed in the templates, written in the same
// WriteBatch as the records so counts stay exactly-once with them. A batch
// touches thousands of templates; rewriting each in full cost serve ~12% of
// its throughput, so only new and generalised ones are written in full and
// the others' counters go into one compact record for the batch. Every so
// often the writer folds those records into full templates (`fold`).
struct TemplateUpdates {
  std::vector<StoredTemplate> full;   // created, generalised or folded
  std::vector<TemplateCount> counts;  // counters only: one record
  // `full` holds every template the counter records written so far name,
  // as of this batch: those records are deleted.
  bool fold = false;
};

struct EncodedBatch {
  std::vector<EncodedBlock> blocks;
  std::vector<DeadLetter> dead_letters;
  ParseCounters counters;
  TemplateUpdates templates;
  // Rollups of the batch's records (storage/series.h), merged into the
  // `series` column family.
  std::vector<ServiceBucket> series;
};

// Groups the batch's rows by service, orders each group by event time (stable,
// so equal times keep input order), cuts blocks per BlockOptions and encodes
// them. Moves the batch's dead letters and counters along. Thread-safe.
EncodedBatch EncodeBatch(const RecordBatch& batch, const BlockOptions& options);

// Where a source has been read up to, stored with the data it covers.
struct SourcePosition {
  std::string key;          // "file:<fingerprint>" or "kafka:<topic>:<partition>"
  uint64_t offset = 0;      // next byte / next Kafka offset to read
  bool complete = false;    // a file read to its end
  std::string description;  // human-readable: the path or topic, for messages
};

struct StoreOptions {
  // Create the store when the directory holds none.
  bool create_if_missing = true;
  // RocksDB memtable size per column family. 128 MiB lets a large batch
  // ingest proceed without stalling on flushes.
  size_t write_buffer_bytes = 128 << 20;
  // fsync the WAL on every Write. Off by default: a WriteBatch is atomic with
  // or without it; sync only narrows what a power loss (not a crash) can undo.
  bool sync_writes = false;
  BlockOptions block;

  Status Validate() const;
};

class Store {
 public:
  // Opens (creating if allowed) the store in `dir` for writing. Fails with
  // kUnavailable when another process holds it, kCorruption when the store is
  // damaged (message names what), kIOError otherwise.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const StoreOptions& options);
  virtual ~Store() = default;

  // Writes the batch and the positions it covers atomically. Blocks get
  // sequence numbers in call order. Dead letters beyond the store's dead-letter
  // byte budget are counted as dropped, never silently lost. Blocks on I/O.
  virtual Status Write(EncodedBatch batch, const std::vector<SourcePosition>& positions) = 0;

  virtual Result<std::optional<SourcePosition>> GetPosition(const std::string& key) = 0;

  // Every stored template with its counters brought up to date, in id order
  // (to restore a miner after a restart).
  virtual Result<std::vector<StoredTemplate>> LoadTemplates() = 0;

  // Stores an incident (correlate/incident.h) under its id, replacing what
  // the id held: `body` is opaque here (the correlator's JSON). Ids sort by
  // onset (they start with it), so a scan lists incidents in time order.
  virtual Status PutIncident(const std::string& id, const std::string& body) = 0;

  // Flushes memtables to SST files (used at the end of a batch ingest so the
  // next open does not replay a large WAL).
  virtual Status Flush() = 0;

  virtual const StoreOptions& options() const = 0;
};

// Bytes of the store's files on disk (SSTs, WAL, manifest), summed over the
// directory tree; files that vanish during the walk (compaction) are skipped.
uint64_t DiskBytes(const std::string& dir);

}  // namespace faultline::storage
