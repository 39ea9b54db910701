#include "ingest/parser.h"

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/record.h"
#include "core/time.h"
#include "tests/testutil/test_util.h"

namespace faultline::ingest {
namespace {

constexpr int64_t kBaseNs = 1674981729LL * kNanosPerSecond;  // 2023-01-29T08:42:09Z
constexpr int64_t kMillis = 1'000'000;

// Reads tests/data/<relative>; FAULTLINE_SOURCE_DIR (set by CTest) or the
// working directory must be the source root.
std::string Fixture(const std::string& relative) {
  const std::string path = (testing::SourceDir() / "tests" / "data" / relative).string();
  std::string contents = testing::ReadFile(path);
  EXPECT_FALSE(contents.empty()) << "missing fixture " << path;
  return contents;
}

std::string AttrValue(const Record& record, std::string_view key, AttrType* type = nullptr) {
  for (const Attribute& attr : record.attributes) {
    if (attr.key == key) {
      if (type != nullptr) *type = attr.type;
      return attr.value;
    }
  }
  return "<missing>";
}

bool HasAttr(const Record& record, std::string_view key) {
  return AttrValue(record, key) != "<missing>";
}

class ParserTest : public ::testing::Test {
 protected:
  // Parses `text` as one chunk from source "test.log", with the padding the
  // parser may read past the end.
  RecordBatch Parse(std::string_view text) {
    LineParser parser(options_);
    RecordBatch batch;
    const uint32_t source = batch.AddSource("test.log", -1);
    std::string padded(text);
    padded.append(kInputPadding, '\0');
    parser.ParseChunk(std::string_view(padded.data(), text.size()), 1000, source, &batch);
    return batch;
  }
  Record ParseOne(std::string_view line) {
    RecordBatch batch = Parse(line);
    EXPECT_EQ(batch.size(), 1u) << line;
    for (const DeadLetter& dead : batch.dead_letters()) {
      ADD_FAILURE() << RejectReasonName(dead.reason) << ": " << dead.detail;
    }
    return batch.size() > 0 ? batch.ToRecord(0) : Record{};
  }

