// Helpers shared by the CLI commands (cli.cc, signals_commands.cc): the one
// error line, terminal colours, sparklines and --since/--until windows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/record.h"
#include "core/status.h"

namespace faultline::storage {
class Reader;
}

namespace faultline::tools::internal {

// Prints "faultline: <message>" to stderr and returns the error exit code.
int Fail(const Status& status);

bool StdoutIsTerminal();

// Writes all of `text` to stdout; false when it could not (a closed pipe).
bool WriteOut(const std::string& text);

// Colours for levels and emphasis when stdout is a terminal.
struct Palette {
  bool enabled = false;
  const char* Level(faultline::Level level) const;
  const char* Dim() const { return enabled ? "\033[2m" : ""; }
  const char* Bold() const { return enabled ? "\033[1m" : ""; }
  const char* Red() const { return enabled ? "\033[1;31m" : ""; }
  const char* Reset() const { return enabled ? "\033[0m" : ""; }
};

// One bar character per value, scaled to the largest; 0 and NaN (no data)
// print as a space.
std::string Sparkline(const std::vector<double>& values);

// --since/--until as nanoseconds (RFC 3339 or relative like 15m, 2h, 1d);
// an empty flag leaves its bound unchanged. InvalidArgument naming the flag.
Status ParseWindowFlags(const std::string& since, const std::string& until,
                        const std::string& zone, int64_t* since_ns, int64_t* until_ns);

// A query window over the rollups: [since_ns, until_ns) in buckets of
// bucket_ns (since_ns aligned).
struct Window {
  int64_t since_ns = INT64_MIN;
  int64_t until_ns = INT64_MAX;
  int64_t bucket_ns = 10'000'000'000;
  size_t buckets() const {
    return static_cast<size_t>((until_ns - since_ns + bucket_ns - 1) / bucket_ns);
  }
};

// The window from the flags, defaulting to the last `default_span_ns` of
// data, aligned to buckets of `bucket_ns`.
Result<Window> ResolveWindow(storage::Reader* reader, const std::string& since,
                             const std::string& until, const std::string& zone,
                             int64_t default_span_ns, int64_t bucket_ns);

// The bucket width the store's rollups use: read from the first bucket.
int64_t StoredBucketWidth(storage::Reader* reader);

}  // namespace faultline::tools::internal
