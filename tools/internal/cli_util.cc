#include "tools/internal/cli_util.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/time.h"
#include "storage/reader.h"

namespace faultline::tools::internal {

int Fail(const Status& status) {
  std::fprintf(stderr, "faultline: %s\n", status.message().empty()
                                              ? status.ToString().c_str()
                                              : status.message().c_str());
  return 1;  // kExitError (tools/cli.h)
}

bool StdoutIsTerminal() { return isatty(STDOUT_FILENO) == 1; }

bool WriteOut(const std::string& text) {
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size();
}

const char* Palette::Level(faultline::Level level) const {
  if (!enabled) return "";
  switch (level) {
    case faultline::Level::kFatal:
    case faultline::Level::kError: return "\033[1;31m";
    case faultline::Level::kWarn: return "\033[33m";
    case faultline::Level::kInfo: return "\033[32m";
    case faultline::Level::kDebug:
    case faultline::Level::kTrace: return "\033[2m";
    case faultline::Level::kUnknown: return "";
  }
  return "";
}

std::string Sparkline(const std::vector<double>& values) {
  static const char* kBars[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                "\u2585", "\u2586", "\u2587", "\u2588"};
  double peak = 0;
  for (double v : values) {
    if (std::isfinite(v)) peak = std::max(peak, v);
  }
  std::string out;
  for (double v : values) {
    if (!std::isfinite(v) || v <= 0 || peak <= 0) {
      out += " ";
      continue;
    }
    const auto bar = static_cast<size_t>(std::ceil(v / peak * 8)) - 1;
    out += kBars[std::min<size_t>(7, bar)];
  }
  return out;
}

Status ParseWindowFlags(const std::string& since, const std::string& until,
                        const std::string& zone, int64_t* since_ns, int64_t* until_ns) {
  FL_ASSIGN_OR_RETURN(TimeZone tz, TimeZone::Load(zone));
  const int64_t now = NowNanos();
  if (!since.empty()) {
    Result<int64_t> t = ParseTimeArg(since, now, tz);
    if (!t.ok()) return t.status().WithContext("--since");
    *since_ns = *t;
  }
  if (!until.empty()) {
    Result<int64_t> t = ParseTimeArg(until, now, tz);
    if (!t.ok()) return t.status().WithContext("--until");
    *until_ns = *t;
  }
  return Status::Ok();
}

// The window from the flags, defaulting to the last `default_span_ns` of
// data, aligned to buckets of `bucket_ns`.
Result<Window> ResolveWindow(storage::Reader* reader, const std::string& since,
                             const std::string& until, const std::string& zone,
                             int64_t default_span_ns, int64_t bucket_ns) {
  Window w;
  w.bucket_ns = bucket_ns;
  FL_RETURN_IF_ERROR(internal::ParseWindowFlags(since, until, zone, &w.since_ns, &w.until_ns));
  if (w.since_ns == INT64_MIN || w.until_ns == INT64_MAX) {
    FL_ASSIGN_OR_RETURN(storage::Reader::EventTimeRange range, reader->TimeRange());
    if (!range.records) return Status::NotFound("the store holds no records");
    if (w.until_ns == INT64_MAX) w.until_ns = range.max_ts_ns + 1;
    if (w.since_ns == INT64_MIN) w.since_ns = std::max(range.min_ts_ns, w.until_ns - default_span_ns);
  }
  if (w.until_ns <= w.since_ns) return Status::InvalidArgument("--until must be after --since");
  auto floor_to = [&](int64_t t) {
    int64_t q = t / bucket_ns;
    if (t % bucket_ns != 0 && t < 0) --q;
    return q * bucket_ns;
  };
  w.since_ns = floor_to(w.since_ns);
  w.until_ns = floor_to(w.until_ns - 1) + bucket_ns;
  return w;
}


// The bucket width the store's rollups use: read from the first bucket.
int64_t StoredBucketWidth(storage::Reader* reader) {
  int64_t width = 10'000'000'000;
  Status read = reader->ReadSeries(INT64_MIN + 1, INT64_MAX, {}, [&](storage::ServiceBucket&& b) {
    if (b.width_ns > 0) width = b.width_ns;
    return false;
  });
  (void)read;  // an unreadable store fails the real read that follows
  return width;
}

}  // namespace faultline::tools::internal