  ParserOptions options_;
};

TEST_F(ParserTest, ParsesFlatJson) {
  const Record r = ParseOne(Fixture("good/flat_json.jsonl"));
  EXPECT_EQ(r.kind, RecordKind::kLog);
  EXPECT_EQ(r.ts_ns, 1795514400LL * kNanosPerSecond + 123456000);
  EXPECT_EQ(r.level, Level::kInfo);
  EXPECT_EQ(r.service, "svc-07");
  EXPECT_EQ(r.message, "GET /api/v1/orders/12345 completed");
  EXPECT_EQ(r.trace_id, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.span_id, "0123456789abcdef");
  EXPECT_EQ(r.provenance.source, "test.log");
  EXPECT_EQ(r.provenance.offset, 1000u);
  AttrType type = AttrType::kString;
  EXPECT_EQ(AttrValue(r, "host", &type), "host-12");
  EXPECT_EQ(type, AttrType::kString);
  EXPECT_EQ(AttrValue(r, "status", &type), "200");
  EXPECT_EQ(type, AttrType::kNumber);
  EXPECT_EQ(AttrValue(r, "latency_ms", &type), "12.3");
  EXPECT_EQ(AttrValue(r, "ok", &type), "true");
  EXPECT_EQ(type, AttrType::kBool);
  EXPECT_EQ(AttrValue(r, "tags", &type), R"(["a","b"])");
  EXPECT_EQ(type, AttrType::kJson);
  EXPECT_EQ(AttrValue(r, "http.method"), "GET");
  EXPECT_EQ(AttrValue(r, "http.status_code", &type), "200");
  EXPECT_EQ(type, AttrType::kNumber);
  EXPECT_EQ(AttrValue(r, "note", &type), "null");
  EXPECT_EQ(type, AttrType::kNull);
  EXPECT_FALSE(HasAttr(r, "ts"));
  EXPECT_FALSE(HasAttr(r, "msg"));
}

TEST_F(ParserTest, UnescapesJsonStrings) {
  const Record r = ParseOne(R"({"time":1674981729,"message":"a \"q\"\n\u00e9","service":"s"})");
  EXPECT_EQ(r.ts_ns, kBaseNs);
  EXPECT_EQ(r.message, "a \"q\"\n\xC3\xA9");
}

TEST_F(ParserTest, ParsesEcsNestedObjects) {
  const Record r = ParseOne(Fixture("good/ecs_nested.jsonl"));
  EXPECT_EQ(r.ts_ns, kBaseNs + 487 * kMillis);
  EXPECT_EQ(r.level, Level::kError);
  EXPECT_EQ(r.service, "checkout");
  EXPECT_EQ(r.message, "db timeout");
  EXPECT_EQ(r.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(r.span_id, "00f067aa0ba902b7");
  // span.id plus event.duration (ns) make it a span.
  EXPECT_EQ(r.kind, RecordKind::kSpan);
  EXPECT_EQ(r.duration_ns, 1500000);
  EXPECT_EQ(AttrValue(r, "log.logger"), "app.db");
  EXPECT_EQ(AttrValue(r, "host.name"), "node-1");
}

TEST_F(ParserTest, ParsesEcsDottedKeys) {
  const Record r = ParseOne(Fixture("good/ecs_dotted.jsonl"));
  EXPECT_EQ(r.kind, RecordKind::kLog);
  EXPECT_EQ(r.ts_ns, kBaseNs - 3600 * kNanosPerSecond + 487 * kMillis);
  EXPECT_EQ(r.level, Level::kWarn);
  EXPECT_EQ(r.service, "checkout");
  EXPECT_EQ(r.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(AttrValue(r, "host.name"), "node-1");
}

TEST_F(ParserTest, ParsesOtelLogRecord) {
  const Record r = ParseOne(Fixture("good/otel_log.jsonl"));
  EXPECT_EQ(r.kind, RecordKind::kLog);
  EXPECT_EQ(r.ts_ns, kBaseNs + 487160534);
  EXPECT_EQ(r.level, Level::kError);  // severityNumber 17
  EXPECT_EQ(r.message, "payment failed");
  EXPECT_EQ(r.service, "payments");
  EXPECT_EQ(r.trace_id, "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(r.span_id, "eee19b7ec3c1b174");
  AttrType type = AttrType::kString;
  EXPECT_EQ(AttrValue(r, "http.status_code", &type), "502");
  EXPECT_EQ(type, AttrType::kNumber);
  EXPECT_EQ(AttrValue(r, "retry", &type), "true");
  EXPECT_EQ(type, AttrType::kBool);
  EXPECT_EQ(AttrValue(r, "ratio", &type), "0.25");
  EXPECT_EQ(type, AttrType::kNumber);
  EXPECT_EQ(AttrValue(r, "peer"), "bank");
  EXPECT_EQ(AttrValue(r, "host.name"), "node-2");
  EXPECT_FALSE(HasAttr(r, "observedTimeUnixNano"));
}

TEST_F(ParserTest, MapsEveryOtelSeverityNumberRange) {
  const std::pair<int, Level> cases[] = {{1, Level::kTrace},  {4, Level::kTrace},
                                         {5, Level::kDebug},  {8, Level::kDebug},
                                         {9, Level::kInfo},   {12, Level::kInfo},
                                         {13, Level::kWarn},  {16, Level::kWarn},
                                         {17, Level::kError}, {20, Level::kError},
                                         {21, Level::kFatal}, {24, Level::kFatal}};
  for (const auto& [number, level] : cases) {
    const Record r = ParseOne(R"({"timeUnixNano":1674981729000000000,"severityNumber":)" +
                              std::to_string(number) + R"(,"body":"x"})");
    EXPECT_EQ(r.level, level) << number;
  }
}

TEST_F(ParserTest, OtelFallsBackToObservedTimeWhenTimeIsZero) {
  const Record r = ParseOne(
      R"({"timeUnixNano":"0","observedTimeUnixNano":1674981729000000001,"severityText":"WARN","body":"plain body"})");
  EXPECT_EQ(r.ts_ns, kBaseNs + 1);
  EXPECT_EQ(r.level, Level::kWarn);
  EXPECT_EQ(r.message, "plain body");
}

TEST_F(ParserTest, ParsesOtelSpanWithErrorStatus) {
  const Record r = ParseOne(Fixture("good/otel_span.jsonl"));
  EXPECT_EQ(r.kind, RecordKind::kSpan);
  EXPECT_EQ(r.ts_ns, kBaseNs);
  EXPECT_EQ(r.duration_ns, 250 * kMillis);
  EXPECT_EQ(r.level, Level::kError);
  EXPECT_EQ(r.name, "GET /pay");
  EXPECT_EQ(r.service, "gateway");
  EXPECT_EQ(r.parent_span_id, "eee19b7ec3c1b173");
  EXPECT_EQ(AttrValue(r, "status.message"), "upstream 502");
  EXPECT_EQ(AttrValue(r, "kind"), "2");
}

TEST_F(ParserTest, ParsesDockerJsonFileWrapper) {
  RecordBatch batch = Parse(Fixture("good/docker.jsonl"));
  ASSERT_EQ(batch.size(), 2u);
  const Record first = batch.ToRecord(0);
  EXPECT_EQ(first.message, "2023-01-29 08:42:09,487 ERROR [main] c.f.Foo - connection reset");
  EXPECT_EQ(first.level, Level::kError);
  EXPECT_EQ(first.ts_ns, kBaseNs + 500 * kMillis);  // the wrapper's time wins
  EXPECT_EQ(AttrValue(first, "stream"), "stderr");
  const Record second = batch.ToRecord(1);
  EXPECT_EQ(second.ts_ns, kBaseNs + 1250 * kMillis);  // from the text: no wrapper time
  EXPECT_EQ(second.level, Level::kWarn);
  EXPECT_EQ(second.message, "2023-01-29T08:42:10.250Z WARN retrying");
}

TEST_F(ParserTest, ParsesLogfmtWithQuoting) {
  const Record r = ParseOne(Fixture("good/logfmt.log"));
  EXPECT_EQ(r.ts_ns, kBaseNs + 487 * kMillis);
  EXPECT_EQ(r.level, Level::kWarn);
  EXPECT_EQ(r.message, "quoted \"x\" value");
  EXPECT_EQ(r.service, "auth");
  AttrType type = AttrType::kString;
  EXPECT_EQ(AttrValue(r, "user"), "u-1");
  EXPECT_EQ(AttrValue(r, "status", &type), "429");
  EXPECT_EQ(type, AttrType::kNumber);
  EXPECT_EQ(AttrValue(r, "cached", &type), "true");
  EXPECT_EQ(type, AttrType::kBool);
}

TEST_F(ParserTest, LogfmtKeepsSpacesAndEqualsInsideQuotes) {
  const Record r =
      ParseOne(R"(time=1674981729 lvl=error msg="a=b c\\d" path="/x y" empty="")");
  EXPECT_EQ(r.ts_ns, kBaseNs);
  EXPECT_EQ(r.level, Level::kError);
  EXPECT_EQ(r.message, "a=b c\\d");
  EXPECT_EQ(AttrValue(r, "path"), "/x y");
  EXPECT_EQ(AttrValue(r, "empty"), "");
}

TEST_F(ParserTest, ParsesPlainTextAndJoinsStackTrace) {
  RecordBatch batch = Parse(Fixture("good/plain_java.log"));
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.counters().joined_lines, 5u);
  EXPECT_EQ(batch.counters().lines, 7u);
  const Record first = batch.ToRecord(0);
  EXPECT_EQ(first.ts_ns, kBaseNs + 487 * kMillis);
  EXPECT_EQ(first.level, Level::kError);
  EXPECT_EQ(first.service, "unknown");
  EXPECT_EQ(first.message,
            "ERROR [main] c.f.Foo - request failed\n"
            "java.lang.IllegalStateException: boom\n"
            "\tat c.f.Foo.run(Foo.java:42)\n"
            "\tat c.f.Main.main(Main.java:7)\n"
            "Caused by: java.io.IOException: reset\n"
            "\t... 2 more");
  const Record second = batch.ToRecord(1);
  EXPECT_EQ(second.level, Level::kWarn);
  EXPECT_EQ(second.ts_ns, kBaseNs + 1000 * kMillis);
  EXPECT_EQ(second.message, "[warn] next record");
}

TEST_F(ParserTest, ContinuationWithoutRecordIsParsedAlone) {
  RecordBatch batch = Parse("\tat c.f.Foo.run(Foo.java:42)\n");
  EXPECT_EQ(batch.size(), 0u);
  EXPECT_EQ(batch.counters().joined_lines, 0u);
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kMissingTimestamp);
}

TEST_F(ParserTest, DoesNotJoinWhenDisabled) {
  options_.join_multiline = false;
  RecordBatch batch = Parse("2023-01-29 08:42:09 ERROR x\n  at y\n");
  EXPECT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.counters().joined_lines, 0u);
  EXPECT_EQ(batch.ToRecord(0).message, "ERROR x");
  EXPECT_EQ(batch.counters().rejects[static_cast<size_t>(RejectReason::kMissingTimestamp)], 1u);
}

TEST_F(ParserTest, DetectsContinuationLines) {
  EXPECT_TRUE(IsContinuationLine("\tat x"));
  EXPECT_TRUE(IsContinuationLine("    at x"));
  EXPECT_TRUE(IsContinuationLine("at com.foo.Bar(Bar.java:1)"));
  EXPECT_TRUE(IsContinuationLine("Caused by: x"));
  EXPECT_TRUE(IsContinuationLine("... 12 more"));
  EXPECT_TRUE(IsContinuationLine("java.lang.IllegalStateException: boom"));
  EXPECT_TRUE(IsContinuationLine("ValueError: bad value"));
  EXPECT_TRUE(IsContinuationLine("Traceback (most recent call last):"));
  EXPECT_FALSE(IsContinuationLine("Error connecting to db"));
  EXPECT_FALSE(IsContinuationLine("some.Thing: Exception"));
  EXPECT_FALSE(IsContinuationLine(""));
  EXPECT_FALSE(IsContinuationLine("   "));
  EXPECT_FALSE(IsContinuationLine("2023-01-29 08:42:09 INFO x"));
  EXPECT_FALSE(IsContinuationLine("attention"));
}

TEST_F(ParserTest, FindsLevelInBracketedPlainText) {
  const Record r = ParseOne("[2023-01-29 08:42:09.487] [error] upstream failed");
  EXPECT_EQ(r.level, Level::kError);
  EXPECT_EQ(r.ts_ns, kBaseNs + 487 * kMillis);
  EXPECT_EQ(r.message, "[error] upstream failed");
}

TEST_F(ParserTest, UsesConfiguredZoneForPlainText) {
  Result<TimeZone> berlin = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(berlin.ok());
  options_.zone = *berlin;
  EXPECT_EQ(ParseOne("2023-01-29 09:42:09 INFO x").ts_ns, kBaseNs);
  EXPECT_EQ(ParseOne("2023-07-01 12:00:00 INFO x").ts_ns, 1688205600LL * kNanosPerSecond);
}

TEST_F(ParserTest, ParsesNezhaShapes) {
  RecordBatch batch = Parse(Fixture("good/nezha.jsonl"));
  ASSERT_EQ(batch.size(), 3u);
  const Record log = batch.ToRecord(0);
  EXPECT_EQ(log.kind, RecordKind::kLog);
  EXPECT_EQ(log.ts_ns, kBaseNs + 487160534);
  EXPECT_EQ(log.service, "ts-travel2-service");
  EXPECT_EQ(log.level, Level::kInfo);
  EXPECT_EQ(log.message, "[query][Query TripResponse]");
  EXPECT_EQ(log.span_id, "576f9c38fc25e197");
  EXPECT_EQ(AttrValue(log, "pod"), "ts-travel2-service-5c66d57d58-6mp2b");
  EXPECT_EQ(AttrValue(log, "node"), "33.33.33.167");
  EXPECT_EQ(AttrValue(log, "logger"), "t.c.Travel2Controller#115");
  EXPECT_FALSE(HasAttr(log, "timestamp"));  // the less precise time is dropped
  const Record span = batch.ToRecord(1);
  EXPECT_EQ(span.kind, RecordKind::kSpan);
  EXPECT_EQ(span.ts_ns, 1674981729480245266);
  EXPECT_EQ(span.duration_ns, 121130LL * 1000);
  EXPECT_EQ(span.name, "FilteringWebHandler.handle");
  EXPECT_EQ(span.parent_span_id, "37d8fe439ba5bef1");
  EXPECT_EQ(span.service, "ts-gateway-service");
  const Record metric = batch.ToRecord(2);
  EXPECT_EQ(metric.kind, RecordKind::kMetric);
  EXPECT_EQ(metric.name, "cpu_usage_rate");
  EXPECT_DOUBLE_EQ(metric.value, 1.56);
  EXPECT_EQ(metric.ts_ns, 1674981669LL * kNanosPerSecond);
  EXPECT_EQ(AttrValue(metric, "unit"), "pct");
  EXPECT_FALSE(HasAttr(metric, "kind"));
}

TEST_F(ParserTest, ReadsEveryDurationForm) {
  const std::pair<std::string, int64_t> cases[] = {
      {R"("duration_ns":1500)", 1500},
      {R"("duration_us":1500)", 1500 * 1000},
      {R"("duration_ms":1.5)", 1500 * 1000},
      {R"("elapsed_ms":"7")", 7 * kMillis},
      {R"("duration":12)", 12 * kMillis},
      {R"("duration":"12ms")", 12 * kMillis},
      {R"("duration":"1.5s")", 1500 * kMillis},
      {R"("duration":"250us")", 250 * 1000},
  };
  for (const auto& [field, ns] : cases) {
    const Record r =
        ParseOne(R"({"ts":"2023-01-29T08:42:09Z","span_id":"ab","name":"op",)" + field + "}");
    EXPECT_EQ(r.kind, RecordKind::kSpan) << field;
    EXPECT_EQ(r.duration_ns, ns) << field;
  }
}

TEST_F(ParserTest, DurationWithoutSpanFieldsStaysAnAttribute) {
  const Record r = ParseOne(R"({"ts":"2023-01-29T08:42:09Z","msg":"x","duration_ms":"n/a"})");
  EXPECT_EQ(r.kind, RecordKind::kLog);
  EXPECT_EQ(AttrValue(r, "duration_ms"), "n/a");
}

TEST_F(ParserTest, MetricFromNameAndNumericValue) {
  const Record r = ParseOne(R"({"ts":1674981729,"metric":"queue_depth","value":"42","svc":"q"})");
  EXPECT_EQ(r.kind, RecordKind::kMetric);
  EXPECT_EQ(r.name, "queue_depth");
  EXPECT_DOUBLE_EQ(r.value, 42.0);
}

TEST_F(ParserTest, EpochTimesAsNumbersAndStrings) {
  const std::pair<std::string, int64_t> cases[] = {
      {"1674981729", kBaseNs},
      {"1674981729.5", kBaseNs + 500 * kMillis},
      {"1674981729487", kBaseNs + 487 * kMillis},
      {"1674981729487160", kBaseNs + 487160000},
      {"1674981729487160534", kBaseNs + 487160534},
  };
  for (const auto& [digits, ns] : cases) {
    EXPECT_EQ(ParseOne(R"({"ts":)" + digits + R"(,"msg":"x"})").ts_ns, ns) << digits;
    EXPECT_EQ(ParseOne(R"({"ts":")" + digits + R"(","msg":"x"})").ts_ns, ns) << digits;
  }
}

TEST_F(ParserTest, AliasesComeBeforeBuiltIns) {
  options_.aliases.time = {"event_time"};
  options_.aliases.message = {"text"};
  options_.aliases.service = {"kubernetes.labels.component"};
  options_.aliases.level = {"sev"};
  const Record r = ParseOne(
      R"({"ts":"2000-01-01T00:00:00Z","event_time":"2023-01-29T08:42:09Z","msg":"builtin","text":"alias","sev":"fatal","level":"info","kubernetes":{"labels":{"component":"etcd"}},"service":"svc"})");
  EXPECT_EQ(r.ts_ns, kBaseNs);
  EXPECT_EQ(r.message, "alias");
  EXPECT_EQ(r.level, Level::kFatal);
  EXPECT_EQ(r.service, "etcd");
  // Losing candidates are kept as attributes, except other time fields.
  EXPECT_EQ(AttrValue(r, "msg"), "builtin");
  EXPECT_EQ(AttrValue(r, "service"), "svc");
  EXPECT_FALSE(HasAttr(r, "ts"));
}

TEST_F(ParserTest, UsesDefaultServiceAndServiceFallbacks) {
  options_.default_service = "from-file";
  EXPECT_EQ(ParseOne(R"({"ts":1674981729,"msg":"x"})").service, "from-file");
  EXPECT_EQ(ParseOne(R"({"ts":1674981729,"app":"web"})").service, "web");
  EXPECT_EQ(ParseOne(R"({"ts":1674981729,"kubernetes":{"container_name":"c1"}})").service, "c1");
}

TEST_F(ParserTest, CapsLongAttributeValues) {
  options_.max_attr_value_bytes = 16;
  const Record r = ParseOne(R"({"ts":1674981729,"blob":"0123456789abcdefghij"})");
  EXPECT_EQ(AttrValue(r, "blob"), "0123456789abcdef\xE2\x80\xA6");
}

TEST_F(ParserTest, CountsEmptyLinesAndStripsCarriageReturns) {
  RecordBatch batch = Parse("\n  \r\n{\"ts\":1674981729,\"msg\":\"x\"}\r\n\t\n");
  EXPECT_EQ(batch.counters().lines, 4u);
  EXPECT_EQ(batch.counters().empty_lines, 3u);
  EXPECT_EQ(batch.counters().bytes, 36u);
  EXPECT_TRUE(batch.dead_letters().empty());
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.ToRecord(0).message, "x");
  EXPECT_EQ(batch.ToRecord(0).provenance.offset, 1000u + 5);
}

