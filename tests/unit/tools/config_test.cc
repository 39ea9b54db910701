#include "tools/config.h"

#include <filesystem>
#include <string>
#include <vector>

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

TEST(ConfigTest, ReadsSignalsAndTheirRules) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(R"(
[signals]
bucket = "30s"
max_dimension_values = 50
[[signals.rules]]
match = "payment provider"
family = "infrastructure"
kind = "third_party"
direction = "up"
)",
                                &errors);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->rollup.bucket_ns, 30'000'000'000);
  EXPECT_EQ(config->rollup.max_dimension_values, 50u);
  ASSERT_EQ(config->signal_rules.size(), 1u);
  EXPECT_EQ(config->signal_rules[0].family, correlate::Family::kInfrastructure);
  EXPECT_EQ(config->signal_rules[0].direction, 1);

  errors.clear();
  Result<Config> bad = Parse(R"(
[signals]
bucket = "1500ms"
[[signals.rules]]
match = "x"
family = "weather"
[[signals.rules]]
match = "(unclosed"
family = "software"
)",
                             &errors);
  ASSERT_FALSE(bad.ok());
  const std::string message = bad.status().message();
  EXPECT_NE(message.find("whole seconds"), std::string::npos) << message;
  EXPECT_NE(message.find("weather"), std::string::npos) << message;
}

TEST(ConfigTest, ReadsTopology) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(R"(
[topology]
horizon = "2m"
peer_keys = ["upstream"]
edges = ["edge -> gateway", "  gateway->auth  "]
)",
                                &errors);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->topology.horizon_ns, 120'000'000'000);
  EXPECT_EQ(config->topology.peer_keys, std::vector<std::string>{"upstream"});
  const std::vector<std::pair<std::string, std::string>> edges = {{"edge", "gateway"},
                                                                   {"gateway", "auth"}};
  EXPECT_EQ(config->topology_edges, edges);

  errors.clear();
  Result<Config> bad = Parse(R"(
[topology]
edges = ["gateway", "a -> a", 3]
fanout = 2
)",
                             &errors);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(errors.size(), 4u) << bad.status().message();
  const std::string message = bad.status().message();
  EXPECT_NE(message.find("'gateway'"), std::string::npos) << message;
  EXPECT_NE(message.find("'a -> a'"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'fanout' in [topology]"), std::string::npos) << message;
}

TEST(ConfigTest, ReadsIncidents) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(R"(
[incidents]
group_gap = "2m"
resolve_after = "10m"
interval = "5s"
lookback = "1h"
lateness = "1m"
catch_up = "2h"
min_cause_weight = 3.5
)",
                                &errors);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->correlate.group_gap_ns, 120'000'000'000);
  EXPECT_EQ(config->correlate.resolve_after_ns, 600'000'000'000);
  EXPECT_EQ(config->incidents_interval_ns, 5'000'000'000);
  EXPECT_EQ(config->incidents_lookback_ns, 3'600'000'000'000);
  EXPECT_EQ(config->incidents_lateness_ns, 60'000'000'000);
  EXPECT_EQ(config->incidents_catch_up_ns, 7'200'000'000'000);
  EXPECT_EQ(config->correlate.min_cause_weight, 3.5);
  EXPECT_EQ(config->correlate.min_incident_weight, correlate::CorrelateOptions{}.min_incident_weight);

  errors.clear();
  Result<Config> bad = Parse(R"(
[incidents]
resolve_after = "soon"
min_incident_weight = -1
pager = true
)",
                             &errors);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(errors.size(), 3u) << bad.status().message();
  const std::string message = bad.status().message();
  EXPECT_NE(message.find("incidents.min_incident_weight"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'pager' in [incidents]"), std::string::npos) << message;
}

TEST(ConfigTest, BadSignalRulePatternIsAConfigError) {
  std::vector<ConfigError> errors;
  Result<Config> bad = Parse("[[signals.rules]]\nmatch = \"(unclosed\"\nfamily = \"software\"\n",
                             &errors);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("(unclosed"), std::string::npos) << bad.status().message();
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

constexpr char kSourcesConfig[] = R"(
[ingest]
line_format = "<Date> <Time> <Level> <Component>: <Content>"

[[sources]]
match = "hdfs*.log*"
service = "hdfs"
line_format = "<Date> <Time> <Pid> <Level> <Component>: <Content>"
time_layout = "%y%m%d %H%M%S"

[[sources]]
match = "*.log*"
time_layout = "%y/%m/%d %H:%M:%S"

[[sources]]
match = "/srv/proxifier/*"
service = "proxy"
)";

// The pattern of a line format, or "" for none.
std::string PatternOf(const ingest::ParserOptions& options) {
  return options.line_format != nullptr ? options.line_format->pattern() : "";
}
std::string LayoutOf(const ingest::ParserOptions& options) {
  return options.time_layout != nullptr ? options.time_layout->layout() : "";
}

// The errors of a config that must not load.
std::vector<ConfigError> ErrorsOf(const std::string& text) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(text, &errors);
  EXPECT_FALSE(config.ok()) << text;
  EXPECT_FALSE(errors.empty()) << text;
  return errors;
}

TEST(ConfigSourcesTest, ReadsEntriesInFileOrder) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(kSourcesConfig, &errors);
  ASSERT_OK(config.status());
  ASSERT_EQ(config->sources.size(), 3u);
  EXPECT_EQ(config->sources[0].match, "hdfs*.log*");
  EXPECT_EQ(config->sources[0].service, "hdfs");
  ASSERT_NE(config->sources[0].line_format, nullptr);
  EXPECT_EQ(config->sources[0].line_format->pattern(),
            "<Date> <Time> <Pid> <Level> <Component>: <Content>");
  ASSERT_NE(config->sources[0].time_layout, nullptr);
  EXPECT_EQ(config->sources[0].time_layout->layout(), "%y%m%d %H%M%S");
  EXPECT_EQ(config->sources[1].match, "*.log*");
  EXPECT_EQ(config->sources[1].service, "");
  EXPECT_EQ(config->sources[1].line_format, nullptr);
  EXPECT_EQ(config->sources[2].match, "/srv/proxifier/*");
  EXPECT_EQ(config->sources[2].time_layout, nullptr);
}

