#include "core/time.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace faultline {

namespace {

// int64 nanoseconds cover 1677-09-21 .. 2262-04-11; these are the whole
// seconds that fit with any fraction added.
constexpr int64_t kMinSeconds = std::numeric_limits<int64_t>::min() / kNanosPerSecond + 1;
constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / kNanosPerSecond - 1;

constexpr int64_t kPow10[] = {1,         10,         100,         1000,         10000,
                              100000,    1000000,    10000000,    100000000,    1000000000};

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at text[pos]. No bounds surprises: checks size.
inline bool ReadDigits(std::string_view text, size_t pos, size_t n, int* out) {
  if (pos + n > text.size()) return false;
  int value = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (!IsDigit(c)) return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic
// Gregorian date. Exact for every int year we can reach.
constexpr int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t mp = m > 2 ? m - 3 : m + 9;
  const int64_t doy = (153 * mp + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int month;
  int day;
};

constexpr Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return Civil{yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);

inline bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

inline int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

constexpr std::string_view kMonthNames[] = {"January", "February", "March",     "April",
                                             "May",     "June",     "July",      "August",
                                             "September", "October", "November", "December"};

// A local wall-clock time whose year is not known yet.
struct YearlessTime {
  int month = 0;  // 1-12; 0 when `day` is the day of the year
  int day = 0;    // of the month, or of the year (1-366) when month is 0
  int64_t second_of_day = 0;
  // Offset written in the text; nullptr: read in the zone.
  const int32_t* offset_seconds = nullptr;
};

// UTC seconds of `t` in `year`; false when that date does not exist in that
// year (Feb 29 or day 366 of a common year, Apr 31).
bool UtcInYear(int64_t year, const YearlessTime& t, const TimeZone& zone, int64_t* utc_seconds) {
  const int y = static_cast<int>(year);
  int64_t days;
  if (t.month == 0) {
    if (t.day < 1 || t.day > (IsLeap(y) ? 366 : 365)) return false;
    days = DaysFromCivil(year, 1, 1) + t.day - 1;
  } else {
    if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > DaysInMonth(y, t.month)) return false;
    days = DaysFromCivil(year, t.month, t.day);
  }
  const int64_t local = days * 86400 + t.second_of_day;
  *utc_seconds =
      local - (t.offset_seconds != nullptr ? *t.offset_seconds : zone.OffsetForLocal(local));
  return true;
}

// For stamps without a year (syslog, layouts without %Y/%y): the year among
// next, this and last that puts the time closest before now + 1 day, which
// is right for any log younger than a year whose clock is at most a day
// ahead. False when the date exists in none of them.
bool UtcInferringYear(const YearlessTime& t, const TimeZone& zone, int64_t now_seconds,
                      int64_t* utc_seconds) {
  const int64_t now_year = CivilFromDays(now_seconds / 86400).year;
  for (int64_t year = now_year + 1; year >= now_year - 1; --year) {
    int64_t utc = 0;
    if (UtcInYear(year, t, zone, &utc) && utc <= now_seconds + 86400) {
      *utc_seconds = utc;
      return true;
    }
  }
  return false;
}

// Parses "+HH:MM", "+HHMM" or "+HH" at text[pos]. Returns bytes used, 0 if
// none.
size_t ParseOffset(std::string_view text, size_t pos, int32_t* offset_seconds) {
  if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return 0;
  const int sign = text[pos] == '-' ? -1 : 1;
  int hours = 0;
  int minutes = 0;
  size_t used = 1;
  if (!ReadDigits(text, pos + used, 2, &hours)) return 0;
  used += 2;
  if (pos + used < text.size() && text[pos + used] == ':') {
    if (!ReadDigits(text, pos + used + 1, 2, &minutes)) return 0;
    used += 3;
  } else if (ReadDigits(text, pos + used, 2, &minutes)) {
    used += 2;
  }
  if (hours > 23 || minutes > 59) return 0;
  *offset_seconds = sign * (hours * 3600 + minutes * 60);
  return used;
}

// Converts whole seconds plus a nanosecond fraction to ns, checking range.
inline TimeParse Combine(int64_t seconds, int64_t frac_ns, int64_t* out_ns) {
  if (seconds < kMinSeconds || seconds > kMaxSeconds) return TimeParse::kOutOfRange;
  *out_ns = seconds * kNanosPerSecond + frac_ns;
  return TimeParse::kOk;
}

// Fast path for the fixed-width UTC forms nearly every structured logger
// writes: "YYYY-MM-DDTHH:MM:SSZ" and the same with exactly 3, 6 or 9 fraction
// digits after '.'. Digits and separators are checked eight bytes at a time and
// the date comes from a table, with the same validation as the general parser
// below, which handles everything else (offsets, zones, other separators and
// fraction lengths). Reads only text[0, text.size()).

// Days from 1970-01-01 to the first of each month of the years the table
// covers, plus one entry for the month after the last.
constexpr int kTableFirstYear = 1970;
constexpr int kTableYears = 130;  // 1970 .. 2099
constexpr auto kMonthStartDays = [] {
  std::array<int32_t, kTableYears * 12 + 1> days{};
  for (int i = 0; i <= kTableYears * 12; ++i) {
    days[static_cast<size_t>(i)] =
        static_cast<int32_t>(DaysFromCivil(kTableFirstYear + i / 12, i % 12 + 1, 1));
  }
  return days;
}();
static_assert(kMonthStartDays[1] == 31 && kMonthStartDays[12] == 365);

inline uint64_t Load8(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, 8);
  return word;
}