TEST_F(ParserTest, ParseLineNeedsNoPadding) {
  LineParser parser(options_);
  RecordBatch batch;
  const uint32_t source = batch.AddSource("topic", 3);
  const std::string message = R"({"ts":1674981729,"msg":"kafka"})";
  parser.ParseLine(message, 77, source, &batch);
  ASSERT_EQ(batch.size(), 1u);
  const Record r = batch.ToRecord(0);
  EXPECT_EQ(r.message, "kafka");
  EXPECT_EQ(r.provenance.offset, 77u);
  EXPECT_EQ(r.provenance.partition, 3);
  parser.ParseLine("not a record", 78, source, &batch);
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].offset, 78u);
  EXPECT_EQ(batch.dead_letters()[0].partition, 3);
  EXPECT_EQ(batch.counters().lines, 2u);
}

TEST(ParserOptionsTest, ValidateRejectsNonsense) {
  ParserOptions options;
  EXPECT_TRUE(options.Validate().ok());
  options.max_line_bytes = 0;
  EXPECT_FALSE(options.Validate().ok());
  options = ParserOptions{};
  options.max_depth = 0;
  EXPECT_FALSE(options.Validate().ok());
  options = ParserOptions{};
  options.aliases.time = {""};
  EXPECT_FALSE(options.Validate().ok());
}

