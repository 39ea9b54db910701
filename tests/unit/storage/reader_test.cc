#include "storage/reader.h"

#include <algorithm>
#include <cctype>
#include <random>

#include <gtest/gtest.h>

#include "storage/store.h"
#include "tests/testutil/test_util.h"
#include "tests/unit/storage/record_gen.h"

namespace faultline::storage {
namespace {

constexpr int64_t kBase = 1'700'000'000LL * 1'000'000'000;
constexpr int64_t kStep = 5'000'000;  // 5 ms; 6000 records span 30 s

// Brute-force word split for the expected results, independent of the
// storage tokenizer.
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '_' || c >= 0x80) {
      current.push_back(static_cast<char>(std::tolower(c)));
    } else if (!current.empty()) {
      words.push_back(current);
      current.clear();
    }
  }
  if (!current.empty()) words.push_back(current);
  return words;
}

bool BruteMatches(const Query& q, const Record& r) {
  if (!q.services.empty() &&
      std::find(q.services.begin(), q.services.end(), r.service) == q.services.end()) {
    return false;
  }
  if (((q.level_mask >> static_cast<unsigned>(r.level)) & 1u) == 0) return false;
  if (q.kind && r.kind != *q.kind) return false;
  if (r.ts_ns < q.since_ns || r.ts_ns >= q.until_ns) return false;
  if (!q.trace_id.empty() && r.trace_id != q.trace_id) return false;
  if (!q.contains.empty() && r.message.find(q.contains) == std::string::npos) return false;
  if (!q.grep.empty()) {
    const std::vector<std::string> want = Words(q.grep);
    const std::vector<std::string> have = Words(r.message);
    bool found = false;
    for (size_t start = 0; !found && start + want.size() <= have.size(); ++start) {
      found = std::equal(want.begin(), want.end(), have.begin() + static_cast<long>(start));
    }
    if (!found) return false;
  }
  return true;
}

std::vector<Record> BruteSearch(const Query& q, std::vector<Record> all) {
  std::sort(all.begin(), all.end(),
            [](const Record& a, const Record& b) { return a.ts_ns < b.ts_ns; });
  if (q.reverse) std::reverse(all.begin(), all.end());
  std::vector<Record> out;
  for (const Record& r : all) {
    if (out.size() >= q.limit) break;
    if (BruteMatches(q, r)) out.push_back(r);
  }
  return out;
}

std::vector<Record> Search(Reader* reader, const Query& q) {
  std::vector<Record> out;
  Status status = reader->Search(q, [&](const Record& r) {
    out.push_back(r);
    return true;
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  return out;
}

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.Sub("db");
    records_ = testing::GenerateRecords(6000, 42, kBase, kStep, /*shuffle=*/true);
    StoreOptions options;
    options.block.max_records = 150;
    options.block.max_span_ns = 4'000'000'000;
    Result<std::unique_ptr<Store>> store = Store::Open(dir_, options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    // Three batches: blocks of one service overlap in time across batches,
    // which is what the merge must handle.
    for (size_t part = 0; part < 3; ++part) {
      std::vector<Record> slice(records_.begin() + static_cast<long>(part * 2000),
                                records_.begin() + static_cast<long>((part + 1) * 2000));
      ASSERT_OK((*store)->Write(EncodeBatch(testing::ToBatch(slice), options.block), {}));
    }
    ASSERT_OK((*store)->Flush());
    store->reset();
    Result<std::unique_ptr<Reader>> reader = Reader::Open(dir_);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    reader_ = std::move(reader).value();
  }

  Query RandomQuery(std::mt19937& rng) {
    Query q;
    static const std::vector<std::string> services = {"api", "gpu-scheduler", "moderation",
                                                      "chat", "absent"};
    const auto& words = testing::Vocabulary();
    if (rng() % 3 == 0) {
      for (size_t n = 1 + rng() % 2; n > 0; --n) q.services.push_back(services[rng() % 5]);
    }
    if (rng() % 3 == 0) q.level_mask = static_cast<uint32_t>(rng() % (1u << kLevelCount));
    if (rng() % 5 == 0) q.kind = static_cast<RecordKind>(rng() % kRecordKindCount);
    if (rng() % 2 == 0) {
      const int64_t span = 6000 * kStep;
      q.since_ns = kBase + static_cast<int64_t>(rng() % 1000) * span / 1000 - kStep;
      q.until_ns = q.since_ns + static_cast<int64_t>(rng() % 1000) * span / 1000;
    }
    if (rng() % 4 == 0) q.trace_id = "trace" + std::to_string(rng() % 55);  // some absent
    if (rng() % 4 == 0) {
      std::string grep = words[rng() % words.size()];
      if (rng() % 2) grep += " " + words[rng() % words.size()];
      if (rng() % 2) std::transform(grep.begin(), grep.end(), grep.begin(), ::toupper);
      if (rng() % 10 == 0) grep = "nosuchword";
      q.grep = grep;
    }
    if (rng() % 6 == 0) q.contains = words[rng() % words.size()].substr(1, 3);
    if (rng() % 2 == 0) q.limit = rng() % 3 == 0 ? 1 : rng() % 300;
    q.reverse = rng() % 2 == 0;
    return q;
  }

  faultline::testing::TempDir tmp_;
  std::string dir_;
  std::vector<Record> records_;
  std::unique_ptr<Reader> reader_;
};

std::string Describe(const Query& q) {
  std::string out = "services=";
  for (const auto& s : q.services) out += s + ",";
  out += " levels=" + std::to_string(q.level_mask) +
         " kind=" + (q.kind ? std::to_string(static_cast<int>(*q.kind)) : "-") +
         " since=" + std::to_string(q.since_ns - kBase) +
         " until=" + std::to_string(q.until_ns - kBase) + " trace=" + q.trace_id +
         " grep=" + q.grep + " contains=" + q.contains +
         " limit=" + std::to_string(q.limit) + " reverse=" + std::to_string(q.reverse);
  return out;
}

TEST_F(ReaderTest, SearchMatchesBruteForce) {
  std::mt19937 rng(2024);
  size_t nonempty = 0;
  for (int i = 0; i < 300; ++i) {
    const Query q = RandomQuery(rng);
    const std::vector<Record> want = BruteSearch(q, records_);
    const std::vector<Record> got = Search(reader_.get(), q);
    ASSERT_EQ(got.size(), want.size()) << Describe(q);
    for (size_t r = 0; r < want.size(); ++r) {
      ASSERT_EQ(got[r], want[r]) << "result " << r << " of " << Describe(q);
    }
    nonempty += want.empty() ? 0 : 1;
  }
  EXPECT_GT(nonempty, 150u) << "queries too selective to test much";
}

TEST_F(ReaderTest, CountMatchesBruteForce) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    Query q = RandomQuery(rng);
    q.limit = SIZE_MAX;
    const uint64_t want = BruteSearch(q, records_).size();
    Result<uint64_t> got = reader_->Count(q);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(*got, want) << Describe(q);
  }
  Result<uint64_t> all = reader_->Count(Query());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, records_.size());
}

