#include "tools/internal/cli_util.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/time.h"

namespace faultline::tools::internal {

int Fail(const Status& status) {
  std::fprintf(stderr, "faultline: %s\n", status.message().empty()
                                              ? status.ToString().c_str()
                                              : status.message().c_str());
  return 1;  // kExitError (tools/cli.h)
}

bool StdoutIsTerminal() { return isatty(STDOUT_FILENO) == 1; }

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

}  // namespace faultline::tools::internal