// ---- Rejects: one fixture per reason, each checked for the counter and the
// dead letter (reason, offset, raw bytes).

struct RejectCase {
  const char* fixture;
  RejectReason reason;
};

class RejectTest : public ParserTest, public ::testing::WithParamInterface<RejectCase> {};

TEST_P(RejectTest, CountsAndDeadLettersExactlyOnce) {
  const RejectCase& param = GetParam();
  options_.max_depth = 4;
  options_.max_fields = 4;
  options_.max_line_bytes = 100;
  options_.max_dead_letter_raw_bytes = 40;
  std::string bad = Fixture(std::string("malformed/") + param.fixture);
  while (!bad.empty() && bad.back() == '\n') bad.pop_back();
  const std::string good = R"({"ts":1674981729,"msg":"ok"})";
  RecordBatch batch = Parse(good + "\n" + bad + "\n" + good + "\n");

  EXPECT_EQ(batch.size(), 2u) << "good lines around the bad one still parse";
  EXPECT_EQ(batch.counters().lines, 3u);
  EXPECT_EQ(batch.counters().TotalRejects(), 1u);
  EXPECT_EQ(batch.counters().rejects[static_cast<size_t>(param.reason)], 1u)
      << RejectReasonName(param.reason);
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  const DeadLetter& dead = batch.dead_letters()[0];
  EXPECT_EQ(dead.reason, param.reason)
      << RejectReasonName(dead.reason) << " (" << dead.detail << ")";
  EXPECT_FALSE(dead.detail.empty());
  EXPECT_EQ(dead.source, "test.log");
  EXPECT_EQ(dead.partition, -1);
  EXPECT_EQ(dead.offset, 1000u + good.size() + 1);
  EXPECT_EQ(dead.raw_size, bad.size());
  EXPECT_EQ(dead.raw, bad.substr(0, 40));
  EXPECT_GT(dead.seen_unix_ns, kBaseNs);
}

