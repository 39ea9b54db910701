// Minimal JSON text output helpers: string escaping and a Record as one JSON
// object. Used by CLI output and tests. Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/record.h"

namespace faultline {

// Appends `text` as a quoted JSON string, escaping quotes, backslashes and
// control characters. Invalid UTF-8 bytes are replaced by U+FFFD so the
// output is always valid JSON.
void AppendJsonString(std::string* out, std::string_view text);

// One record as a single-line JSON object:
// {"ts":"...","ts_ns":N,"kind":"log","service":"...","level":"INFO",
//  "message":"...", ..., "attributes":{...},"source":"...","offset":N}
// Empty optional fields are omitted.
void AppendRecordJson(std::string* out, const Record& record);

// key=value pairs, values quoted when they contain spaces, quotes or '='.
void AppendRecordLogfmt(std::string* out, const Record& record);

}  // namespace faultline
