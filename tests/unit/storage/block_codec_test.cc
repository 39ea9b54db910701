#include "storage/internal/block_codec.h"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "storage/internal/format.h"
#include "storage/store.h"
#include "tests/testutil/test_util.h"
#include "tests/unit/storage/record_gen.h"

namespace faultline::storage {
namespace {

using internal::BlockDecoder;

// Decodes every block of `encoded` back into Records, in block order.
std::vector<Record> DecodeAll(const EncodedBatch& encoded) {
  std::vector<Record> out;
  for (size_t b = 0; b < encoded.blocks.size(); ++b) {
    const EncodedBlock& block = encoded.blocks[b];
    BlockDecoder decoder;
    Status status = decoder.Open(block.payload, "test" + std::to_string(b));
    EXPECT_TRUE(status.ok()) << status.ToString();
    status = decoder.Load(internal::kAllColumns);
    EXPECT_TRUE(status.ok()) << status.ToString();
    if (!status.ok()) return out;
    EXPECT_EQ(decoder.rows(), block.record_count);
    for (uint32_t row = 0; row < decoder.rows(); ++row) {
      Record record;
      decoder.Materialize(row, block.service, &record);
      out.push_back(std::move(record));
    }
  }
  return out;
}

Record FullRecord() {
  Record r;
  r.kind = RecordKind::kSpan;
  r.ts_ns = 1'700'000'000'123'456'789;
  r.level = Level::kError;
  r.service = "gpu-scheduler";
  r.message = "Queue timeout — ключ 队列 \xF0\x9F\x94\xA5";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.span_id = "00f067aa0ba902b7";
  r.parent_span_id = "00f067aa0ba902b6";
  r.name = "schedule";
  r.duration_ns = 1'234'567;
  r.value = -0.0;  // sign bit set: must survive
  r.attributes = {{"host", "gpu-7", AttrType::kString},
                  {"http.status_code", "503", AttrType::kNumber},
                  {"retry", "false", AttrType::kBool},
                  {"note", "null", AttrType::kNull},
                  {"ctx", "{\"a\":[1,{\"b\":null}]}", AttrType::kJson},
                  {"", "", AttrType::kString}};
  r.provenance = {"kafka-logs", 7, 123456789012};
  return r;
}

TEST(BlockCodecTest, RoundTripsEveryField) {
  std::vector<Record> records;
  records.push_back(FullRecord());
  Record empty;  // every string empty, every number zero
  empty.service = "gpu-scheduler";
  empty.ts_ns = FullRecord().ts_ns + 1;
  records.push_back(empty);
  Record metric = FullRecord();
  metric.kind = RecordKind::kMetric;
  metric.ts_ns += 2;
  metric.value = 1e300;
  metric.duration_ns = -5;
  metric.provenance = {"/var/log/app.log", -1, 0};
  records.push_back(metric);
  Record negative = metric;
  negative.ts_ns = -1'000;  // before the epoch
  negative.value = -std::numeric_limits<double>::infinity();
  records.push_back(negative);

  RecordBatch batch = testing::ToBatch(records);
  EncodedBatch encoded = EncodeBatch(batch, BlockOptions());
  // The negative time sorts first and lands in its own slice.
  ASSERT_EQ(encoded.blocks.size(), 2u);
  std::vector<Record> decoded = DecodeAll(encoded);
  std::vector<Record> expected = {records[3], records[0], records[1], records[2]};
  ASSERT_EQ(decoded.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(decoded[i], expected[i]) << "record " << i;
    EXPECT_EQ(std::signbit(decoded[i].value), std::signbit(expected[i].value)) << i;
  }
  EXPECT_EQ(encoded.blocks[1].min_ts_ns, records[0].ts_ns);
  EXPECT_EQ(encoded.blocks[1].max_ts_ns, records[2].ts_ns);
  EXPECT_EQ(encoded.blocks[1].kind_counts[static_cast<size_t>(RecordKind::kSpan)], 1u);
  EXPECT_EQ(encoded.blocks[1].level_counts[static_cast<size_t>(Level::kError)], 2u);
  EXPECT_EQ(encoded.blocks[1].level_counts[static_cast<size_t>(Level::kUnknown)], 1u);
}

TEST(BlockCodecTest, RoundTripsTemplateIdsAndParameters) {
  std::vector<Record> records;
  for (int i = 0; i < 300; ++i) {
    Record r = FullRecord();
    r.ts_ns += i;
    r.template_id = i % 7 == 0 ? 0 : 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(i % 5);
    if (r.template_id != 0 && i % 3 != 0) {
      r.params = {std::to_string(i), "", std::string(200, 'x'), "ключ"};
    }
    records.push_back(r);
  }
  RecordBatch batch = testing::ToBatch(records);
  std::vector<Record> decoded = DecodeAll(EncodeBatch(batch, BlockOptions()));
  ASSERT_EQ(decoded.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(decoded[i].template_id, records[i].template_id) << i;
    EXPECT_EQ(decoded[i].params, records[i].params) << i;
  }

  // A block without templates stores one byte for the column and reads
  // back as template 0 without parameters.
  std::vector<Record> plain = {FullRecord()};
  std::vector<Record> back = DecodeAll(EncodeBatch(testing::ToBatch(plain), BlockOptions()));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].template_id, 0u);
  EXPECT_TRUE(back[0].params.empty());
}

