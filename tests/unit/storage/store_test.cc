#include "storage/store.h"

#include <gtest/gtest.h>

#include "core/time.h"
#include "storage/internal/format.h"
#include "storage/internal/rocks.h"
#include "storage/reader.h"
#include "tests/testutil/test_util.h"
#include "tests/unit/storage/record_gen.h"

namespace faultline::storage {
namespace {

std::unique_ptr<Store> OpenStore(const std::string& dir) {
  Result<std::unique_ptr<Store>> store = Store::Open(dir, StoreOptions());
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::unique_ptr<Reader> OpenReader(const std::string& dir) {
  Result<std::unique_ptr<Reader>> reader = Reader::Open(dir);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return reader.ok() ? std::move(reader).value() : nullptr;
}

DeadLetter MakeDeadLetter(RejectReason reason, uint64_t offset) {
  return DeadLetter{reason, "detail " + std::to_string(offset), "/var/log/x.log", -1, offset,
                    10, "raw\xff" + std::to_string(offset), 1234};
}

TEST(StoreTest, PositionsAreWrittenWithTheirData) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  {
    std::unique_ptr<Store> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    Result<std::optional<SourcePosition>> missing = store->GetPosition("file:abc");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
    RecordBatch batch = testing::ToBatch(testing::GenerateRecords(100, 1, 1'000'000'000, 1000));
    ASSERT_OK(store->Write(EncodeBatch(batch, BlockOptions()),
                           {SourcePosition{"file:abc", 4096, false, "/var/log/a.log"}}));
    ASSERT_OK(store->Write(EncodedBatch(),
                           {SourcePosition{"file:abc", 8192, true, "/var/log/a.log"},
                            SourcePosition{"kafka:logs:3", 77, false, "logs"}}));
  }
  std::unique_ptr<Store> store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  Result<std::optional<SourcePosition>> position = store->GetPosition("file:abc");
  ASSERT_TRUE(position.ok()) << position.status().ToString();
  ASSERT_TRUE(position->has_value());
  EXPECT_EQ((*position)->offset, 8192u);
  EXPECT_TRUE((*position)->complete);
  EXPECT_EQ((*position)->description, "/var/log/a.log");
  position = store->GetPosition("kafka:logs:3");
  ASSERT_TRUE(position.ok() && position->has_value());
  EXPECT_EQ((*position)->offset, 77u);
  EXPECT_FALSE((*position)->complete);
}

TEST(StoreTest, TemplatesPersistAndLaterVersionsReplaceEarlierOnes) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  StoredTemplate first{0x1234'0000'0001ULL, "api", "GET <*> 200", 3, 10, 20, "GET /a 200"};
  StoredTemplate second{0x1234'0000'0002ULL, "api", "user <*> logged in", 1, 15, 15,
                        "user bob logged in"};
  {
    std::unique_ptr<Store> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    EncodedBatch batch;
    batch.templates.full = {first, second};
    ASSERT_OK(store->Write(std::move(batch), {}));
    // The same id again: generalised text, more records, later last-seen.
    first.text = "<*> <*> 200";
    first.count = 9;
    first.last_seen_ns = 99;
    EncodedBatch update;
    update.templates.full = {first};
    ASSERT_OK(store->Write(std::move(update), {}));
  }
  std::unique_ptr<Store> store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  Result<std::vector<StoredTemplate>> loaded = store->LoadTemplates();
  ASSERT_OK(loaded.status());
  EXPECT_EQ(*loaded, (std::vector<StoredTemplate>{first, second}));
  store.reset();
  std::unique_ptr<Reader> reader = OpenReader(dir);
  ASSERT_NE(reader, nullptr);
  Result<std::vector<StoredTemplate>> read = reader->Templates();
  ASSERT_OK(read.status());
  EXPECT_EQ(*read, (std::vector<StoredTemplate>{first, second}));
}

// Counter records bring templates up to date, in any order, across a
// restart, and a fold replaces them with full templates.
TEST(StoreTest, TemplateCounterRecordsMergeAndFold) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  StoredTemplate a{0x1234'0000'0001ULL, "api", "GET <*> 200", 3, 10, 20, "GET /a 200"};
  StoredTemplate b{0x1234'0000'0002ULL, "api", "user <*> logged in", 1, 15, 15, "user x"};
  auto load = [&](Store* store) {
    Result<std::vector<StoredTemplate>> loaded = store->LoadTemplates();
    EXPECT_OK(loaded.status());
    return loaded.ok() ? *loaded : std::vector<StoredTemplate>{};
  };
  {
    std::unique_ptr<Store> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    EncodedBatch created;
    created.templates.full = {a, b};
    ASSERT_OK(store->Write(std::move(created), {}));
    EncodedBatch later;
    later.templates.counts = {TemplateCount{a.id, 7, 10, 50}};
    ASSERT_OK(store->Write(std::move(later), {}));
    // An older record written after a newer one changes nothing.
    EncodedBatch stale;
    stale.templates.counts = {TemplateCount{a.id, 5, 12, 40}, TemplateCount{b.id, 4, 5, 16}};
    ASSERT_OK(store->Write(std::move(stale), {}));
  }
  a.count = 7;
  a.last_seen_ns = 50;
  b.count = 4;
  b.first_seen_ns = 5;
  b.last_seen_ns = 16;
  {
    // After a restart the next record goes after the existing ones.
    std::unique_ptr<Store> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(load(store.get()), (std::vector<StoredTemplate>{a, b}));
    EncodedBatch more;
    more.templates.counts = {TemplateCount{b.id, 6, 5, 30}};
    ASSERT_OK(store->Write(std::move(more), {}));
    b.count = 6;
    b.last_seen_ns = 30;
    EXPECT_EQ(load(store.get()), (std::vector<StoredTemplate>{a, b}));
    std::unique_ptr<Reader> reader = OpenReader(dir);
    ASSERT_NE(reader, nullptr);
    Result<std::vector<StoredTemplate>> read = reader->Templates();
    ASSERT_OK(read.status());
    EXPECT_EQ(*read, (std::vector<StoredTemplate>{a, b}));

    // The fold writes both in full (a with a lower count than its records,
    // to show the records are gone) and deletes the records.
    StoredTemplate folded_a = a;
    folded_a.count = 1;
    EncodedBatch fold;
    fold.templates.full = {folded_a, b};
    fold.templates.fold = true;
    ASSERT_OK(store->Write(std::move(fold), {}));
    EXPECT_EQ(load(store.get()), (std::vector<StoredTemplate>{folded_a, b}));
    EncodedBatch after;
    after.templates.counts = {TemplateCount{a.id, 2, 10, 60}};
    ASSERT_OK(store->Write(std::move(after), {}));
  }
  std::unique_ptr<Store> store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  a.count = 2;
  a.last_seen_ns = 60;
  EXPECT_EQ(load(store.get()), (std::vector<StoredTemplate>{a, b}));
}

TEST(StoreTest, TemplateHistogramCountsRecordsPerTemplateAndBucket) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  const int64_t base = 1'700'000'000LL * faultline::kNanosPerSecond;
  std::vector<Record> records;
  for (int i = 0; i < 400; ++i) {
    Record r;
    r.service = i % 2 == 0 ? "api" : "db";
    r.ts_ns = base + static_cast<int64_t>(i) * faultline::kNanosPerSecond;  // 400 s
    r.message = "m";
    r.level = i % 4 == 0 ? Level::kError : Level::kInfo;
    r.template_id = i < 300 ? 7 : 8;  // template 8 starts at 300 s
    records.push_back(r);
  }
  {
    std::unique_ptr<Store> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->Write(EncodeBatch(testing::ToBatch(records), BlockOptions()), {}));
  }
  std::unique_ptr<Reader> reader = OpenReader(dir);
  ASSERT_NE(reader, nullptr);
  Query query;
  query.since_ns = base;
  query.until_ns = base + 400 * faultline::kNanosPerSecond;
  auto histogram = reader->TemplateHistogram(query, 4);
  ASSERT_OK(histogram.status());
  ASSERT_EQ(histogram->size(), 2u);
  EXPECT_EQ((*histogram)[7], (std::vector<uint64_t>{100, 100, 100, 0}));
  EXPECT_EQ((*histogram)[8], (std::vector<uint64_t>{0, 0, 0, 100}));