TEST_F(ReaderTest, EmitReturningFalseStops) {
  size_t seen = 0;
  ASSERT_OK(reader_->Search(Query(), [&](const Record&) { return ++seen < 5; }));
  EXPECT_EQ(seen, 5u);
}

TEST(ReaderWhileWritingTest, CatchUpSeesNewBlocks) {
  faultline::testing::TempDir tmp;
  const std::string dir = tmp.Sub("db");
  Result<std::unique_ptr<Store>> store = Store::Open(dir, StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::vector<Record> first = testing::GenerateRecords(300, 1, kBase, kStep);
  std::vector<Record> second = testing::GenerateRecords(300, 2, kBase + 300 * kStep, kStep);
  ASSERT_OK((*store)->Write(EncodeBatch(testing::ToBatch(first), BlockOptions()), {}));

  Result<std::unique_ptr<Reader>> opened = Reader::Open(dir);  // the writer stays open
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Reader& reader = **opened;
  Result<uint64_t> count = reader.Count(Query());
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 300u);
  Result<uint64_t> last = reader.LastBlockSeq();
  ASSERT_TRUE(last.ok());
  const uint64_t first_last_seq = *last;
  EXPECT_GT(first_last_seq, 0u);

  ASSERT_OK((*store)->Write(EncodeBatch(testing::ToBatch(second), BlockOptions()), {}));
  ASSERT_OK(reader.CatchUp());
  count = reader.Count(Query());
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 600u);

  std::vector<Record> tail;
  Result<uint64_t> seen = reader.SearchNewBlocks(Query(), first_last_seq, [&](const Record& r) {
    tail.push_back(r);
    return true;
  });
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_GT(*seen, first_last_seq);
  std::sort(tail.begin(), tail.end(),
            [](const Record& a, const Record& b) { return a.ts_ns < b.ts_ns; });
  EXPECT_EQ(tail, second);

  // Nothing new: the same sequence comes back and nothing is emitted.
  size_t again = 0;
  Result<uint64_t> idle = reader.SearchNewBlocks(Query(), *seen, [&](const Record&) {
    ++again;
    return true;
  });
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(*idle, *seen);
  EXPECT_EQ(again, 0u);

  // Stopping inside a block reports the block before it, so nothing is lost.
  Result<uint64_t> stopped =
      reader.SearchNewBlocks(Query(), first_last_seq, [&](const Record&) { return false; });
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(*stopped, first_last_seq);
}

}  // namespace
}  // namespace faultline::storage