// Bytes of a little-endian word, first character in the lowest byte.
constexpr uint64_t Pattern(const char (&text)[9]) {
  uint64_t word = 0;
  for (int i = 7; i >= 0; --i) word = (word << 8) | static_cast<unsigned char>(text[i]);
  return word;
}

// `word` XOR its expected pattern ('0' at digit bytes, the separator
// elsewhere): true when every digit byte is now 0..9 and every separator byte
// is 0.
inline bool DigitsAndSeparators(uint64_t x, uint64_t separator_mask) {
  constexpr uint64_t kLow7 = 0x7F7F7F7F7F7F7F7FULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  // Bit 7 of a byte ends up set when the byte is >= 10.
  const uint64_t over9 = ((x & kLow7) + 0x7676767676767676ULL) | x;
  return ((over9 & kHigh & ~separator_mask) | (x & separator_mask)) == 0;
}

// Digit values 0..9 (first digit in the lowest byte) to the two-digit number
// starting at each byte: 10 * byte i + byte i+1, at most 99, so no carries.
inline uint64_t DigitPairs(uint64_t x) { return x * 10 + (x >> 8); }
inline int ByteAt(uint64_t x, int i) { return static_cast<int>((x >> (8 * i)) & 0xFF); }

// Eight digit values 0..9 (first digit in the lowest byte) to their number.
inline uint64_t EightDigits(uint64_t x) {
  x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFULL;
  x = (x * 100 + (x >> 16)) & 0x0000FFFF0000FFFFULL;
  return (x * 10000 + (x >> 32)) & 0xFFFFFFFFULL;
}

// Parses one of the fixed-width forms at the start of `text`. Returns false
// when `text` does not start with one, leaving the decision to the general
// parser; else sets *result, and on kOk *used and *out_ns.
bool ParseFixedUtcPrefix(std::string_view text, size_t* used, int64_t* out_ns,
                         TimeParse* result) {
  const size_t size = text.size();
  if (size < 20) return false;
  const char* p = text.data();
  size_t fraction_digits = 0;
  if (p[19] != 'Z') {
    if (p[19] != '.') return false;
    if (size >= 24 && p[23] == 'Z') {
      fraction_digits = 3;
    } else if (size >= 27 && p[26] == 'Z') {
      fraction_digits = 6;
    } else if (size >= 30 && p[29] == 'Z') {
      fraction_digits = 9;
    } else {
      return false;
    }
  }
  // "YYYY-MM-", "DDTHH:MM" and (overlapping) "HH:MM:SS".
  constexpr uint64_t kDatePattern = Pattern("0000-00-");
  constexpr uint64_t kDateSeparators = 0xFF0000FF00000000ULL;
  constexpr uint64_t kDayHourPattern = Pattern("00T00:00");
  constexpr uint64_t kDayHourSeparators = 0x0000FF0000FF0000ULL;
  constexpr uint64_t kTimePattern = Pattern("00:00:00");
  constexpr uint64_t kTimeSeparators = 0x0000FF0000FF0000ULL;
  const uint64_t date = Load8(p) ^ kDatePattern;
  const uint64_t day_hour = Load8(p + 8) ^ kDayHourPattern;
  const uint64_t time = Load8(p + 11) ^ kTimePattern;
  if (!DigitsAndSeparators(date, kDateSeparators) ||
      !DigitsAndSeparators(day_hour, kDayHourSeparators) ||
      !DigitsAndSeparators(time, kTimeSeparators)) {
    return false;
  }
  const uint64_t date_pairs = DigitPairs(date);
  const uint64_t time_pairs = DigitPairs(time);
  const int year = ByteAt(date_pairs, 0) * 100 + ByteAt(date_pairs, 2);
  const int month = ByteAt(date_pairs, 5);
  const int day = ByteAt(DigitPairs(day_hour), 0);
  const int hour = ByteAt(time_pairs, 0);
  const int minute = ByteAt(time_pairs, 3);
  const int second = ByteAt(time_pairs, 6);
  if (year < kTableFirstYear || year >= kTableFirstYear + kTableYears) return false;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) {
    *result = TimeParse::kNotATime;
    return true;
  }
  const auto month_index = static_cast<size_t>((year - kTableFirstYear) * 12 + month - 1);
  const int32_t month_start = kMonthStartDays[month_index];
  if (day > kMonthStartDays[month_index + 1] - month_start) {
    *result = TimeParse::kNotATime;
    return true;
  }
  int64_t frac_ns = 0;
  if (fraction_digits > 0) {
    // The last eight (or fewer) fraction digits, right-aligned in a word
    // whose leading bytes are forced to '0'.
    const size_t last = 20 + fraction_digits;  // one past the last digit
    const size_t in_word = fraction_digits < 8 ? fraction_digits : 8;
    // Low bytes (the first characters) that are not fraction digits.
    const uint64_t lead_mask = in_word == 8 ? 0 : ~uint64_t{0} >> (8 * in_word);
    const uint64_t word = (Load8(p + last - 8) & ~lead_mask) | (0x3030303030303030ULL & lead_mask);
    const uint64_t digits = word ^ 0x3030303030303030ULL;
    if (!DigitsAndSeparators(digits, 0)) return false;
    frac_ns = static_cast<int64_t>(EightDigits(digits));
    if (fraction_digits == 9) {
      const unsigned lead = static_cast<unsigned char>(p[20]) - unsigned{'0'};
      if (lead > 9) return false;
      frac_ns += static_cast<int64_t>(lead) * 100'000'000;
    } else {
      frac_ns *= kPow10[9 - fraction_digits];
    }
  }
  const int64_t seconds = (static_cast<int64_t>(month_start) + day - 1) * 86400 + hour * 3600 +
                          minute * 60 + second;
  *used = fraction_digits == 0 ? 20 : 21 + fraction_digits;
  *result = Combine(seconds, frac_ns, out_ns);
  return true;
}