  query.services = {"api"};
  query.level_mask = 1u << static_cast<unsigned>(Level::kError);
  query.since_ns = base + 100 * faultline::kNanosPerSecond;
  histogram = reader->TemplateHistogram(query, 3);
  ASSERT_OK(histogram.status());
  EXPECT_EQ((*histogram)[7], (std::vector<uint64_t>{25, 25, 0}));
  EXPECT_EQ((*histogram)[8], (std::vector<uint64_t>{0, 0, 25}));

  query.since_ns = INT64_MIN;
  EXPECT_FALSE(reader->TemplateHistogram(query, 3).ok());
}

TEST(StoreTest, BlockSequenceContinuesAfterReopen) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  std::vector<Record> records = testing::GenerateRecords(200, 2, 1'000'000'000, 1000);
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<Store> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->Write(EncodeBatch(testing::ToBatch(records), BlockOptions()), {}));
  }
  std::unique_ptr<Reader> reader = OpenReader(dir);
  ASSERT_NE(reader, nullptr);
  Result<StoreStats> stats = reader->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->records, 400u);
  Result<uint64_t> last = reader->LastBlockSeq();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, stats->blocks) << "sequences 1..N without reuse";
}

TEST(StoreTest, DeadLettersAreListedAndCounted) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  std::unique_ptr<Store> store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  RecordBatch batch;
  batch.AddDeadLetter(MakeDeadLetter(RejectReason::kInvalidJson, 1));
  batch.AddDeadLetter(MakeDeadLetter(RejectReason::kBinary, 2));
  batch.AddDeadLetter(MakeDeadLetter(RejectReason::kInvalidJson, 3));
  batch.counters().lines = 10;
  batch.counters().empty_lines = 2;
  ASSERT_OK(store->Write(EncodeBatch(batch, BlockOptions()), {}));
  RecordBatch second;
  second.AddDeadLetter(MakeDeadLetter(RejectReason::kLineTooLong, 4));
  second.counters().lines = 5;
  ASSERT_OK(store->Write(EncodeBatch(second, BlockOptions()), {}));

  std::unique_ptr<Reader> reader = OpenReader(dir);
  ASSERT_NE(reader, nullptr);
  std::vector<DeadLetter> all;
  ASSERT_OK(reader->ListDeadLetters(std::nullopt, 100, [&](const DeadLetter& d) {
    all.push_back(d);
    return true;
  }));
  ASSERT_EQ(all.size(), 4u);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(all[i].offset, i + 1) << "arrival order";
  EXPECT_EQ(all[1], MakeDeadLetter(RejectReason::kBinary, 2));

  std::vector<uint64_t> invalid_json;
  ASSERT_OK(reader->ListDeadLetters(RejectReason::kInvalidJson, 100, [&](const DeadLetter& d) {
    invalid_json.push_back(d.offset);
    return true;
  }));
  EXPECT_EQ(invalid_json, (std::vector<uint64_t>{1, 3}));
  size_t limited = 0;
  ASSERT_OK(reader->ListDeadLetters(std::nullopt, 2, [&](const DeadLetter&) {
    ++limited;
    return true;
  }));
  EXPECT_EQ(limited, 2u);

  Result<StoreStats> stats = reader->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->dead_letters, 4u);
  EXPECT_EQ(stats->dead_letters_by_reason[static_cast<size_t>(RejectReason::kInvalidJson)], 2u);
  EXPECT_EQ(stats->dead_letters_by_reason[static_cast<size_t>(RejectReason::kLineTooLong)], 1u);
  EXPECT_EQ(stats->dead_letters_dropped, 0u);
  EXPECT_EQ(stats->lines, 15u);
  EXPECT_EQ(stats->empty_lines, 2u);
  EXPECT_EQ(stats->records, 0u);
}

