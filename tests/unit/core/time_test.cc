#include "core/time.h"

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace faultline {
namespace {

// 2023-01-29T08:42:09Z, the first Nezha log line's second.
constexpr int64_t kBaseSeconds = 1674981729;
constexpr int64_t kBaseNs = kBaseSeconds * kNanosPerSecond;

int64_t Parse(std::string_view text, const TimeZone& zone = TimeZone()) {
  int64_t ns = -1;
  EXPECT_EQ(ParseTimestamp(text, zone, &ns), TimeParse::kOk) << text;
  return ns;
}

TimeZone MustLoad(std::string_view name) {
  Result<TimeZone> zone = TimeZone::Load(name);
  EXPECT_TRUE(zone.ok()) << zone.status().ToString();
  return zone.ok() ? *zone : TimeZone();
}

TEST(ParseTimestampTest, ParsesRfc3339Utc) {
  EXPECT_EQ(Parse("2023-01-29T08:42:09Z"), kBaseNs);
  EXPECT_EQ(Parse("2023-01-29t08:42:09z"), kBaseNs);
  EXPECT_EQ(Parse("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(Parse("2000-02-29T12:00:00Z"), 951825600LL * kNanosPerSecond);
}

TEST(ParseTimestampTest, ParsesEveryFractionDigitCount) {
  const std::string digits = "123456789";
  const int64_t expected[] = {0,         100000000, 120000000, 123000000, 123400000,
                              123450000, 123456000, 123456700, 123456780, 123456789};
  EXPECT_EQ(Parse("2023-01-29T08:42:09Z"), kBaseNs + expected[0]);
  for (size_t n = 1; n <= 9; ++n) {
    const std::string text = "2023-01-29T08:42:09." + digits.substr(0, n) + "Z";
    EXPECT_EQ(Parse(text), kBaseNs + expected[n]) << text;
    const std::string comma = "2023-01-29 08:42:09," + digits.substr(0, n);
    EXPECT_EQ(Parse(comma), kBaseNs + expected[n]) << comma;
  }
  // Digits past nanoseconds are dropped, not rounded into a wrong second.
  EXPECT_EQ(Parse("2023-01-29T08:42:09.1234567899Z"), kBaseNs + 123456789);
}

TEST(ParseTimestampTest, ParsesEveryOffsetForm) {
  const int64_t two_hours = 2 * 3600 * kNanosPerSecond;
  EXPECT_EQ(Parse("2023-01-29T10:42:09+02:00"), kBaseNs);
  EXPECT_EQ(Parse("2023-01-29T10:42:09+0200"), kBaseNs);
  EXPECT_EQ(Parse("2023-01-29T10:42:09+02"), kBaseNs);
  EXPECT_EQ(Parse("2023-01-29T06:42:09-02:00"), kBaseNs);
  EXPECT_EQ(Parse("2023-01-29T03:12:09.5-05:30"), kBaseNs + 500000000);
  EXPECT_EQ(Parse("2023-01-29 10:42:09,487+02:00"), kBaseNs + 487000000);
  EXPECT_EQ(Parse("2023-01-29T08:42:09+00:00") - Parse("2023-01-29T08:42:09+02:00"), two_hours);
}

TEST(ParseTimestampTest, UsesConfiguredZoneWithoutOffset) {
  EXPECT_EQ(Parse("2023-01-29 08:42:09"), kBaseNs);  // UTC by default
  EXPECT_EQ(Parse("2023-01-29 09:42:09.250", MustLoad("+01:00")), kBaseNs + 250000000);
  EXPECT_EQ(Parse("2023-01-29 09:42:09", MustLoad("Europe/Berlin")), kBaseNs);
  // An explicit offset beats the configured zone.
  EXPECT_EQ(Parse("2023-01-29T08:42:09Z", MustLoad("Europe/Berlin")), kBaseNs);
}

TEST(ParseTimestampTest, RejectsMalformedText) {
  int64_t ns = 0;
  const TimeZone utc;
  for (std::string_view text :
       {"", "yesterday", "2023-13-01T00:00:00Z", "2023-02-30T00:00:00Z", "2023-01-29T24:00:00Z",
        "2023-01-29T08:42Z", "2023-01-29X08:42:09Z", "2023-01-29T08:42:09Zjunk",
        " 2023-01-29T08:42:09Z", "2023-01-29T08:42:09+25:00", "12ab", "1.2.3", "-"}) {
    EXPECT_EQ(ParseTimestamp(text, utc, &ns), TimeParse::kNotATime) << text;
  }
}

// "YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z" takes a fixed-width fast
// path; the same text with "+00:00" instead of "Z" takes the general one. The
// two must agree on every result, valid or not.
std::string WithZeroOffset(const std::string& text) {
  return text.substr(0, text.size() - 1) + "+00:00";
}

void ExpectSameAsGeneralParser(const std::string& text) {
  const TimeZone berlin = MustLoad("Europe/Berlin");
  int64_t fast_ns = -1;
  int64_t general_ns = -2;
  const TimeParse fast = ParseTimestamp(text, berlin, &fast_ns);
  const TimeParse general = ParseTimestamp(WithZeroOffset(text), berlin, &general_ns);
  ASSERT_EQ(fast, general) << text;
  if (fast == TimeParse::kOk) {
    EXPECT_EQ(fast_ns, general_ns) << text;
  }
}

TEST(ParseTimestampTest, FixedWidthUtcFormsMatchTheGeneralParser) {
  const std::string fractions[] = {"", ".487", ".487123", ".487123456"};
  char date[32];
  // Every day from late 1969 to early 2101: both ends of the date table and
  // every leap day in between.
  for (int64_t days = -10; days <= 47500; ++days) {
    const std::string day = FormatRfc3339(days * 86400 * kNanosPerSecond, 0).substr(0, 10);
    const auto n = static_cast<int>(days + 10);
    std::snprintf(date, sizeof(date), "%sT%02d:%02d:%02d", day.c_str(), n % 24, n % 60, n % 61);
    ExpectSameAsGeneralParser(std::string(date) + fractions[n % 4] + "Z");
  }
  for (const char* text :
       {"2023-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z", "2023-04-31T00:00:00Z", "2023-00-10T00:00:00Z",
        "2023-01-00T00:00:00Z", "2023-12-32T00:00:00Z", "2023-01-29T23:59:60Z",
        "2023-01-29T23:59:61Z", "2023-01-29T23:60:00Z", "2023-01-29T24:00:00Z",
        "2099-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.999Z"}) {
    ExpectSameAsGeneralParser(text);
  }
}

TEST(ParseTimestampTest, FixedWidthUtcFormsRejectEveryBadByte) {
  const std::string valid[] = {"2024-02-29T23:59:60Z", "2024-02-29T23:59:60.123Z",
                               "2024-02-29T23:59:60.123456Z", "2024-02-29T23:59:60.123456789Z"};
  for (const std::string& text : valid) {
    for (size_t pos = 0; pos + 1 < text.size(); ++pos) {
      for (char bad : {'/', ':', '-', 'a', 'T', ' ', '.', 'Z', '0', '9', '\0', '\x80', '\xb9'}) {
        std::string mutated = text;
        mutated[pos] = bad;
        ExpectSameAsGeneralParser(mutated);
      }
    }
  }
}

TEST(ParseTimestampTest, FixedWidthUtcFormsIgnoreTheConfiguredZone) {
  const TimeZone berlin = MustLoad("Europe/Berlin");
  EXPECT_EQ(Parse("2023-01-29T08:42:09.487Z", berlin), kBaseNs + 487000000);
  EXPECT_EQ(Parse("2023-01-29T08:42:09.487654Z", berlin), kBaseNs + 487654000);
  EXPECT_EQ(Parse("2023-01-29T08:42:09.487654321Z", berlin), kBaseNs + 487654321);
  int64_t ns = 0;
  // Fraction lengths outside 3/6/9 and trailing bytes go the general way.
  EXPECT_EQ(Parse("2023-01-29T08:42:09.4876Z"), kBaseNs + 487600000);
  EXPECT_EQ(ParseTimestamp("2023-01-29T08:42:09.487Z ", berlin, &ns), TimeParse::kNotATime);
  EXPECT_EQ(ParseLeadingTimestamp("2023-01-29T08:42:09.487654Z INFO x", berlin, &ns), 27u);
  EXPECT_EQ(ns, kBaseNs + 487654000);
}

TEST(ParseTimestampTest, ReportsYearsOutsideInt64Nanos) {
  int64_t ns = 0;
  EXPECT_EQ(ParseTimestamp("1600-01-01T00:00:00Z", TimeZone(), &ns), TimeParse::kOutOfRange);
  EXPECT_EQ(ParseTimestamp("2300-01-01T00:00:00Z", TimeZone(), &ns), TimeParse::kOutOfRange);
  EXPECT_EQ(ParseTimestamp("99999999999999999999", TimeZone(), &ns), TimeParse::kOutOfRange);
}

TEST(EpochTest, MagnitudeTellsTheUnitAndFractionsAreKept) {
  const std::pair<std::string_view, int64_t> cases[] = {
      {"1674981729", kBaseNs},
      {"1674981729487", kBaseNs + 487000000},
      {"1674981729487160", kBaseNs + 487160000},
      {"1674981729487160534", kBaseNs + 487160534},
      {"1674981729.487", kBaseNs + 487000000},
      {"1674981729487.5", kBaseNs + 487500000},
      {"1674981729.123456789", kBaseNs + 123456789},
  };
  for (const auto& [digits, expected] : cases) {
    int64_t ns = 0;
    ASSERT_EQ(ParseEpochNumber(digits, &ns), TimeParse::kOk) << digits;
    EXPECT_EQ(ns, expected) << digits;
    // ParseTimestamp takes the same numbers written as strings.
    EXPECT_EQ(Parse(digits), expected) << digits;
  }
  int64_t ns = 0;
  EXPECT_EQ(ParseEpochNumber("1674981729.", &ns), TimeParse::kNotATime);
}

TEST(EpochTest, IntAndDoubleForms) {
  int64_t ns = 0;
  ASSERT_EQ(EpochFromInt(kBaseSeconds, &ns), TimeParse::kOk);
  EXPECT_EQ(ns, kBaseNs);
  ASSERT_EQ(EpochFromInt(kBaseSeconds * 1000 + 487, &ns), TimeParse::kOk);
  EXPECT_EQ(ns, kBaseNs + 487000000);
  ASSERT_EQ(EpochFromInt(kBaseNs / 1000, &ns), TimeParse::kOk);
  EXPECT_EQ(ns, kBaseNs);
  ASSERT_EQ(EpochFromInt(kBaseNs + 1, &ns), TimeParse::kOk);
  EXPECT_EQ(ns, kBaseNs + 1);
  ASSERT_EQ(EpochFromDouble(1674981729.487, &ns), TimeParse::kOk);
  EXPECT_NEAR(static_cast<double>(ns - kBaseNs), 487000000.0, 1000.0);
  ASSERT_EQ(EpochFromDouble(1674981729487.0, &ns), TimeParse::kOk);
  EXPECT_EQ(ns, kBaseNs + 487000000);
  EXPECT_EQ(EpochFromDouble(0.0 / 0.0, &ns), TimeParse::kNotATime);
}

TEST(TimeZoneTest, LoadsUtcAndFixedOffsets) {
  EXPECT_EQ(MustLoad("UTC").OffsetForLocal(kBaseSeconds), 0);
  EXPECT_EQ(MustLoad("+02:00").OffsetForLocal(kBaseSeconds), 7200);
  EXPECT_EQ(MustLoad("-0530").OffsetForLocal(kBaseSeconds), -19800);
  EXPECT_EQ(MustLoad("+09").OffsetForLocal(kBaseSeconds), 9 * 3600);
}

TEST(TimeZoneTest, RejectsUnknownAndEscapingNames) {
  EXPECT_FALSE(TimeZone::Load("Mars/Olympus_Mons").ok());
  EXPECT_FALSE(TimeZone::Load("../../etc/passwd").ok());
  EXPECT_FALSE(TimeZone::Load("/etc/passwd").ok());
}

TEST(TimeZoneTest, BerlinFollowsDaylightSaving) {
  const TimeZone berlin = MustLoad("Europe/Berlin");
  // 2023-03-26: clocks jump from 02:00 CET to 03:00 CEST (01:00 UTC).
  EXPECT_EQ(Parse("2023-03-26 01:59:59", berlin), Parse("2023-03-26T00:59:59Z"));
  EXPECT_EQ(Parse("2023-03-26 03:00:00", berlin), Parse("2023-03-26T01:00:00Z"));
  EXPECT_EQ(Parse("2023-07-01 12:00:00", berlin), Parse("2023-07-01T10:00:00Z"));
  // 2023-10-29: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice and
  // the earlier (summer time) reading is used.
  EXPECT_EQ(Parse("2023-10-29 02:30:00", berlin), Parse("2023-10-29T00:30:00Z"));
  EXPECT_EQ(Parse("2023-10-29 03:00:00", berlin), Parse("2023-10-29T02:00:00Z"));
  EXPECT_EQ(Parse("2023-12-01 12:00:00", berlin), Parse("2023-12-01T11:00:00Z"));
}

TEST(TimeZoneTest, NewYorkFollowsDaylightSaving) {
  const TimeZone new_york = MustLoad("America/New_York");
  EXPECT_EQ(new_york.name(), "America/New_York");
  EXPECT_EQ(Parse("2023-01-15 12:00:00", new_york), Parse("2023-01-15T17:00:00Z"));
  EXPECT_EQ(Parse("2023-07-04 12:00:00", new_york), Parse("2023-07-04T16:00:00Z"));
  // 2023-03-12 02:00 EST -> 03:00 EDT.
  EXPECT_EQ(Parse("2023-03-12 01:59:00", new_york), Parse("2023-03-12T06:59:00Z"));
  EXPECT_EQ(Parse("2023-03-12 03:00:00", new_york), Parse("2023-03-12T07:00:00Z"));
}

TEST(TimeZoneTest, HonoursTzdir) {
  const char* old = std::getenv("TZDIR");
  const std::string saved = old != nullptr ? old : "";
  setenv("TZDIR", "/nonexistent-zoneinfo", 1);
  EXPECT_FALSE(TimeZone::Load("Europe/Berlin").ok());
  setenv("TZDIR", "/usr/share/zoneinfo", 1);
  EXPECT_TRUE(TimeZone::Load("Europe/Berlin").ok());
  if (old != nullptr) {
    setenv("TZDIR", saved.c_str(), 1);
  } else {
    unsetenv("TZDIR");
  }
}

TEST(ParseLeadingTimestampTest, FindsPlainAndBracketedStamps) {
  int64_t ns = 0;
  const TimeZone utc;
  std::string_view line = "2023-01-29 08:42:09,487 ERROR [main] c.f.Foo - text";
  ASSERT_EQ(ParseLeadingTimestamp(line, utc, &ns), 23u);
  EXPECT_EQ(ns, kBaseNs + 487000000);
  line = "[2023-01-29T08:42:09.487Z] [error] text";
  ASSERT_EQ(ParseLeadingTimestamp(line, utc, &ns), 26u);
  EXPECT_EQ(ns, kBaseNs + 487000000);
  EXPECT_EQ(ParseLeadingTimestamp("2023-01-29T08:42:09Z", utc, &ns), 20u);
  EXPECT_EQ(ParseLeadingTimestamp("hello 2023-01-29T08:42:09Z", utc, &ns), 0u);
  EXPECT_EQ(ParseLeadingTimestamp("[2023-01-29T08:42:09Z text", utc, &ns), 0u);
  EXPECT_EQ(ParseLeadingTimestamp("2023-01-29T08:42:09Zfoo", utc, &ns), 0u);
}

TEST(ParseLeadingTimestampTest, ReadsSyslogStampsInTheMostRecentYear) {
  const TimeZone utc;
  int64_t ns = 0;
  // Yesterday, written the syslog way, is yesterday in this year (or the
  // last one in early January): never in the future.
  const int64_t yesterday = NowNanos() - 86400 * kNanosPerSecond;
  const std::string iso = FormatRfc3339(yesterday, 0);  // "YYYY-MM-DDTHH:MM:SSZ"
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const int month = std::stoi(iso.substr(5, 2));
  const int day = std::stoi(iso.substr(8, 2));
  char line[64];
  std::snprintf(line, sizeof(line), "%s %2d %s combo sshd[19939]: check pass",
                kMonths[month - 1], day, iso.substr(11, 8).c_str());
  ASSERT_EQ(ParseLeadingTimestamp(line, utc, &ns), 15u) << line;
  EXPECT_EQ(ns / kNanosPerSecond, yesterday / kNanosPerSecond) << line;

  // Fractions, and the configured zone.
  Result<TimeZone> plus2 = TimeZone::Load("+02:00");
  ASSERT_TRUE(plus2.ok());
  std::snprintf(line, sizeof(line), "%s %2d %s.250 host app: x", kMonths[month - 1], day,
                iso.substr(11, 8).c_str());
  ASSERT_EQ(ParseLeadingTimestamp(line, *plus2, &ns), 19u) << line;
  EXPECT_EQ(ns, (yesterday / kNanosPerSecond - 7200) * kNanosPerSecond + 250000000);

  // A single-digit day with one space (fields joined by a line format).
  std::snprintf(line, sizeof(line), "%s %d %s", kMonths[month - 1], day,
                iso.substr(11, 8).c_str());
  ASSERT_EQ(ParseLeadingTimestamp(line, utc, &ns), std::strlen(line)) << line;
  EXPECT_EQ(ns / kNanosPerSecond, yesterday / kNanosPerSecond) << line;

  EXPECT_EQ(ParseLeadingTimestamp("Jun 14 25:16:01 host x", utc, &ns), 0u);
  EXPECT_EQ(ParseLeadingTimestamp("Foo 14 15:16:01 host x", utc, &ns), 0u);
  EXPECT_EQ(ParseLeadingTimestamp("Jun 14 15:16 host x", utc, &ns), 0u);
}

TEST(FormatRfc3339Test, FormatsFractionDigits) {
  const int64_t ns = kBaseNs + 487160534;
  EXPECT_EQ(FormatRfc3339(ns, 0), "2023-01-29T08:42:09Z");
  EXPECT_EQ(FormatRfc3339(ns, 3), "2023-01-29T08:42:09.487Z");
  EXPECT_EQ(FormatRfc3339(ns, 6), "2023-01-29T08:42:09.487160Z");
  EXPECT_EQ(FormatRfc3339(ns, 9), "2023-01-29T08:42:09.487160534Z");
  EXPECT_EQ(FormatRfc3339(-1, 3), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(Parse(FormatRfc3339(ns, 9)), ns);
}

TEST(ParseDurationTest, ParsesUnitsAndCombinations) {
  const int64_t s = kNanosPerSecond;
  const std::pair<std::string_view, int64_t> cases[] = {
      {"500ms", s / 2}, {"30s", 30 * s},        {"15m", 900 * s},   {"2h", 7200 * s},
      {"1d", 86400 * s}, {"1w", 604800 * s},    {"1h30m", 5400 * s}, {"1.5s", 3 * s / 2},
      {"250us", 250000}, {"7ns", 7},            {"12ms", 12000000},
  };
  for (const auto& [text, expected] : cases) {
    Result<int64_t> parsed = ParseDuration(text);
    ASSERT_TRUE(parsed.ok()) << text;
    EXPECT_EQ(*parsed, expected) << text;
  }
  for (std::string_view bad : {"", "15", "m", "15x", "1h30", "-5m", "abc", ".s"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(ParseTimeArgTest, AcceptsNowRelativeAndAbsolute) {
  const int64_t now = kBaseNs;
  Result<int64_t> parsed = ParseTimeArg("now", now, TimeZone());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, now);
  parsed = ParseTimeArg("15m", now, TimeZone());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, now - 900 * kNanosPerSecond);
  parsed = ParseTimeArg("2023-01-29T10:42:09+02:00", now, TimeZone());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, kBaseNs);
  parsed = ParseTimeArg("1674981729", now, TimeZone());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, kBaseNs);
  EXPECT_FALSE(ParseTimeArg("last tuesday", now, TimeZone()).ok());
}

// ---- TimeLayout ---------------------------------------------------------

TimeLayout MustCompile(std::string_view layout) {
  Result<TimeLayout> compiled = TimeLayout::Compile(layout);
  EXPECT_TRUE(compiled.ok()) << layout << ": " << compiled.status().ToString();
  return compiled.ok() ? std::move(compiled).value() : *TimeLayout::Compile("%s");
}

// 2024-03-01T12:00:00Z: "now" for year inference, in a leap year.
constexpr int64_t kLayoutNowNs = 1709294400LL * kNanosPerSecond;

// The layout's reading of `text` as RFC 3339 with nanoseconds, or the
// failure ("not a time", "out of range").
std::string ParseWith(std::string_view layout, std::string_view text,
                      const TimeZone& zone = TimeZone(), int64_t now_ns = kLayoutNowNs) {
  int64_t ns = 0;
  switch (MustCompile(layout).Parse(text, zone, now_ns, &ns)) {
    case TimeParse::kOk: return FormatRfc3339(ns, 9);
    case TimeParse::kNotATime: return "not a time";
    case TimeParse::kOutOfRange: return "out of range";
  }
  return "?";
}

// The compile error of `layout`, or "" when it compiles.
std::string CompileError(std::string_view layout) {
  Result<TimeLayout> compiled = TimeLayout::Compile(layout);
  return compiled.ok() ? "" : compiled.status().message();
}

struct LayoutCase {
  const char* layout;
  const char* text;
  const char* expected;  // RFC 3339 with 9 fraction digits, or a failure
};

TEST(TimeLayoutTest, ReadsEveryDirective) {
  const LayoutCase kCases[] = {
      // %Y %m %d %H %M %S, and numbers split by width without separators.
      {"%Y-%m-%d %H:%M:%S", "2023-01-29 08:42:09", "2023-01-29T08:42:09.000000000Z"},
      {"%Y%m%d%H%M%S", "20230129084209", "2023-01-29T08:42:09.000000000Z"},
      {"%Y-%m-%d %H:%M:%S", "2023-1-9 8:4:9", "2023-01-09T08:04:09.000000000Z"},
      // %y: 69-99 are 19xx, 00-68 20xx.
      {"%y%m%d %H%M%S", "081109 203615", "2008-11-09T20:36:15.000000000Z"},
      {"%y/%m/%d %H:%M:%S", "17/06/09 20:10:40", "2017-06-09T20:10:40.000000000Z"},
      {"%y-%m-%d", "69-01-01", "1969-01-01T00:00:00.000000000Z"},
      {"%y-%m-%d", "68-12-31", "2068-12-31T00:00:00.000000000Z"},
      // %b %B %h: full or abbreviated month names, any case.
      {"%d %b %Y", "29 Jan 2023", "2023-01-29T00:00:00.000000000Z"},
      {"%d %b %Y", "29 JANUARY 2023", "2023-01-29T00:00:00.000000000Z"},
      {"%d %B %Y", "1 september 2023", "2023-09-01T00:00:00.000000000Z"},
      {"%d %h %Y", "1 sep 2023", "2023-09-01T00:00:00.000000000Z"},
      // %e: like %d, may be space-padded.
      {"%b %e %Y", "Jun  4 2005", "2005-06-04T00:00:00.000000000Z"},
      {"%b%e %Y", "Jun 4 2005", "2005-06-04T00:00:00.000000000Z"},
      {"%b %e %Y", "Jun 14 2005", "2005-06-14T00:00:00.000000000Z"},
      // %j: day of the year.
      {"%Y %j", "2024 060", "2024-02-29T00:00:00.000000000Z"},
      {"%Y %j", "2023 365", "2023-12-31T00:00:00.000000000Z"},
      {"%Y %j", "2023 366", "not a time"},
      // %a %A: weekday names, read and not checked.
      {"%a %b %d %H:%M:%S %Y", "Sun Dec 04 04:47:44 2005", "2005-12-04T04:47:44.000000000Z"},
      {"%A, %d %b %Y", "sunday, 04 Dec 2005", "2005-12-04T00:00:00.000000000Z"},
      {"%a %b %d %Y", "Xyz Dec 04 2005", "not a time"},
      // %I with %p.
      {"%Y-%m-%d %I:%M:%S %p", "2023-01-29 12:00:00 AM", "2023-01-29T00:00:00.000000000Z"},
      {"%Y-%m-%d %I:%M:%S %p", "2023-01-29 12:30:00 pm", "2023-01-29T12:30:00.000000000Z"},
      {"%Y-%m-%d %I:%M:%S%p", "2023-01-29 01:00:00PM", "2023-01-29T13:00:00.000000000Z"},
      {"%Y-%m-%d %I:%M:%S %p", "2023-01-29 13:00:00 PM", "not a time"},
      {"%Y-%m-%d %I:%M:%S %p", "2023-01-29 01:00:00 XM", "not a time"},
      // %f: any number of digits; past nanoseconds they are dropped.
      {"%Y-%m-%d %H:%M:%S.%f", "2023-01-29 08:42:09.5", "2023-01-29T08:42:09.500000000Z"},
      {"%Y-%m-%d %H:%M:%S,%f", "2023-01-29 08:42:09,487", "2023-01-29T08:42:09.487000000Z"},
      {"%Y-%m-%d %H:%M:%S.%f", "2023-01-29 08:42:09.1234567899",
       "2023-01-29T08:42:09.123456789Z"},
      {"%Y-%m-%d %H:%M:%S.%f", "2023-01-29 08:42:09.", "not a time"},
      // %z: Z, +hh, +hhmm, +hh:mm.
      {"%Y-%m-%dT%H:%M:%S%z", "2023-01-29T08:42:09Z", "2023-01-29T08:42:09.000000000Z"},
      {"%Y-%m-%dT%H:%M:%S%z", "2023-01-29T10:42:09+0200", "2023-01-29T08:42:09.000000000Z"},
      {"%Y-%m-%dT%H:%M:%S%z", "2023-01-29T10:42:09+02:00", "2023-01-29T08:42:09.000000000Z"},
      {"%Y-%m-%dT%H:%M:%S%z", "2023-01-29T10:42:09+02", "2023-01-29T08:42:09.000000000Z"},
      {"%Y-%m-%dT%H:%M:%S %z", "2023-01-29T03:12:09 -05:30", "2023-01-29T08:42:09.000000000Z"},
      {"%Y-%m-%dT%H:%M:%S%z", "2023-01-29T10:42:09+25:00", "not a time"},
      // %s: seconds since the epoch, with %f.
      {"%s", "1674981729", "2023-01-29T08:42:09.000000000Z"},
      {"%s.%f", "1674981729.487", "2023-01-29T08:42:09.487000000Z"},
      {"%s", "-1", "1969-12-31T23:59:59.000000000Z"},
      {"%s", "99999999999999999999", "out of range"},
      // %% and literal text.
      {"[%Y-%m-%d %H:%M:%S] 100%%", "[2023-01-29 08:42:09] 100%", "2023-01-29T08:42:09.000000000Z"},
      {"[%Y-%m-%d %H:%M:%S]", "(2023-01-29 08:42:09)", "not a time"},
      // Whitespace in the layout is a run of one or more whitespace bytes.
      {"%Y-%m-%d %H:%M:%S", "2023-01-29 \t  08:42:09", "2023-01-29T08:42:09.000000000Z"},
      {"%Y-%m-%d %H:%M:%S", "2023-01-2908:42:09", "not a time"},
  };
  for (const LayoutCase& c : kCases) {
    EXPECT_EQ(ParseWith(c.layout, c.text), c.expected) << c.layout << " on \"" << c.text << "\"";
  }
}

TEST(TimeLayoutTest, RejectsTextThatDoesNotFollowTheLayout) {
  const char* const kLayout = "%Y-%m-%d %H:%M:%S";
  for (const char* text : {
           "",
           "2023-01-29 08:42",             // ends early
           "2023-01-29 08:42:09 ",         // trailing byte
           " 2023-01-29 08:42:09",         // leading byte
           "2023-01-29 08:42:09Z",         // trailing zone the layout does not have
           "2023-13-01 08:42:09",          // month 13
           "2023-00-01 08:42:09",          // month 0
           "2023-01-32 08:42:09",          // day 32
           "2023-02-29 08:42:09",          // not a leap year
           "2023-04-31 08:42:09",          // April has 30 days
           "2023-01-29 24:00:00",          // hour 24
           "2023-01-29 08:60:00",          // minute 60
           "2023-01-29 08:42:61",          // second 61
           "2023/01/29 08:42:09",          // other separators
           "20231-01-29 08:42:09",         // five-digit year
       }) {
    EXPECT_EQ(ParseWith(kLayout, text), "not a time") << "\"" << text << "\"";
  }
  // A leap second and Feb 29 of a leap year are fine.
  EXPECT_EQ(ParseWith(kLayout, "2016-12-31 23:59:60"), "2017-01-01T00:00:00.000000000Z");
  EXPECT_EQ(ParseWith(kLayout, "2024-02-29 00:00:00"), "2024-02-29T00:00:00.000000000Z");
  // Years int64 nanoseconds cannot hold.
  EXPECT_EQ(ParseWith(kLayout, "9999-01-01 00:00:00"), "out of range");
  EXPECT_EQ(ParseWith(kLayout, "1000-01-01 00:00:00"), "out of range");
}

TEST(TimeLayoutTest, BadLayoutsNameTheColumn) {
  EXPECT_EQ(CompileError("%Y-%m-%d %Q"),
            "time layout column 10: unknown directive %Q (known: %Y %y %m %b %B %h %d %e %j %a "
            "%A %H %I %p %M %S %f %z %s %%)");
  EXPECT_EQ(CompileError("%Y-%m-%d %"), "time layout column 10: '%' at the end (write %% for a "
                                        "literal '%')");
  EXPECT_EQ(CompileError("%Y-%m-%d %y"),
            "time layout column 10: %y sets the year again (column 1 set it)");
  EXPECT_EQ(CompileError("%m %b %d"), "time layout column 4: %b sets the month again (column 1 set it)");
  EXPECT_EQ(CompileError("%m %d %e"), "time layout column 7: %e sets the day again (column 4 set it)");
  EXPECT_EQ(CompileError("%s %Y"),
            "time layout column 4: %s (seconds since the epoch) goes with %f only");
  EXPECT_EQ(CompileError("%Y %j %m %d"),
            "time layout column 4: %j (day of the year) with a month or day");
  EXPECT_EQ(CompileError("%m/%d %I:%M"),
            "time layout column 7: %I (12-hour clock) needs %p (AM/PM)");
  EXPECT_EQ(CompileError("%m/%d %H:%M %p"),
            "time layout column 13: %p (AM/PM) needs %I (12-hour clock) for the hour");
  EXPECT_EQ(CompileError("%H:%M:%S"),
            "time layout \"%H:%M:%S\" does not give the day: it needs %m or %b with %d or %e, "
            "or %j, or %s");
  EXPECT_EQ(CompileError("%Y-%m"),
            "time layout \"%Y-%m\" does not give the day: it needs %m or %b with %d or %e, or "
            "%j, or %s");
  EXPECT_EQ(CompileError(""), "time layout is empty");
  EXPECT_EQ(CompileError("%Y-%m-%d %H:%M:%S"), "");
  EXPECT_EQ(MustCompile("%y%m%d %H%M%S").layout(), "%y%m%d %H%M%S");
}

TEST(TimeLayoutTest, WithoutAYearTakesTheMostRecentOneLikeSyslog) {
  const char* const kLayout = "%m.%d %H:%M:%S";
  // Now is 2024-03-01T12:00:00Z.
  EXPECT_EQ(ParseWith(kLayout, "02.28 10:00:00"), "2024-02-28T10:00:00.000000000Z");
  EXPECT_EQ(ParseWith(kLayout, "03.01 12:00:00"), "2024-03-01T12:00:00.000000000Z");
  // Up to a day ahead of now is still this year (a clock running ahead).
  EXPECT_EQ(ParseWith(kLayout, "03.02 11:00:00"), "2024-03-02T11:00:00.000000000Z");
  // Further ahead is last year.
  EXPECT_EQ(ParseWith(kLayout, "03.03 00:00:00"), "2023-03-03T00:00:00.000000000Z");
  EXPECT_EQ(ParseWith(kLayout, "12.31 23:59:59"), "2023-12-31T23:59:59.000000000Z");
  // In January, December is last year's.
  const int64_t january_5 = 1704456000LL * kNanosPerSecond;  // 2024-01-05T12:00:00Z
  EXPECT_EQ(ParseWith(kLayout, "12.30 10:00:00", TimeZone(), january_5),
            "2023-12-30T10:00:00.000000000Z");
  // Feb 29 goes back to the last leap year among the candidates.
  const int64_t march_2025 = 1740830400LL * kNanosPerSecond;  // 2025-03-01T12:00:00Z
  EXPECT_EQ(ParseWith(kLayout, "02.29 10:00:00", TimeZone(), march_2025),
            "2024-02-29T10:00:00.000000000Z");
  const int64_t march_2023 = 1677672000LL * kNanosPerSecond;  // 2023-03-01T12:00:00Z
  EXPECT_EQ(ParseWith(kLayout, "02.29 10:00:00", TimeZone(), march_2023), "not a time");
  // %j without a year, too.
  EXPECT_EQ(ParseWith("%j %H", "060 10"), "2024-02-29T10:00:00.000000000Z");
  // The same rule as for syslog stamps, which read "now" from the clock.
  const int64_t yesterday = NowNanos() - 86400 * kNanosPerSecond;
  const std::string iso = FormatRfc3339(yesterday, 0);
  const std::string stamp = iso.substr(5, 2) + "." + iso.substr(8, 2) + " " + iso.substr(11, 8);
  EXPECT_EQ(ParseWith(kLayout, stamp, TimeZone(), NowNanos()), FormatRfc3339(
                                                                    yesterday / kNanosPerSecond *
                                                                        kNanosPerSecond,
                                                                    9));
}

TEST(TimeLayoutTest, ReadsInTheZoneUnlessTheTextHasAnOffset) {
  const TimeZone plus2 = MustLoad("+02:00");
  EXPECT_EQ(ParseWith("%y%m%d %H%M%S", "230129 104209", plus2), "2023-01-29T08:42:09.000000000Z");
  EXPECT_EQ(ParseWith("%Y-%m-%d %H:%M:%S%z", "2023-01-29 08:42:09Z", plus2),
            "2023-01-29T08:42:09.000000000Z");
  EXPECT_EQ(ParseWith("%s", "1674981729", plus2), "2023-01-29T08:42:09.000000000Z");
  const TimeZone berlin = MustLoad("Europe/Berlin");
  EXPECT_EQ(ParseWith("%d.%m.%Y %H:%M", "01.07.2023 12:00", berlin),
            "2023-07-01T10:00:00.000000000Z");
  EXPECT_EQ(ParseWith("%d.%m.%Y %H:%M", "01.12.2023 12:00", berlin),
            "2023-12-01T11:00:00.000000000Z");
  // Without a year, the zone applies to each candidate year.
  EXPECT_EQ(ParseWith("%m.%d %H:%M:%S", "02.28 10:00:00", plus2),
            "2024-02-28T08:00:00.000000000Z");
}

TEST(TimeLayoutTest, OneCompiledLayoutParsesFromManyThreads) {
  const TimeLayout layout = MustCompile("%y%m%d %H%M%S");
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      char text[32];
      for (int i = 0; i < 2000; ++i) {
        const int second = (i + t) % 60;
        std::snprintf(text, sizeof(text), "081109 2036%02d", second);
        int64_t ns = 0;
        if (layout.Parse(text, TimeZone(), kLayoutNowNs, &ns) != TimeParse::kOk ||
            ns != (1226262960LL + second) * kNanosPerSecond) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(NowNanosTest, IsAfter2023) { EXPECT_GT(NowNanos(), kBaseNs); }

}  // namespace
}  // namespace faultline