// Reads the digits of a fraction of a second at text[*pos] and returns it in
// nanoseconds, advancing *pos past them (all of them: digits past
// nanoseconds are dropped, not rounded). 0 and *pos unchanged when there are
// none.
int64_t ReadFractionDigits(std::string_view text, size_t* pos) {
  size_t at = *pos;
  int64_t frac_ns = 0;
  size_t digits = 0;
  while (at < text.size() && IsDigit(text[at])) {
    if (digits < 9) frac_ns = frac_ns * 10 + (text[at] - '0');
    ++digits;
    ++at;
  }
  if (digits < 9) frac_ns *= kPow10[9 - digits];
  *pos = at;
  return frac_ns;
}

// Reads a fraction of a second at text[*pos] ('.' or, when allowed, ','
// then digits) and returns it in nanoseconds, advancing *pos past it; 0 and
// *pos unchanged when there is none. Digits past nanoseconds are skipped.
int64_t ParseFraction(std::string_view text, bool allow_comma, size_t* pos) {
  const size_t at = *pos;
  if (at + 1 >= text.size() || !(text[at] == '.' || (allow_comma && text[at] == ',')) ||
      !IsDigit(text[at + 1])) {
    return 0;
  }
  ++*pos;
  return ReadFractionDigits(text, pos);
}

// Parses "YYYY-MM-DD[T ]HH:MM:SS[.,frac][zone]" at the start of `text`.
// Stops at the first byte that cannot continue the timestamp and reports how
// many bytes it used; the caller decides whether trailing bytes are allowed.
TimeParse ParseDateTimePrefix(std::string_view text, const TimeZone& zone, size_t* used,
                              int64_t* out_ns) {
  if (TimeParse fast; ParseFixedUtcPrefix(text, used, out_ns, &fast)) return fast;
  int year, month, day, hour, minute, second;
  if (!ReadDigits(text, 0, 4, &year) || text.size() < 19 || text[4] != '-' ||
      !ReadDigits(text, 5, 2, &month) || text[7] != '-' || !ReadDigits(text, 8, 2, &day)) {
    return TimeParse::kNotATime;
  }
  const char sep = text[10];
  if ((sep != 'T' && sep != 't' && sep != ' ') || !ReadDigits(text, 11, 2, &hour) ||
      text[13] != ':' || !ReadDigits(text, 14, 2, &minute) || text[16] != ':' ||
      !ReadDigits(text, 17, 2, &second)) {
    return TimeParse::kNotATime;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 60) {
    return TimeParse::kNotATime;
  }
  size_t pos = 19;
  const int64_t frac_ns = ParseFraction(text, /*allow_comma=*/true, &pos);
  bool has_zone = false;
  int32_t offset = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    has_zone = true;
    ++pos;
  } else if (size_t n = ParseOffset(text, pos, &offset); n > 0) {
    has_zone = true;
    pos += n;
  }
  const int64_t local = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                        second;
  const int64_t utc = local - (has_zone ? offset : zone.OffsetForLocal(local));
  *used = pos;
  return Combine(utc, frac_ns, out_ns);
}

// Picks the unit of an epoch number from the magnitude of its integer part:
// the scale that turns one unit into nanoseconds.
inline int64_t EpochScale(uint64_t magnitude) {
  if (magnitude < 100'000'000'000ULL) return kNanosPerSecond;
  if (magnitude < 100'000'000'000'000ULL) return 1'000'000;
  if (magnitude < 100'000'000'000'000'000ULL) return 1'000;
  return 1;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  char buffer[8192];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) out->append(buffer, n);
  const bool ok = std::ferror(file) == 0;
  std::fclose(file);
  return ok;
}

int64_t ReadBigEndian(const unsigned char* p, size_t bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i) value = (value << 8) | p[i];
  if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(value));
  return static_cast<int64_t>(value);
}

}  // namespace

TimeZone::TimeZone() : name_("UTC") {}

