#include "storage/store.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <unordered_map>

#include <rocksdb/write_batch.h>

#include "storage/internal/block_codec.h"
#include "storage/internal/format.h"
#include "storage/internal/rocks.h"

namespace faultline::storage {

namespace {

using internal::Cf;

// Dead letters beyond this many stored bytes are counted as dropped: a flood
// of bad input must not fill the disk with copies of itself.
constexpr uint64_t kDeadLetterBudgetBytes = uint64_t{1} << 30;

class RocksStore final : public Store {
 public:
  explicit RocksStore(StoreOptions options) : options_(std::move(options)) {}

  Status Open(const std::string& dir) {
    FL_RETURN_IF_ERROR(rocks_.OpenPrimary(dir, options_));
    FL_RETURN_IF_ERROR(rocks_.CheckSchema(/*write_if_missing=*/true));
    std::string value;
    rocksdb::DB* db = rocks_.db();
    rocksdb::Status status = db->Get(rocksdb::ReadOptions(), rocks_.cf(Cf::kMeta),
                                     std::string(internal::kCountersKey), &value);
    if (status.ok()) {
      if (!internal::DecodeCounters(value, &counters_)) {
        return Status::Corruption("store " + dir + ": meta/counters is malformed");
      }
    } else if (!status.IsNotFound()) {
      return internal::FromRocks(status, "reading counters of " + dir);
    }
    status = db->Get(rocksdb::ReadOptions(), rocks_.cf(Cf::kMeta),
                     std::string(internal::kNextBlockSeqKey), &value);
    if (status.ok()) {
      if (!internal::DecodeU64(value, &next_block_seq_)) {
        return Status::Corruption("store " + dir + ": meta/next_block_seq is malformed");
      }
    } else if (!status.IsNotFound()) {
      return internal::FromRocks(status, "reading next block seq of " + dir);
    }
    // The next template-counters record goes after the last one.
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), rocks_.cf(Cf::kMeta)));
    it->SeekForPrev(internal::TemplateCountsKey(UINT64_MAX));
    if (it->Valid() && it->key().starts_with(internal::kTemplateCountsPrefix)) {
      const rocksdb::Slice key = it->key();
      if (key.size() != internal::kTemplateCountsPrefix.size() + 8) {
        return Status::Corruption("store " + dir + ": malformed template counters key");
      }
      next_counts_seq_ =
          internal::DecodeFixed64BE(key.data() + internal::kTemplateCountsPrefix.size()) + 1;
    }
    return internal::FromRocks(it->status(), "reading template counters of " + dir);
  }

  Status Write(EncodedBatch batch, const std::vector<SourcePosition>& positions) override {
    // Work on copies; they become the writer's state only once RocksDB has
    // accepted the batch, so a failed write changes nothing.
    internal::StoreCounters counters = counters_;
    uint64_t next_seq = next_block_seq_;
    // Sized up front: growing the batch's buffer a block at a time copied
    // everything already in it again and again.
    size_t reserve_bytes = 4096;
    for (const EncodedBlock& block : batch.blocks) {
      reserve_bytes += block.payload.size() + block.trace_bloom.size() +
                       block.token_bloom.size() + block.service.size() + 256;
    }
    rocksdb::WriteBatch write(reserve_bytes);
    rocksdb::ColumnFamilyHandle* blocks = rocks_.cf(Cf::kBlocks);
    rocksdb::ColumnFamilyHandle* index = rocks_.cf(Cf::kBlockIndex);
    rocksdb::ColumnFamilyHandle* meta = rocks_.cf(Cf::kMeta);
    rocksdb::ColumnFamilyHandle* dead = rocks_.cf(Cf::kDeadLetter);
    for (const EncodedBlock& block : batch.blocks) {
      const uint64_t seq = next_seq++;
      internal::BlockSummary summary;
      summary.service = block.service;
      summary.block_key = internal::BlockKey(
          block.service, internal::SliceStart(block.min_ts_ns, options_.block.max_span_ns), seq);
      summary.min_ts_ns = block.min_ts_ns;
      summary.max_ts_ns = block.max_ts_ns;
      summary.record_count = block.record_count;
      summary.level_counts = block.level_counts;
      summary.kind_counts = block.kind_counts;
      summary.raw_bytes = block.raw_bytes;
      summary.stored_bytes = block.payload.size();
      FL_RETURN_IF_ERROR(Check(write.Put(blocks, summary.block_key, block.payload)));
      FL_RETURN_IF_ERROR(Check(write.Put(index, internal::IndexKey(internal::kSummaryPrefix, seq),
                                         internal::EncodeSummary(summary))));
      FL_RETURN_IF_ERROR(Check(write.Put(
          index, internal::IndexKey(internal::kTraceBloomPrefix, seq), block.trace_bloom)));
      FL_RETURN_IF_ERROR(Check(write.Put(
          index, internal::IndexKey(internal::kTokenBloomPrefix, seq), block.token_bloom)));
      counters.records += block.record_count;
    }
    for (const DeadLetter& dead_letter : batch.dead_letters) {
      const auto reason = static_cast<size_t>(dead_letter.reason);
      if (reason < kRejectReasonCount) ++counters.dead_letters_by_reason[reason];
      std::string value = internal::EncodeDeadLetter(dead_letter);
      if (counters.dead_letter_bytes + value.size() > kDeadLetterBudgetBytes) {
        ++counters.dead_letters_dropped;
        continue;
      }
      counters.dead_letter_bytes += value.size();
      ++counters.dead_letters;
      FL_RETURN_IF_ERROR(
          Check(write.Put(dead, internal::DeadLetterKey(counters.next_dead_letter_seq++), value)));
    }
    counters.parse.Add(batch.counters);
    const TemplateUpdates& templates = batch.templates;
    for (const StoredTemplate& stored : templates.full) {
      FL_RETURN_IF_ERROR(Check(write.Put(rocks_.cf(Cf::kTemplates), internal::TemplateKey(stored.id),
                                         internal::EncodeTemplate(stored))));
    }
    uint64_t next_counts_seq = next_counts_seq_;
    if (templates.fold && next_counts_seq > 0) {
      FL_RETURN_IF_ERROR(Check(write.DeleteRange(meta, internal::TemplateCountsKey(0),
                                                 internal::TemplateCountsKey(next_counts_seq))));
    }
    if (!templates.counts.empty()) {
      FL_RETURN_IF_ERROR(Check(write.Put(meta, internal::TemplateCountsKey(next_counts_seq++),
                                         internal::EncodeTemplateCounts(templates.counts))));
    }
    for (const ServiceBucket& bucket : batch.series) {
      FL_RETURN_IF_ERROR(Check(write.Merge(rocks_.cf(Cf::kSeries),
                                           SeriesKey(bucket.start_ns, bucket.service),
                                           EncodeSeriesValue(bucket))));
    }
    for (const SourcePosition& position : positions) {
      FL_RETURN_IF_ERROR(Check(write.Put(meta, internal::PositionKey(position.key),
                                         internal::EncodePosition(position))));
    }
    FL_RETURN_IF_ERROR(Check(write.Put(meta, std::string(internal::kCountersKey),
                                       internal::EncodeCounters(counters))));
    FL_RETURN_IF_ERROR(Check(write.Put(meta, std::string(internal::kNextBlockSeqKey),
                                       internal::EncodeU64(next_seq))));
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync_writes;
    FL_RETURN_IF_ERROR(internal::FromRocks(rocks_.db()->Write(write_options, &write),
                                           "writing a batch to " + rocks_.dir()));
    counters_ = counters;
    next_block_seq_ = next_seq;
    next_counts_seq_ = next_counts_seq;
    return Status::Ok();
  }

  Result<std::vector<StoredTemplate>> LoadTemplates() override {
    return internal::ReadTemplates(rocks_);
  }

  Result<std::optional<SourcePosition>> GetPosition(const std::string& key) override {
    std::string value;
    rocksdb::Status status = rocks_.db()->Get(rocksdb::ReadOptions(), rocks_.cf(Cf::kMeta),
                                              internal::PositionKey(key), &value);
    if (status.IsNotFound()) return std::optional<SourcePosition>();
    FL_RETURN_IF_ERROR(internal::FromRocks(status, "reading position " + key));
    SourcePosition position;
    if (!internal::DecodePosition(key, value, &position)) {
      return Status::Corruption("store " + rocks_.dir() + ": position " + key + " is malformed");
    }
    return std::optional<SourcePosition>(std::move(position));
  }

  Status PutIncident(const std::string& id, const std::string& body) override {
    if (id.empty()) return Status::InvalidArgument("an incident needs an id");
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync_writes;
    return internal::FromRocks(
        rocks_.db()->Put(write_options, rocks_.cf(Cf::kIncidents), id, body),
        "storing incident " + id + " in " + rocks_.dir());
  }

  Status Flush() override {
    std::vector<rocksdb::ColumnFamilyHandle*> all;
    for (size_t i = 0; i < internal::kCfCount; ++i) all.push_back(rocks_.cf(static_cast<Cf>(i)));
    return internal::FromRocks(rocks_.db()->Flush(rocksdb::FlushOptions(), all),
                               "flushing " + rocks_.dir());
  }

  const StoreOptions& options() const override { return options_; }

 private:
  Status Check(const rocksdb::Status& status) {
    return internal::FromRocks(status, "building a write batch");
  }

  StoreOptions options_;
  internal::RocksDb rocks_;
  internal::StoreCounters counters_;
  uint64_t next_block_seq_ = 1;  // 0 means "none" to SearchNewBlocks callers
  uint64_t next_counts_seq_ = 0;  // key of the next template-counters record
};

}  // namespace

