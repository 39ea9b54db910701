// Time: parsing every timestamp form faultline accepts, time zones, and
// formatting. All times inside faultline are int64 Unix epoch nanoseconds, UTC.
//
// Pure functions over their arguments; TimeZone is immutable after Load and
// safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace faultline {

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;

// A zone used for timestamps written without an offset.
// Accepts "UTC", "Z", fixed offsets ("+02:00", "-0530") and IANA names
// ("Europe/Berlin") read from the system's zoneinfo (TZDIR or
// /usr/share/zoneinfo), with their daylight-saving rules.
class TimeZone {
 public:
  TimeZone();  // UTC
  static Result<TimeZone> Load(std::string_view name);

  // Offset from UTC, in seconds, in effect at the given *local* wall-clock
  // time (seconds since the epoch as if the local time were UTC). For a local
  // time that occurs twice (DST fall-back) the earlier offset is used.
  int64_t OffsetForLocal(int64_t local_seconds) const;
  const std::string& name() const { return name_; }

 private:
  struct Transition {
    int64_t utc_seconds;
    int32_t offset_seconds;
  };
  std::string name_;
  int32_t fixed_offset_seconds_ = 0;
  // Shared so that copies are cheap; immutable after Load.
  std::shared_ptr<const std::vector<Transition>> transitions_;
};

enum class TimeParse : uint8_t {
  kOk = 0,
  kNotATime,    // the text is not in any accepted form
  kOutOfRange,  // a time, but not representable as int64 ns (before 1678, after 2262)
};

// Parses a textual timestamp: RFC 3339 / ISO 8601 with "T" or a space, "Z" or
// any offset ("+02:00", "+0200", "+02"), 0 to 9 fractional digits after "." or
// ","; "YYYY-MM-DD HH:MM:SS[.,]fff" without zone (uses `zone`); and epoch
// numbers written as strings (see ParseEpochNumber). Leading and trailing
// spaces are not accepted: the caller passes exactly the field's text.
TimeParse ParseTimestamp(std::string_view text, const TimeZone& zone, int64_t* out_ns);

// Epoch numbers: the magnitude tells the unit. |v| < 1e11 seconds,
// < 1e14 millis, < 1e17 micros, otherwise nanos. Fractions are allowed
// ("1674981729.487").
TimeParse ParseEpochNumber(std::string_view digits, int64_t* out_ns);
TimeParse EpochFromDouble(double value, int64_t* out_ns);
TimeParse EpochFromInt(int64_t value, int64_t* out_ns);

// Finds a timestamp at the start of a plain-text line: RFC 3339, the
// "YYYY-MM-DD HH:MM:SS,mmm" family, optionally inside "[...]". On success
// returns the number of bytes consumed (the timestamp and any closing
// bracket), else 0.
size_t ParseLeadingTimestamp(std::string_view line, const TimeZone& zone, int64_t* out_ns);

// TimeLayout: an explicit, strptime-style layout for timestamps that no
// built-in form covers: "081109 203615" is "%y%m%d %H%M%S", "17/06/09
// 20:10:40" is "%y/%m/%d %H:%M:%S", "10.30 16:49:06" is "%m.%d %H:%M:%S".
// The ingest parser uses it for the time fields of a line format
// (ParserOptions::time_layout).
//
// Directives:
//   %Y year, up to 4 digits      %y year 00-99 (69-99: 19xx, 00-68: 20xx)
//   %m month 1-12                %b %B %h month name, full or 3 letters, any case
//   %d day 1-31                  %e the same, may be padded with a space
//   %j day of the year 1-366     %a %A weekday name, full or 3 letters (not checked)
//   %H hour 0-23                 %I hour 1-12, needs %p (AM/PM, any case)
//   %M minute 0-59               %S second 0-60
//   %f fraction digits (1 or more; those past nanoseconds are dropped)
//   %z offset: "Z", "+hh", "+hhmm", "+hh:mm"
//   %s seconds since the epoch (with only %f besides)
//   %% a '%'
// Numbers take 1 to their width in digits, greedily, so that runs without
// separators ("%y%m%d") split by width. Whitespace in the layout matches a
// run of one or more whitespace bytes; any other byte matches itself.
//
// A layout must give the day: %m or %b with %d or %e, or %j (or %s). Without
// %Y or %y the year is inferred as for syslog stamps: the one among next,
// this and last year that puts the time closest before now + 1 day. Without
// %z the time is read in the zone passed to Parse.
//
// Compiled once; Parse is const, allocates nothing and is thread-safe.
class TimeLayout {
 public:
  // Errors name the 1-based column: "time layout column 3: unknown directive
  // %Q".
  static Result<TimeLayout> Compile(std::string_view layout);

  // Parses all of `text` (no leading or trailing bytes allowed). `now_ns`
  // only matters for year inference. kNotATime when the text does not follow
  // the layout or names an impossible date; kOutOfRange past int64 ns.
  TimeParse Parse(std::string_view text, const TimeZone& zone, int64_t now_ns,
                  int64_t* out_ns) const;

  const std::string& layout() const { return layout_; }

 private:
  TimeLayout() = default;

  struct Step {
    // The directive's letter ('B', 'h' and 'A' are stored as 'b', 'b', 'a');
    // kLiteral for literal bytes, kSpace for a whitespace run.
    char directive = 0;
    // Literal bytes: [literal_begin, literal_begin + literal_size) of literals_.
    uint32_t literal_begin = 0;
    uint32_t literal_size = 0;
  };
  static constexpr char kLiteral = '\0';
  static constexpr char kSpace = ' ';

  std::string layout_;
  std::string literals_;
  std::vector<Step> steps_;
  bool has_year_ = false;
  bool has_zone_ = false;
  bool has_epoch_ = false;
  bool has_day_of_year_ = false;
  bool twelve_hour_ = false;
};

// RFC 3339 in UTC with `fraction_digits` (0, 3, 6 or 9) digits:
// "2023-01-29T08:42:09.487Z".
std::string FormatRfc3339(int64_t ts_ns, int fraction_digits = 3);

// A command-line time: RFC 3339 (or any form ParseTimestamp takes) or a
// duration before `now_ns` ("15m", "2h", "1d", "30s", "1w", "500ms"), or "now".
Result<int64_t> ParseTimeArg(std::string_view text, int64_t now_ns, const TimeZone& zone);
// A duration: "500ms", "30s", "15m", "2h", "1d", "1w", also combined "1h30m".
Result<int64_t> ParseDuration(std::string_view text);

// Wall clock now, Unix epoch nanoseconds.
int64_t NowNanos();

}  // namespace faultline
