#include "tools/config.h"

#include <gtest/gtest.h>

#include "tests/testutil/test_util.h"

namespace faultline::tools {
namespace {

Result<Config> Parse(const std::string& text, std::vector<ConfigError>* errors) {
  return ParseConfig(text, "test.toml", errors);
}

TEST(ConfigTest, EmptyFileGivesDefaults) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse("", &errors);
  ASSERT_OK(config.status());
  EXPECT_EQ(config->parser.max_line_bytes, 1u << 20);
  EXPECT_EQ(config->parser.zone.name(), "UTC");
  EXPECT_EQ(config->store.block.max_records, 8192u);
}

TEST(ConfigTest, ReadsEverySection) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(R"(
[time]
default_zone = "+02:00"
[fields]
time = ["event_time", "logged_at"]
level = "sev"
service = ["app_name"]
[limits]
max_line_bytes = 4096
max_depth = 8
max_future = "1d"
min_timestamp = "2000-01-01T00:00:00Z"
[storage]
block_max_records = 1024
block_max_span = "30s"
compression_level = 3
[ingest]
threads = 3
join_multiline = false
)",
                                &errors);
  ASSERT_OK(config.status());
  EXPECT_EQ(config->parser.zone.OffsetForLocal(0), 2 * 3600);
  EXPECT_EQ(config->parser.aliases.time, (std::vector<std::string>{"event_time", "logged_at"}));
  EXPECT_EQ(config->parser.aliases.level, (std::vector<std::string>{"sev"}));
  EXPECT_EQ(config->parser.aliases.service, (std::vector<std::string>{"app_name"}));
  EXPECT_EQ(config->parser.max_line_bytes, 4096u);
  EXPECT_EQ(config->parser.max_depth, 8);
  EXPECT_EQ(config->parser.max_future_ns, 86400LL * kNanosPerSecond);
  EXPECT_EQ(config->parser.min_ts_ns, 946684800LL * kNanosPerSecond);
  EXPECT_EQ(config->store.block.max_records, 1024u);
  EXPECT_EQ(config->store.block.max_span_ns, 30LL * kNanosPerSecond);
  EXPECT_EQ(config->store.block.compression_level, 3);
  EXPECT_EQ(config->ingest.threads, 3);
  EXPECT_FALSE(config->parser.join_multiline);
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse("[limits]\nmax_depth = = 3\n", &errors);
  ASSERT_FALSE(config.ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 2);
  EXPECT_GT(errors[0].column, 0);
  EXPECT_NE(config.status().message().find("test.toml:2:"), std::string::npos)
      << config.status().message();
}

TEST(ConfigTest, ReportsEveryBadValueWithItsLine) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(R"([limits]
max_depth = 0
max_line_bytes = "big"
[fields]
levle = "sev"
[nonsense]
x = 1
[time]
default_zone = "Mars/Olympus"
)",
                                &errors);
  ASSERT_FALSE(config.ok());
  ASSERT_EQ(errors.size(), 5u) << config.status().message();
  EXPECT_EQ(errors[0].line, 2);
  EXPECT_NE(errors[0].message.find("limits.max_depth must be between 1 and 1024"),
            std::string::npos);
  EXPECT_EQ(errors[1].line, 3);
  EXPECT_NE(errors[1].message.find("must be an integer"), std::string::npos);
  EXPECT_EQ(errors[2].line, 5);
  EXPECT_NE(errors[2].message.find("unknown key 'levle' in [fields]"), std::string::npos);
  EXPECT_EQ(errors[3].line, 6);
  EXPECT_NE(errors[3].message.find("unknown section [nonsense]"), std::string::npos);
  EXPECT_EQ(errors[4].line, 9);
  EXPECT_NE(errors[4].message.find("time.default_zone"), std::string::npos);
}

TEST(ConfigTest, RejectsBadDuration) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse("[limits]\nmax_future = \"soon\"\n", &errors);
  ASSERT_FALSE(config.ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 2);
  EXPECT_NE(errors[0].message.find("positive duration"), std::string::npos);
}

TEST(ConfigTest, LoadConfigMissingFileIsNotFound) {
  Result<Config> config = LoadConfig("/nonexistent/faultline.toml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace faultline::tools
