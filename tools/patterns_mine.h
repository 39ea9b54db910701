// `faultline patterns mine`: mines templates from log files without a store
// and prints, for every input line, {"line_id":N,"template_id":"...",
// "template":"..."} (line_id from 1 across all files, in input order), then a
// summary on stderr. This is what template-mining accuracy is scored on.
//
// Messages: --format json takes the message by the parser's rules (or
// --message-field NAME); plain takes the whole line, or the <Content> field
// of the line format when the line matches it; auto picks json for lines
// that start with '{'. The line format and the service of each file come
// from --line-format, else the file's [[sources]] entry in the config, else
// [ingest] line_format (service: the entry's, else the file name).
// Tokenizing and masking run in parallel (oneTBB), mining in input order, so
// the output does not depend on --threads.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace faultline::tools {

struct PatternsMineRequest {
  std::vector<std::string> files;  // "-" is stdin
  std::string format = "auto";     // auto | json | plain
  std::string line_format;         // header pattern with a <Content> field
  std::string time_layout;         // its time fields' layout (checked only)
  std::string message_field;       // JSON field holding the message
  int threads = 0;                 // 0: one per core
  bool quiet = false;              // no summary
  std::string config_path;         // [templates], [[sources]], parser settings
};

Status RunPatternsMine(const PatternsMineRequest& request);

}  // namespace faultline::tools
