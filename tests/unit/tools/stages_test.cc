// The template stage's persistence: what MineBatch hands the store (full
// templates, counter records, folds) must load back as the miner's state,
// across folds and restarts.
#include "tools/internal/stages.h"

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ingest/parser.h"
#include "storage/store.h"
#include "tests/testutil/test_util.h"

namespace faultline::tools::internal {
namespace {

std::vector<storage::StoredTemplate> AsStored(const std::vector<ingest::MinedTemplate>& mined) {
  std::vector<storage::StoredTemplate> out;
  for (const ingest::MinedTemplate& t : mined) {
    out.push_back(storage::StoredTemplate{t.id, t.service, t.text, t.count, t.first_seen_ns,
                                          t.last_seen_ns, t.example});
  }
  return out;
}

// Mines `batches` batches of a few lines each into the store; returns how
// many folds the stage asked for.
int MineInto(const Config& config, storage::Store* store, MiningState* state, int first,
             int batches) {
  ingest::LineParser parser(config.parser);
  int folds = 0;
  for (int b = first; b < first + batches; ++b) {
    RecordBatch batch;
    const uint32_t source = batch.AddSource("test", 0);
    for (int i = 0; i < 6; ++i) {
      // Steady templates, one that appears every 50 batches and, now and
      // then, a brand-new shape.
      std::string message = i < 4 ? fmt::format("request {} served in {} ms", b * 10 + i, i)
                                   : fmt::format("cache {} warm", b);
      if (i == 5 && b % 50 == 0) message = fmt::format("rare event number{} happened", b / 50);
      const std::string line = fmt::format(
          R"({{"ts":"2026-11-24T10:{:02}:{:02}Z","service":"{}","msg":"{}"}})", (b / 60) % 60,
          b % 60, i % 2 == 0 ? "api" : "db", message);
      parser.ParseLine(line, static_cast<uint64_t>(b * 6 + i), source, &batch);
    }
    storage::EncodedBatch encoded;
    MineBatch(state, &batch, &encoded.templates);
    if (encoded.templates.fold) ++folds;
    EXPECT_OK(store->Write(std::move(encoded), {}));
  }
  return folds;
}

TEST(MiningStages, StoredTemplatesMatchTheMinerAcrossFoldsAndRestarts) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  Config config;
  std::vector<storage::StoredTemplate> expected;
  {
    Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(dir, config.store);
    ASSERT_OK(store.status());
    Result<std::unique_ptr<MiningState>> state = StartMining(config, store->get());
    ASSERT_OK(state.status());
    // More than one fold interval, ending between folds so counter records
    // are left for the restart to merge.
    const int batches = static_cast<int>(kTemplateFoldBatches) * 2 + 37;
    EXPECT_EQ(MineInto(config, store->get(), state->get(), 0, batches), 2);
    expected = AsStored((*state)->miner->Snapshot());
    ASSERT_GE(expected.size(), 3u);
    Result<std::vector<storage::StoredTemplate>> loaded = (*store)->LoadTemplates();
    ASSERT_OK(loaded.status());
    EXPECT_EQ(*loaded, expected);
  }
  Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(dir, config.store);
  ASSERT_OK(store.status());
  Result<std::unique_ptr<MiningState>> state = StartMining(config, store->get());
  ASSERT_OK(state.status());
  EXPECT_EQ(AsStored((*state)->miner->Snapshot()), expected);
  // The first batch after a restart folds everything (the records left
  // behind name templates this run has not seen yet).
  EXPECT_EQ(MineInto(config, store->get(), state->get(), 1000, 3), 1);
  Result<std::vector<storage::StoredTemplate>> loaded = (*store)->LoadTemplates();
  ASSERT_OK(loaded.status());
  EXPECT_EQ(*loaded, AsStored((*state)->miner->Snapshot()));
  uint64_t total = 0;
  for (const storage::StoredTemplate& t : *loaded) total += t.count;
  EXPECT_EQ(total, (2 * kTemplateFoldBatches + 37 + 3) * 6);
}

}  // namespace
}  // namespace faultline::tools::internal
