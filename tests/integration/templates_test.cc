// Template mining through the whole ingest pipeline: ids are a function of
// the input order only (not of threads or batch sizes), survive restarts,
// and are stored with every log record and in the templates column family.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>

#include "core/time.h"
#include "storage/reader.h"
#include "tests/testutil/test_util.h"
#include "tools/ingest_pipeline.h"

namespace faultline::tools {
namespace {

// Messages of a dozen shapes with variable parts, from four services.
void WriteMessages(const std::string& path, int first, int n) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  std::mt19937 rng(static_cast<unsigned>(first + 17));
  const char* services[] = {"api", "auth", "billing", "db"};
  const int64_t base = 1764000000LL * kNanosPerSecond;
  for (int i = first; i < first + n; ++i) {
    std::string msg;
    switch (rng() % 6) {
      case 0: msg = "GET /api/v1/orders/" + std::to_string(rng() % 100000) + " 200 in " +
                    std::to_string(rng() % 900) + "ms"; break;
      case 1: msg = "user u-" + std::to_string(rng() % 5000) + " logged in from 10.0." +
                    std::to_string(rng() % 255) + "." + std::to_string(rng() % 255); break;
      case 2: msg = "connection pool exhausted: active=" + std::to_string(rng() % 100) +
                    " max=100"; break;
      case 3: msg = "retrying request " + std::to_string(rng()) + " attempt " +
                    std::to_string(rng() % 5); break;
      case 4: msg = "cache miss for key session:" + std::to_string(rng() % 100000); break;
      default: msg = "payment declined for order ORD" + std::to_string(rng() % 99999) +
                     " reason insufficient_funds"; break;
    }
    out << "{\"ts\":\"" << FormatRfc3339(base + static_cast<int64_t>(i) * 1'000'000, 9)
        << "\",\"level\":\"info\",\"service\":\"" << services[rng() % 4] << "\",\"msg\":\""
        << msg << "\"}\n";
  }
}

struct Mined {
  std::map<std::pair<std::string, uint64_t>, uint64_t> template_by_offset;  // (source, offset)
  std::vector<storage::StoredTemplate> templates;
};

Mined ReadBack(const std::string& db) {
  Mined mined;
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return mined;
  Status s = (*reader)->Search(storage::Query(), [&](const Record& r) {
    EXPECT_NE(r.template_id, 0u) << r.message;
    mined.template_by_offset[{r.provenance.source, r.provenance.offset}] = r.template_id;
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  Result<std::vector<storage::StoredTemplate>> templates = (*reader)->Templates();
  EXPECT_TRUE(templates.ok());
  if (templates.ok()) mined.templates = *templates;
  return mined;
}

Result<IngestSummary> Ingest(const std::string& db, const std::vector<std::string>& files,
                             int threads, size_t chunk_bytes) {
  IngestRequest request;
  request.db_dir = db;
  request.files = files;
  request.config.ingest.threads = threads;
  request.config.ingest.chunk_bytes = chunk_bytes;
  return RunIngest(request);
}

TEST(TemplatesPipelineTest, SameIdsWhateverThreadsAndChunkSizes) {
  testing::TempDir dir;
  const std::string path = dir.Sub("app.jsonl");
  WriteMessages(path, 0, 20000);
  ASSERT_OK(Ingest(dir.Sub("one"), {path}, 1, 64 << 10).status());
  ASSERT_OK(Ingest(dir.Sub("many"), {path}, 4, 1 << 20).status());
  Mined one = ReadBack(dir.Sub("one"));
  Mined many = ReadBack(dir.Sub("many"));
  ASSERT_EQ(one.template_by_offset.size(), 20000u);
  EXPECT_EQ(one.template_by_offset, many.template_by_offset);
  EXPECT_EQ(one.templates, many.templates);
  // A dozen shapes in four services: far fewer templates than records.
  EXPECT_LT(one.templates.size(), 60u);
  uint64_t counted = 0;
  for (const storage::StoredTemplate& t : one.templates) counted += t.count;
  EXPECT_EQ(counted, 20000u);
}

TEST(TemplatesPipelineTest, IdsSurviveARestart) {
  testing::TempDir dir;
  const std::string a = dir.Sub("a.jsonl");
  const std::string b = dir.Sub("b.jsonl");
  WriteMessages(a, 0, 5000);
  WriteMessages(b, 5000, 5000);
  // Both files in one run...
  ASSERT_OK(Ingest(dir.Sub("together"), {a, b}, 2, 64 << 10).status());
  // ...or in two runs, the miner restored from the store in between.
  ASSERT_OK(Ingest(dir.Sub("apart"), {a}, 2, 64 << 10).status());
  ASSERT_OK(Ingest(dir.Sub("apart"), {b}, 2, 64 << 10).status());
  Mined together = ReadBack(dir.Sub("together"));
  Mined apart = ReadBack(dir.Sub("apart"));
  ASSERT_EQ(together.template_by_offset.size(), 10000u);
  EXPECT_EQ(together.template_by_offset, apart.template_by_offset);
  EXPECT_EQ(together.templates, apart.templates);
}

}  // namespace
}  // namespace faultline::tools