Result<TimeZone> TimeZone::Load(std::string_view name) {
  TimeZone zone;
  if (name.empty() || name == "UTC" || name == "Z" || name == "GMT" || name == "utc") {
    return zone;
  }
  zone.name_ = std::string(name);
  int32_t offset = 0;
  if (ParseOffset(name, 0, &offset) == name.size()) {
    zone.fixed_offset_seconds_ = offset;
    return zone;
  }
  // Refuse anything that could walk out of the zoneinfo directory.
  if (name.front() == '/' || name.find("..") != std::string_view::npos) {
    return Status::InvalidArgument("bad time zone name: " + std::string(name));
  }
  const char* tzdir = std::getenv("TZDIR");
  std::string path = tzdir != nullptr && *tzdir != '\0' ? tzdir : "/usr/share/zoneinfo";
  path += '/';
  path += name;
  std::string data;
  if (!ReadFile(path, &data)) {
    return Status::NotFound("unknown time zone " + std::string(name) + " (" + path + ")");
  }
  const auto corrupt = [&] {
    return Status::Corruption("bad TZif file for zone " + std::string(name) + ": " + path);
  };
  // TZif: a v1 block with 32-bit times, then (v2+) a header and block with
  // 64-bit times. Only the 64-bit block is used: 32-bit times end in 2038.
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  constexpr size_t kHeader = 44;
  if (data.size() < kHeader || std::memcmp(bytes, "TZif", 4) != 0 || bytes[4] < '2') {
    return corrupt();
  }
  const auto counts = [&](size_t at, int64_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = ReadBigEndian(bytes + at + 20 + 4 * i, 4);
  };
  int64_t c[6];  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  counts(0, c);
  const size_t v1_size = static_cast<size_t>(c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0]);
  const size_t v2 = kHeader + v1_size;
  if (data.size() < v2 + kHeader || std::memcmp(bytes + v2, "TZif", 4) != 0) return corrupt();
  counts(v2, c);
  for (int64_t count : c) {
    if (count < 0 || count > 100000) return corrupt();
  }
  const auto timecnt = static_cast<size_t>(c[3]);
  const auto typecnt = static_cast<size_t>(c[4]);
  const size_t times_at = v2 + kHeader;
  const size_t idx_at = times_at + timecnt * 8;
  const size_t types_at = idx_at + timecnt;
  if (typecnt == 0 || data.size() < types_at + typecnt * 6) return corrupt();
  const auto type_offset = [&](size_t type) {
    return static_cast<int32_t>(ReadBigEndian(bytes + types_at + type * 6, 4));
  };
  auto transitions = std::make_shared<std::vector<Transition>>();
  transitions->reserve(timecnt);
  for (size_t i = 0; i < timecnt; ++i) {
    const size_t type = bytes[idx_at + i];
    if (type >= typecnt) return corrupt();
    transitions->push_back(
        Transition{ReadBigEndian(bytes + times_at + i * 8, 8), type_offset(type)});
  }
  // Before the first transition, type 0 applies (RFC 8536 section 3.2).
  zone.fixed_offset_seconds_ = type_offset(0);
  // TODO(h-ingest): apply the POSIX TZ footer after the last transition;
  // Debian ships "fat" files with transitions through 2037, so the last
  // offset holding afterwards only matters for slim zoneinfo builds.
  zone.transitions_ = std::move(transitions);
  return zone;
}

int64_t TimeZone::OffsetForLocal(int64_t local_seconds) const {
  if (!transitions_ || transitions_->empty()) return fixed_offset_seconds_;
  const std::vector<Transition>& t = *transitions_;
  const auto before = [&](size_t k) {
    return k == 0 ? fixed_offset_seconds_ : t[k - 1].offset_seconds;
  };
  // The last transition k whose instant the wall clock (still showing the
  // old offset) has reached. Keys T_k + O_{k-1} increase because transitions
  // are months apart and offsets differ by hours.
  size_t lo = 0;
  size_t hi = t.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (t[mid].utc_seconds + before(mid) <= local_seconds) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == 0) return fixed_offset_seconds_;
  const size_t k = lo - 1;
  // In a spring-forward gap the local time does not exist; read it with the
  // old offset. A fall-back overlap never reaches here for its first pass,
  // so the earlier offset wins, as documented.
  return local_seconds >= t[k].utc_seconds + t[k].offset_seconds ? t[k].offset_seconds
                                                                  : before(k);
}

TimeParse EpochFromInt(int64_t value, int64_t* out_ns) {
  const uint64_t magnitude =
      value < 0 ? static_cast<uint64_t>(-(value + 1)) + 1 : static_cast<uint64_t>(value);
  int64_t ns;
  if (__builtin_mul_overflow(value, EpochScale(magnitude), &ns)) return TimeParse::kOutOfRange;
  *out_ns = ns;
  return TimeParse::kOk;
}

TimeParse EpochFromDouble(double value, int64_t* out_ns) {
  if (!(value == value) || value > 1e30 || value < -1e30) return TimeParse::kNotATime;
  if (value >= 9.2e18 || value <= -9.2e18) return TimeParse::kOutOfRange;
  // Whole units and the fraction are scaled apart: a double holds a millisecond
  // epoch exactly, but not that epoch times 1e6.
  const auto whole = static_cast<int64_t>(value);
  const double fraction = value - static_cast<double>(whole);
  int64_t ns;
  if (EpochFromInt(whole, &ns) != TimeParse::kOk) return TimeParse::kOutOfRange;
  const uint64_t magnitude =
      whole < 0 ? static_cast<uint64_t>(-(whole + 1)) + 1 : static_cast<uint64_t>(whole);
  const double fraction_ns = fraction * static_cast<double>(EpochScale(magnitude));
  // Rounding to the nearest ns undoes binary noise (.487 -> .486999999).
  const auto rounded = static_cast<int64_t>(fraction_ns < 0 ? fraction_ns - 0.5 : fraction_ns + 0.5);
  if (__builtin_add_overflow(ns, rounded, &ns)) return TimeParse::kOutOfRange;
  *out_ns = ns;
  return TimeParse::kOk;
}

