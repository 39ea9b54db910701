#include "storage/internal/rocks.h"

#include <algorithm>
#include <filesystem>
#include <unordered_map>
#include <vector>

#include <cstdarg>

#include <rocksdb/cache.h>
#include <rocksdb/env.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include "storage/internal/coding.h"
#include "storage/internal/format.h"
#include "storage/series.h"

namespace faultline::storage::internal {

namespace {

constexpr std::array<std::string_view, kCfCount> kCfNames = {
    "default", kBlocksCf, kBlockIndexCf, kDeadLetterCf, kMetaCf, kTemplatesCf, kSeriesCf,
    kIncidentsCf};

// A reader's RocksDB info log would go to its private temp dir, removed on
// close: nobody reads it, yet writing the options dump at every open was
// most of a short query's time (~18 ms on a 10M-record store).
class NullLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

// One block cache for every column family of a process. RocksDB otherwise
// makes a 32 MiB cache per column family, and setting up eight of them is
// most of what opening a store costs a short query.
std::shared_ptr<rocksdb::Cache> SharedBlockCache() {
  static const std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(64 << 20);
  return cache;
}

// Merges rollup operands (storage/series.h): every series of a service and
// bucket, point by point. Associative and commutative, like the rollups.
// A malformed operand fails the merge, which RocksDB reports as corruption
// of the key on read.
class SeriesMergeOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    ServiceBucket merged;
    if (existing_value != nullptr &&
        !DecodeSeriesValue(std::string_view(existing_value->data(), existing_value->size()),
                           &merged)) {
      return false;
    }
    ServiceBucket operand;
    if (!DecodeSeriesValue(std::string_view(value.data(), value.size()), &operand)) return false;
    merged.width_ns = std::max(merged.width_ns, operand.width_ns);
    MergeEntries(&merged.entries, operand.entries);
    *new_value = EncodeSeriesValue(merged);
    return true;
  }
  const char* Name() const override { return "faultline.series.v1"; }
};

rocksdb::ColumnFamilyOptions CfOptions(Cf cf, size_t write_buffer_bytes) {
  rocksdb::ColumnFamilyOptions options;
  options.write_buffer_size = write_buffer_bytes;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = SharedBlockCache();
  if (cf == Cf::kBlocks) {
    // Payloads are zstd-compressed already; compressing again wastes CPU.
    // BlobDB (enable_blob_files) would spare compactions from rewriting the
    // payloads, but RocksDB 7.8.3 crashes reading blobs from a secondary
    // instance (BlobSource::GetBlob -> GetSstInternalUniqueId), which is how
    // every reader opens the store. Blocks are written once and compaction
    // only rewrites them a few times on the way down; see docs/storage.md.
    options.compression = rocksdb::kNoCompression;
    options.target_file_size_base = 256 << 20;  // fewer, larger SSTs of payloads
  }
  if (cf == Cf::kBlockIndex) {
    // Summaries are scanned whole on every Reader open; keep them in few,
    // well-cached SST blocks. Uncompressed: blooms do not compress, and a
    // reader maps the file instead of decompressing a copy of every block
    // (that was 40% of a short query's page faults).
    table.block_size = 32 * 1024;
    options.compression = rocksdb::kNoCompression;
  }
  if (cf == Cf::kSeries) options.merge_operator = std::make_shared<SeriesMergeOperator>();
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Non-block column families are small; the full budget would only delay
  // their flushes.
  if (cf != Cf::kBlocks && cf != Cf::kBlockIndex) {
    options.write_buffer_size = std::min<size_t>(write_buffer_bytes, 16 << 20);
  }
  return options;
}

}  // namespace

std::string_view CfName(Cf cf) { return kCfNames[static_cast<size_t>(cf)]; }

Status FromRocks(const rocksdb::Status& status, std::string_view context) {
  if (status.ok()) return Status::Ok();
  std::string message = std::string(context) + ": " + status.ToString();
  if (status.IsIOError() && (message.find("lock") != std::string::npos ||
                             message.find("LOCK") != std::string::npos)) {
    return Status::Unavailable(message +
                               " (another faultline process has this store open for writing)");
  }
  if (status.IsBusy() || status.IsTryAgain() || status.IsTimedOut()) {
    return Status::Unavailable(message);
  }
  if (status.IsCorruption()) return Status::Corruption(message);
  if (status.IsNotFound()) return Status::NotFound(message);
  if (status.IsInvalidArgument() || status.IsNotSupported()) {
    return Status::InvalidArgument(message);
  }
  if (status.IsIOError()) return Status::IOError(message);
  return Status::Internal(message);
}

