#include "storage/reader.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <queue>
#include <thread>
#include <unordered_set>

#include <rocksdb/db.h>

#include "storage/internal/block_codec.h"
#include "storage/internal/bloom.h"
#include "storage/internal/format.h"
#include "storage/internal/rocks.h"
#include "storage/internal/tokens.h"

namespace faultline::storage {

namespace {

using internal::BlockColumn;
using internal::BlockDecoder;
using internal::BlockSummary;
using internal::Cf;
using internal::ColumnBit;

constexpr uint32_t kAllLevels = (1u << kLevelCount) - 1;

// The per-query state shared by planning and row filtering.
class QueryFilter {
 public:
  explicit QueryFilter(const Query& query)
      : query_(query), services_(query.services.begin(), query.services.end()) {
    if (!query.grep.empty()) grep_.emplace(query.grep);
    filter_columns_ = ColumnBit(BlockColumn::kTs) | ColumnBit(BlockColumn::kKind) |
                      ColumnBit(BlockColumn::kLevel);
    if (!query.trace_id.empty()) filter_columns_ |= ColumnBit(BlockColumn::kTraceId);
    if (grep_ || !query.contains.empty()) filter_columns_ |= ColumnBit(BlockColumn::kMessage);
  }

  const Query& query() const { return query_; }
  uint32_t filter_columns() const { return filter_columns_; }
  const std::optional<internal::GrepMatcher>& grep() const { return grep_; }

  // What the summary alone can rule out.
  bool SummaryMayMatch(const BlockSummary& summary) const {
    if (summary.max_ts_ns < query_.since_ns || summary.min_ts_ns >= query_.until_ns) return false;
    if (!services_.empty() && services_.count(summary.service) == 0) return false;
    if (LevelMatches(summary) == 0) return false;
    if (query_.kind && summary.kind_counts[static_cast<size_t>(*query_.kind)] == 0) return false;
    return true;
  }

  uint64_t LevelMatches(const BlockSummary& summary) const {
    uint64_t total = 0;
    for (size_t level = 0; level < kLevelCount; ++level) {
      if ((query_.level_mask >> level) & 1u) total += summary.level_counts[level];
    }
    return total;
  }

  // The number of matching rows when the summary alone decides it, else
  // nullopt (the block must be decoded).
  std::optional<uint64_t> CountFromSummary(const BlockSummary& summary) const {
    if (!query_.trace_id.empty() || grep_ || !query_.contains.empty()) return std::nullopt;
    if (summary.min_ts_ns < query_.since_ns || summary.max_ts_ns >= query_.until_ns) {
      return std::nullopt;
    }
    const uint64_t by_level = LevelMatches(summary);
    if (!query_.kind) return by_level;
    const uint64_t by_kind = summary.kind_counts[static_cast<size_t>(*query_.kind)];
    if ((query_.level_mask & kAllLevels) == kAllLevels || by_level == summary.record_count) {
      return by_kind;
    }
    if (by_kind == summary.record_count) return by_level;
    return std::nullopt;
  }

  bool RowMatches(const BlockDecoder& block, uint32_t row) const {
    const int64_t ts = block.ts(row);
    if (ts < query_.since_ns || ts >= query_.until_ns) return false;
    if (((query_.level_mask >> static_cast<unsigned>(block.level(row))) & 1u) == 0) return false;
    if (query_.kind && block.kind(row) != *query_.kind) return false;
    if (!query_.trace_id.empty() && block.trace_id(row) != query_.trace_id) return false;
    if (!query_.contains.empty() &&
        block.message(row).find(query_.contains) == std::string_view::npos) {
      return false;
    }
    if (grep_ && !grep_->Matches(block.message(row))) return false;
    return true;
  }

 private:
  const Query& query_;
  std::unordered_set<std::string> services_;
  std::optional<internal::GrepMatcher> grep_;
  uint32_t filter_columns_ = 0;
};

// A match waiting in the merge: ordered by (ts, block seq, row).
struct Pending {
  int64_t ts;
  uint64_t seq;
  uint32_t row;
  Record record;
};

class RocksReader final : public Reader {
 public:
  ~RocksReader() override {
    // The DB must close before its secondary directory goes away.
    rocks_.reset();
    if (!secondary_dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(secondary_dir_, ec);
    }
  }