TimeParse ParseEpochNumber(std::string_view digits, int64_t* out_ns) {
  size_t pos = 0;
  const bool negative = !digits.empty() && digits[0] == '-';
  if (negative) ++pos;
  const size_t int_begin = pos;
  uint64_t int_part = 0;
  while (pos < digits.size() && IsDigit(digits[pos])) {
    if (pos - int_begin >= 19) return TimeParse::kOutOfRange;
    int_part = int_part * 10 + static_cast<uint64_t>(digits[pos] - '0');
    ++pos;
  }
  if (pos == int_begin) return TimeParse::kNotATime;
  const int64_t scale = EpochScale(int_part);
  // Fraction of one unit, expressed in ns of that unit (at most 9 digits
  // matter even for seconds).
  int64_t frac_ns = 0;
  if (pos < digits.size() && digits[pos] == '.') {
    ++pos;
    const size_t frac_begin = pos;
    int64_t frac = 0;
    size_t frac_digits = 0;
    while (pos < digits.size() && IsDigit(digits[pos])) {
      if (frac_digits < 9) {
        frac = frac * 10 + (digits[pos] - '0');
        ++frac_digits;
      }
      ++pos;
    }
    if (pos == frac_begin) return TimeParse::kNotATime;
    frac_ns = frac * scale / kPow10[frac_digits];
  }
  if (pos != digits.size()) return TimeParse::kNotATime;
  if (int_part > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return TimeParse::kOutOfRange;
  }
  int64_t ns;
  if (__builtin_mul_overflow(static_cast<int64_t>(int_part), scale, &ns) ||
      __builtin_add_overflow(ns, frac_ns, &ns)) {
    return TimeParse::kOutOfRange;
  }
  *out_ns = negative ? -ns : ns;
  return TimeParse::kOk;
}

TimeParse ParseTimestamp(std::string_view text, const TimeZone& zone, int64_t* out_ns) {
  if (text.empty()) return TimeParse::kNotATime;
  if (text.size() >= 19 && text[4] == '-') {
    size_t used = 0;
    int64_t ns = 0;
    TimeParse fast;
    if (ParseFixedUtcPrefix(text, &used, &ns, &fast)) {
      if (fast != TimeParse::kOk) return fast;
      if (used != text.size()) return TimeParse::kNotATime;
      *out_ns = ns;
      return TimeParse::kOk;
    }
    const TimeParse result = ParseDateTimePrefix(text, zone, &used, &ns);
    if (result != TimeParse::kOk) return result;
    if (used != text.size()) return TimeParse::kNotATime;
    *out_ns = ns;
    return TimeParse::kOk;
  }
  return ParseEpochNumber(text, out_ns);
}

namespace {

// "Jun 14 15:16:01", "Jun  4 15:16:01.123": the BSD syslog (RFC 3164) stamp
// that has no year. The year is the one that puts the time closest before
// now + 1 day, which is right for any log younger than a year; say the year
// with --line-format (or an RFC 3339 stamp) when reading older archives.
TimeParse ParseSyslogPrefix(std::string_view text, const TimeZone& zone, size_t* used,
                            int64_t* out_ns) {
  if (text.size() < 14 || text[3] != ' ') return TimeParse::kNotATime;
  int month = 0;
  for (int m = 0; m < 12; ++m) {
    if (text.substr(0, 3) == kMonthNames[m].substr(0, 3)) month = m + 1;
  }
  if (month == 0) return TimeParse::kNotATime;
  // The day is "14", " 4" (syslog pads with a space) or "4" (when a header
  // layout has joined the fields with single spaces).
  int day = 0;
  if (IsDigit(text[4]) && IsDigit(text[5]) && text[6] == ' ') {
    day = (text[4] - '0') * 10 + (text[5] - '0');
  } else if (text[4] == ' ' && IsDigit(text[5]) && text[6] == ' ') {
    day = text[5] - '0';
  } else if (IsDigit(text[4]) && text[5] == ' ') {
    // Re-read it padded ("Jun  4 ..."), so the rest is at fixed offsets.
    std::string padded(text.substr(0, 4));
    padded.push_back(' ');
    padded.append(text.substr(4, 32));
    size_t padded_used = 0;
    const TimeParse parsed = ParseSyslogPrefix(padded, zone, &padded_used, out_ns);
    if (parsed == TimeParse::kOk) *used = padded_used - 1;
    return parsed;
  } else {
    return TimeParse::kNotATime;
  }
  if (text.size() < 15) return TimeParse::kNotATime;
  if (!IsDigit(text[7]) || !IsDigit(text[8]) || text[9] != ':' || !IsDigit(text[10]) ||
      !IsDigit(text[11]) || text[12] != ':' || !IsDigit(text[13]) || !IsDigit(text[14])) {
    return TimeParse::kNotATime;
  }
  const int hour = (text[7] - '0') * 10 + (text[8] - '0');
  const int minute = (text[10] - '0') * 10 + (text[11] - '0');
  const int second = (text[13] - '0') * 10 + (text[14] - '0');
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return TimeParse::kNotATime;
  size_t pos = 15;
  const int64_t frac_ns = ParseFraction(text, /*allow_comma=*/false, &pos);
  const YearlessTime stamp{month, day, hour * 3600 + minute * 60 + second};
  int64_t utc = 0;
  if (!UtcInferringYear(stamp, zone, NowNanos() / kNanosPerSecond, &utc)) {
    return TimeParse::kNotATime;
  }
  *used = pos;
  return Combine(utc, frac_ns, out_ns);
}

}  // namespace

