#include "storage/internal/bloom.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "storage/internal/hash.h"
#include "storage/internal/tokens.h"

namespace faultline::storage::internal {
namespace {

TEST(BloomTest, HasNoFalseNegativesAndFewFalsePositives) {
  BloomBuilder builder;
  for (int i = 0; i < 20000; ++i) builder.AddHash(HashTraceId("trace-" + std::to_string(i)));
  for (int i = 0; i < 20000; i += 2) builder.AddHash(HashTraceId("trace-" + std::to_string(i)));
  EXPECT_EQ(builder.distinct(), 20000u);
  const std::string filter = builder.Finish(10);
  EXPECT_LE(filter.size(), 1 + 20000 * 10 / 8 + 64);
  BloomView view(filter);
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(view.MayContain(HashTraceId("trace-" + std::to_string(i)))) << i;
  }
  int false_positives = 0;
  for (int i = 0; i < 20000; ++i) {
    false_positives += view.MayContain(HashTraceId("other-" + std::to_string(i))) ? 1 : 0;
  }
  EXPECT_LT(false_positives, 20000 * 3 / 100);  // ~1% expected at 10 bits/key
}

TEST(BloomTest, BuilderResetsAfterFinish) {
  BloomBuilder builder;
  builder.AddHash(1);
  EXPECT_FALSE(builder.Finish(10).empty());
  EXPECT_EQ(builder.distinct(), 0u);
  EXPECT_EQ(builder.Finish(10), "");
}

TEST(BloomTest, EmptyFilterHoldsNothingAndDamagedFilterHoldsEverything) {
  EXPECT_FALSE(BloomView("").MayContain(HashToken("x")));
  EXPECT_TRUE(BloomView("\x05garbage").MayContain(HashToken("x")));
  EXPECT_TRUE(BloomView(std::string(65, '\0')).MayContain(HashToken("x")));  // 0 probes
}

TEST(BloomTest, HashIsStableAcrossLengths) {
  // The hash is part of the stored format; these values must never change.
  EXPECT_EQ(Hash64(""), Hash64(""));
  std::vector<uint64_t> seen;
  std::string text;
  for (int n = 0; n < 40; ++n) {
    seen.push_back(Hash64(text));
    text.push_back(static_cast<char>('a' + n % 26));
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end()) << "collision on prefixes";
}

std::vector<std::string> Tokens(std::string_view text) {
  std::vector<std::string> out;
  ForEachToken(text, [&](std::string_view t) { out.emplace_back(t); });
  return out;
}

TEST(TokensTest, SplitsOnNonWordBytes) {
  EXPECT_EQ(Tokens("ERROR: Connection refused (db_pool-2) über"),
            (std::vector<std::string>{"ERROR", "Connection", "refused", "db_pool", "2", "über"}));
  EXPECT_TRUE(Tokens("").empty());
  EXPECT_TRUE(Tokens(" ..!! ").empty());
  EXPECT_EQ(HashToken("Connection"), HashToken("connection"));
  EXPECT_NE(HashToken("connection"), HashToken("connections"));
}

TEST(GrepMatcherTest, MatchesWordsConsecutivelyIgnoringCase) {
  GrepMatcher grep("connection refused");
  EXPECT_TRUE(grep.Matches("ERROR: Connection refused by peer"));
  EXPECT_TRUE(grep.Matches("connection-REFUSED"));
  EXPECT_FALSE(grep.Matches("connection refusedx"));
  EXPECT_FALSE(grep.Matches("refused connection"));
  EXPECT_FALSE(grep.Matches("connection was refused"));
  EXPECT_EQ(grep.token_hashes().size(), 2u);

  GrepMatcher repeated("a a b");
  EXPECT_TRUE(repeated.Matches("x a a a b"));
  EXPECT_FALSE(repeated.Matches("a b a b"));

  GrepMatcher single("GPU");
  EXPECT_TRUE(single.Matches("xid 79 on gpu 3"));
  EXPECT_FALSE(single.Matches("gpus"));

  GrepMatcher punctuation("->");  // no word: case-insensitive substring
  EXPECT_TRUE(punctuation.Matches("a -> b"));
  EXPECT_FALSE(punctuation.Matches("a - > b"));
  EXPECT_TRUE(punctuation.token_hashes().empty());
}

}  // namespace
}  // namespace faultline::storage::internal

namespace faultline::storage::internal {
namespace {

TEST(GrepMatcherTest, OnlyWordsWithoutDigitsPruneBlocks) {
  EXPECT_TRUE(IsIndexedToken("outofmemoryerror"));
  EXPECT_FALSE(IsIndexedToken("12345"));
  EXPECT_FALSE(IsIndexedToken("d10fe63c"));
  EXPECT_FALSE(IsIndexedToken("v1"));

  GrepMatcher words("Order 12345 failed");
  // "order" and "failed" go to the bloom; the number is checked row by row.
  EXPECT_EQ(words.token_hashes(),
            (std::vector<uint64_t>{HashToken("order"), HashToken("failed")}));
  EXPECT_TRUE(words.Matches("payment: ORDER 12345 failed twice"));
  EXPECT_FALSE(words.Matches("payment: order 12346 failed twice"));

  GrepMatcher number("12345");
  EXPECT_TRUE(number.token_hashes().empty());
  EXPECT_TRUE(number.Matches("order 12345 placed"));
  EXPECT_FALSE(number.Matches("order 123456 placed"));
}

}  // namespace
}  // namespace faultline::storage::internal