INSTANTIATE_TEST_SUITE_P(
    EveryReason, RejectTest,
    ::testing::Values(RejectCase{"truncated_json.txt", RejectReason::kTruncatedJson},
                      RejectCase{"invalid_json.txt", RejectReason::kInvalidJson},
                      RejectCase{"invalid_utf8.txt", RejectReason::kInvalidUtf8},
                      RejectCase{"line_too_long.txt", RejectReason::kLineTooLong},
                      RejectCase{"missing_timestamp.txt", RejectReason::kMissingTimestamp},
                      RejectCase{"bad_timestamp.txt", RejectReason::kBadTimestamp},
                      RejectCase{"timestamp_out_of_range.txt",
                                 RejectReason::kTimestampOutOfRange},
                      RejectCase{"binary.txt", RejectReason::kBinary},
                      RejectCase{"too_deep.txt", RejectReason::kTooDeep},
                      RejectCase{"bad_duration.txt", RejectReason::kBadDuration},
                      RejectCase{"bad_metric_value.txt", RejectReason::kBadMetricValue},
                      RejectCase{"too_many_fields.txt", RejectReason::kTooManyFields}),
    [](const ::testing::TestParamInfo<RejectCase>& param_info) {
      return std::string(RejectReasonName(param_info.param.reason));
    });