RocksDb::~RocksDb() {
  if (db_ == nullptr) return;
  for (rocksdb::ColumnFamilyHandle*& handle : handles_) {
    if (handle != nullptr) db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    handle = nullptr;
  }
  for (rocksdb::ColumnFamilyHandle* handle : extra_handles_) {
    db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  // Close reports background errors; there is no one left to tell.
  db_->Close().PermitUncheckedError();
  db_.reset();
}

Status RocksDb::OpenWith(const std::string& dir, const rocksdb::DBOptions& db_options,
                         const std::string* secondary_dir, size_t write_buffer_bytes) {
  dir_ = dir;
  // Open every column family the store has (a later version may add some),
  // plus ours.
  std::vector<std::string> existing;
  rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(db_options, dir, &existing);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < kCfCount; ++i) {
    descriptors.emplace_back(std::string(kCfNames[i]),
                             CfOptions(static_cast<Cf>(i), write_buffer_bytes));
  }
  if (listed.ok()) {
    for (const std::string& name : existing) {
      bool known = false;
      for (std::string_view ours : kCfNames) known = known || name == ours;
      if (!known) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
  } else if (secondary_dir != nullptr) {
    return FromRocks(listed, "listing column families of " + dir);
  }
  if (secondary_dir != nullptr) {
    // A secondary can only open column families that exist.
    std::vector<rocksdb::ColumnFamilyDescriptor> present;
    for (auto& descriptor : descriptors) {
      for (const std::string& name : existing) {
        if (name == descriptor.name) present.push_back(descriptor);
      }
    }
    descriptors.swap(present);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status =
      secondary_dir == nullptr
          ? rocksdb::DB::Open(db_options, dir, descriptors, &handles, &raw)
          : rocksdb::DB::OpenAsSecondary(db_options, dir, *secondary_dir, descriptors, &handles,
                                         &raw);
  if (!status.ok()) return FromRocks(status, "opening store " + dir);
  db_.reset(raw);
  for (size_t i = 0; i < handles.size(); ++i) {
    bool known = false;
    for (size_t c = 0; c < kCfCount; ++c) {
      if (descriptors[i].name == kCfNames[c]) {
        handles_[c] = handles[i];
        known = true;
      }
    }
    if (!known) extra_handles_.push_back(handles[i]);
  }
  size_t missing = 0;
  std::string first_missing;
  for (size_t c = 0; c < kCfCount; ++c) {
    if (handles_[c] == nullptr) {
      if (missing++ == 0) first_missing = kCfNames[c];
    }
  }
  // A writer creates the store with only "default" and adds the others one
  // by one right after; a reader can open it in between.
  if (secondary_dir != nullptr && missing > 0) {
    return Status::Unavailable("store " + dir + " has no column family " + first_missing +
                               ": it is still being created by its writer (try again in a "
                               "moment), or it is damaged");
  }
  if (missing > 0) {
    return Status::Corruption("store " + dir + " lacks column family " + first_missing);
  }
  return Status::Ok();
}

Status RocksDb::OpenPrimary(const std::string& dir, const StoreOptions& options) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  // Flush all column families together so that a crash never leaves blocks
  // without their summaries or positions without their data, even with the
  // WAL gone after a flush.
  db_options.atomic_flush = true;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  db_options.keep_log_file_num = 5;
  if (!options.create_if_missing) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
      return Status::NotFound("no faultline store at " + dir);
    }
  }
  return OpenWith(dir, db_options, nullptr, options.write_buffer_bytes);
}