TEST(StoreTest, StatsSummarizeTheStore) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  std::vector<Record> records = testing::GenerateRecords(5000, 3, 1'000'000'000'000, 10'000'000);
  {
    std::unique_ptr<Store> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->Write(EncodeBatch(testing::ToBatch(records), BlockOptions()), {}));
    ASSERT_OK(store->Flush());
  }
  std::unique_ptr<Reader> reader = OpenReader(dir);
  ASSERT_NE(reader, nullptr);
  Result<StoreStats> stats = reader->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  StoreStats want;
  for (const Record& r : records) {
    ++want.records;
    ++want.by_kind[static_cast<size_t>(r.kind)];
    ++want.by_level[static_cast<size_t>(r.level)];
    ++want.by_service[r.service];
  }
  EXPECT_EQ(stats->records, want.records);
  EXPECT_EQ(stats->by_kind, want.by_kind);
  EXPECT_EQ(stats->by_level, want.by_level);
  EXPECT_EQ(stats->by_service, want.by_service);
  EXPECT_EQ(stats->min_ts_ns, records.front().ts_ns);
  EXPECT_EQ(stats->max_ts_ns, records.back().ts_ns);
  EXPECT_GE(stats->blocks, 4u);
  EXPECT_GT(stats->raw_bytes, stats->stored_bytes);
  EXPECT_GT(stats->disk_bytes, stats->stored_bytes);
  Result<Reader::EventTimeRange> range = reader->TimeRange();
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  EXPECT_TRUE(range->records);
  EXPECT_EQ(range->min_ts_ns, records.front().ts_ns);
  EXPECT_EQ(range->max_ts_ns, records.back().ts_ns);
}