TEST_F(ParserTest, RejectsPayloadWithoutTimestamp) {
  RecordBatch batch = Parse("just some words\n");
  EXPECT_EQ(batch.counters().rejects[static_cast<size_t>(RejectReason::kMissingTimestamp)], 1u);
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].raw, "just some words");
  EXPECT_EQ(batch.dead_letters()[0].offset, 1000u);
}

TEST_F(ParserTest, RejectsTimestampTooFarInTheFuture) {
  RecordBatch batch = Parse(R"({"ts":"2200-01-01T00:00:00Z","msg":"x"})");
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kTimestampOutOfRange);
}

TEST_F(ParserTest, RejectsInvalidUtf8InsideJson) {
  RecordBatch batch = Parse("{\"ts\":1674981729,\"msg\":\"bad \xC3\x28 byte\"}");
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kInvalidUtf8);
}

TEST_F(ParserTest, TellsTruncatedFromInvalidJson) {
  const std::pair<std::string_view, RejectReason> cases[] = {
      {R"({"ts":1674981729,"msg":"x")", RejectReason::kTruncatedJson},
      {R"({"ts":1674981729,"a":{"b":1})", RejectReason::kTruncatedJson},
      {R"({"ts":1674981729,"msg":"unterminated)", RejectReason::kTruncatedJson},
      {R"({"ts":1674981729,"msg":"x"} trailing)", RejectReason::kInvalidJson},
      {R"({"ts":1674981729,,"msg":"x"})", RejectReason::kInvalidJson},
      {R"({"ts":12x,"msg":"x"})", RejectReason::kInvalidJson},
      {R"({"ts":1674981729,"ok":tru})", RejectReason::kInvalidJson},
  };
  for (const auto& [line, reason] : cases) {
    RecordBatch batch = Parse(line);
    ASSERT_EQ(batch.dead_letters().size(), 1u) << line;
    EXPECT_EQ(batch.dead_letters()[0].reason, reason)
        << line << ": " << batch.dead_letters()[0].detail;
  }
}