TEST(ConfigSourcesTest, FirstMatchingEntryGivesTheParserOptions) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(kSourcesConfig, &errors);
  ASSERT_OK(config.status());
  const std::string ingest_format = "<Date> <Time> <Level> <Component>: <Content>";

  // Matches entries 1 and 2 by its name: the first wins, whole.
  ingest::ParserOptions hdfs = config->ParserOptionsFor("/data/in/hdfs-1.log.gz", "hdfs-1");
  EXPECT_EQ(hdfs.default_service, "hdfs");
  EXPECT_EQ(PatternOf(hdfs), "<Date> <Time> <Pid> <Level> <Component>: <Content>");
  EXPECT_EQ(LayoutOf(hdfs), "%y%m%d %H%M%S");
  EXPECT_EQ(config->SourceFor("/data/in/hdfs-1.log.gz"), &config->sources[0]);

  // Entry 2 sets no service and no line format: the fallback and [ingest].
  ingest::ParserOptions spark = config->ParserOptionsFor("spark.log", "spark");
  EXPECT_EQ(spark.default_service, "spark");
  EXPECT_EQ(PatternOf(spark), ingest_format);
  EXPECT_EQ(LayoutOf(spark), "%y/%m/%d %H:%M:%S");

  // A glob with '/' is matched on the path; other settings stay [ingest]'s.
  ingest::ParserOptions proxy = config->ParserOptionsFor("/srv/proxifier/p.txt", "p");
  EXPECT_EQ(proxy.default_service, "proxy");
  EXPECT_EQ(PatternOf(proxy), ingest_format);
  EXPECT_EQ(LayoutOf(proxy), "");

  // No entry: [ingest] and the fallback service. Stdin matches no entry.
  for (const std::string path : {"/srv/other/app.json", "hdfs.txt", "-"}) {
    ingest::ParserOptions other = config->ParserOptionsFor(path, "fallback");
    EXPECT_EQ(config->SourceFor(path), nullptr) << path;
    EXPECT_EQ(other.default_service, "fallback") << path;
    EXPECT_EQ(PatternOf(other), ingest_format) << path;
    EXPECT_EQ(LayoutOf(other), "") << path;
  }
  // The rest of the options are [ingest]'s whatever the entry.
  EXPECT_EQ(hdfs.max_line_bytes, config->parser.max_line_bytes);
}