Status RocksDb::OpenSecondary(const std::string& dir, const std::string& secondary_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
    return Status::NotFound("no faultline store at " + dir + " (run `faultline ingest --db " +
                            dir + " FILE` first)");
  }
  rocksdb::DBOptions db_options;
  db_options.max_open_files = -1;  // required by secondary instances
  db_options.keep_log_file_num = 2;
  // Queries read a few large block payloads and scan the summaries: mapped
  // files spare a copy from the page cache per read.
  db_options.allow_mmap_reads = true;
  db_options.info_log = std::make_shared<NullLogger>();
  // RocksDB opens table files on up to 16 new threads; for a handful of
  // files that costs more (thread stacks, page faults) than it saves.
  db_options.max_file_opening_threads = 1;
  // No periodic stats dumps or persistence in a short-lived reader.
  db_options.stats_dump_period_sec = 0;
  db_options.stats_persist_period_sec = 0;
  FL_RETURN_IF_ERROR(OpenWith(dir, db_options, &secondary_dir, 4 << 20));
  // If the writer flushed while we opened, we may have read the MANIFEST
  // from before the flush and then found its write-ahead log already gone.
  // The flush's MANIFEST edit is written before that log is deleted, so one
  // catch-up now sees the flushed data.
  return FromRocks(db_->TryCatchUpWithPrimary(), "catching up with the writer of " + dir);
}

Status RocksDb::CheckSchema(bool write_if_missing) {
  std::string value;
  rocksdb::Status status =
      db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), std::string(kSchemaVersionKey), &value);
  if (status.IsNotFound()) {
    if (!write_if_missing) return Status::Ok();  // a writer that has not committed yet
    return FromRocks(db_->Put(rocksdb::WriteOptions(), cf(Cf::kMeta),
                              std::string(kSchemaVersionKey), std::to_string(kSchemaVersion)),
                     "writing schema version to " + dir_);
  }
  FL_RETURN_IF_ERROR(FromRocks(status, "reading schema version of " + dir_));
  if (value != std::to_string(kSchemaVersion)) {
    return Status::InvalidArgument("store " + dir_ + " has schema version " + value +
                                   "; this faultline reads version " +
                                   std::to_string(kSchemaVersion));
  }
  return Status::Ok();
}

Result<std::vector<StoredTemplate>> ReadTemplates(RocksDb& rocks) {
  std::vector<StoredTemplate> templates;
  std::unique_ptr<rocksdb::Iterator> it(
      rocks.db()->NewIterator(rocksdb::ReadOptions(), rocks.cf(Cf::kTemplates)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    if (key.size() != 8) {
      return Status::Corruption("store " + rocks.dir() + ": malformed template key");
    }
    StoredTemplate stored;
    stored.id = DecodeFixed64BE(key.data());
    if (!DecodeTemplate(std::string_view(it->value().data(), it->value().size()), &stored)) {
      return Status::Corruption("store " + rocks.dir() + ": template " + std::to_string(stored.id) +
                                " is malformed");
    }
    templates.push_back(std::move(stored));
  }
  FL_RETURN_IF_ERROR(FromRocks(it->status(), "reading templates of " + rocks.dir()));

  // Bring the counters up to date from the records written since the last
  // fold. Counters only grow (first seen only shrinks): any order merges.
  std::unordered_map<uint64_t, size_t> index_of;
  index_of.reserve(templates.size());
  for (size_t i = 0; i < templates.size(); ++i) index_of.emplace(templates[i].id, i);
  it.reset(rocks.db()->NewIterator(rocksdb::ReadOptions(), rocks.cf(Cf::kMeta)));
  std::vector<TemplateCount> counts;
  for (it->Seek(TemplateCountsKey(0)); it->Valid() && it->key().starts_with(kTemplateCountsPrefix);
       it->Next()) {
    counts.clear();
    const rocksdb::Slice key = it->key();
    const std::string record =
        key.size() == kTemplateCountsPrefix.size() + 8
            ? std::to_string(DecodeFixed64BE(key.data() + kTemplateCountsPrefix.size()))
            : "'" + key.ToString() + "'";
    if (!DecodeTemplateCounts(std::string_view(it->value().data(), it->value().size()), &counts)) {
      return Status::Corruption("store " + rocks.dir() + ": template counters record " +
                                record + " is malformed");
    }
    for (const TemplateCount& c : counts) {
      auto found = index_of.find(c.id);
      if (found == index_of.end()) {
        return Status::Corruption("store " + rocks.dir() + ": template counters record " +
                                  record + " names template " + std::to_string(c.id) +
                                  ", which is not stored");
      }
      StoredTemplate& t = templates[found->second];
      t.count = std::max(t.count, c.count);
      t.first_seen_ns = std::min(t.first_seen_ns, c.first_seen_ns);
      t.last_seen_ns = std::max(t.last_seen_ns, c.last_seen_ns);
    }
  }
  FL_RETURN_IF_ERROR(FromRocks(it->status(), "reading template counters of " + rocks.dir()));
  return templates;
}

}  // namespace faultline::storage::internal
