// Ingests one day of the real Nezha TrainTicket telemetry (logs, spans and
// metrics) when ../shared/data is present, and checks the store's counts per
// service, kind and level against a direct count of the files made with
// simdjson's DOM API (independent of faultline's parser). Skipped without the
// data, so `make test` passes on a bare checkout.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <map>
#include <simdjson.h>

#include "storage/reader.h"
#include "tests/testutil/test_util.h"
#include "tools/ingest_pipeline.h"

namespace faultline {
namespace {

struct DirectCount {
  uint64_t lines = 0;
  std::map<std::string, uint64_t> by_service;
  std::map<std::string, uint64_t> by_kind;
  // service -> level -> count, logs only
  std::map<std::string, std::map<Level, uint64_t>> log_levels;
};

void CountFile(const std::string& path, DirectCount* count) {
  gzFile file = gzopen(path.c_str(), "rb");
  ASSERT_NE(file, nullptr) << path;
  gzbuffer(file, 1 << 20);
  simdjson::dom::parser parser;
  std::string line;
  std::vector<char> buf(1 << 20);
  while (gzgets(file, buf.data(), static_cast<int>(buf.size())) != nullptr) {
    line.assign(buf.data());
    while (!line.empty() && line.back() != '\n' && !gzeof(file)) {
      if (gzgets(file, buf.data(), static_cast<int>(buf.size())) == nullptr) break;
      line.append(buf.data());
    }
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (line.empty()) continue;
    ++count->lines;
    // Some metric samples are written as NaN, which JSON does not allow;
    // count them as the numbers they stand for.
    for (size_t at = line.find(":NaN"); at != std::string::npos; at = line.find(":NaN", at)) {
      line.replace(at, 4, ":null");
    }
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line.substr(0, 200);
    std::string_view service, kind = "log", level;
    ASSERT_EQ(doc["service"].get(service), simdjson::SUCCESS);
    std::string_view k;
    if (doc["kind"].get(k) == simdjson::SUCCESS) kind = k;
    count->by_service[std::string(service)]++;
    count->by_kind[std::string(kind)]++;
    if (kind == "log") {
      Level parsed = Level::kUnknown;
      if (doc["level"].get(level) == simdjson::SUCCESS) ParseLevel(level, &parsed);
      count->log_levels[std::string(service)][parsed]++;
    }
  }
  gzclose(file);
}

TEST(NezhaTest, OneDayOfLogsSpansAndMetricsCountsMatchTheFiles) {
  std::filesystem::path data = testing::SharedDataDir();
  if (data.empty() || !std::filesystem::exists(data / "nezha-tt" / "logs-2023-01-29.jsonl.gz")) {
    GTEST_SKIP() << "../shared/data/nezha-tt not present";
  }
  std::vector<std::string> files;
  for (const char* name : {"logs-2023-01-29.jsonl.gz", "spans-2023-01-29.jsonl.gz",
                           "metrics-2023-01-29.jsonl.gz"}) {
    files.push_back((data / "nezha-tt" / name).string());
  }
  DirectCount direct;
  for (const std::string& file : files) {
    CountFile(file, &direct);
    if (HasFatalFailure()) return;
  }

  testing::TempDir dir;
  tools::IngestRequest request;
  request.db_dir = dir.Sub("db");
  request.files = files;
  Result<tools::IngestSummary> summary = tools::RunIngest(request);
  ASSERT_OK(summary.status());
  EXPECT_EQ(summary->counters.TotalRejects(), 0u);
  EXPECT_EQ(summary->records, direct.lines);

  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(request.db_dir);
  ASSERT_OK(reader.status());
  Result<storage::StoreStats> stats = (*reader)->Stats();
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->records, direct.lines);
  EXPECT_EQ(stats->by_kind[static_cast<size_t>(RecordKind::kLog)], direct.by_kind["log"]);
  EXPECT_EQ(stats->by_kind[static_cast<size_t>(RecordKind::kSpan)], direct.by_kind["span"]);
  EXPECT_EQ(stats->by_kind[static_cast<size_t>(RecordKind::kMetric)], direct.by_kind["metric"]);
  EXPECT_EQ(stats->by_service, direct.by_service);
  EXPECT_GT(direct.by_service.size(), 30u);

  // Per service and level, through the query path.
  for (const auto& [service, levels] : direct.log_levels) {
    for (const auto& [level, n] : levels) {
      storage::Query query;
      query.services = {service};
      query.kind = RecordKind::kLog;
      query.level_mask = 1u << static_cast<unsigned>(level);
      Result<uint64_t> got = (*reader)->Count(query);
      ASSERT_OK(got.status());
      EXPECT_EQ(*got, n) << service << " " << LevelName(level);
    }
  }
}

}  // namespace
}  // namespace faultline