  Status Open(const std::string& dir) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
      return Status::NotFound("no faultline store at " + dir + " (run `faultline ingest --db " +
                              dir + " FILE` first)");
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "faultline-reader-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      return Status::IOError("cannot create a temporary directory for the reader");
    }
    secondary_dir_ = pattern;
    rocks_ = std::make_unique<internal::RocksDb>();
    FL_RETURN_IF_ERROR(rocks_->OpenSecondary(dir, secondary_dir_));
    FL_RETURN_IF_ERROR(rocks_->CheckSchema(/*write_if_missing=*/false));
    return LoadNewSummaries();
  }

  Status Search(const Query& query, const std::function<bool(const Record&)>& emit) override {
    QueryFilter filter(query);
    std::vector<const BlockSummary*> candidates;
    FL_RETURN_IF_ERROR(Plan(filter, 0, &candidates));
    const bool reverse = query.reverse;
    std::sort(candidates.begin(), candidates.end(),
              [reverse](const BlockSummary* a, const BlockSummary* b) {
                if (reverse) {
                  return a->max_ts_ns != b->max_ts_ns ? a->max_ts_ns > b->max_ts_ns
                                                      : a->seq > b->seq;
                }
                return a->min_ts_ns != b->min_ts_ns ? a->min_ts_ns < b->min_ts_ns
                                                    : a->seq < b->seq;
              });
    // `comes_after(a, b)`: a is emitted after b; makes the heap's top the
    // next record to emit.
    auto comes_after = [reverse](const Pending& a, const Pending& b) {
      auto key_a = std::tie(a.ts, a.seq, a.row);
      auto key_b = std::tie(b.ts, b.seq, b.row);
      return reverse ? key_a < key_b : key_a > key_b;
    };
    std::priority_queue<Pending, std::vector<Pending>, decltype(comes_after)> pending(comes_after);
    // A pending match can be emitted once no unopened candidate can hold a
    // record that sorts before it. Candidates are ordered by their first
    // possible record, so looking at the next one is enough.
    auto precedes_block = [reverse](const Pending& match, const BlockSummary& block) {
      if (reverse) {
        return match.ts > block.max_ts_ns || (match.ts == block.max_ts_ns && match.seq > block.seq);
      }
      return match.ts < block.min_ts_ns || (match.ts == block.min_ts_ns && match.seq < block.seq);
    };
    size_t emitted = 0;
    BlockDecoder decoder;
    for (size_t next = 0; emitted < query.limit; ++next) {
      const bool more = next < candidates.size();
      while (!pending.empty() && emitted < query.limit &&
             (!more || precedes_block(pending.top(), *candidates[next]))) {
        ++emitted;
        if (!emit(pending.top().record)) return Status::Ok();
        pending.pop();
      }
      if (!more || emitted >= query.limit) break;
      // Rows in a block are in time order, so only its first `wanted`
      // matches (in scan direction) can be among the results.
      const size_t wanted = query.limit - emitted;
      const BlockSummary& block = *candidates[next];
      size_t found = 0;
      FL_RETURN_IF_ERROR(ScanBlock(block, filter, reverse, &decoder, [&](uint32_t row) {
        Pending match{decoder.ts(row), block.seq, row, Record()};
        decoder.Materialize(row, block.service, &match.record);
        pending.push(std::move(match));
        return ++found < wanted;
      }));
    }
    return Status::Ok();
  }