TEST(ConfigSourcesTest, PathGlobsMatchTheAbsolutePathToo) {
  testing::TempDir dir;
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(
      "[[sources]]\nmatch = \"" + dir.path().string() + "/logs/*.log\"\nservice = \"abs\"\n",
      &errors);
  ASSERT_OK(config.status());
  std::filesystem::create_directories(dir.path() / "logs");
  const std::filesystem::path saved = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  EXPECT_EQ(config->ParserOptionsFor("logs/a.log", "a").default_service, "abs");
  EXPECT_EQ(config->ParserOptionsFor("./logs/../logs/a.log", "a").default_service, "abs");
  EXPECT_EQ(config->ParserOptionsFor("a.log", "a").default_service, "a");
  std::filesystem::current_path(saved);
}

TEST(ConfigSourcesTest, FlagsOverrideEverySource) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(kSourcesConfig, &errors);
  ASSERT_OK(config.status());
  ASSERT_OK(ApplyParserFlags("<Date> <Time> <Content>", "", &*config));
  ingest::ParserOptions hdfs = config->ParserOptionsFor("hdfs.log", "x");
  EXPECT_EQ(PatternOf(hdfs), "<Date> <Time> <Content>");
  EXPECT_EQ(LayoutOf(hdfs), "%y%m%d %H%M%S");  // not given as a flag: the entry's
  EXPECT_EQ(hdfs.default_service, "hdfs");     // --service is the caller's
  ASSERT_OK(ApplyParserFlags("", "%m.%d %H:%M:%S", &*config));
  EXPECT_EQ(LayoutOf(config->ParserOptionsFor("hdfs.log", "x")), "%m.%d %H:%M:%S");
  EXPECT_EQ(LayoutOf(config->ParserOptionsFor("spark.log", "x")), "%m.%d %H:%M:%S");
  EXPECT_EQ(LayoutOf(config->ParserOptionsFor("other.json", "x")), "%m.%d %H:%M:%S");

  Status bad = ApplyParserFlags("", "%y%m%Q", &*config);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("--time-layout"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("column 5: unknown directive %Q"), std::string::npos)
      << bad.message();
  bad = ApplyParserFlags("<Date", "", &*config);
  EXPECT_NE(bad.message().find("--line-format"), std::string::npos) << bad.message();

  // A time layout with no line format anywhere could never apply.
  Config plain = DefaultConfig();
  bad = ApplyParserFlags("", "%y%m%d %H%M%S", &plain);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("give --line-format too"), std::string::npos) << bad.message();
  EXPECT_OK(ApplyParserFlags("<Date> <Time> <Content>", "%y%m%d %H%M%S", &plain));
  EXPECT_EQ(LayoutOf(plain.parser), "%y%m%d %H%M%S");
}

