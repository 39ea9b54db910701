// The RocksDB side of the store: column-family options, opening as the
// writer (primary) or as a reader (secondary), and the one place where a
// rocksdb::Status becomes a faultline::Status.
//
// RocksDb owns the DB and its column-family handles and releases the handles
// before the DB, as RocksDB requires. Not copyable; one thread at a time for
// the writer, one Reader per thread for secondaries.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include <rocksdb/db.h>

#include "core/status.h"
#include "storage/store.h"

namespace faultline::storage::internal {

enum class Cf : uint8_t {
  kDefault = 0,
  kBlocks,
  kBlockIndex,
  kDeadLetter,
  kMeta,
  kTemplates,
  kSeries,
  kIncidents,
};
inline constexpr size_t kCfCount = 8;
std::string_view CfName(Cf cf);

// Converts a RocksDB status, prefixing `context` (what was being done, where).
// A held lock becomes kUnavailable.
Status FromRocks(const rocksdb::Status& status, std::string_view context);

class RocksDb {
 public:
  RocksDb() = default;
  ~RocksDb();
  RocksDb(const RocksDb&) = delete;
  RocksDb& operator=(const RocksDb&) = delete;

  // Opens `dir` for writing, creating missing column families (and the store
  // when options.create_if_missing).
  Status OpenPrimary(const std::string& dir, const StoreOptions& options);
  // Opens `dir` as a secondary instance whose own files live in
  // `secondary_dir`. kNotFound when `dir` holds no store.
  Status OpenSecondary(const std::string& dir, const std::string& secondary_dir);
  // Checks meta/schema_version. When absent and `write_if_missing` (a new
  // store), writes it.
  Status CheckSchema(bool write_if_missing);

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf which) const { return handles_[static_cast<size_t>(which)]; }
  const std::string& dir() const { return dir_; }

 private:
  Status OpenWith(const std::string& dir, const rocksdb::DBOptions& db_options,
                  const std::string* secondary_dir, size_t write_buffer_bytes);

  std::string dir_;
  // Declared before handles_ so it is destroyed after them: handles must be
  // released while the DB is still open.
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, kCfCount> handles_{};
  std::vector<rocksdb::ColumnFamilyHandle*> extra_handles_;  // unknown CFs
};

// Every template in the templates column family, in id order; a malformed
// one is Corruption naming its id.
Result<std::vector<StoredTemplate>> ReadTemplates(RocksDb& rocks);

}  // namespace faultline::storage::internal
