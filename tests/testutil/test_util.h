// Test helpers shared by every faultline test: status assertions, temporary
// directories, and paths to test data. Not thread-safe beyond what gtest is.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/status.h"

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    const ::faultline::Status fl_s_ = (expr);             \
    ASSERT_TRUE(fl_s_.ok()) << fl_s_.ToString();          \
  } while (0)
#define EXPECT_OK(expr)                                   \
  do {                                                    \
    const ::faultline::Status fl_s_ = (expr);             \
    EXPECT_TRUE(fl_s_.ok()) << fl_s_.ToString();          \
  } while (0)

namespace faultline::testing {

// A fresh directory under the system temp dir, removed when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Root of the source tree (tests/data lives below it).
std::filesystem::path SourceDir();
// ../shared/data next to the checkout, or empty when it is not there.
std::filesystem::path SharedDataDir();
// Writes `contents` to `path`.
void WriteFile(const std::string& path, const std::string& contents);
std::string ReadFile(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs `command` through /bin/sh, capturing stdout and stderr.
CommandResult RunCommand(const std::string& command);
// Quotes `arg` for /bin/sh.
std::string ShellQuote(const std::string& arg);
// The faultline executable under test ($FAULTLINE_BINARY).
std::string FaultlineBinary();

// The lines of `text`, without their '\n'.
std::vector<std::string> SplitLines(const std::string& text);

// A small outage, as JSON lines in time order: 40 minutes from
// 2026-01-01T00:00:00Z of a gateway calling an api (logs with a status, a
// span each), 5 requests a second; at 00:30:00 half of the api's requests
// start failing ("upstream pool exhausted after 3 tries", ERROR; its spans
// slow from 3 to 90 ms) and the gateway returns 503 for them.
std::vector<std::string> OutageLines();
// A TCP port on 127.0.0.1 that nothing listens on at the time of the call
// (another process may still take it before the caller binds it).
int FreeLoopbackPort();
// Every message in `topic` at the Kafka bootstrap address `brokers`, one
// line each in kcat's -f `format` (e.g. "%k %s\n"), read with kcat from the
// beginning to the end of each partition. A kcat failure fails the test.
std::vector<std::string> KcatConsume(const std::string& brokers, const std::string& topic,
                                     const std::string& format);

}  // namespace faultline::testing