size_t ParseLeadingTimestamp(std::string_view line, const TimeZone& zone, int64_t* out_ns) {
  const bool bracket = !line.empty() && line[0] == '[';
  std::string_view text = bracket ? line.substr(1) : line;
  size_t used = 0;
  int64_t ns = 0;
  if (ParseDateTimePrefix(text, zone, &used, &ns) != TimeParse::kOk &&
      ParseSyslogPrefix(text, zone, &used, &ns) != TimeParse::kOk) {
    return 0;
  }
  // The timestamp must end at a token boundary, not run into other text.
  if (bracket) {
    if (used >= text.size() || text[used] != ']') return 0;
    ++used;
  } else if (used < text.size() && text[used] != ' ' && text[used] != '\t') {
    return 0;
  }
  *out_ns = ns;
  return used + (bracket ? 1 : 0);
}

// ---- TimeLayout ---------------------------------------------------------

namespace {

// The part of a time a directive sets; each may be set once.
enum class LayoutSlot : uint8_t {
  kYear,
  kMonth,
  kDay,
  kDayOfYear,
  kWeekday,
  kHour,
  kAmPm,
  kMinute,
  kSecond,
  kFraction,
  kZone,
  kEpoch,
  kCount,
};

constexpr std::string_view kSlotNames[] = {
    "year",   "month",  "day",      "day of the year", "weekday", "hour",
    "AM/PM",  "minute", "second",   "fraction",        "offset",  "epoch seconds",
};
static_assert(std::size(kSlotNames) == static_cast<size_t>(LayoutSlot::kCount));

struct Directive {
  char letter;
  char stored_as;  // aliases share one letter in the compiled steps
  LayoutSlot slot;
};

constexpr Directive kDirectives[] = {
    {'Y', 'Y', LayoutSlot::kYear},     {'y', 'y', LayoutSlot::kYear},
    {'m', 'm', LayoutSlot::kMonth},    {'b', 'b', LayoutSlot::kMonth},
    {'B', 'b', LayoutSlot::kMonth},    {'h', 'b', LayoutSlot::kMonth},
    {'d', 'd', LayoutSlot::kDay},      {'e', 'e', LayoutSlot::kDay},
    {'j', 'j', LayoutSlot::kDayOfYear}, {'a', 'a', LayoutSlot::kWeekday},
    {'A', 'a', LayoutSlot::kWeekday},  {'H', 'H', LayoutSlot::kHour},
    {'I', 'I', LayoutSlot::kHour},     {'p', 'p', LayoutSlot::kAmPm},
    {'M', 'M', LayoutSlot::kMinute},   {'S', 'S', LayoutSlot::kSecond},
    {'f', 'f', LayoutSlot::kFraction}, {'z', 'z', LayoutSlot::kZone},
    {'s', 's', LayoutSlot::kEpoch},
};

constexpr std::string_view kWeekdayNames[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                               "Thursday", "Friday", "Saturday"};

inline bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

inline char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// Reads 1 to `max_digits` digits at text[*pos], as many as there are.
bool ReadNumber(std::string_view text, size_t* pos, size_t max_digits, int* out) {
  size_t at = *pos;
  int value = 0;
  while (at < text.size() && at - *pos < max_digits && IsDigit(text[at])) {
    value = value * 10 + (text[at] - '0');
    ++at;
  }
  if (at == *pos) return false;
  *pos = at;
  *out = value;
  return true;
}

// Matches one of `names`, in full or by its first three letters, in any
// case; sets *index (0-based) and advances *pos.
template <size_t N>
bool ReadName(std::string_view text, size_t* pos, const std::string_view (&names)[N],
              int* index) {
  const std::string_view rest = text.substr(*pos);
  for (size_t i = 0; i < N; ++i) {
    for (const std::string_view form : {names[i], names[i].substr(0, 3)}) {
      if (rest.size() >= form.size() && EqualsIgnoreCase(rest.substr(0, form.size()), form)) {
        *pos += form.size();
        *index = static_cast<int>(i);
        return true;
      }
    }
  }
  return false;
}

Status LayoutError(size_t index, std::string_view what) {
  std::string message = "time layout column ";
  message += std::to_string(index + 1);
  message += ": ";
  message += what;
  return Status::InvalidArgument(std::move(message));
}

}  // namespace

