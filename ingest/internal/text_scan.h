// Byte-level helpers for the non-JSON shapes and for classifying broken JSON:
// logfmt tokenizing, level tokens in plain text, binary detection, JSON
// number checks. Pure functions over their arguments; no allocation except
// into the caller's buffer. Used only by ingest/parser.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/dead_letter.h"
#include "core/record.h"

namespace faultline::ingest::internal {

// Position of the first byte that never occurs in a text log line: NUL or
// another C0 control byte other than tab and ESC (ESC starts the ANSI colour
// codes that console loggers emit), or DEL. std::string_view::npos if none.
size_t FindBinaryByte(std::string_view line);

// True if the line starts like logfmt: an identifier directly followed by '='.
bool LooksLikeLogfmt(std::string_view line);

// Reads logfmt pairs one at a time. Quoted values are unescaped into the
// scratch buffer given at construction, which must have capacity for the whole
// line so that earlier views stay valid (REQUIRES: scratch->capacity() >=
// line.size(); the scanner never grows it).
class LogfmtScanner {
 public:
  LogfmtScanner(std::string_view line, std::string* scratch)
      : line_(line), scratch_(scratch) {}
  struct Pair {
    std::string_view key;
    std::string_view value;
    bool bare = false;    // "key" with no '=': value is "true"
    bool quoted = false;  // the value was written in double quotes
  };
  // Next pair, false at the end of the line.
  bool Next(Pair* pair);

 private:
  std::string_view line_;
  size_t pos_ = 0;
  std::string* scratch_;
};

// Looks for a level word among the first `max_tokens` space-separated tokens
// of `text`, ignoring brackets and punctuation around it ("[error]",
// "ERROR:", "<WARN>"). Returns Level::kUnknown when none is found.
Level FindLevelToken(std::string_view text, int max_tokens);

// True if `text` is a complete JSON number ("-1.5e3").
bool IsJsonNumber(std::string_view text);

// a[0..size) == b[0..size), inline: for short strings (keys, names) where a
// call to memcmp costs more than the comparison.
inline bool ShortEquals(const char* a, const char* b, size_t size) {
  while (size >= 8) {
    uint64_t x;
    uint64_t y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return false;
    a += 8;
    b += 8;
    size -= 8;
  }
  for (size_t i = 0; i < size; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// Decides why a line starting with '{' failed to parse: unbalanced braces or
// an unterminated string mean the object was cut off (truncated), anything
// else is malformed (invalid).
RejectReason ClassifyBrokenJson(std::string_view line);

// Deepest {}/[] nesting in a JSON text, strings skipped.
int JsonNestingDepth(std::string_view json);

}  // namespace faultline::ingest::internal
