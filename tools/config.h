// The faultline config file (TOML): loading, validation, and the options
// structs it fills.
//
// Every section and key is optional; a missing file section keeps the
// defaults documented in docs/config.md. Unknown sections and keys are errors
// (a typo must not be ignored silently). Errors carry the file, line and
// column: "faultline.toml:12:5: limits.max_depth must be between 1 and 1024".
//
// [[sources]] entries set the line format, time layout and service per input
// file (Config::ParserOptionsFor); flags override them (ApplyParserFlags).
//
// Only tools/ reads files and flags; modules receive the filled structs.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "ingest/parser.h"
#include "correlate/families.h"
#include "correlate/incident.h"
#include "correlate/rollup.h"
#include "correlate/topology.h"
#include "ingest/template_miner.h"
#include "storage/store.h"

namespace faultline::tools {

// Worker threads to use for a setting of `threads`: itself when positive,
// else one per core.
int WorkerThreads(int threads);

struct IngestSettings {
  // Worker threads for parsing and encoding; 0 means one per core.
  int threads = 0;
  // Bytes of input per pipeline batch. 16 MiB (about 45k typical lines)
  // makes blocks of useful size while bounding memory: in-flight batches are
  // limited to 2 per thread.
  size_t chunk_bytes = 16 << 20;
};

// One [[sources]] entry: settings for the input files it matches. Unset
// fields fall back to [ingest] (line format, time layout) or to the file
// name (service).
struct SourceSettings {
  // fnmatch(3) glob on the file name ("hdfs*.log*"), or, when it contains a
  // '/', on the path as given and on its absolute form
  // ("/var/log/hdfs/*"). '*' matches '/' too. Stdin ("-") matches no entry.
  std::string match;
  // Service for records that name none; empty: not set.
  std::string service;
  // Null: not set.
  std::shared_ptr<const ingest::LineFormat> line_format;
  std::shared_ptr<const TimeLayout> time_layout;

  bool Matches(const std::string& file) const;
};

struct Config {
  ingest::ParserOptions parser;
  storage::StoreOptions store;
  IngestSettings ingest;
  ingest::MinerOptions miner;
  // Give every log message a template id at ingest ([templates] enabled).
  bool mine_templates = true;
  // Rollups at ingest ([signals]): bucket width and attribute keys.
  correlate::RollupOptions rollup;
  bool rollups = true;  // [signals] enabled
  // [topology]: how spans are matched to their parents at ingest (horizon,
  // peer keys), and edges declared by the operator ("caller -> callee").
  correlate::TopologyOptions topology;
  std::vector<std::pair<std::string, std::string>> topology_edges;
  // [incidents]: grouping, resolution, and serve's passes.
  correlate::CorrelateOptions correlate;
  int64_t incidents_interval_ns = int64_t{10} * 1'000'000'000;
  int64_t incidents_lookback_ns = int64_t{30} * 60 * 1'000'000'000;
  int64_t incidents_lateness_ns = int64_t{30} * 1'000'000'000;
  int64_t incidents_catch_up_ns = int64_t{3600} * 1'000'000'000;
  // [[signals.rules]]: family rules tried before the built-in ones.
  std::vector<correlate::SignalRule> signal_rules;
  // librdkafka properties for `serve` ([kafka] table), applied after
  // faultline's own defaults.
  std::vector<std::pair<std::string, std::string>> kafka_properties;
  // [[sources]] in file order; the first that matches a file applies.
  std::vector<SourceSettings> sources;
  std::string path;  // where it was loaded from; empty for defaults

  // The [[sources]] entry for the input `file`, or nullptr.
  const SourceSettings* SourceFor(const std::string& file) const;

  // Parser options for one input file: `parser` with the line format and
  // time layout of the file's [[sources]] entry where it sets them, and as
  // default_service the entry's service, else `fallback_service`. A caller
  // with a --service flag overrides default_service afterwards, which gives
  // flag > [[sources]] service > fallback (the file name).
  ingest::ParserOptions ParserOptionsFor(const std::string& file,
                                         const std::string& fallback_service) const;
};

// Applies the --line-format and --time-layout flags (each when non-empty) to
// `config`: they replace [ingest] line_format / time_layout and every
// [[sources]] entry's, since a flag overrides the config file. Fails on a
// pattern or layout that does not compile (naming the flag and column), and
// on a time layout that no line format can use.
Status ApplyParserFlags(const std::string& line_format, const std::string& time_layout,
                        Config* config);

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