TEST_F(ParserTest, RejectsDeepArraysAndOtelAttributes) {
  options_.max_depth = 3;
  RecordBatch batch = Parse(R"({"ts":1674981729,"a":[[[[1]]]]})");
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kTooDeep);
}

TEST_F(ParserTest, BinaryAllowsTabsAndAnsiColours) {
  const Record r = ParseOne("2023-01-29 08:42:09\t\x1B[31mERROR\x1B[0m\tred");
  EXPECT_EQ(r.ts_ns, kBaseNs);
}

TEST_F(ParserTest, PlainTextWithUnreadableDateIsBadTimestamp) {
  RecordBatch batch = Parse("2023-13-45 99:99:99 ERROR x");
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kBadTimestamp);
}

TEST_F(ParserTest, SpanWithoutDurationOrValuelessMetricIsRejected) {
  RecordBatch batch = Parse(R"({"kind":"metric","ts":1674981729,"name":"cpu"})");
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kBadMetricValue);
  batch = Parse(
      R"({"ts":1674981729,"spanId":"a","startTimeUnixNano":"1674981729000000000","endTimeUnixNano":"1674981728000000000"})");
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kBadDuration);
}

}  // namespace
}  // namespace faultline::ingest

namespace faultline::ingest {
namespace {

class LineFormatParserTest : public ParserTest {
 protected:
  void UseFormat(std::string_view pattern) {
    Result<LineFormat> format = LineFormat::Compile(pattern);
    ASSERT_TRUE(format.ok()) << format.status().ToString();
    options_.line_format = std::make_shared<const LineFormat>(std::move(format).value());
  }
  void UseTimeLayout(std::string_view layout) {
    Result<TimeLayout> compiled = TimeLayout::Compile(layout);
    ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
    options_.time_layout = std::make_shared<const TimeLayout>(std::move(compiled).value());
  }
};

TEST_F(LineFormatParserTest, MapsHeaderFieldsOntoTheRecord) {
  UseFormat("<Date> <Time> <Level> \\[<Thread>\\] <Component>: <Content>");
  Record r = ParseOne(
      "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.MRAppMaster: Created MRAppMaster");
  EXPECT_EQ(r.ts_ns, 1445191307978000000LL);
  EXPECT_EQ(r.level, Level::kInfo);
  EXPECT_EQ(r.message, "Created MRAppMaster");
  EXPECT_EQ(AttrValue(r, "Thread"), "main");
  EXPECT_EQ(AttrValue(r, "Component"), "org.apache.hadoop.MRAppMaster");
}

TEST_F(LineFormatParserTest, SyslogHeaderWithOptionalPid) {
  UseFormat("<Month> <Date> <Time> <Host> <Component>(\\[<PID>\\])?: <Content>");
  RecordBatch batch = Parse(
      "Jul  1 09:00:55 combo sshd[19630]: session opened\n"
      "Jul 11 09:00:56 combo logrotate: ALERT exited abnormally\n");
  ASSERT_EQ(batch.size(), 2u);
  Record first = batch.ToRecord(0);
  Record second = batch.ToRecord(1);
  EXPECT_EQ(first.message, "session opened");
  EXPECT_EQ(AttrValue(first, "PID"), "19630");
  EXPECT_EQ(second.message, "ALERT exited abnormally");
  EXPECT_EQ(FormatRfc3339(second.ts_ns, 0).substr(4), "-07-11T09:00:56Z");
}

TEST_F(LineFormatParserTest, EpochFieldAndUnmatchedLinesFallBack) {
  UseFormat("<Label> <Timestamp> <Node> <Content>");
  RecordBatch batch = Parse(
      "- 1117838570 R02-M1 instruction cache parity error corrected\n"
      "2023-01-29T08:42:09Z ERROR boom\n");
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.ToRecord(0).ts_ns, 1117838570LL * kNanosPerSecond);
  EXPECT_EQ(batch.ToRecord(0).message, "instruction cache parity error corrected");
  // Three tokens cannot fill four fields: read as plain text.
  EXPECT_EQ(batch.ToRecord(1).level, Level::kError);
}

TEST_F(LineFormatParserTest, UnreadableHeaderTimeIsBadTimestamp) {
  UseFormat("<Date> <Time> <Content>");
  RecordBatch batch = Parse("someday noon something happened\n");
  ASSERT_EQ(batch.size(), 0u);
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kBadTimestamp);
  EXPECT_EQ(batch.counters().rejects[static_cast<size_t>(RejectReason::kBadTimestamp)], 1u);
}

