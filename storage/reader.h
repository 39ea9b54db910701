// Reader: queries a store while another process may be writing it.
//
// Opens the store as a RocksDB secondary instance (safe beside a live writer;
// CatchUp() sees newer data). Search plans with block summaries first (time,
// service, level and kind counts, trace and token blooms), then decodes only
// the blocks that may match, and merges them in time order.
//
// Thread-safety: one Reader per thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/record.h"
#include "core/status.h"
#include "storage/store.h"

namespace faultline::storage {

struct Query {
  std::vector<std::string> services;  // empty: all
  // Bit i set: Level(i) matches. Default: every level.
  uint32_t level_mask = (1u << kLevelCount) - 1;
  std::optional<RecordKind> kind;
  int64_t since_ns = INT64_MIN;  // inclusive
  int64_t until_ns = INT64_MAX;  // exclusive
  std::string trace_id;          // exact match; empty: any
  // Word match: the message contains these words, consecutively, at word
  // boundaries, ignoring ASCII case ("connection refused" matches
  // "ERROR: Connection refused by peer" but not "refusedx"). Accelerated by
  // the token bloom filters.
  std::string grep;
  // Plain substring match, case-sensitive; scans every candidate block.
  std::string contains;
  size_t limit = SIZE_MAX;
  bool reverse = false;  // newest first
};

struct StoreStats {
  uint64_t records = 0;
  std::array<uint64_t, kRecordKindCount> by_kind{};
  std::map<std::string, uint64_t> by_service;
  std::array<uint64_t, kLevelCount> by_level{};
  int64_t min_ts_ns = 0;  // 0 when empty
  int64_t max_ts_ns = 0;
  uint64_t blocks = 0;
  uint64_t raw_bytes = 0;    // uncompressed size of the stored columns
  uint64_t stored_bytes = 0; // compressed block payload bytes
  uint64_t disk_bytes = 0;   // every file in the store directory
  uint64_t dead_letters = 0;
  std::array<uint64_t, kRejectReasonCount> dead_letters_by_reason{};
  uint64_t dead_letters_dropped = 0;  // over the dead-letter budget
  uint64_t empty_lines = 0;
  uint64_t lines = 0;
};

class Reader {
 public:
  // Opens the store in `dir`. kNotFound when there is no store there.
  static Result<std::unique_ptr<Reader>> Open(const std::string& dir);
  virtual ~Reader() = default;

  // Calls `emit` for each matching record in time order (newest first when
  // query.reverse), up to query.limit; stops early when emit returns false.
  virtual Status Search(const Query& query, const std::function<bool(const Record&)>& emit) = 0;
  // Number of matching records, at most query.limit. Blocks that the query
  // covers whole (time, service, level, kind only) are counted from their
  // summaries without being read.
  virtual Result<uint64_t> Count(const Query& query) = 0;

  // Records in blocks written after sequence `after_seq`, matching `query`,
  // in block order; returns the last sequence seen (for `tail -f`).
  virtual Result<uint64_t> SearchNewBlocks(const Query& query, uint64_t after_seq,
                                           const std::function<bool(const Record&)>& emit) = 0;
  // Highest block sequence number in the store (0 when empty).
  virtual Result<uint64_t> LastBlockSeq() = 0;

  // Dead letters in arrival order, optionally of one reason.
  virtual Status ListDeadLetters(std::optional<RejectReason> reason, size_t limit,
                                 const std::function<bool(const DeadLetter&)>& emit) = 0;

  // Everything stored, counted: reads every block summary and walks the
  // store directory for its size. For the event-time span alone, TimeRange.
  virtual Result<StoreStats> Stats() = 0;

  // The earliest and latest event time of the stored records, kept as block
  // summaries load: cheap enough for every scan. `records` false when empty.
  struct EventTimeRange {
    bool records = false;
    int64_t min_ts_ns = 0, max_ts_ns = 0;
  };
  virtual Result<EventTimeRange> TimeRange() = 0;

  // Every stored template, in id order.
  virtual Result<std::vector<StoredTemplate>> Templates() = 0;

  // The rollups of buckets starting in [since_ns, until_ns), in bucket then
  // service order; only `services` when not empty. Calls `emit` per bucket;
  // it returns false to stop.
  virtual Status ReadSeries(int64_t since_ns, int64_t until_ns,
                            const std::vector<std::string>& services,
                            const std::function<bool(ServiceBucket&&)>& emit) = 0;

  // Records matching `query` per template id, in `buckets` equal time
  // buckets over [query.since_ns, query.until_ns) (which must be finite).
  // Records without a template are not counted.
  virtual Result<std::map<uint64_t, std::vector<uint64_t>>> TemplateHistogram(
      const Query& query, size_t buckets) = 0;

  // Sees what the writer has written since the last call (or open).
  virtual Status CatchUp() = 0;

  // Stored incidents (Store::PutIncident) with ids in [from_id, to_id)
  // (empty: unbounded), in id order (= onset order), or newest first with
  // `reverse`; `emit` returns false to stop.
  virtual Status Incidents(const std::string& from_id, const std::string& to_id, bool reverse,
                           const std::function<bool(const std::string& id,
                                                    const std::string& body)>& emit) = 0;
  // One stored incident's body; kNotFound when there is none.
  virtual Result<std::string> Incident(const std::string& id) = 0;
};

}  // namespace faultline::storage