TEST(PackParamsTest, RoundTripsAndRejectsDamage) {
  std::vector<std::string> params = {"a", "", std::string(300, 'z')};
  std::string packed;
  PackParams(params, &packed);
  std::vector<std::string> back;
  ASSERT_TRUE(UnpackParams(packed, &back));
  EXPECT_EQ(back, params);
  EXPECT_FALSE(UnpackParams(packed.substr(0, packed.size() - 1), &back));
  EXPECT_FALSE(UnpackParams("\xff\xff\xff\xff\xff\xff", &back));
}

// Ids are stored packed when every id of a block is lower-case hex of even
// length, and as text otherwise; either way they come back as written.
TEST(BlockCodecTest, RoundTripsIdsOfEveryShape) {
  const std::vector<std::vector<std::string>> id_sets = {
      {"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "", "0123456789abcdef"},
      {"4bf92f3577b34da6a3ce929d0e0e4736", "4BF92F3577B34DA6A3CE929D0E0E4736"},  // upper case
      {"4bf92f3577b34da6a3ce929d0e0e473", "00"},                               // odd length
      {"abcdefgh", "0123"},                                                      // not hex
      {"", ""},                                                                  // none
      {"deadbeef", "deadbeef", "deadbeef"},                                      // uniform
      {"12345678-1234-1234-1234-123456789abc"},
      // Bytes just outside 0-9 and a-f, in the 8-digit fast path and after it.
      {"/0000000", "00000000"}, {"0000000:", "00000000"}, {"`0000000"}, {"0000000g"},
      {"00000000\xC3\xA9"}, {"0123456789abcdef0123456789abcdef01"}, {"0123456789abcdef01@0"},
  };
  for (size_t set = 0; set < id_sets.size(); ++set) {
    std::vector<Record> records;
    for (size_t i = 0; i < id_sets[set].size(); ++i) {
      Record r = FullRecord();
      r.ts_ns += static_cast<int64_t>(i);
      r.trace_id = id_sets[set][i];
      r.span_id = id_sets[set][(i + 1) % id_sets[set].size()];
      r.parent_span_id = i % 2 == 0 ? id_sets[set][i] : "";
      r.name = id_sets[set][i];  // names go through the same encodings
      records.push_back(r);
    }
    EncodedBatch encoded = EncodeBatch(testing::ToBatch(records), BlockOptions());
    ASSERT_EQ(encoded.blocks.size(), 1u) << set;
    EXPECT_EQ(DecodeAll(encoded), records) << "id set " << set;
  }
}

// Kind, level, numbers and provenance each have a compact form when a block
// is uniform (one kind, one level, all-zero numbers, one source); mixed
// blocks must round-trip too.
TEST(BlockCodecTest, RoundTripsUniformAndMixedSmallColumns) {
  for (int mixed = 0; mixed < 2; ++mixed) {
    std::vector<Record> records;
    for (int i = 0; i < 40; ++i) {
      Record r = FullRecord();
      r.ts_ns += i;
      r.kind = RecordKind::kLog;
      r.level = Level::kInfo;
      r.duration_ns = 0;
      r.value = 0;
      r.provenance = {"/var/log/a.log", -1, static_cast<uint64_t>(1000 + 350 * i)};
      if (mixed == 1) {
        r.kind = static_cast<RecordKind>(i % 3);
        r.level = static_cast<Level>(i % 7);
        r.duration_ns = i % 4 == 0 ? 0 : 1000 * i;
        r.value = i % 5 == 0 ? 0.0 : 0.5 * i;
        if (i % 2 == 1) r.provenance = {"kafka-logs", i % 3, static_cast<uint64_t>(i)};
      }
      records.push_back(r);
    }
    EncodedBatch encoded = EncodeBatch(testing::ToBatch(records), BlockOptions());
    ASSERT_EQ(encoded.blocks.size(), 1u) << mixed;
    EXPECT_EQ(DecodeAll(encoded), records) << "mixed " << mixed;
  }
}

TEST(BlockCodecTest, RowsWithoutSourceGetEmptyProvenance) {
  RecordBatch batch;
  RecordRow& row = batch.AddRow();
  row.service = batch.Intern("svc");
  row.message = batch.Intern("hello");
  row.offset = 42;
  EncodedBatch encoded = EncodeBatch(batch, BlockOptions());
  std::vector<Record> decoded = DecodeAll(encoded);
  ASSERT_EQ(decoded.size(), 1u);
  EXPECT_EQ(decoded[0].provenance, (Provenance{"", -1, 42}));
  EXPECT_EQ(decoded[0].message, "hello");
}

TEST(BlockCodecTest, CutsBlocksAtMaxRecordsAndSliceBoundaries) {
  const int64_t base = 1'700'000'000LL * 1'000'000'000;
  std::vector<Record> records = testing::GenerateRecords(3000, 7, base, 50'000'000, true);
  BlockOptions options;
  options.max_records = 100;
  options.max_span_ns = 10LL * 1'000'000'000;
  RecordBatch batch = testing::ToBatch(records);
  EncodedBatch encoded = EncodeBatch(batch, options);

  size_t total = 0;
  for (const EncodedBlock& block : encoded.blocks) {
    EXPECT_LE(block.record_count, 100u);
    EXPECT_EQ(internal::SliceStart(block.min_ts_ns, options.max_span_ns),
              internal::SliceStart(block.max_ts_ns, options.max_span_ns))
        << "block crosses a slice";
    total += block.record_count;
  }
  EXPECT_EQ(total, records.size());

  // Per service, the decoded records are the input stably sorted by time.
  std::vector<Record> decoded = DecodeAll(encoded);
  for (std::string_view service : {"api", "gpu-scheduler", "moderation", "chat"}) {
    std::vector<Record> want, got;
    for (const Record& r : records) if (r.service == service) want.push_back(r);
    for (const Record& r : decoded) if (r.service == service) got.push_back(r);
    std::stable_sort(want.begin(), want.end(),
                     [](const Record& a, const Record& b) { return a.ts_ns < b.ts_ns; });
    EXPECT_EQ(got, want) << service;
  }
}

TEST(BlockCodecTest, EqualTimestampsKeepInputOrder) {
  std::vector<Record> records;
  for (int i = 0; i < 50; ++i) {
    Record r;
    r.service = "svc";
    r.ts_ns = (i % 2) ? 5'000 : 1'000;
    r.message = "m" + std::to_string(i);
    records.push_back(r);
  }
  EncodedBatch encoded = EncodeBatch(testing::ToBatch(records), BlockOptions());
  std::vector<Record> decoded = DecodeAll(encoded);
  std::vector<Record> want = records;
  std::stable_sort(want.begin(), want.end(),
                   [](const Record& a, const Record& b) { return a.ts_ns < b.ts_ns; });
  EXPECT_EQ(decoded, want);
}

TEST(BlockCodecTest, MovesDeadLettersAndCounters) {
  RecordBatch batch;
  batch.AddDeadLetter(DeadLetter{RejectReason::kBinary, "NUL byte", "f", -1, 3, 4, "a\0b", 9});
  batch.counters().lines = 12;
  batch.counters().rejects[static_cast<size_t>(RejectReason::kBinary)] = 1;
  EncodedBatch encoded = EncodeBatch(batch, BlockOptions());
  EXPECT_TRUE(encoded.blocks.empty());
  ASSERT_EQ(encoded.dead_letters.size(), 1u);
  EXPECT_EQ(encoded.dead_letters[0].detail, "NUL byte");
  EXPECT_EQ(encoded.counters.lines, 12u);
}

TEST(BlockCodecTest, DamagedPayloadIsCorruptionNotACrash) {
  std::vector<Record> records = testing::GenerateRecords(500, 3, 1'000'000'000'000, 1'000'000);
  for (Record& r : records) r.service = "svc";
  EncodedBatch encoded = EncodeBatch(testing::ToBatch(records), BlockOptions());
  ASSERT_EQ(encoded.blocks.size(), 1u);
  const std::string& payload = encoded.blocks[0].payload;
  std::mt19937 rng(11);
  int failures = 0;
  for (size_t trial = 0; trial < 400; ++trial) {
    std::string damaged = payload;
    const size_t pos = trial < payload.size() && trial < 64 ? trial : rng() % payload.size();
    damaged[pos] = static_cast<char>(damaged[pos] ^ (1 + rng() % 255));
    BlockDecoder decoder;
    Status status = decoder.Open(damaged, "seq 9");
    if (status.ok()) status = decoder.Load(internal::kAllColumns);
    ASSERT_FALSE(status.ok()) << "flip at " << pos << " went unnoticed";
    EXPECT_EQ(status.code(), StatusCode::kCorruption);
    EXPECT_NE(status.message().find("seq 9"), std::string::npos) << status.message();
    ++failures;
  }
  EXPECT_EQ(failures, 400);
  for (size_t cut : {size_t{0}, size_t{1}, size_t{8}, payload.size() / 2, payload.size() - 1}) {
    BlockDecoder decoder;
    Status status = decoder.Open(payload.substr(0, cut), "cut");
    EXPECT_EQ(status.code(), StatusCode::kCorruption) << cut;
  }
}

// Damage behind a valid checksum reaches the column parsers; they must
// report it (or decode something harmless), never read out of bounds.
TEST(BlockCodecTest, DamageBehindAValidChecksumIsHandled) {
  std::vector<Record> records = testing::GenerateRecords(300, 5, 1'000'000'000'000, 1'000'000);
  for (Record& r : records) r.service = "svc";
  BlockOptions options;
  options.compression_level = 1;
  EncodedBatch encoded = EncodeBatch(testing::ToBatch(records), options);
  ASSERT_EQ(encoded.blocks.size(), 1u);
  const std::string& payload = encoded.blocks[0].payload;
  std::mt19937 rng(99);
  int rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string damaged = payload.substr(0, payload.size() - 8);
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      const size_t pos = trial % 3 == 0 ? rng() % std::min<size_t>(64, damaged.size())
                                        : rng() % damaged.size();
      damaged[pos] = static_cast<char>(damaged[pos] ^ (1 + rng() % 255));
    }
    const uint64_t checksum = internal::BlockChecksum(damaged);
    damaged.append(reinterpret_cast<const char*>(&checksum), 8);
    BlockDecoder decoder;
    Status status = decoder.Open(damaged, "forged");
    if (status.ok()) status = decoder.Load(internal::kAllColumns);
    if (!status.ok()) {
      EXPECT_EQ(status.code(), StatusCode::kCorruption);
      ++rejected;
      continue;
    }
    Record record;
    for (uint32_t row = 0; row < decoder.rows(); ++row) decoder.Materialize(row, "svc", &record);
  }
  EXPECT_GT(rejected, 1000);
}

}  // namespace
}  // namespace faultline::storage