// Full-size blocks, flushed to SST files, read back through a secondary
// instance: the path production takes (a regression test for the RocksDB
// BlobDB + secondary crash that ruled blob files out).
TEST(StoreTest, ReaderReadsFlushedFullSizeBlocks) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  std::vector<Record> records = testing::GenerateRecords(20000, 4, 1'000'000'000'000, 1'000'000);
  for (Record& r : records) r.service = "api";
  {
    std::unique_ptr<Store> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->Write(EncodeBatch(testing::ToBatch(records), BlockOptions()), {}));
    ASSERT_OK(store->Flush());
  }
  std::unique_ptr<Reader> reader = OpenReader(dir);
  ASSERT_NE(reader, nullptr);
  std::vector<Record> got;
  ASSERT_OK(reader->Search(Query(), [&](const Record& r) {
    got.push_back(r);
    return true;
  }));
  EXPECT_EQ(got, records);
}

TEST(StoreTest, SecondWriterIsUnavailable) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  std::unique_ptr<Store> first = OpenStore(dir);
  ASSERT_NE(first, nullptr);
  Result<std::unique_ptr<Store>> second = Store::Open(dir, StoreOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
}

TEST(StoreTest, MissingStoreIsNotFound) {
  faultline::testing::TempDir tmp;
  Result<std::unique_ptr<Reader>> reader = Reader::Open(tmp.Sub("nothing"));
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
  EXPECT_NE(reader.status().message().find("faultline ingest --db"), std::string::npos);
  StoreOptions options;
  options.create_if_missing = false;
  Result<std::unique_ptr<Store>> store = Store::Open(tmp.Sub("nothing"), options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kNotFound);
}

TEST(StoreTest, OtherSchemaVersionIsRefused) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  ASSERT_NE(OpenStore(dir), nullptr);
  {
    internal::RocksDb rocks;
    ASSERT_OK(rocks.OpenPrimary(dir, StoreOptions()));
    ASSERT_TRUE(rocks.db()
                    ->Put(rocksdb::WriteOptions(), rocks.cf(internal::Cf::kMeta),
                          std::string(internal::kSchemaVersionKey), "99")
                    .ok());
  }
  Result<std::unique_ptr<Store>> store = Store::Open(dir, StoreOptions());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("schema version 99"), std::string::npos)
      << store.status().ToString();
  Result<std::unique_ptr<Reader>> reader = Reader::Open(dir);
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("schema version 99"), std::string::npos);
}

TEST(StoreTest, CreatesEveryColumnFamily) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  ASSERT_NE(OpenStore(dir), nullptr);
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"block_index", "blocks", "deadletter", "default",
                                             "incidents", "meta", "series", "templates"}));
}

