// Helpers shared by the CLI commands (cli.cc, signals_commands.cc): the one
// error line, terminal colours, sparklines and --since/--until windows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/record.h"
#include "core/status.h"

namespace faultline::tools::internal {

// Prints "faultline: <message>" to stderr and returns the error exit code.
int Fail(const Status& status);

bool StdoutIsTerminal();

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

}  // namespace faultline::tools::internal
