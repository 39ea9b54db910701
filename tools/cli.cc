#include "tools/cli.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/json_writer.h"
#include "core/record.h"
#include "core/time.h"
#include "storage/reader.h"
#include "tools/config.h"
#include "tools/internal/cli_util.h"
#include "tools/ingest_pipeline.h"
#include "tools/kafka_commands.h"
#include "tools/patterns_mine.h"
#include "tools/serve.h"
#include "tools/incident_commands.h"
#include "tools/simulate_command.h"
#include "tools/eval_command.h"
#include "tools/signals_commands.h"

namespace faultline::tools {

namespace {

using internal::Fail;
using internal::Palette;
using internal::StdoutIsTerminal;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitStrict = 3;

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted.store(true); }

std::string DefaultDb() {
  if (const char* env = std::getenv("FAULTLINE_DB"); env != nullptr && *env != '\0') return env;
  return "faultline-data";
}

enum class OutputFormat { kText, kJson, kLogfmt };

// Prints records in the chosen format, one per line.
class RecordPrinter {
 public:
  RecordPrinter(OutputFormat format, bool color) : format_(format) { palette_.enabled = color; }

  // Returns false once stdout is gone (e.g. `| head` exited): stop reading.
  bool Print(const Record& record) {
    line_.clear();
    switch (format_) {
      case OutputFormat::kJson:
        AppendRecordJson(&line_, record);
        break;
      case OutputFormat::kLogfmt:
        AppendRecordLogfmt(&line_, record);
        break;
      case OutputFormat::kText:
        AppendText(record);
        break;
    }
    line_.push_back('\n');
    return std::fwrite(line_.data(), 1, line_.size(), stdout) == line_.size();
  }

 private:
  void AppendText(const Record& record) {
    // Spans and metrics usually carry no level: a dash reads better than
    // UNKNOWN in a column of levels.
    char level[16];
    std::snprintf(level, sizeof(level), "%-5s",
                  record.level == Level::kUnknown ? "-"
                                                  : std::string(LevelName(record.level)).c_str());
    line_ += palette_.Dim();
    line_ += FormatRfc3339(record.ts_ns, 3);
    line_ += palette_.Reset();
    line_ += ' ';
    line_ += palette_.Bold();
    line_ += record.service;
    line_ += palette_.Reset();
    line_ += ' ';
    line_ += palette_.Level(record.level);
    line_ += level;
    line_ += palette_.Reset();
    line_ += ' ';
    switch (record.kind) {
      case RecordKind::kLog:
        line_ += record.message;
        break;
      case RecordKind::kSpan: {
        char duration[48];
        std::snprintf(duration, sizeof(duration), " %.3f ms",
                      static_cast<double>(record.duration_ns) / 1e6);
        line_ += "span ";
        line_ += record.name;
        line_ += duration;
        if (!record.message.empty()) {
          line_ += " ";
          line_ += record.message;
        }
        break;
      }
      case RecordKind::kMetric: {
        char value[48];
        std::snprintf(value, sizeof(value), "%g", record.value);
        line_ += "metric ";
        line_ += record.name;
        line_ += '=';
        line_ += value;
        break;
      }
    }
    if (!record.trace_id.empty()) {
      line_ += palette_.Dim();
      line_ += " trace=";
      line_ += record.trace_id;
      line_ += palette_.Reset();
    }
  }

  OutputFormat format_;
  Palette palette_;
  std::string line_;
};

Result<OutputFormat> ParseOutput(const std::string& text, bool allow_logfmt) {
  if (text == "text") return OutputFormat::kText;
  if (text == "json") return OutputFormat::kJson;
  if (text == "logfmt" && allow_logfmt) return OutputFormat::kLogfmt;
  return Status::InvalidArgument("--output must be text, json" +
                                 std::string(allow_logfmt ? " or logfmt" : "") + ", got '" +
                                 text + "'");
}

// "warn+" (warn and worse), "error", "warn,error".
Result<uint32_t> ParseLevelMask(const std::string& text) {
  uint32_t mask = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos
                                                                      : comma - start);
    bool and_above = !part.empty() && part.back() == '+';
    if (and_above) part.pop_back();
    Level level;
    if (!ParseLevel(part, &level)) {
      return Status::InvalidArgument("--level: unknown level '" + part +
                                     "' (trace, debug, info, warn, error, fatal; add + for "
                                     "\"and above\", e.g. warn+)");
    }
    if (and_above) {
      for (size_t l = static_cast<size_t>(level); l < kLevelCount; ++l) mask |= 1u << l;
    } else {
      mask |= 1u << static_cast<size_t>(level);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return mask;
}

// Flags shared by search and tail.
struct FilterFlags {
  std::vector<std::string> services;
  std::string level;
  std::string kind;
  std::string since;
  std::string until;
  std::string trace;
  std::string grep;
  std::string contains;
  std::string output = "text";
  std::string zone = "UTC";

  void Add(CLI::App* app) {
    app->add_option("--service,-s", services, "Only these services (repeat the flag)");
    app->add_option("--level,-l", level,
                    "Levels: 'error', 'warn+' (warn and worse), or a list 'warn,error'");
    app->add_option("--kind", kind, "log, span or metric");
    app->add_option("--since", since,
                    "From this time (inclusive): RFC 3339, or a duration ago: 15m, 2h, 1d");
    app->add_option("--until", until, "Up to this time (exclusive); same forms as --since");
    app->add_option("--trace", trace, "Only records of this trace id");
    app->add_option("--grep,-g", grep,
                    "Words in the message, in order, ignoring case: --grep 'connection refused'");
    app->add_option("--contains", contains, "Case-sensitive substring of the message (slower)");
    app->add_option("--output,-o", output, "text, json (one record a line) or logfmt");
    app->add_option("--zone", zone, "Zone for --since/--until without offset (default UTC)");
  }