TEST(StoreTest, ValidatesOptions) {
  StoreOptions options;
  EXPECT_OK(options.Validate());
  options.block.max_records = 0;
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
  options = StoreOptions();
  options.block.max_span_ns = 0;
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
  options = StoreOptions();
  options.block.bloom_bits_per_key = 0;
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace faultline::storage

namespace faultline::storage {
namespace {

ServiceBucket Bucket(std::string service, int64_t start_ns,
                     std::vector<std::pair<std::string, uint64_t>> counts) {
  ServiceBucket bucket{std::move(service), start_ns, 10'000'000'000, {}};
  for (auto& [signal, count] : counts) {
    SeriesEntry entry;
    entry.signal = signal;
    entry.point.count = count;
    bucket.entries.push_back(std::move(entry));
  }
  return bucket;
}

TEST(SeriesTest, ValueRoundTripsAndRejectsDamage) {
  ServiceBucket bucket = Bucket("api", 0, {{"errors", 3}, {"records", 10}});
  bucket.entries[1].dimension = "host=a";
  bucket.entries[0].point.AddSample(2.5, 100);
  bucket.entries[0].point.AddSample(-1, 50);
  bucket.entries[1].point.histogram.Add(12.5);
  bucket.entries[1].point.histogram.Add(0);
  const std::string bytes = EncodeSeriesValue(bucket);
  ServiceBucket decoded;
  ASSERT_TRUE(DecodeSeriesValue(bytes, &decoded));
  decoded.service = bucket.service;
  decoded.start_ns = bucket.start_ns;
  EXPECT_EQ(decoded, bucket);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeSeriesValue(bytes.substr(0, cut), &decoded)) << cut;
  }
  int64_t start = 0;
  std::string service;
  ASSERT_TRUE(ParseSeriesKey(SeriesKey(-20'000'000'000, "db"), &start, &service));
  EXPECT_EQ(start, -20'000'000'000);
  EXPECT_EQ(service, "db");
  EXPECT_LT(SeriesKey(-10, "z"), SeriesKey(0, "a"));  // negative times sort first
}

// Two batches' rollups of the same buckets add up through the merge
// operator, are read back in bucket then service order, and survive a
// restart (and a flush, which runs the merge in compaction paths).
TEST(SeriesTest, RollupsMergeInTheStoreAndReadBackInOrder) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  const int64_t t0 = 1'700'000'000LL * kNanosPerSecond;
  const int64_t w = 10 * kNanosPerSecond;
  {
    std::unique_ptr<Store> store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    EncodedBatch one;
    one.series = {Bucket("api", t0, {{"records", 5}}), Bucket("db", t0, {{"errors", 1}}),
                  Bucket("api", t0 + w, {{"records", 2}})};
    one.series[0].entries[0].point.histogram.Add(10);
    ASSERT_OK(store->Write(std::move(one), {}));
    ASSERT_OK(store->Flush());
    EncodedBatch two;
    two.series = {Bucket("api", t0, {{"errors", 4}, {"records", 7}})};
    two.series[0].entries[1].point.histogram.Add(20);
    ASSERT_OK(store->Write(std::move(two), {}));
  }
  std::unique_ptr<Reader> reader = OpenReader(dir);
  ASSERT_NE(reader, nullptr);
  std::vector<ServiceBucket> read;
  ASSERT_OK(reader->ReadSeries(t0, t0 + 2 * w, {}, [&](ServiceBucket&& b) {
    read.push_back(std::move(b));
    return true;
  }));
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read[0].service, "api");
  EXPECT_EQ(read[0].start_ns, t0);
  ASSERT_EQ(read[0].entries.size(), 2u);
  EXPECT_EQ(read[0].entries[0].signal, "errors");
  EXPECT_EQ(read[0].entries[0].point.count, 4u);
  EXPECT_EQ(read[0].entries[1].point.count, 12u);
  EXPECT_EQ(read[0].entries[1].point.histogram.count(), 2u);
  EXPECT_EQ(read[1].service, "db");
  EXPECT_EQ(read[2].start_ns, t0 + w);
  // Filters: a service, and a time range that excludes the second bucket.
  read.clear();
  ASSERT_OK(reader->ReadSeries(t0, t0 + w, {"db"}, [&](ServiceBucket&& b) {
    read.push_back(std::move(b));
    return true;
  }));
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].entries[0].point.count, 1u);
}

}  // namespace
}  // namespace faultline::storage