TEST(ConfigSourcesTest, ReportsEveryBadEntryWithItsLine) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(R"([[sources]]
match = "hdfs[.log"
servce = "x"
line_format = "<Date"
time_layout = "%y%m%Q"

[[sources]]
service = ""
time_layout = "%m.%d %H:%M:%S"

[[sources]]
match = 3
line_format = ["<Date>"]
)",
                                &errors);
  ASSERT_FALSE(config.ok());
  const std::string all = config.status().message();
  ASSERT_EQ(errors.size(), 9u) << all;
  EXPECT_EQ(errors[0].line, 2);
  EXPECT_EQ(errors[0].column, 9);
  EXPECT_EQ(errors[0].message,
            "[[sources]] #1 match: '[' at character 5 is not closed by ']'");
  EXPECT_EQ(errors[1].line, 3);
  EXPECT_EQ(errors[1].message,
            "unknown key 'servce' in [[sources]] (known: match, service, line_format, "
            "time_layout)");
  EXPECT_EQ(errors[2].line, 4);
  EXPECT_NE(errors[2].message.find("[[sources]] #1 line_format: line format column 1"),
            std::string::npos)
      << errors[2].message;
  EXPECT_EQ(errors[3].line, 5);
  EXPECT_NE(errors[3].message.find("[[sources]] #1 time_layout: time layout column 5: unknown "
                                   "directive %Q"),
            std::string::npos)
      << errors[3].message;
  EXPECT_EQ(errors[4].line, 7);
  EXPECT_EQ(errors[4].message, "[[sources]] #2 needs match = \"GLOB\" (the files it applies to)");
  EXPECT_EQ(errors[5].line, 8);
  EXPECT_EQ(errors[5].message, "[[sources]] #2 service must not be empty");
  EXPECT_EQ(errors[6].line, 9);
  EXPECT_EQ(errors[6].message,
            "[[sources]] #2 time_layout needs a line_format, in this entry or in [ingest]");
  EXPECT_EQ(errors[7].line, 12);
  EXPECT_EQ(errors[7].message, "[[sources]] #3 match must be a string");
  EXPECT_EQ(errors[8].line, 13);
  EXPECT_EQ(errors[8].message, "[[sources]] #3 line_format must be a string");
  EXPECT_NE(all.find("test.toml:13:"), std::string::npos) << all;
}

TEST(ConfigSourcesTest, RejectsSourcesThatAreNotAnArrayOfTables) {
  const std::vector<ConfigError> errors = ErrorsOf("[sources]\nmatch = \"x\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 1);
  EXPECT_EQ(errors[0].message, "sources must be written as [[sources]] tables");
}

TEST(ConfigSourcesTest, ValidatesGlobs) {
  for (const char* glob : {"[", "a[b", "x\\", "[!", "[]"}) {
    const std::vector<ConfigError> errors =
        ErrorsOf("[[sources]]\nmatch = '" + std::string(glob) + "'\n");
    ASSERT_EQ(errors.size(), 1u) << glob;
    EXPECT_EQ(errors[0].line, 2) << glob;
  }
  for (const char* glob : {"[]x]", "[!]]", "*.log", "a\\[b", "[a-z]*.gz", "/var/log/*/x.log"}) {
    std::vector<ConfigError> errors;
    Result<Config> config =
        Parse("[[sources]]\nmatch = '" + std::string(glob) + "'\n", &errors);
    EXPECT_TRUE(config.ok()) << glob << ": " << config.status().message();
  }
  EXPECT_EQ(ErrorsOf("[[sources]]\nmatch = ''\n")[0].message,
            "[[sources]] #1 match: the glob is empty");
}

TEST(ConfigTest, ReadsIngestTimeLayout) {
  std::vector<ConfigError> errors;
  Result<Config> config = Parse(
      "[ingest]\nline_format = \"<Date> <Time> <Content>\"\ntime_layout = \"%y%m%d %H%M%S\"\n",
      &errors);
  ASSERT_OK(config.status());
  EXPECT_EQ(LayoutOf(config->parser), "%y%m%d %H%M%S");

  // A layout no line format can use is an error at its line.
  errors = ErrorsOf("[ingest]\nthreads = 2\ntime_layout = \"%y%m%d %H%M%S\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 3);
  EXPECT_EQ(errors[0].message,
            "ingest.time_layout needs a line_format, in [ingest] or in a [[sources]] entry");
  // A [[sources]] line format can use it.
  errors.clear();
  config = Parse(
      "[ingest]\ntime_layout = \"%y%m%d %H%M%S\"\n[[sources]]\nmatch = \"h*\"\n"
      "line_format = \"<Date> <Time> <Content>\"\n",
      &errors);
  ASSERT_OK(config.status());
  EXPECT_EQ(LayoutOf(config->ParserOptionsFor("h.log", "h")), "%y%m%d %H%M%S");

  errors = ErrorsOf("[ingest]\nline_format = \"<Date> <Content>\"\ntime_layout = \"%H\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 3);
  EXPECT_NE(errors[0].message.find("ingest.time_layout: time layout \"%H\" does not give the day"),
            std::string::npos)
      << errors[0].message;
}

}  // namespace
}  // namespace faultline::tools
