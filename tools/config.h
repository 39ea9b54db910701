// The faultline config file (TOML): loading, validation, and the options
// structs it fills.
//
// Every section and key is optional; a missing file section keeps the
// defaults documented in docs/config.md. Unknown sections and keys are errors
// (a typo must not be ignored silently). Errors carry the file, line and
// column: "faultline.toml:12:5: limits.max_depth must be between 1 and 1024".
//
// Only tools/ reads files and flags; modules receive the filled structs.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "ingest/parser.h"
#include "ingest/template_miner.h"
#include "storage/store.h"

namespace faultline::tools {

struct IngestSettings {
  // Worker threads for parsing and encoding; 0 means one per core.
  int threads = 0;
  // Bytes of input per pipeline batch. 16 MiB (about 45k typical lines)
  // makes blocks of useful size while bounding memory: in-flight batches are
  // limited to 2 per thread.
  size_t chunk_bytes = 16 << 20;
};

struct Config {
  ingest::ParserOptions parser;
  storage::StoreOptions store;
  IngestSettings ingest;
  ingest::MinerOptions miner;
  // Give every log message a template id at ingest ([templates] enabled).
  bool mine_templates = true;
  std::string path;  // where it was loaded from; empty for defaults
};

// One problem found in a config file.
struct ConfigError {
  int line = 0;  // 1-based; 0 when not tied to a line
  int column = 0;
  std::string message;
  std::string ToString(const std::string& path) const;
};

// Parses and validates `text`; appends every problem found to `errors`
// (not just the first). Returns the config when there are none.
Result<Config> ParseConfig(const std::string& text, const std::string& path,
                           std::vector<ConfigError>* errors);

// Reads and parses the file. The Status message lists every error, one per
// line, as "PATH:LINE:COL: message".
Result<Config> LoadConfig(const std::string& path);

// The defaults, validated (also what LoadConfig("") returns).
Config DefaultConfig();

}  // namespace faultline::tools