  Result<storage::Query> ToQuery() const {
    storage::Query query;
    query.services = services;
    if (!level.empty()) {
      FL_ASSIGN_OR_RETURN(query.level_mask, ParseLevelMask(level));
    }
    if (!kind.empty()) {
      RecordKind parsed;
      if (!ParseRecordKind(kind, &parsed)) {
        return Status::InvalidArgument("--kind must be log, span or metric, got '" + kind + "'");
      }
      query.kind = parsed;
    }
    FL_ASSIGN_OR_RETURN(TimeZone tz, TimeZone::Load(zone));
    int64_t now = NowNanos();
    if (!since.empty()) {
      Result<int64_t> t = ParseTimeArg(since, now, tz);
      if (!t.ok()) return t.status().WithContext("--since");
      query.since_ns = *t;
    }
    if (!until.empty()) {
      Result<int64_t> t = ParseTimeArg(until, now, tz);
      if (!t.ok()) return t.status().WithContext("--until");
      query.until_ns = *t;
    }
    query.trace_id = trace;
    query.grep = grep;
    query.contains = contains;
    return query;
  }
};


// ---- ingest ----------------------------------------------------------------

void PrintIngestSummary(const IngestSummary& summary, bool json) {
  const ParseCounters& c = summary.counters;
  double rate = summary.seconds > 0 ? static_cast<double>(summary.records) / summary.seconds : 0;
  if (json) {
    std::string out = "{\"records\":" + std::to_string(summary.records) + ",\"by_kind\":{";
    for (size_t k = 0; k < kRecordKindCount; ++k) {
      if (k > 0) out += ",";
      out += "\"" + std::string(RecordKindName(static_cast<RecordKind>(k))) +
             "\":" + std::to_string(summary.by_kind[k]);
    }
    out += "},\"lines\":" + std::to_string(c.lines) +
           ",\"empty_lines\":" + std::to_string(c.empty_lines) +
           ",\"joined_lines\":" + std::to_string(c.joined_lines) +
           ",\"bytes\":" + std::to_string(c.bytes) +
           ",\"dead_letters\":{\"total\":" + std::to_string(c.TotalRejects()) + ",\"by_reason\":{";
    bool first = true;
    for (size_t r = 0; r < kRejectReasonCount; ++r) {
      if (c.rejects[r] == 0) continue;
      if (!first) out += ",";
      first = false;
      out += "\"" + std::string(RejectReasonName(static_cast<RejectReason>(r))) +
             "\":" + std::to_string(c.rejects[r]);
    }
    char secs[64];
    std::snprintf(secs, sizeof(secs), "%.3f", summary.seconds);
    char phases[96];
    std::snprintf(phases, sizeof(phases), ",\"open_seconds\":%.3f,\"flush_seconds\":%.3f",
                  summary.open_seconds, summary.flush_seconds);
    out += "}}";
    out += phases;
    out += ",\"blocks\":" + std::to_string(summary.blocks) +
           ",\"stored_bytes\":" + std::to_string(summary.stored_bytes) + ",\"seconds\":" + secs +
           ",\"records_per_second\":" + std::to_string(static_cast<uint64_t>(rate)) +
           ",\"files\":[";
    for (size_t i = 0; i < summary.files.size(); ++i) {
      const FileReport& f = summary.files[i];
      if (i > 0) out += ",";
      out += "{\"path\":";
      AppendJsonString(&out, f.path);
      out += ",\"skipped\":" + std::string(f.skipped ? "true" : "false") +
             ",\"records\":" + std::to_string(f.records) +
             ",\"dead_letters\":" + std::to_string(f.dead_letters);
      if (!f.note.empty()) {
        out += ",\"note\":";
        AppendJsonString(&out, f.note);
      }
      out += "}";
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
    return;
  }
  uint64_t skipped = 0;
  for (const FileReport& f : summary.files) skipped += f.skipped ? 1 : 0;
  if (skipped == summary.files.size()) {
    std::printf("nothing new: %llu file(s) already ingested (--force ingests again)\n",
                static_cast<unsigned long long>(skipped));
    return;
  }
  std::printf("ingested %llu records (%llu logs, %llu spans, %llu metrics) in %.2f s: %.0f records/s\n",
              static_cast<unsigned long long>(summary.records),
              static_cast<unsigned long long>(summary.by_kind[0]),
              static_cast<unsigned long long>(summary.by_kind[1]),
              static_cast<unsigned long long>(summary.by_kind[2]), summary.seconds, rate);
  std::printf("  %llu lines, %.1f MiB read, %llu empty, %llu continuation lines joined; %llu blocks, %.1f MiB stored\n",
              static_cast<unsigned long long>(c.lines), static_cast<double>(c.bytes) / (1 << 20),
              static_cast<unsigned long long>(c.empty_lines),
              static_cast<unsigned long long>(c.joined_lines),
              static_cast<unsigned long long>(summary.blocks),
              static_cast<double>(summary.stored_bytes) / (1 << 20));
  if (c.TotalRejects() == 0) {
    std::printf("  no dead letters\n");
  } else {
    std::printf("  %llu dead letters:", static_cast<unsigned long long>(c.TotalRejects()));
    for (size_t r = 0; r < kRejectReasonCount; ++r) {
      if (c.rejects[r] == 0) continue;
      std::printf(" %s=%llu", std::string(RejectReasonName(static_cast<RejectReason>(r))).c_str(),
                  static_cast<unsigned long long>(c.rejects[r]));
    }
    std::printf("  (see: faultline deadletter list)\n");
  }
  if (skipped > 0) {
    std::printf("  %llu file(s) skipped as already ingested (--force to ingest again)\n",
                static_cast<unsigned long long>(skipped));
  }
}

int RunIngestCommand(const std::string& db, const std::string& config_path,
                     const std::vector<std::string>& files, const std::string& service,
                     bool force, bool strict, bool quiet, const std::string& output,
                     int threads, const std::string& line_format,
                     const std::string& time_layout) {
  Result<Config> config = LoadConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  if (threads > 0) config->ingest.threads = threads;
  if (Status flags = ApplyParserFlags(line_format, time_layout, &*config); !flags.ok()) {
    return Fail(flags);
  }
  if (output != "text" && output != "json") {
    return Fail(Status::InvalidArgument("--output must be text or json"));
  }
  IngestRequest request;
  request.db_dir = db;
  request.files = files;
  request.config = *config;
  request.service = service;
  request.force = force;
  request.progress = !quiet && isatty(STDERR_FILENO) == 1;
  request.notice = [quiet](const std::string& line) {
    if (!quiet) std::fprintf(stderr, "%s\n", line.c_str());
  };
  Result<IngestSummary> summary = RunIngest(request);
  if (!summary.ok()) return Fail(summary.status());
  if (!quiet || output == "json") PrintIngestSummary(*summary, output == "json");
  if (strict && summary->counters.TotalRejects() > 0) {
    std::fprintf(stderr, "faultline: --strict: %llu line(s) were dead-lettered\n",
                 static_cast<unsigned long long>(summary->counters.TotalRejects()));
    return kExitStrict;
  }
  return 0;
}

// ---- serve -------------------------------------------------------------------

struct ServeFlags {
  std::string brokers;
  std::vector<std::string> topics;
  std::string group = "faultline";
  std::string metrics_addr = "127.0.0.1:9464";
  std::string dead_letter_topic;
  std::string incidents_topic;
  std::string incidents_interval;  // empty: [incidents] interval
  bool no_incidents = false;
  std::vector<std::string> properties;  // K=V
  int threads = 0;
};

int RunServeCommand(const std::string& db, const std::string& config_path,
                    const ServeFlags& flags) {
  Result<Config> config = LoadConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  if (flags.threads > 0) config->ingest.threads = flags.threads;
  ServeRequest request;
  request.db_dir = db;
  // --property comes after [kafka], so it wins.
  if (Status parsed = ParseKeyValues(flags.properties, "--property", &config->kafka_properties);
      !parsed.ok()) {
    return Fail(parsed);
  }
  request.config = *config;
  request.brokers = flags.brokers;
  request.topics = flags.topics;
  request.group = flags.group;
  request.metrics_addr = flags.metrics_addr;
  request.dead_letter_topic = flags.dead_letter_topic;
  request.incidents = !flags.no_incidents;
  request.incidents_topic = flags.incidents_topic;
  if (!flags.incidents_interval.empty()) {
    Result<int64_t> interval = ParseDuration(flags.incidents_interval);
    if (!interval.ok() || *interval < 1'000'000) {
      return Fail(Status::InvalidArgument("--incidents-interval: expected a duration of 1ms or "
                                          "more such as 10s, got '" +
                                          flags.incidents_interval + "'"));
    }
    request.incidents_interval_ms = static_cast<int>(*interval / 1'000'000);
  }
  request.stop = &g_interrupted;
  Result<ServeSummary> summary = RunServe(request);
  if (!summary.ok()) return Fail(summary.status());
  std::fprintf(stderr,
               "faultline serve: stopped after %.1f s: %llu messages, %llu records stored, %llu "
               "dead letters, %llu batches\n",
               summary->seconds, static_cast<unsigned long long>(summary->messages),
               static_cast<unsigned long long>(summary->records),
               static_cast<unsigned long long>(summary->dead_letters),
               static_cast<unsigned long long>(summary->batches));
  return 0;
}

// ---- search / tail -----------------------------------------------------------

int RunSearchCommand(const std::string& db, const FilterFlags& flags, size_t limit, bool reverse,
                     bool count) {
  Result<storage::Query> query = flags.ToQuery();
  if (!query.ok()) return Fail(query.status());
  Result<OutputFormat> format = ParseOutput(flags.output, true);
  if (!format.ok()) return Fail(format.status());
  query->limit = count ? SIZE_MAX : limit;  // --count counts every match
  query->reverse = reverse;
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  if (!reader.ok()) return Fail(reader.status());
  if (count) {
    Result<uint64_t> n = (*reader)->Count(*query);
    if (!n.ok()) return Fail(n.status());
    if (*format == OutputFormat::kJson) {
      std::printf("{\"count\":%llu}\n", static_cast<unsigned long long>(*n));
    } else {
      std::printf("%llu\n", static_cast<unsigned long long>(*n));
    }
    return 0;
  }
  RecordPrinter printer(*format, *format == OutputFormat::kText && StdoutIsTerminal());
  Status status = (*reader)->Search(*query, [&](const Record& record) {
    return printer.Print(record) && !g_interrupted.load();
  });
  std::fflush(stdout);
  if (!status.ok()) return Fail(status);
  return 0;
}

int RunTailCommand(const std::string& db, const FilterFlags& flags, size_t lines, bool follow,
                   int interval_ms) {
  Result<storage::Query> query = flags.ToQuery();
  if (!query.ok()) return Fail(query.status());
  Result<OutputFormat> format = ParseOutput(flags.output, true);
  if (!format.ok()) return Fail(format.status());
  Result<std::unique_ptr<storage::Reader>> opened = storage::Reader::Open(db);
  if (!opened.ok()) return Fail(opened.status());
  storage::Reader& reader = **opened;
  RecordPrinter printer(*format, *format == OutputFormat::kText && StdoutIsTerminal());

  Result<uint64_t> last_seq = reader.LastBlockSeq();
  if (!last_seq.ok()) return Fail(last_seq.status());
  // The last N matching records, oldest first.
  storage::Query last = *query;
  last.limit = lines;
  last.reverse = true;
  std::vector<Record> recent;
  Status status = reader.Search(last, [&](const Record& record) {
    recent.push_back(record);
    return true;
  });
  if (!status.ok()) return Fail(status);
  for (auto it = recent.rbegin(); it != recent.rend(); ++it) printer.Print(*it);
  std::fflush(stdout);
  if (!follow) return 0;

  uint64_t seen = *last_seq;
  while (!g_interrupted.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    Status caught_up = reader.CatchUp();
    if (!caught_up.ok()) return Fail(caught_up);
    bool output_ok = true;
    Result<uint64_t> next = reader.SearchNewBlocks(*query, seen, [&](const Record& record) {
      output_ok = printer.Print(record);
      return output_ok && !g_interrupted.load();
    });
    if (!next.ok()) return Fail(next.status());
    seen = *next;
    if (!output_ok || std::fflush(stdout) != 0) break;
  }
  return 0;
}

// ---- stats -------------------------------------------------------------------

int RunStatsCommand(const std::string& db, const std::string& output) {
  if (output != "text" && output != "json") {
    return Fail(Status::InvalidArgument("--output must be text or json"));
  }
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  if (!reader.ok()) return Fail(reader.status());
  Result<storage::StoreStats> stats = (*reader)->Stats();
  if (!stats.ok()) return Fail(stats.status());
  const storage::StoreStats& s = *stats;
  if (output == "json") {
    std::string out = "{\"records\":" + std::to_string(s.records) + ",\"by_kind\":{";
    for (size_t k = 0; k < kRecordKindCount; ++k) {
      if (k > 0) out += ",";
      out += "\"" + std::string(RecordKindName(static_cast<RecordKind>(k))) +
             "\":" + std::to_string(s.by_kind[k]);
    }
    out += "},\"by_service\":{";
    bool first = true;
    for (const auto& [service, n] : s.by_service) {
      if (!first) out += ",";
      first = false;
      AppendJsonString(&out, service);
      out += ":" + std::to_string(n);
    }
    out += "},\"by_level\":{";
    for (size_t l = 0; l < kLevelCount; ++l) {
      if (l > 0) out += ",";
      out += "\"" + std::string(LevelName(static_cast<Level>(l))) +
             "\":" + std::to_string(s.by_level[l]);
    }
    out += "},\"dead_letters\":{\"total\":" + std::to_string(s.dead_letters) + ",\"by_reason\":{";
    first = true;
    for (size_t r = 0; r < kRejectReasonCount; ++r) {
      if (s.dead_letters_by_reason[r] == 0) continue;
      if (!first) out += ",";
      first = false;
      out += "\"" + std::string(RejectReasonName(static_cast<RejectReason>(r))) +
             "\":" + std::to_string(s.dead_letters_by_reason[r]);
    }
    out += "},\"dropped\":" + std::to_string(s.dead_letters_dropped) + "}";
    if (s.records > 0) {
      out += ",\"time_range\":{\"from\":\"" + FormatRfc3339(s.min_ts_ns, 9) + "\",\"to\":\"" +
             FormatRfc3339(s.max_ts_ns, 9) + "\"}";
    }
    out += ",\"lines\":" + std::to_string(s.lines) +
           ",\"empty_lines\":" + std::to_string(s.empty_lines) +
           ",\"blocks\":" + std::to_string(s.blocks) +
           ",\"raw_bytes\":" + std::to_string(s.raw_bytes) +
           ",\"stored_bytes\":" + std::to_string(s.stored_bytes) +
           ",\"disk_bytes\":" + std::to_string(s.disk_bytes) + "}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("store      %s\n", db.c_str());
  std::printf("records    %llu (%llu logs, %llu spans, %llu metrics)\n",
              static_cast<unsigned long long>(s.records),
              static_cast<unsigned long long>(s.by_kind[0]),
              static_cast<unsigned long long>(s.by_kind[1]),
              static_cast<unsigned long long>(s.by_kind[2]));
  if (s.records > 0) {
    std::printf("time range %s .. %s\n", FormatRfc3339(s.min_ts_ns, 3).c_str(),
                FormatRfc3339(s.max_ts_ns, 3).c_str());
  }
  std::printf("levels    ");
  for (size_t l = kLevelCount; l-- > 0;) {
    if (s.by_level[l] == 0) continue;
    std::printf(" %s=%llu", std::string(LevelName(static_cast<Level>(l))).c_str(),
                static_cast<unsigned long long>(s.by_level[l]));
  }
  std::printf("\non disk    %.1f MiB (%.1f MiB of records stored as %.1f MiB in %llu blocks)\n",
              static_cast<double>(s.disk_bytes) / (1 << 20),
              static_cast<double>(s.raw_bytes) / (1 << 20),
              static_cast<double>(s.stored_bytes) / (1 << 20),
              static_cast<unsigned long long>(s.blocks));
  std::printf("dead letters %llu", static_cast<unsigned long long>(s.dead_letters));
  for (size_t r = 0; r < kRejectReasonCount; ++r) {
    if (s.dead_letters_by_reason[r] == 0) continue;
    std::printf(" %s=%llu", std::string(RejectReasonName(static_cast<RejectReason>(r))).c_str(),
                static_cast<unsigned long long>(s.dead_letters_by_reason[r]));
  }
  if (s.dead_letters_dropped > 0) {
    std::printf(" (dropped over budget: %llu)", static_cast<unsigned long long>(s.dead_letters_dropped));
  }
  std::printf("\nservices   %zu\n", s.by_service.size());
  std::vector<std::pair<uint64_t, std::string>> services;
  for (const auto& [service, n] : s.by_service) services.emplace_back(n, service);
  std::sort(services.rbegin(), services.rend());
  for (const auto& [n, service] : services) {
    std::printf("  %-40s %12llu\n", service.c_str(), static_cast<unsigned long long>(n));
  }
  return 0;
}

// ---- deadletter ------------------------------------------------------------------

int RunDeadLetterCommand(const std::string& db, bool export_raw, const std::string& reason_name,
                         size_t limit, const std::string& output, const std::string& out_path) {
  std::optional<RejectReason> reason;
  if (!reason_name.empty()) {
    RejectReason parsed;
    if (!ParseRejectReason(reason_name, &parsed)) {
      std::string known;
      for (size_t r = 0; r < kRejectReasonCount; ++r) {
        known += (r ? ", " : "") + std::string(RejectReasonName(static_cast<RejectReason>(r)));
      }
      return Fail(Status::InvalidArgument("--reason: unknown reason '" + reason_name +
                                          "' (one of: " + known + ")"));
    }
    reason = parsed;
  }
  if (output != "text" && output != "json") {
    return Fail(Status::InvalidArgument("--output must be text or json"));
  }
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  if (!reader.ok()) return Fail(reader.status());
  FILE* out = stdout;
  if (!out_path.empty()) {
    out = std::fopen(out_path.c_str(), "wb");
    if (out == nullptr) return Fail(Status::IOError("cannot write " + out_path));
  }
  uint64_t shown = 0;
  uint64_t truncated = 0;
  std::string line;
  Status status = (*reader)->ListDeadLetters(reason, limit, [&](const DeadLetter& dl) {
    ++shown;
    line.clear();
    if (export_raw) {
      if (dl.raw.size() < dl.raw_size) ++truncated;
      line = dl.raw;
    } else if (output == "json") {
      line = "{\"reason\":\"" + std::string(RejectReasonName(dl.reason)) + "\",\"detail\":";
      AppendJsonString(&line, dl.detail);
      line += ",\"source\":";
      AppendJsonString(&line, dl.source);
      if (dl.partition >= 0) line += ",\"partition\":" + std::to_string(dl.partition);
      line += ",\"offset\":" + std::to_string(dl.offset) +
              ",\"raw_size\":" + std::to_string(dl.raw_size) + ",\"seen\":\"" +
              FormatRfc3339(dl.seen_unix_ns, 3) + "\",\"raw\":";
      AppendJsonString(&line, dl.raw);
      line += "}";
    } else {
      std::string preview = dl.raw.substr(0, 120);
      for (char& c : preview) {
        if (static_cast<unsigned char>(c) < 0x20) c = '.';
      }
      line = std::string(RejectReasonName(dl.reason)) + "  " + dl.source + ":" +
             std::to_string(dl.offset) + "  " + dl.detail + "\n    " + preview +
             (dl.raw_size > preview.size() ? "…" : "");
    }
    line.push_back('\n');
    return std::fwrite(line.data(), 1, line.size(), out) == line.size() && !g_interrupted.load();
  });
  if (out != stdout) std::fclose(out);
  if (!status.ok()) return Fail(status);
  if (export_raw && truncated > 0) {
    std::fprintf(stderr,
                 "faultline: %llu exported line(s) were stored cut at the dead-letter cap "
                 "(limits.max_dead_letter_raw_bytes) and are incomplete\n",
                 static_cast<unsigned long long>(truncated));
  }
  if (!export_raw && output == "text" && shown == 0) std::fprintf(stderr, "no dead letters\n");
  return 0;
}

// ---- patterns ----------------------------------------------------------------------

struct PatternsFlags {
  std::vector<std::string> services;
  std::string level;
  std::string since;
  std::string until;
  std::string new_since;
  std::string output = "text";
  size_t limit = 50;
};

constexpr size_t kTrendBuckets = 12;

// How a template's count moved across the window: compares the first and
// last third of the buckets. "new": first seen inside the window; "gone":
// seen before but nothing in the last third.
std::string Trend(const std::vector<uint64_t>& buckets, bool first_seen_in_window) {
  const size_t third = buckets.size() / 3;
  uint64_t head = 0, tail = 0;
  for (size_t i = 0; i < third; ++i) head += buckets[i];
  for (size_t i = buckets.size() - third; i < buckets.size(); ++i) tail += buckets[i];
  if (first_seen_in_window && head == 0) return "new";
  if (tail == 0 && head > 0) return "gone";
  if (tail >= 2 * head + 3) return "rising";
  if (2 * tail + 3 <= head) return "falling";
  return "steady";
}

std::string Sparkline(const std::vector<uint64_t>& buckets) {
  return internal::Sparkline(std::vector<double>(buckets.begin(), buckets.end()));
}

int RunPatternsCommand(const std::string& db, const PatternsFlags& flags) {
  if (flags.output != "text" && flags.output != "json") {
    return Fail(Status::InvalidArgument("--output must be text or json"));
  }
  FilterFlags filter;
  filter.services = flags.services;
  filter.level = flags.level;
  filter.since = flags.since;
  filter.until = flags.until;
  Result<storage::Query> query = filter.ToQuery();
  if (!query.ok()) return Fail(query.status());
  query->kind = RecordKind::kLog;
  int64_t new_since = INT64_MIN;
  if (!flags.new_since.empty()) {
    Result<int64_t> t = ParseTimeArg(flags.new_since, NowNanos(), TimeZone());
    if (!t.ok()) return Fail(t.status().WithContext("--new-since"));
    new_since = *t;
  }
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  if (!reader.ok()) return Fail(reader.status());
  // Without --since/--until the window is the store's whole time range.
  if (query->since_ns == INT64_MIN || query->until_ns == INT64_MAX) {
    Result<storage::StoreStats> stats = (*reader)->Stats();
    if (!stats.ok()) return Fail(stats.status());
    if (stats->records == 0) {
      std::fprintf(stderr, "no records in %s\n", db.c_str());
      return 0;
    }
    if (query->since_ns == INT64_MIN) query->since_ns = stats->min_ts_ns;
    if (query->until_ns == INT64_MAX) query->until_ns = stats->max_ts_ns + 1;
  }
  if (query->until_ns <= query->since_ns) {
    return Fail(Status::InvalidArgument("--until must be after --since"));
  }
  Result<std::vector<storage::StoredTemplate>> templates = (*reader)->Templates();
  if (!templates.ok()) return Fail(templates.status());
  Result<std::map<uint64_t, std::vector<uint64_t>>> histogram =
      (*reader)->TemplateHistogram(*query, kTrendBuckets);
  if (!histogram.ok()) return Fail(histogram.status());

  struct Row {
    const storage::StoredTemplate* stored;
    uint64_t count;
    const std::vector<uint64_t>* buckets;
  };
  std::vector<Row> rows;
  uint64_t total = 0;
  for (const storage::StoredTemplate& t : *templates) {
    auto it = histogram->find(t.id);
    if (it == histogram->end()) continue;
    if (t.first_seen_ns < new_since) continue;
    uint64_t count = 0;
    for (uint64_t n : it->second) count += n;
    total += count;
    rows.push_back(Row{&t, count, &it->second});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.count != b.count ? a.count > b.count : a.stored->id < b.stored->id;
  });
  if (rows.size() > flags.limit) rows.resize(flags.limit);

  const bool color = flags.output == "text" && StdoutIsTerminal();
  Palette palette;
  palette.enabled = color;
  if (flags.output == "text") {
    std::printf("%zu template(s), %llu records, %s .. %s\n", rows.size(),
                static_cast<unsigned long long>(total),
                FormatRfc3339(query->since_ns, 0).c_str(),
                FormatRfc3339(query->until_ns, 0).c_str());
  }
  for (const Row& row : rows) {
    const storage::StoredTemplate& t = *row.stored;
    const bool first_in_window = t.first_seen_ns >= query->since_ns;
    const std::string trend = Trend(*row.buckets, first_in_window);
    std::string line;
    char id[24];
    std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(t.id));
    if (flags.output == "json") {
      line = "{\"template_id\":\"" + std::string(id) + "\",\"service\":";
      AppendJsonString(&line, t.service);
      line += ",\"template\":";
      AppendJsonString(&line, t.text);
      line += ",\"count\":" + std::to_string(row.count) +
              ",\"count_all_time\":" + std::to_string(t.count) + ",\"trend\":\"" + trend +
              "\",\"buckets\":[";
      for (size_t i = 0; i < row.buckets->size(); ++i) {
        if (i > 0) line += ",";
        line += std::to_string((*row.buckets)[i]);
      }
      line += "],\"first_seen\":\"" + FormatRfc3339(t.first_seen_ns, 3) +
              "\",\"last_seen\":\"" + FormatRfc3339(t.last_seen_ns, 3) + "\",\"example\":";
      AppendJsonString(&line, t.example);
      line += "}\n";
    } else {
      char head[160];
      std::snprintf(head, sizeof(head), "%10llu  %-7s ", static_cast<unsigned long long>(row.count),
                    trend.c_str());
      line = head;
      line += Sparkline(*row.buckets);
      line += "  ";
      line += palette.Bold();
      line += t.service;
      line += palette.Reset();
      line += "  ";
      line += t.text;
      line += "\n";
      line += palette.Dim();
      line += "            id " + std::string(id) + "  first " + FormatRfc3339(t.first_seen_ns, 0) +
              "  last " + FormatRfc3339(t.last_seen_ns, 0) + "  e.g. ";
      std::string example = t.example.substr(0, 160);
      for (char& c : example) {
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
      }
      line += example;
      line += palette.Reset();
      line += "\n";
    }
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) break;
  }
  return 0;
}