Status BlockOptions::Validate() const {
  if (max_records == 0 || max_records > (1u << 20)) {
    return Status::InvalidArgument("block.max_records must be in [1, 1048576]");
  }
  if (max_span_ns <= 0) return Status::InvalidArgument("block.max_span_ns must be positive");
  if (compression_level < -7 || compression_level > 19) {
    return Status::InvalidArgument("block.compression_level must be in [-7, 19]");
  }
  if (bloom_bits_per_key < 1 || bloom_bits_per_key > 64) {
    return Status::InvalidArgument("block.bloom_bits_per_key must be in [1, 64]");
  }
  return Status::Ok();
}

Status StoreOptions::Validate() const {
  if (write_buffer_bytes < (1 << 20)) {
    return Status::InvalidArgument("write_buffer_bytes must be at least 1 MiB");
  }
  return block.Validate();
}

EncodedBatch EncodeBatch(const RecordBatch& batch, const BlockOptions& options) {
  EncodedBatch out;
  out.dead_letters = batch.dead_letters();
  out.counters = batch.counters();
  const std::vector<RecordRow>& rows = batch.rows();
  if (rows.empty()) return out;

  // Group row indices by service, in first-seen order so output is
  // deterministic.
  std::vector<std::vector<uint32_t>> groups;
  std::unordered_map<std::string_view, size_t> group_of;
  // The parser stores each service name once per batch, so rows of a
  // service mostly share one arena ref: a small cache from ref to group
  // spares hashing the name for every row.
  struct CachedGroup {
    StrRef ref;
    size_t group = SIZE_MAX;
  };
  std::array<CachedGroup, 256> cache{};
  for (size_t i = 0; i < rows.size(); ++i) {
    const StrRef ref = rows[i].service;
    CachedGroup& cached = cache[((ref.offset + ref.size) * 0x9E3779B1u) >> 24];
    if (cached.group == SIZE_MAX || cached.ref.offset != ref.offset ||
        cached.ref.size != ref.size) {
      auto [it, inserted] = group_of.try_emplace(batch.Get(ref), groups.size());
      if (inserted) {
        groups.emplace_back().reserve(rows.size() / 16);
      }
      cached = CachedGroup{ref, it->second};
    }
    groups[cached.group].push_back(static_cast<uint32_t>(i));
  }

  for (std::vector<uint32_t>& group : groups) {
    auto by_ts = [&rows](uint32_t a, uint32_t b) { return rows[a].ts_ns < rows[b].ts_ns; };
    if (!std::is_sorted(group.begin(), group.end(), by_ts)) {
      std::stable_sort(group.begin(), group.end(), by_ts);
    }
    // Cut at max_records and at slice boundaries, so a block never crosses
    // a slice and time-range queries skip precisely.
    size_t begin = 0;
    while (begin < group.size()) {
      const int64_t slice = internal::SliceStart(rows[group[begin]].ts_ns, options.max_span_ns);
      size_t end = begin + 1;
      while (end < group.size() && end - begin < options.max_records &&
             internal::SliceStart(rows[group[end]].ts_ns, options.max_span_ns) == slice) {
        ++end;
      }
      EncodedBlock& block = out.blocks.emplace_back();
      internal::EncodeBlock(batch, group.data() + begin, end - begin, options, &block);
      begin = end;
    }
  }
  return out;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, const StoreOptions& options) {
  FL_RETURN_IF_ERROR(options.Validate());
  auto store = std::make_unique<RocksStore>(options);
  FL_RETURN_IF_ERROR(store->Open(dir));
  return std::unique_ptr<Store>(std::move(store));
}

uint64_t DiskBytes(const std::string& dir) {
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const uintmax_t size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

}  // namespace faultline::storage
