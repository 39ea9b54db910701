// LineFormat: a plain-text line's header layout, written the way the log
// parsing literature does: `<Date> <Time> <Level> <Component>: <Content>`.
//
// `<Name>` is a field; a space stands for any run of whitespace; anything
// else is literal text or a regular-expression fragment (`\[<Pid>\]`,
// `(\[<PID>\])?`). `<Content>` is the message. Known field names map onto
// the record: Date/Time/Timestamp/Month/Day/Year (the event time, joined in
// order), Level, Service/Component/Program (attributes unless configured as
// the service); every other field becomes an attribute.
//
// Compiled once, then matched against many lines. Immutable after Compile;
// Match is thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace faultline::ingest {

class LineFormat {
 public:
  // Errors name the position in the pattern: "line format column 12:
  // unclosed '<'".
  static Result<LineFormat> Compile(std::string_view pattern);

  LineFormat(LineFormat&&) noexcept;
  LineFormat& operator=(LineFormat&&) noexcept;
  ~LineFormat();

  // Field names in pattern order.
  const std::vector<std::string>& fields() const;
  // Matches the whole line. On success `values[i]` is the text of fields()[i]
  // (a view into `line`; empty when an optional group did not match) and the
  // result is true.
  bool Match(std::string_view line, std::vector<std::string_view>* values) const;
  const std::string& pattern() const;

 private:
  LineFormat();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace faultline::ingest