TEST_F(LineFormatParserTest, TimeLayoutReadsHdfsSparkAndProxifierHeaders) {
  const std::string hdfs =
      "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating\n";
  // Without a layout "081109 203615" is no known form.
  UseFormat("<Date> <Time> <Pid> <Level> <Component>: <Content>");
  EXPECT_EQ(Parse(hdfs).dead_letters().size(), 1u);

  UseTimeLayout("%y%m%d %H%M%S");
  Record r = ParseOne(hdfs);
  EXPECT_EQ(FormatRfc3339(r.ts_ns, 3), "2008-11-09T20:36:15.000Z");
  EXPECT_EQ(r.level, Level::kInfo);
  EXPECT_EQ(r.message, "PacketResponder 1 terminating");
  EXPECT_EQ(AttrValue(r, "Pid"), "148");

  UseFormat("<Date> <Time> <Level> <Component>: <Content>");
  UseTimeLayout("%y/%m/%d %H:%M:%S");
  r = ParseOne("17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered\n");
  EXPECT_EQ(FormatRfc3339(r.ts_ns, 3), "2017-06-09T20:10:40.000Z");

  // Proxifier has no year: the most recent 30 October, as for syslog.
  UseFormat("\\[<Time>\\] <Program> - <Content>");
  UseTimeLayout("%m.%d %H:%M:%S");
  r = ParseOne("[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy\n");
  EXPECT_EQ(FormatRfc3339(r.ts_ns, 3).substr(4), "-10-30T16:49:06.000Z");
  const int64_t now = NowNanos();
  EXPECT_LE(r.ts_ns, now + 86400 * kNanosPerSecond);
  EXPECT_GT(r.ts_ns, now - 367 * 86400 * kNanosPerSecond);
  EXPECT_EQ(AttrValue(r, "Program"), "chrome.exe");

  // In the configured zone.
  options_.zone = *TimeZone::Load("+08:00");
  r = ParseOne("[10.30 16:49:06] chrome.exe - open\n");
  EXPECT_EQ(FormatRfc3339(r.ts_ns, 3).substr(4), "-10-30T08:49:06.000Z");
}

TEST_F(LineFormatParserTest, TimeNotMatchingTheLayoutIsBadTimestamp) {
  UseFormat("<Date> <Time> <Level> <Component>: <Content>");
  UseTimeLayout("%y%m%d %H%M%S");
  // ISO text would parse without a layout; with one, only the layout counts.
  RecordBatch batch = Parse(
      "2023-01-29 08:42:09 INFO a.B: iso\n"
      "081109 203615 INFO a.B: ok\n"
      "081109 253615 INFO a.B: hour 25\n"
      "851109 203615 INFO a.B: before min_timestamp\n");
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.ToRecord(0).message, "ok");
  ASSERT_EQ(batch.dead_letters().size(), 3u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kBadTimestamp);
  EXPECT_EQ(batch.dead_letters()[0].detail,
            "line format time \"2023-01-29 08:42:09\" does not match time layout "
            "\"%y%m%d %H%M%S\"");
  EXPECT_EQ(batch.dead_letters()[1].reason, RejectReason::kBadTimestamp);
  EXPECT_EQ(batch.dead_letters()[2].reason, RejectReason::kTimestampOutOfRange);
  EXPECT_EQ(batch.counters().rejects[static_cast<size_t>(RejectReason::kBadTimestamp)], 2u);
  EXPECT_EQ(batch.counters().rejects[static_cast<size_t>(RejectReason::kTimestampOutOfRange)],
            1u);

  // Beyond what int64 nanoseconds hold.
  UseTimeLayout("%Y%m%d %H%M%S");
  batch = Parse("99991109 203615 INFO a.B: far\n");
  ASSERT_EQ(batch.dead_letters().size(), 1u);
  EXPECT_EQ(batch.dead_letters()[0].reason, RejectReason::kTimestampOutOfRange);
}

}  // namespace
}  // namespace faultline::ingest