// ---- config ----------------------------------------------------------------------

int RunConfigCheck(const std::string& path) {
  Result<Config> config = LoadConfig(path);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().message().c_str());
    return kExitError;
  }
  std::printf("%s: ok\n", path.c_str());
  return 0;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{
      "faultline: stores the logs, spans and metrics of many services and answers what broke "
      "first.\n\nStart with:\n  faultline ingest --db ./store app.log\n  faultline search --db "
      "./store --level warn+ --since 1h\n  faultline stats --db ./store"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "faultline 0.1.0");
  std::string db = DefaultDb();
  std::string config_path;

  auto add_db = [&](CLI::App* sub) {
    sub->add_option("--db", db, "Store directory (default $FAULTLINE_DB or ./faultline-data)");
  };

  // ingest
  CLI::App* ingest = app.add_subcommand(
      "ingest",
      "Read log files (plain, .gz, .zst; - for stdin) into the store.\n"
      "Each line's shape is detected: JSON (flat, ECS, OpenTelemetry, container-wrapped), "
      "logfmt or plain text.\nExample: faultline ingest --db ./store /var/log/app/*.log.gz");
  add_db(ingest);
  std::vector<std::string> files;
  std::string service;
  bool force = false;
  bool strict = false;
  bool quiet = false;
  std::string ingest_output = "text";
  int threads = 0;
  ingest->add_option("--config,-c", config_path, "Config file (TOML); see docs/config.md");
  ingest->add_option("files", files, "Files to read; - reads stdin")->required();
  ingest->add_option("--service", service,
                     "Service for records that name none (default: the service of the "
                     "file's [[sources]] entry in the config, else the file name)");
  ingest->add_flag("--force", force, "Ingest files again even if already ingested");
  ingest->add_flag("--strict", strict, "Exit with code 3 if any line was dead-lettered");
  ingest->add_flag("--quiet,-q", quiet, "No progress and no summary");
  ingest->add_option("--output,-o", ingest_output, "Summary as text or json");
  ingest->add_option("--threads", threads, "Worker threads (default: one per core)");
  std::string line_format;
  ingest->add_option("--line-format", line_format,
                     "Layout of plain-text lines, e.g. '<Date> <Time> <Level> <Component>: "
                     "<Content>' (fields in <>, a space is any whitespace, the rest literal "
                     "text or regex)");
  std::string time_layout;
  ingest->add_option("--time-layout", time_layout,
                     "Layout of the line format's time fields, strptime-style, e.g. "
                     "'%y%m%d %H%M%S' for 081109 203615 (see docs/formats.md)");

  // serve
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Run as a service: consume log topics from Kafka (as a consumer-group member) into the "
      "store, exactly once, until SIGTERM or SIGINT.\n"
      "Example: faultline serve --brokers kafka-1:9092,kafka-2:9092 --topic app-logs,edge-logs "
      "--group faultline --db /var/lib/faultline\n"
      "Try it locally: faultline broker --port 9092 & faultline produce --brokers 127.0.0.1:9092 --topic "
      "logs app.log; faultline serve --brokers 127.0.0.1:9092 --topic logs");
  add_db(serve);
  ServeFlags serve_flags;
  serve->add_option("--config,-c", config_path,
                    "Config file (TOML): [kafka] librdkafka properties, parsing, templates; "
                    "see docs/config.md");
  serve->add_option("--brokers", serve_flags.brokers, "Kafka bootstrap servers, HOST:PORT[,...]")
      ->required();
  serve->add_option("--topic", serve_flags.topics, "Topics to consume, T[,T2...]")
      ->required()
      ->delimiter(',');
  serve->add_option("--group", serve_flags.group,
                    "Consumer group id (default faultline); instances in one group share the "
                    "partitions");
  serve->add_option("--metrics-addr", serve_flags.metrics_addr,
                    "HTTP address for /metrics, /healthz, /readyz (default 127.0.0.1:9464; "
                    "port 0 picks one; empty disables)");
  serve->add_option("--dead-letter-topic", serve_flags.dead_letter_topic,
                    "Also send rejected lines to this topic, the reason in a header");
  serve->add_option("--incidents-topic", serve_flags.incidents_topic,
                    "Also produce every incident that opens or changes to this topic (JSON, "
                    "keyed by incident id)");
  serve->add_option("--incidents-interval", serve_flags.incidents_interval,
                    "How often incidents are recomputed on event time (default: [incidents] "
                    "interval, 10s); they are "
                    "logged when they open, change cause or resolve, stored, and served at "
                    "/api/incidents and /api/incidents/ID");
  serve->add_flag("--no-incidents", serve_flags.no_incidents,
                  "Only store: no anomaly scan or incidents");
  serve->add_option("--property", serve_flags.properties,
                    "librdkafka property KEY=VALUE (repeatable; overrides [kafka] in the config)");
  serve->add_option("--threads", serve_flags.threads, "Worker threads (default: one per core)");

  // search
  CLI::App* search = app.add_subcommand(
      "search",
      "Find records by service, level, kind, time, trace id and words.\n"
      "Examples:\n  faultline search --service checkout --level warn+ --since 15m\n"
      "  faultline search --trace 6f3cbf058c2765548a39ad724905d6a1 -o json\n"
      "  faultline search --grep 'connection refused' --count");
  add_db(search);
  FilterFlags search_flags;
  search_flags.Add(search);
  size_t limit = 100;
  bool reverse = false;
  bool count = false;
  bool all = false;
  search->add_option("--limit,-n", limit, "At most this many records (default 100)");
  search->add_flag("--all", all, "No limit");
  search->add_flag("--reverse,-r", reverse, "Newest first");
  search->add_flag("--count", count, "Print only the number of matching records");

  // tail
  CLI::App* tail = app.add_subcommand(
      "tail",
      "Show the latest records; with -f keep printing new ones as another process ingests.\n"
      "Example: faultline tail --level error -f");
  add_db(tail);
  FilterFlags tail_flags;
  tail_flags.Add(tail);
  size_t tail_lines = 10;
  bool follow = false;
  int interval_ms = 500;
  tail->add_option("--lines,-n", tail_lines, "Records to show first (default 10)");
  tail->add_flag("--follow,-f", follow, "Keep following new records until interrupted");
  tail->add_option("--interval-ms", interval_ms, "Poll interval with -f (default 500)")
      ->check(CLI::Range(10, 60000));

  // stats
  CLI::App* stats = app.add_subcommand(
      "stats", "Records by kind and service, time range, dead letters by reason, size on disk.\n"
               "Example: faultline stats --output json");
  add_db(stats);
  std::string stats_output = "text";
  stats->add_option("--output,-o", stats_output, "text or json");

  // deadletter
  CLI::App* deadletter = app.add_subcommand(
      "deadletter",
      "Inspect rejected lines, and export them for re-ingest once fixed.\n"
      "Examples:\n  faultline deadletter list --reason invalid_json\n"
      "  faultline deadletter export --out rejected.log");
  deadletter->require_subcommand(1);
  std::string reason;
  size_t dl_limit = 0;
  std::string dl_output = "text";
  std::string dl_out;
  CLI::App* dl_list = deadletter->add_subcommand(
      "list",
      "Show dead letters: reason, source:offset, what was wrong, and the start of the line.\n"
      "Examples:\n  faultline deadletter list --reason truncated_json\n"
      "  faultline deadletter list -o json | jq .detail");
  CLI::App* dl_export = deadletter->add_subcommand(
      "export",
      "Write the raw rejected lines, one per line, to fix and ingest again.\n"
      "Example: faultline deadletter export --reason bad_timestamp --out fix-me.log");
  for (CLI::App* sub : {dl_list, dl_export}) {
    add_db(sub);
    sub->add_option("--reason", reason, "Only this reason (e.g. invalid_json)");
    sub->add_option("--limit,-n", dl_limit, "At most this many (default: all)");
  }
  dl_list->add_option("--output,-o", dl_output, "text or json");
  dl_export->add_option("--out", dl_out, "Write to this file instead of stdout");

  // patterns
  CLI::App* patterns = app.add_subcommand(
      "patterns",
      "The kinds of log line in the store: templates with counts, trend and an example.\n"
      "Examples:\n  faultline patterns --service checkout --since 1h\n"
      "  faultline patterns --new-since 15m        (templates first seen in the last 15 min)\n"
      "  faultline patterns --level error+ -o json");
  add_db(patterns);
  PatternsFlags patterns_flags;
  patterns->add_option("--service,-s", patterns_flags.services, "Only these services (repeat)");
  patterns->add_option("--level,-l", patterns_flags.level, "Only records of these levels: error, warn+");
  patterns->add_option("--since", patterns_flags.since,
                       "Window start (default: the store's first record): RFC 3339 or 15m, 2h, 1d");
  patterns->add_option("--until", patterns_flags.until, "Window end (default: the last record)");
  patterns->add_option("--new-since", patterns_flags.new_since,
                       "Only templates first seen at or after this time");
  patterns->add_option("--limit,-n", patterns_flags.limit, "At most this many (default 50)");
  patterns->add_option("--output,-o", patterns_flags.output, "text or json (one template a line)");
  PatternsMineRequest mine_request;
  CLI::App* patterns_mine = patterns->add_subcommand(
      "mine",
      "Mine templates from log files, no store needed: one JSON object per input line,\n"
      "{\"line_id\":N,\"template_id\":\"...\",\"template\":\"...\"}, then a summary on stderr.\n"
      "Example: faultline patterns mine --line-format '<Date> <Time> <Level> <Component>: "
      "<Content>' app.log");
  patterns_mine->add_option("files", mine_request.files, "Files to read (.gz, .zst; - for stdin)")
      ->required();
  patterns_mine->add_option("--format", mine_request.format,
                            "auto (JSON lines by the parser's rules, others plain), json or plain");
  patterns_mine->add_option("--line-format", mine_request.line_format,
                            "Layout of plain lines; the message is its <Content> field");
  patterns_mine->add_option("--time-layout", mine_request.time_layout,
                            "Layout of the line format's time fields, as for ingest (checked; "
                            "mining does not use the time)");
  patterns_mine->add_option("--message-field", mine_request.message_field,
                            "JSON field that holds the message");
  patterns_mine->add_option("--threads", mine_request.threads,
                            "Worker threads (default: one per core; output is the same)");
  patterns_mine->add_flag("--quiet,-q", mine_request.quiet, "No summary on stderr");
  patterns_mine->add_option("--config,-c", mine_request.config_path,
                            "Config file: [templates] similarity, cap and extra masks; "
                            "[[sources]] line formats and services per file");

  // config
  CLI::App* config = app.add_subcommand(
      "config", "Work with config files (TOML; see docs/config.md).\n"
                "Example: faultline config check faultline.toml");
  config->require_subcommand(1);
  std::string check_path;
  CLI::App* check = config->add_subcommand(
      "check", "Validate a config file; errors name the line.\nExample: faultline config check faultline.toml");
  check->add_option("file", check_path, "Config file (TOML)")->required();

  BrokerCommandOptions broker_options;
  SignalsFlags signals_flags;
  CLI::App* signals = AddSignalsCommand(&app, &signals_flags);
  add_db(signals);
  AnomaliesFlags anomalies_flags;
  CLI::App* anomalies = AddAnomaliesCommand(&app, &anomalies_flags);
  add_db(anomalies);
  TopologyFlags topology_flags;
  CLI::App* topology = AddTopologyCommand(&app, &topology_flags);
  add_db(topology);
  IncidentFlags explain_flags, incidents_flags, status_flags;
  CLI::App* explain = AddExplainCommand(&app, &explain_flags);
  add_db(explain);
  CLI::App* incidents = AddIncidentsCommand(&app, &incidents_flags);
  add_db(incidents);
  CLI::App* status = AddStatusCommand(&app, &status_flags);
  add_db(status);
  IncidentFlags report_flags;
  CLI::App* report = AddReportCommand(&app, &report_flags);
  add_db(report);

  SimulateFlags simulate_flags;
  CLI::App* simulate = AddSimulateCommand(&app, &simulate_flags);
  EvalFlags eval_flags;
  CLI::App* eval = AddEvalCommand(&app, &eval_flags);
  add_db(eval);

  CLI::App* broker = AddBrokerCommand(&app, &broker_options);
  ProduceCommandOptions produce_options;
  CLI::App* produce = AddProduceCommand(&app, &produce_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    if (ingest->parsed()) {
      return RunIngestCommand(db, config_path, files, service, force, strict, quiet,
                              ingest_output, threads, line_format, time_layout);
    }
    if (serve->parsed()) return RunServeCommand(db, config_path, serve_flags);
    if (signals->parsed()) return RunSignalsCommand(db, signals_flags);
    if (anomalies->parsed()) return RunAnomaliesCommand(db, anomalies_flags);
    if (topology->parsed()) return RunTopologyCommand(db, topology_flags);
    if (explain->parsed()) return RunExplainCommand(db, explain_flags);
    if (incidents->parsed()) return RunIncidentsCommand(db, incidents_flags);
    if (status->parsed()) return RunStatusCommand(db, status_flags);
    if (report->parsed()) return RunReportCommand(db, report_flags);
    if (simulate->parsed()) return RunSimulateCommand(simulate_flags, g_interrupted);
    if (eval->parsed()) return RunEvalCommand(db, eval_flags);
    if (broker->parsed()) return RunBrokerCommand(broker_options, g_interrupted);
    if (produce->parsed()) return RunProduceCommand(produce_options, g_interrupted);
    if (search->parsed()) {
      return RunSearchCommand(db, search_flags, all ? SIZE_MAX : limit, reverse, count);
    }
    if (tail->parsed()) return RunTailCommand(db, tail_flags, tail_lines, follow, interval_ms);
    if (stats->parsed()) return RunStatsCommand(db, stats_output);
    if (dl_list->parsed() || dl_export->parsed()) {
      return RunDeadLetterCommand(db, dl_export->parsed(), reason,
                                  dl_limit == 0 ? SIZE_MAX : dl_limit, dl_output, dl_out);
    }
    if (check->parsed()) return RunConfigCheck(check_path);
    if (patterns_mine->parsed()) {
      Status mined = RunPatternsMine(mine_request);
      if (!mined.ok()) {
        std::fprintf(stderr, "faultline: %s\n", mined.message().c_str());
        return mined.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitError;
      }
      return 0;
    }
    if (patterns->parsed()) return RunPatternsCommand(db, patterns_flags);
  } catch (const std::exception& e) {
    return Fail(Status::Internal(e.what()));
  }
  return kExitUsage;
}

}  // namespace faultline::tools