  Result<uint64_t> Count(const Query& query) override {
    QueryFilter filter(query);
    std::vector<const BlockSummary*> candidates;
    FL_RETURN_IF_ERROR(Plan(filter, 0, &candidates));
    uint64_t total = 0;
    std::vector<const BlockSummary*> to_scan;
    for (const BlockSummary* block : candidates) {
      if (std::optional<uint64_t> known = filter.CountFromSummary(*block)) {
        total += *known;
      } else {
        to_scan.push_back(block);
      }
    }
    if (total >= query.limit) return query.limit;
    // Counting needs no order, so the blocks that must be opened are split
    // over the cores: a grep over a large store is bound by decompressing
    // their message columns. With a limit, stop early instead.
    const size_t threads =
        query.limit == SIZE_MAX && to_scan.size() >= 8
            ? std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8)
            : 1;
    std::vector<uint64_t> counts(threads, 0);
    std::vector<Status> statuses(threads);
    auto work = [&](size_t worker) {
      BlockDecoder decoder;
      for (size_t i = worker; i < to_scan.size(); i += threads) {
        if (threads == 1 && total + counts[0] >= query.limit) break;
        statuses[worker] = ScanBlock(*to_scan[i], filter, false, &decoder, [&](uint32_t) {
          ++counts[worker];
          return true;
        }, /*materialize=*/false);
        if (!statuses[worker].ok()) return;
      }
    };
    std::vector<std::thread> pool;
    for (size_t worker = 1; worker < threads; ++worker) pool.emplace_back(work, worker);
    work(0);
    for (std::thread& thread : pool) thread.join();
    for (size_t worker = 0; worker < threads; ++worker) {
      FL_RETURN_IF_ERROR(statuses[worker]);
      total += counts[worker];
    }
    return std::min<uint64_t>(total, query.limit);
  }

  Result<uint64_t> SearchNewBlocks(const Query& query, uint64_t after_seq,
                                   const std::function<bool(const Record&)>& emit) override {
    FL_RETURN_IF_ERROR(LoadNewSummaries());
    QueryFilter filter(query);
    std::vector<const BlockSummary*> candidates;
    FL_RETURN_IF_ERROR(Plan(filter, after_seq, &candidates));
    uint64_t last_seq = std::max(after_seq, summaries_.empty() ? 0 : summaries_.back().seq);
    size_t emitted = 0;
    BlockDecoder decoder;
    for (const BlockSummary* block : candidates) {
      bool stopped = false;
      FL_RETURN_IF_ERROR(ScanBlock(*block, filter, false, &decoder, [&](uint32_t row) {
        Record record;
        decoder.Materialize(row, block->service, &record);
        if (emitted >= query.limit || !emit(record)) {
          stopped = true;
          return false;
        }
        ++emitted;
        return true;
      }));
      // Stopped inside a block: report the block before it as done, so a
      // resumed tail starts with this block again.
      if (stopped) return block->seq - 1;
    }
    return last_seq;
  }

  Result<std::vector<StoredTemplate>> Templates() override {
    return internal::ReadTemplates(*rocks_);
  }

  Status ReadSeries(int64_t since_ns, int64_t until_ns, const std::vector<std::string>& services,
                    const std::function<bool(ServiceBucket&&)>& emit) override {
    if (since_ns >= until_ns) return Status::Ok();
    const std::string end = SeriesKey(until_ns, "");
    rocksdb::ReadOptions read_options;
    const rocksdb::Slice upper(end);
    read_options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(
        rocks_->db()->NewIterator(read_options, rocks_->cf(Cf::kSeries)));
    for (it->Seek(SeriesKey(since_ns, "")); it->Valid(); it->Next()) {
      ServiceBucket bucket;
      const rocksdb::Slice key = it->key();
      if (!ParseSeriesKey(std::string_view(key.data(), key.size()), &bucket.start_ns,
                          &bucket.service)) {
        return Status::Corruption("store " + rocks_->dir() + ": malformed series key");
      }
      if (!services.empty() &&
          std::find(services.begin(), services.end(), bucket.service) == services.end()) {
        continue;
      }
      if (!DecodeSeriesValue(std::string_view(it->value().data(), it->value().size()), &bucket)) {
        return Status::Corruption("store " + rocks_->dir() + ": series of " + bucket.service +
                                  " at " + std::to_string(bucket.start_ns) + " is malformed");
      }
      if (!emit(std::move(bucket))) break;
    }
    return internal::FromRocks(it->status(), "reading series of " + rocks_->dir());
  }

  Result<std::map<uint64_t, std::vector<uint64_t>>> TemplateHistogram(const Query& query,
                                                                       size_t buckets) override {
    if (buckets == 0 || query.since_ns == INT64_MIN || query.until_ns == INT64_MAX ||
        query.until_ns <= query.since_ns) {
      return Status::InvalidArgument("a template histogram needs a finite time range");
    }
    QueryFilter filter(query);
    std::vector<const BlockSummary*> candidates;
    FL_RETURN_IF_ERROR(Plan(filter, 0, &candidates));
    std::map<uint64_t, std::vector<uint64_t>> histogram;
    // Unsigned differences: the range may span most of int64.
    const auto span = static_cast<unsigned __int128>(static_cast<uint64_t>(query.until_ns) -
                                                     static_cast<uint64_t>(query.since_ns));
    BlockDecoder decoder;
    for (const BlockSummary* block : candidates) {
      FL_RETURN_IF_ERROR(ScanBlock(
          *block, filter, false, &decoder,
          [&](uint32_t row) {
            const uint64_t id = decoder.template_id(row);
            const int64_t ts = decoder.ts(row);
            if (id == 0 || ts < query.since_ns || ts >= query.until_ns) return true;
            std::vector<uint64_t>& counts = histogram[id];
            if (counts.empty()) counts.assign(buckets, 0);
            const auto offset = static_cast<unsigned __int128>(static_cast<uint64_t>(ts) -
                                                               static_cast<uint64_t>(query.since_ns));
            ++counts[static_cast<size_t>(offset * buckets / span)];
            return true;
          },
          /*materialize=*/false,
          ColumnBit(BlockColumn::kTs) | ColumnBit(BlockColumn::kTemplates)));
    }
    return histogram;
  }

  Result<EventTimeRange> TimeRange() override {
    FL_RETURN_IF_ERROR(LoadNewSummaries());
    return range_;
  }

  Result<uint64_t> LastBlockSeq() override {
    FL_RETURN_IF_ERROR(LoadNewSummaries());
    return summaries_.empty() ? uint64_t{0} : summaries_.back().seq;
  }

  Status ListDeadLetters(std::optional<RejectReason> reason, size_t limit,
                         const std::function<bool(const DeadLetter&)>& emit) override {
    std::unique_ptr<rocksdb::Iterator> it(
        rocks_->db()->NewIterator(rocksdb::ReadOptions(), rocks_->cf(Cf::kDeadLetter)));
    size_t emitted = 0;
    for (it->SeekToFirst(); it->Valid() && emitted < limit; it->Next()) {
      DeadLetter dead_letter;
      if (!internal::DecodeDeadLetter(ToView(it->value()), &dead_letter)) {
        return Status::Corruption("store " + rocks_->dir() + ": dead letter entry is malformed");
      }
      if (reason && dead_letter.reason != *reason) continue;
      ++emitted;
      if (!emit(dead_letter)) break;
    }
    return internal::FromRocks(it->status(), "listing dead letters of " + rocks_->dir());
  }

  Result<StoreStats> Stats() override {
    FL_RETURN_IF_ERROR(LoadNewSummaries());
    StoreStats stats;
    for (const BlockSummary& block : summaries_) {
      stats.records += block.record_count;
      for (size_t k = 0; k < kRecordKindCount; ++k) stats.by_kind[k] += block.kind_counts[k];
      for (size_t l = 0; l < kLevelCount; ++l) stats.by_level[l] += block.level_counts[l];
      stats.by_service[block.service] += block.record_count;
      if (stats.blocks == 0 || block.min_ts_ns < stats.min_ts_ns) stats.min_ts_ns = block.min_ts_ns;
      if (stats.blocks == 0 || block.max_ts_ns > stats.max_ts_ns) stats.max_ts_ns = block.max_ts_ns;
      ++stats.blocks;
      stats.raw_bytes += block.raw_bytes;
      stats.stored_bytes += block.stored_bytes;
    }
    std::string value;
    rocksdb::Status status = rocks_->db()->Get(rocksdb::ReadOptions(), rocks_->cf(Cf::kMeta),
                                               std::string(internal::kCountersKey), &value);
    internal::StoreCounters counters;
    if (status.ok()) {
      if (!internal::DecodeCounters(value, &counters)) {
        return Status::Corruption("store " + rocks_->dir() + ": meta/counters is malformed");
      }
    } else if (!status.IsNotFound()) {
      return internal::FromRocks(status, "reading counters of " + rocks_->dir());
    }
    stats.dead_letters = counters.dead_letters;
    stats.dead_letters_by_reason = counters.dead_letters_by_reason;
    stats.dead_letters_dropped = counters.dead_letters_dropped;
    stats.empty_lines = counters.parse.empty_lines;
    stats.lines = counters.parse.lines;
    stats.disk_bytes = DiskBytes(rocks_->dir());
    return stats;
  }

  Status CatchUp() override {
    FL_RETURN_IF_ERROR(internal::FromRocks(rocks_->db()->TryCatchUpWithPrimary(),
                                           "catching up with the writer of " + rocks_->dir()));
    return LoadNewSummaries();
  }

  Status Incidents(const std::string& from_id, const std::string& to_id, bool reverse,
                   const std::function<bool(const std::string&, const std::string&)>& emit)
      override {
    rocksdb::ReadOptions read_options;
    const rocksdb::Slice lower(from_id), upper(to_id);
    if (!from_id.empty()) read_options.iterate_lower_bound = &lower;
    if (!to_id.empty()) read_options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(
        rocks_->db()->NewIterator(read_options, rocks_->cf(Cf::kIncidents)));
    if (reverse) {
      it->SeekToLast();
    } else {
      it->SeekToFirst();
    }
    for (; it->Valid(); reverse ? it->Prev() : it->Next()) {
      if (!emit(it->key().ToString(), it->value().ToString())) break;
    }
    return internal::FromRocks(it->status(), "reading incidents of " + rocks_->dir());
  }

  Result<std::string> Incident(const std::string& id) override {
    std::string body;
    rocksdb::Status got =
        rocks_->db()->Get(rocksdb::ReadOptions(), rocks_->cf(Cf::kIncidents), id, &body);
    if (got.IsNotFound()) return Status::NotFound("no incident " + id + " in " + rocks_->dir());
    FL_RETURN_IF_ERROR(internal::FromRocks(got, "reading incident " + id));
    return body;
  }

 private:
  static std::string_view ToView(const rocksdb::Slice& slice) {
    return std::string_view(slice.data(), slice.size());
  }

  // Appends the summaries of blocks newer than the last one cached. Blocks
  // are immutable and sequence numbers only grow, so the cache never needs
  // invalidating (until retention deletes blocks; see docs/storage.md).
  Status LoadNewSummaries() {
    const uint64_t from = summaries_.empty() ? 0 : summaries_.back().seq + 1;
    std::unique_ptr<rocksdb::Iterator> it(
        rocks_->db()->NewIterator(rocksdb::ReadOptions(), rocks_->cf(Cf::kBlockIndex)));
    for (it->Seek(internal::IndexKey(internal::kSummaryPrefix, from)); it->Valid(); it->Next()) {
      char prefix = 0;
      uint64_t seq = 0;
      if (!internal::ParseIndexKey(ToView(it->key()), &prefix, &seq) ||
          prefix != internal::kSummaryPrefix) {
        break;
      }
      BlockSummary summary;
      if (!internal::DecodeSummary(ToView(it->value()), &summary)) {
        return Status::Corruption("store " + rocks_->dir() + ": summary of block " +
                                  std::to_string(seq) + " is malformed");
      }
      summary.seq = seq;
      if (summary.record_count > 0) {
        range_.min_ts_ns = range_.records ? std::min(range_.min_ts_ns, summary.min_ts_ns)
                                          : summary.min_ts_ns;
        range_.max_ts_ns = range_.records ? std::max(range_.max_ts_ns, summary.max_ts_ns)
                                          : summary.max_ts_ns;
        range_.records = true;
      }
      summaries_.push_back(std::move(summary));
    }
    return internal::FromRocks(it->status(), "reading block summaries of " + rocks_->dir());
  }

  // Candidate blocks after `after_seq`, in seq order: summaries first, then
  // the trace and token blooms for what is left.
  Status Plan(const QueryFilter& filter, uint64_t after_seq,
              std::vector<const BlockSummary*>* candidates) {
    const Query& query = filter.query();
    auto first = std::upper_bound(
        summaries_.begin(), summaries_.end(), after_seq,
        [](uint64_t seq, const BlockSummary& summary) { return seq < summary.seq; });
    for (auto it = first; it != summaries_.end(); ++it) {
      if (filter.SummaryMayMatch(*it)) candidates->push_back(&*it);
    }
    if (!query.trace_id.empty()) {
      const uint64_t hash = internal::HashTraceId(query.trace_id);
      FL_RETURN_IF_ERROR(FilterByBloom(internal::kTraceBloomPrefix, {hash}, candidates));
    }
    if (filter.grep() && !filter.grep()->token_hashes().empty()) {
      FL_RETURN_IF_ERROR(
          FilterByBloom(internal::kTokenBloomPrefix, filter.grep()->token_hashes(), candidates));
    }
    return Status::Ok();
  }

  Status FilterByBloom(char prefix, const std::vector<uint64_t>& hashes,
                       std::vector<const BlockSummary*>* candidates) {
    if (candidates->empty()) return Status::Ok();
    // Candidates are in seq order, and so are the bloom keys: one iterator
    // moving forward reads them with mostly sequential I/O.
    std::unique_ptr<rocksdb::Iterator> it(
        rocks_->db()->NewIterator(rocksdb::ReadOptions(), rocks_->cf(Cf::kBlockIndex)));
    size_t kept = 0;
    for (const BlockSummary* block : *candidates) {
      const std::string key = internal::IndexKey(prefix, block->seq);
      if (!it->Valid() || it->key().compare(key) > 0) {
        it->Seek(key);
      } else {
        while (it->Valid() && it->key().compare(key) < 0) it->Next();
      }
      bool may_match = true;
      // A missing bloom cannot rule anything out.
      if (it->Valid() && it->key() == key) {
        internal::BloomView bloom(ToView(it->value()));
        for (uint64_t hash : hashes) may_match = may_match && bloom.MayContain(hash);
      }
      if (may_match) (*candidates)[kept++] = block;
    }
    candidates->resize(kept);
    return internal::FromRocks(it->status(), "reading bloom filters of " + rocks_->dir());
  }

  // Calls on_match(row) for the block's matching rows, in time order (reverse
  // order when `reverse`), until it returns false. Materializing needs every
  // column; they are loaded at the first match only.
  template <typename OnMatch>
  Status ScanBlock(const BlockSummary& block, const QueryFilter& filter, bool reverse,
                   BlockDecoder* decoder, OnMatch&& on_match, bool materialize = true,
                   uint32_t extra_columns = 0) {
    std::string payload;
    rocksdb::Status status = rocks_->db()->Get(rocksdb::ReadOptions(), rocks_->cf(Cf::kBlocks),
                                               block.block_key, &payload);
    const std::string name = std::to_string(block.seq) + " (" + block.service + ")";
    if (status.IsNotFound()) {
      return Status::Corruption("store " + rocks_->dir() + ": block " + name +
                                " has a summary but no payload");
    }
    FL_RETURN_IF_ERROR(internal::FromRocks(status, "reading block " + name));
    FL_RETURN_IF_ERROR(decoder->Open(std::move(payload), name));
    if (decoder->rows() != block.record_count) {
      return Status::Corruption("block " + name + ": row count disagrees with its summary");
    }
    FL_RETURN_IF_ERROR(decoder->Load(filter.filter_columns() | extra_columns));
    bool all_loaded = !materialize;
    const uint32_t rows = decoder->rows();
    for (uint32_t i = 0; i < rows; ++i) {
      const uint32_t row = reverse ? rows - 1 - i : i;
      if (!filter.RowMatches(*decoder, row)) continue;
      if (!all_loaded) {
        FL_RETURN_IF_ERROR(decoder->Load(internal::kAllColumns));
        all_loaded = true;
      }
      if (!on_match(row)) break;
    }
    return Status::Ok();
  }

  std::string secondary_dir_;
  std::unique_ptr<internal::RocksDb> rocks_;
  std::vector<BlockSummary> summaries_;  // every block, in seq order
  EventTimeRange range_;                 // over summaries_
};

}  // namespace

Result<std::unique_ptr<Reader>> Reader::Open(const std::string& dir) {
  auto reader = std::make_unique<RocksReader>();
  FL_RETURN_IF_ERROR(reader->Open(dir));
  return std::unique_ptr<Reader>(std::move(reader));
}

}  // namespace faultline::storage