Result<TimeLayout> TimeLayout::Compile(std::string_view layout) {
  if (layout.empty()) return Status::InvalidArgument("time layout is empty");
  TimeLayout compiled;
  compiled.layout_ = std::string(layout);
  // Column of the directive that set each slot, or npos.
  std::array<size_t, static_cast<size_t>(LayoutSlot::kCount)> set_at;
  set_at.fill(std::string_view::npos);
  const auto add_literal = [&](char c) {
    if (compiled.steps_.empty() || compiled.steps_.back().directive != kLiteral) {
      compiled.steps_.push_back(
          Step{kLiteral, static_cast<uint32_t>(compiled.literals_.size()), 0});
    }
    compiled.literals_.push_back(c);
    ++compiled.steps_.back().literal_size;
  };
  for (size_t i = 0; i < layout.size();) {
    const char c = layout[i];
    if (IsSpace(c)) {
      compiled.steps_.push_back(Step{kSpace});
      while (i < layout.size() && IsSpace(layout[i])) ++i;
      continue;
    }
    if (c != '%') {
      add_literal(c);
      ++i;
      continue;
    }
    if (i + 1 == layout.size()) {
      return LayoutError(i, "'%' at the end (write %% for a literal '%')");
    }
    const char letter = layout[i + 1];
    if (letter == '%') {
      add_literal('%');
      i += 2;
      continue;
    }
    const Directive* directive = nullptr;
    for (const Directive& d : kDirectives) {
      if (d.letter == letter) directive = &d;
    }
    if (directive == nullptr) {
      return LayoutError(i, std::string("unknown directive %") + letter +
                                " (known: %Y %y %m %b %B %h %d %e %j %a %A %H %I %p %M %S %f "
                                "%z %s %%)");
    }
    size_t& first = set_at[static_cast<size_t>(directive->slot)];
    if (first != std::string_view::npos) {
      return LayoutError(i, std::string("%") + letter + " sets the " +
                                std::string(kSlotNames[static_cast<size_t>(directive->slot)]) +
                                " again (column " + std::to_string(first + 1) + " set it)");
    }
    first = i;
    compiled.steps_.push_back(Step{directive->stored_as});
    i += 2;
  }
  const auto at = [&](LayoutSlot slot) { return set_at[static_cast<size_t>(slot)]; };
  const auto has = [&](LayoutSlot slot) { return at(slot) != std::string_view::npos; };
  if (has(LayoutSlot::kEpoch)) {
    for (size_t slot = 0; slot < set_at.size(); ++slot) {
      const auto kind = static_cast<LayoutSlot>(slot);
      if (kind != LayoutSlot::kEpoch && kind != LayoutSlot::kFraction && has(kind)) {
        return LayoutError(at(kind), "%s (seconds since the epoch) goes with %f only");
      }
    }
  } else {
    if (has(LayoutSlot::kDayOfYear) && (has(LayoutSlot::kMonth) || has(LayoutSlot::kDay))) {
      return LayoutError(at(LayoutSlot::kDayOfYear), "%j (day of the year) with a month or day");
    }
    if (!has(LayoutSlot::kDayOfYear) && !(has(LayoutSlot::kMonth) && has(LayoutSlot::kDay))) {
      return Status::InvalidArgument(
          "time layout \"" + std::string(layout) +
          "\" does not give the day: it needs %m or %b with %d or %e, or %j, or %s");
    }
  }
  const bool twelve_hour =
      has(LayoutSlot::kHour) && layout[at(LayoutSlot::kHour) + 1] == 'I';
  if (twelve_hour && !has(LayoutSlot::kAmPm)) {
    return LayoutError(at(LayoutSlot::kHour), "%I (12-hour clock) needs %p (AM/PM)");
  }
  if (has(LayoutSlot::kAmPm) && !twelve_hour) {
    return LayoutError(at(LayoutSlot::kAmPm), "%p (AM/PM) needs %I (12-hour clock) for the hour");
  }
  compiled.has_year_ = has(LayoutSlot::kYear);
  compiled.has_zone_ = has(LayoutSlot::kZone);
  compiled.has_epoch_ = has(LayoutSlot::kEpoch);
  compiled.has_day_of_year_ = has(LayoutSlot::kDayOfYear);
  compiled.twelve_hour_ = twelve_hour;
  return compiled;
}

TimeParse TimeLayout::Parse(std::string_view text, const TimeZone& zone, int64_t now_ns,
                            int64_t* out_ns) const {
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  bool pm = false;
  int64_t frac_ns = 0;
  int32_t offset_seconds = 0;
  int64_t epoch_seconds = 0;
  size_t pos = 0;
  for (const Step& step : steps_) {
    bool ok = true;
    int ignored = 0;
    switch (step.directive) {
      case kLiteral:
        ok = text.substr(pos, step.literal_size) ==
             std::string_view(literals_).substr(step.literal_begin, step.literal_size);
        pos += step.literal_size;
        break;
      case kSpace:
        ok = pos < text.size() && IsSpace(text[pos]);
        while (pos < text.size() && IsSpace(text[pos])) ++pos;
        break;
      case 'Y': ok = ReadNumber(text, &pos, 4, &year); break;
      case 'y':
        ok = ReadNumber(text, &pos, 2, &year);
        year += year < 69 ? 2000 : 1900;  // POSIX strptime's pivot
        break;
      case 'm': ok = ReadNumber(text, &pos, 2, &month) && month >= 1 && month <= 12; break;
      case 'b':
        ok = ReadName(text, &pos, kMonthNames, &month);
        ++month;
        break;
      case 'e':
        if (pos + 1 < text.size() && text[pos] == ' ' && IsDigit(text[pos + 1])) ++pos;
        [[fallthrough]];
      case 'd': ok = ReadNumber(text, &pos, 2, &day) && day >= 1 && day <= 31; break;
      case 'j': ok = ReadNumber(text, &pos, 3, &day) && day >= 1 && day <= 366; break;
      case 'a': ok = ReadName(text, &pos, kWeekdayNames, &ignored); break;
      case 'H': ok = ReadNumber(text, &pos, 2, &hour) && hour <= 23; break;
      case 'I': ok = ReadNumber(text, &pos, 2, &hour) && hour >= 1 && hour <= 12; break;
      case 'p':
        ok = pos + 2 <= text.size() && Lower(text[pos + 1]) == 'm' &&
             (Lower(text[pos]) == 'a' || Lower(text[pos]) == 'p');
        pm = ok && Lower(text[pos]) == 'p';
        pos += 2;
        break;
      case 'M': ok = ReadNumber(text, &pos, 2, &minute) && minute <= 59; break;
      case 'S': ok = ReadNumber(text, &pos, 2, &second) && second <= 60; break;
      case 'f': {
        const size_t begin = pos;
        frac_ns = ReadFractionDigits(text, &pos);
        ok = pos > begin;
        break;
      }
      case 'z':
        if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
          offset_seconds = 0;
          ++pos;
        } else {
          const size_t used = ParseOffset(text, pos, &offset_seconds);
          ok = used > 0;
          pos += used;
        }
        break;
      case 's': {
        const bool negative = pos < text.size() && text[pos] == '-';
        const size_t begin = negative ? pos + 1 : pos;
        size_t end = begin;
        while (end < text.size() && IsDigit(text[end])) {
          if (end - begin == 18) return TimeParse::kOutOfRange;
          epoch_seconds = epoch_seconds * 10 + (text[end] - '0');
          ++end;
        }
        ok = end > begin;
        if (negative) epoch_seconds = -epoch_seconds;
        pos = end;
        break;
      }
      default:  // Compile stores no other letter.
        ok = false;
        break;
    }
    if (!ok) return TimeParse::kNotATime;
  }
  if (pos != text.size()) return TimeParse::kNotATime;
  if (has_epoch_) return Combine(epoch_seconds, frac_ns, out_ns);
  if (twelve_hour_) hour = hour % 12 + (pm ? 12 : 0);
  YearlessTime stamp;
  stamp.month = has_day_of_year_ ? 0 : month;
  stamp.day = day;
  stamp.second_of_day = hour * 3600 + minute * 60 + second;
  stamp.offset_seconds = has_zone_ ? &offset_seconds : nullptr;
  int64_t utc = 0;
  const bool exists = has_year_ ? UtcInYear(year, stamp, zone, &utc)
                                : UtcInferringYear(stamp, zone, now_ns / kNanosPerSecond, &utc);
  if (!exists) return TimeParse::kNotATime;
  return Combine(utc, frac_ns, out_ns);
}

