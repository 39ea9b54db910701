// The whole ingest pipeline (file -> parallel parse/encode -> store) against
// records generated with known values: everything written comes back, exactly
// once, with its provenance, whatever the chunk size and thread count.
#include "tools/ingest_pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>

#include "core/time.h"
#include "storage/reader.h"
#include "tests/testutil/test_util.h"

namespace faultline::tools {
namespace {

struct Expected {
  int64_t ts_ns;
  std::string service;
  Level level;
  std::string message;
  std::string trace_id;
  uint64_t offset;
};

// Writes `n` JSON lines starting at `first_index`; appends their expectations.
void WriteLines(const std::string& path, int first_index, int n, uint64_t* offset,
                std::vector<Expected>* expected, bool append) {
  std::ofstream out(path, append ? std::ios::app | std::ios::binary : std::ios::binary);
  std::mt19937 rng(static_cast<unsigned>(first_index));
  const char* services[] = {"alpha", "beta", "gamma", "delta"};
  const Level levels[] = {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError};
  int64_t base = 1764000000LL * kNanosPerSecond;  // 2025-11-24
  for (int i = first_index; i < first_index + n; ++i) {
    Expected e;
    // Mostly increasing with jitter, spread over ~10 minutes: several slices.
    e.ts_ns = base + static_cast<int64_t>(i) * 20'000'000 +
              static_cast<int64_t>(rng() % 5'000'000);
    e.service = services[rng() % 4];
    e.level = levels[rng() % 4];
    e.message = "request " + std::to_string(i) + " took " + std::to_string(rng() % 1000) + "ms";
    e.trace_id = std::to_string(1000000 + i / 3);
    e.offset = *offset;
    std::string line = "{\"ts\":\"" + FormatRfc3339(e.ts_ns, 9) + "\",\"level\":\"" +
                       std::string(LevelName(e.level)) + "\",\"service\":\"" + e.service +
                       "\",\"msg\":\"" + e.message + "\",\"trace_id\":\"" + e.trace_id +
                       "\",\"n\":" + std::to_string(i) + "}\n";
    out << line;
    *offset += line.size();
    expected->push_back(e);
  }
}

std::vector<Record> ReadAll(const std::string& db) {
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<Record> records;
  if (!reader.ok()) return records;
  storage::Query all;
  Status s = (*reader)->Search(all, [&](const Record& r) {
    records.push_back(r);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return records;
}

void ExpectSame(const std::vector<Expected>& expected, std::vector<Record> got,
                const std::string& path) {
  ASSERT_EQ(got.size(), expected.size());
  std::sort(got.begin(), got.end(),
            [](const Record& a, const Record& b) { return a.provenance.offset < b.provenance.offset; });
  for (size_t i = 0; i < expected.size(); ++i) {
    const Expected& e = expected[i];
    const Record& r = got[i];
    ASSERT_EQ(r.provenance.offset, e.offset) << i;
    EXPECT_EQ(r.provenance.source, path);
    EXPECT_EQ(r.ts_ns, e.ts_ns) << i;
    EXPECT_EQ(r.service, e.service) << i;
    EXPECT_EQ(r.level, e.level) << i;
    EXPECT_EQ(r.message, e.message) << i;
    EXPECT_EQ(r.trace_id, e.trace_id) << i;
    ASSERT_EQ(r.attributes.size(), 1u) << i;
    EXPECT_EQ(r.attributes[0].key, "n");
    EXPECT_EQ(r.attributes[0].type, AttrType::kNumber);
  }
}

class PipelineTest : public ::testing::TestWithParam<std::tuple<int, size_t>> {};

TEST_P(PipelineTest, EveryRecordStoredOnceWithProvenance) {
  auto [threads, chunk_bytes] = GetParam();
  testing::TempDir dir;
  std::string path = dir.Sub("app.jsonl");
  std::vector<Expected> expected;
  uint64_t offset = 0;
  WriteLines(path, 0, 30000, &offset, &expected, false);

  IngestRequest request;
  request.db_dir = dir.Sub("db");
  request.files = {path};
  request.config.ingest.threads = threads;
  request.config.ingest.chunk_bytes = chunk_bytes;
  request.config.store.block.max_records = 500;
  Result<IngestSummary> summary = RunIngest(request);
  ASSERT_OK(summary.status());
  EXPECT_EQ(summary->records, 30000u);
  EXPECT_EQ(summary->counters.TotalRejects(), 0u);
  EXPECT_GT(summary->blocks, 60u);  // 500-record blocks across 4 services
  ExpectSame(expected, ReadAll(request.db_dir), path);
}

TEST(PipelineNoTemplatesTest, EveryRecordStoredWithTemplateMiningOff) {
  testing::TempDir dir;
  std::string path = dir.Sub("app.jsonl");
  std::vector<Expected> expected;
  uint64_t offset = 0;
  WriteLines(path, 0, 10000, &offset, &expected, false);
  IngestRequest request;
  request.db_dir = dir.Sub("db");
  request.files = {path};
  request.config.mine_templates = false;
  request.config.ingest.threads = 2;
  request.config.ingest.chunk_bytes = 64 << 10;
  Result<IngestSummary> summary = RunIngest(request);
  ASSERT_OK(summary.status());
  EXPECT_EQ(summary->records, 10000u);
  std::vector<Record> got = ReadAll(request.db_dir);
  for (const Record& r : got) EXPECT_EQ(r.template_id, 0u);
  ExpectSame(expected, std::move(got), path);
}

INSTANTIATE_TEST_SUITE_P(ThreadsAndChunks, PipelineTest,
                         ::testing::Values(std::make_tuple(1, size_t{1} << 20),
                                           std::make_tuple(2, size_t{64} << 10),
                                           std::make_tuple(4, size_t{200} << 10)));

TEST(PipelineResumeTest, GrownFileIngestsOnlyTheNewLines) {
  testing::TempDir dir;
  std::string path = dir.Sub("grow.log");
  std::vector<Expected> expected;
  uint64_t offset = 0;
  WriteLines(path, 0, 5000, &offset, &expected, false);
  IngestRequest request;
  request.db_dir = dir.Sub("db");
  request.files = {path};
  request.config.ingest.chunk_bytes = 64 << 10;
  ASSERT_OK(RunIngest(request).status());

  WriteLines(path, 5000, 3000, &offset, &expected, true);
  Result<IngestSummary> second = RunIngest(request);
  ASSERT_OK(second.status());
  EXPECT_EQ(second->records, 3000u);
  ASSERT_EQ(second->files.size(), 1u);
  EXPECT_NE(second->files[0].note.find("resumed at byte"), std::string::npos);
  ExpectSame(expected, ReadAll(request.db_dir), path);

  // Nothing new: skipped.
  Result<IngestSummary> third = RunIngest(request);
  ASSERT_OK(third.status());
  EXPECT_EQ(third->records, 0u);
  EXPECT_TRUE(third->files[0].skipped);
}

TEST(PipelineErrorTest, UnwritableStoreFailsWithClearError) {
  testing::TempDir dir;
  std::string path = dir.Sub("x.log");
  testing::WriteFile(path, "{\"ts\":\"2026-01-01T00:00:00Z\",\"msg\":\"x\"}\n");
  std::string blocker = dir.Sub("file-not-dir");
  testing::WriteFile(blocker, "");
  IngestRequest request;
  request.db_dir = blocker + "/db";
  request.files = {path};
  Result<IngestSummary> summary = RunIngest(request);
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("file-not-dir"), std::string::npos)
      << summary.status().ToString();
}

}  // namespace
}  // namespace faultline::tools