std::string FormatRfc3339(int64_t ts_ns, int fraction_digits) {
  int64_t seconds = ts_ns / kNanosPerSecond;
  int64_t frac = ts_ns % kNanosPerSecond;
  if (frac < 0) {
    frac += kNanosPerSecond;
    --seconds;
  }
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  const Civil civil = CivilFromDays(days);
  char buffer[48];
  int n = std::snprintf(buffer, sizeof(buffer), "%04lld-%02d-%02dT%02d:%02d:%02d",
                        static_cast<long long>(civil.year), civil.month, civil.day,
                        static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60),
                        static_cast<int>(rem % 60));
  std::string out(buffer, static_cast<size_t>(n));
  fraction_digits = std::clamp(fraction_digits, 0, 9);
  if (fraction_digits > 0) {
    const int64_t shown = frac / kPow10[9 - fraction_digits];
    n = std::snprintf(buffer, sizeof(buffer), ".%0*lld", fraction_digits,
                      static_cast<long long>(shown));
    out.append(buffer, static_cast<size_t>(n));
  }
  out += 'Z';
  return out;
}

Result<int64_t> ParseDuration(std::string_view text) {
  struct Unit {
    std::string_view name;
    int64_t ns;
  };
  // Longer names first so that "ms" is not read as "m" + "s".
  static constexpr Unit kUnits[] = {
      {"ns", 1},           {"us", 1000},
      {"ms", 1'000'000},   {"s", kNanosPerSecond},
      {"m", 60 * kNanosPerSecond},         {"h", 3600 * kNanosPerSecond},
      {"d", 86400 * kNanosPerSecond},      {"w", 7 * 86400 * kNanosPerSecond},
  };
  const auto bad = [&] { return Status::InvalidArgument("bad duration: " + std::string(text)); };
  if (text.empty()) return bad();
  size_t pos = 0;
  int64_t total = 0;
  while (pos < text.size()) {
    const size_t begin = pos;
    int64_t whole = 0;
    while (pos < text.size() && IsDigit(text[pos])) {
      if (__builtin_mul_overflow(whole, 10, &whole) ||
          __builtin_add_overflow(whole, text[pos] - '0', &whole)) {
        return bad();
      }
      ++pos;
    }
    int64_t frac = 0;
    size_t frac_digits = 0;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      while (pos < text.size() && IsDigit(text[pos])) {
        if (frac_digits < 9) {
          frac = frac * 10 + (text[pos] - '0');
          ++frac_digits;
        }
        ++pos;
      }
    }
    if (pos == begin || (pos == begin + 1 && text[begin] == '.')) return bad();
    const Unit* unit = nullptr;
    for (const Unit& candidate : kUnits) {
      if (text.substr(pos, candidate.name.size()) == candidate.name) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) return bad();
    pos += unit->name.size();
    int64_t part;
    if (__builtin_mul_overflow(whole, unit->ns, &part) ||
        __builtin_add_overflow(part, frac * unit->ns / kPow10[frac_digits], &part) ||
        __builtin_add_overflow(total, part, &total)) {
      return bad();
    }
  }
  return total;
}

Result<int64_t> ParseTimeArg(std::string_view text, int64_t now_ns, const TimeZone& zone) {
  if (text == "now") return now_ns;
  if (Result<int64_t> duration = ParseDuration(text); duration.ok()) return now_ns - *duration;
  int64_t ns = 0;
  switch (ParseTimestamp(text, zone, &ns)) {
    case TimeParse::kOk: return ns;
    case TimeParse::kOutOfRange:
      return Status::InvalidArgument("time out of range: " + std::string(text));
    case TimeParse::kNotATime: break;
  }
  return Status::InvalidArgument("not a time or duration: " + std::string(text) +
                                 " (want RFC 3339, epoch, \"now\" or e.g. \"15m\")");
}

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace faultline
