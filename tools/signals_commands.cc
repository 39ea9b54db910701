#include "tools/signals_commands.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include <CLI/CLI.hpp>

#include "core/json_writer.h"
#include "core/time.h"
#include "correlate/families.h"
#include "correlate/scan.h"
#include "correlate/topology.h"
#include "storage/reader.h"
#include "tools/config.h"
#include "tools/internal/cli_util.h"

namespace faultline::tools {

namespace {

using internal::Fail;
using internal::WriteOut;
using internal::ResolveWindow;
using internal::StoredBucketWidth;
using internal::Window;

using correlate::DenseSeries;
using correlate::Stat;
using correlate::StatName;

// At most this many sparkline characters a series: a terminal's width.
constexpr size_t kSparklineColumns = 72;

// Groups consecutive buckets into at most `columns` (counts add up, other
// stats keep their largest value), so an hour of 10 s buckets fits a line.
std::vector<double> Downsample(const std::vector<double>& values, Stat stat, size_t columns) {
  if (values.size() <= columns) return values;
  const size_t group = (values.size() + columns - 1) / columns;
  std::vector<double> out;
  for (size_t i = 0; i < values.size(); i += group) {
    double v = stat == Stat::kCount ? 0 : NAN;
    for (size_t j = i; j < std::min(values.size(), i + group); ++j) {
      if (std::isnan(values[j])) continue;
      v = stat == Stat::kCount ? v + values[j] : (std::isnan(v) ? values[j] : std::max(v, values[j]));
    }
    out.push_back(v);
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e12) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.3g", v);
  }
  return buf;
}

void AppendJsonNumber(std::string* out, double v) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  out->append(buf);
}

}  // namespace

// ---- signals ---------------------------------------------------------------------

CLI::App* AddSignalsCommand(CLI::App* app, SignalsFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "signals",
      "Per-service series from the rollups (10 s buckets): records, errors, warnings, HTTP\n"
      "status classes and 429s, latency p95, span calls/errors/latency, metric means, and\n"
      "with --signal 'template:*' lines per template. Text draws a sparkline per series.\n"
      "Examples:\n  faultline signals --since 30m\n"
      "  faultline signals --service checkout --signal errors --signal http.5xx\n"
      "  faultline signals --signal 'metric:*' --dimension host -o json");
  cmd->add_option("--service,-s", flags->services, "Only these services (repeat)");
  cmd->add_option("--signal", flags->signals,
                  "Only these signals (repeat; a trailing * matches a prefix)");
  cmd->add_option("--dimension", flags->dimension,
                  "Per host, region or endpoint instead of whole services; 'all' for both");
  cmd->add_option("--since", flags->since, "Window start (default: the last hour of data)");
  cmd->add_option("--until", flags->until, "Window end (default: the last record)");
  cmd->add_option("--output,-o", flags->output, "text or json (one series a line)");
  cmd->add_option("--limit,-n", flags->limit, "At most this many series (default 200)");
  return cmd;
}

int RunSignalsCommand(const std::string& db, const SignalsFlags& flags) {
  if (flags.output != "text" && flags.output != "json") {
    return Fail(Status::InvalidArgument("--output must be text or json"));
  }
  if (!flags.dimension.empty() && flags.dimension != "all" && flags.dimension != "host" &&
      flags.dimension != "region" && flags.dimension != "endpoint" && flags.dimension != "caller") {
    return Fail(
        Status::InvalidArgument("--dimension must be host, region, endpoint, caller or all"));
  }
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  if (!reader.ok()) return Fail(reader.status());
  const int64_t width = StoredBucketWidth(reader->get());
  Result<Window> window = ResolveWindow(reader->get(), flags.since, flags.until, flags.zone,
                                        3600 * kNanosPerSecond, width);
  if (!window.ok()) return Fail(window.status());
  correlate::SeriesFilter filter;
  filter.services = flags.services;
  filter.signals = flags.signals;
  filter.dimension = flags.dimension;
  Result<std::vector<DenseSeries>> series = correlate::LoadDenseSeries(
      reader->get(), window->since_ns, window->until_ns, window->bucket_ns, filter);
  if (!series.ok()) return Fail(series.status());
  if (series->size() > flags.limit) series->resize(flags.limit);
  const bool json = flags.output == "json";
  internal::Palette palette;
  palette.enabled = !json && internal::StdoutIsTerminal();
  if (!json) {
    WriteOut(std::to_string(series->size()) + " series, " + FormatRfc3339(window->since_ns, 0) +
             " .. " + FormatRfc3339(window->until_ns, 0) + ", " +
             std::to_string(window->bucket_ns / kNanosPerSecond) + " s buckets\n");
  }
  std::string last_service;
  for (const DenseSeries& s : *series) {
    std::string line;
    if (json) {
      line = "{\"service\":";
      AppendJsonString(&line, s.service);
      line += ",\"signal\":";
      AppendJsonString(&line, s.signal);
      line += ",\"dimension\":";
      AppendJsonString(&line, s.dimension);
      line += ",\"stat\":\"" + std::string(StatName(s.stat)) + "\",\"start\":\"" +
              FormatRfc3339(window->since_ns, 0) +
              "\",\"bucket_seconds\":" + std::to_string(window->bucket_ns / kNanosPerSecond) +
              ",\"values\":[";
      for (size_t i = 0; i < s.values.size(); ++i) {
        if (i > 0) line += ",";
        AppendJsonNumber(&line, s.values[i]);
      }
      line += "]}\n";
    } else {
      if (s.service != last_service) {
        line += palette.Bold() + s.service + palette.Reset() + "\n";
        last_service = s.service;
      }
      double total = 0, peak = NAN, last = NAN;
      for (double v : s.values) {
        if (std::isnan(v)) continue;
        total += v;
        peak = std::isnan(peak) ? v : std::max(peak, v);
        last = v;
      }
      std::string name = s.signal;
      if (!s.dimension.empty()) name += "{" + s.dimension + "}";
      char head[128];
      std::snprintf(head, sizeof(head), "  %-34s ", name.substr(0, 34).c_str());
      line += head;
      line += internal::Sparkline(Downsample(s.values, s.stat, kSparklineColumns));
      line += palette.Dim();
      if (s.stat == Stat::kCount) {
        line += "  total " + FormatValue(total) + ", peak " + FormatValue(peak) + "/bucket";
      } else {
        line += "  " + std::string(StatName(s.stat)) + " peak " + FormatValue(peak) + ", last " +
                FormatValue(last);
      }
      line += palette.Reset();
      line += "\n";
    }
    if (!WriteOut(line)) break;
  }
  return 0;
}

// ---- anomalies -------------------------------------------------------------------

CLI::App* AddAnomaliesCommand(CLI::App* app, AnomaliesFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "anomalies",
      "What changed: every series of every service against its own recent baseline, with\n"
      "the onset (to the bucket), peak, strength, family (infrastructure, demand, software)\n"
      "and the evidence (template text, example line). Onsets within the window.\n"
      "Signals of one service that changed in the same bucket are one anomaly (\"with ...\";\n"
      "\"related\" in JSON); one change on 5+ services within a minute is one, listing them\n"
      "(\"svc +N\"; \"services\"); a new error or exception line on a service that was\n"
      "already logging, and a deploy or config line, count from a single line (\"new ...\").\n"
      "Examples:\n  faultline anomalies --since 1h\n"
      "  faultline anomalies --since 2023-01-29T08:00:00Z --until 2023-01-29T09:00:00Z -o json");
  cmd->add_option("--service,-s", flags->services, "Only these services (repeat)");
  cmd->add_option("--since", flags->since, "Window start (default: the last hour of data)");
  cmd->add_option("--until", flags->until, "Window end (default: the last record)");
  cmd->add_option("--config", flags->config, "Config file: [[signals.rules]] add family rules");
  cmd->add_option("--history", flags->history,
                  "How much data before --since each series' baseline may come from (default "
                  "1h; more than the 10 min baseline, so gaps in the data do not starve it)");
  cmd->add_option("--output,-o", flags->output, "text or json (one anomaly a line)");
  cmd->add_option("--limit,-n", flags->limit, "At most this many (default 200)");
  return cmd;
}

int RunAnomaliesCommand(const std::string& db, const AnomaliesFlags& flags) {
  if (flags.output != "text" && flags.output != "json") {
    return Fail(Status::InvalidArgument("--output must be text or json"));
  }
  Config config;
  if (!flags.config.empty()) {
    Result<Config> loaded = LoadConfig(flags.config);
    if (!loaded.ok()) return Fail(loaded.status());
    config = std::move(loaded).value();
  }
  Result<correlate::SignalClassifier> classifier =
      correlate::SignalClassifier::Create(config.signal_rules);
  if (!classifier.ok()) return Fail(classifier.status());
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  if (!reader.ok()) return Fail(reader.status());
  const int64_t width = StoredBucketWidth(reader->get());
  Result<Window> window = ResolveWindow(reader->get(), flags.since, flags.until, flags.zone,
                                        3600 * kNanosPerSecond, width);
  if (!window.ok()) return Fail(window.status());
  Result<int64_t> history = ParseDuration(flags.history);
  if (!history.ok() || *history <= 0) {
    return Fail(Status::InvalidArgument("--history: expected a positive duration such as 1h, got '" +
                                        flags.history + "'"));
  }
  correlate::ScanOptions scan;
  scan.filter.services = flags.services;
  scan.history_ns = *history;
  Result<std::vector<correlate::Finding>> findings = correlate::FindAnomalies(
      reader->get(), window->since_ns, window->until_ns, window->bucket_ns, *classifier, scan);
  if (!findings.ok()) return Fail(findings.status());
  if (findings->size() > flags.limit) findings->resize(flags.limit);
  const bool json = flags.output == "json";
  internal::Palette palette;
  palette.enabled = !json && internal::StdoutIsTerminal();
  if (!json) {
    WriteOut(std::to_string(findings->size()) + " anomal" +
             (findings->size() == 1 ? "y" : "ies") + ", " + FormatRfc3339(window->since_ns, 0) +
             " .. " + FormatRfc3339(window->until_ns, 0) + "\n");
  }
  for (const correlate::Finding& f : *findings) {
    std::string line;
    if (json) {
      line = correlate::FindingJson(f) + "\n";
    } else {
      char head[256];
      std::snprintf(head, sizeof(head), "%s  %s%-28s%s %-30s %s %-15s %-20s strength %5.1f  %s -> %s",
                    FormatRfc3339(f.onset_ns, 0).c_str(), palette.Bold(),
                    (f.services.empty()
                         ? f.service
                         : f.service.substr(0, 20) + " +" + std::to_string(f.services.size() - 1))
                        .substr(0, 28)
                        .c_str(),
                    palette.Reset(),
                    (f.signal + (f.dimension.empty() ? "" : "{" + f.dimension + "}"))
                        .substr(0, 30)
                        .c_str(),
                    f.anomaly.direction == correlate::Direction::kUp ? "up  " : "down",
                    std::string(correlate::FamilyName(f.family)).c_str(),
                    ((f.first_seen ? "new " : "") + f.kind).c_str(),
                    f.anomaly.strength, FormatValue(f.anomaly.baseline).c_str(),
                    FormatValue(f.anomaly.peak_value).c_str());
      line = head;
      line += "\n";
      if (!f.template_text.empty()) {
        line += palette.Dim() + std::string("    ") + f.template_text.substr(0, 160) +
                palette.Reset() + "\n";
      }
      if (!f.related.empty()) {
        std::string with = "    with";
        for (size_t r = 0; r < f.related.size() && r < 6; ++r) {
          const correlate::RelatedSignal& other = f.related[r];
          with += (r == 0 ? " " : ", ") + other.signal +
                  (other.dimension.empty() ? "" : "{" + other.dimension + "}");
        }
        if (f.related.size() > 6) with += " and " + std::to_string(f.related.size() - 6) + " more";
        line += palette.Dim() + with + palette.Reset() + "\n";
      }
    }
    if (!WriteOut(line)) break;
  }
  return 0;
}

// ---- topology --------------------------------------------------------------------

CLI::App* AddTopologyCommand(CLI::App* app, TopologyFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "topology",
      "Who calls whom: call edges from spans (parent -> child service), from records that\n"
      "share a trace id, and from peer/upstream fields, weighted by calls, with errors and\n"
      "the latency the caller saw. Read from the edges stored at ingest (to the 10 s\n"
      "bucket); --from-records rebuilds them from the stored records instead.\n"
      "Examples:\n  faultline topology --since 1h\n"
      "  faultline topology -o dot | dot -Tsvg > topology.svg");
  cmd->add_option("--since", flags->since, "Window start (default: the last hour of data)");
  cmd->add_option("--until", flags->until, "Window end (default: the last record)");
  cmd->add_option("--output,-o", flags->output, "text, json (one edge a line) or dot");
  cmd->add_option("--config", flags->config, "Config file: [topology] edges are added");
  cmd->add_flag("--from-records", flags->from_records,
                "Match the stored spans and logs again (slower; for stores written before edges "
                "were stored, or to check them)");
  return cmd;
}

int RunTopologyCommand(const std::string& db, const TopologyFlags& flags) {
  if (flags.output != "text" && flags.output != "json" && flags.output != "dot") {
    return Fail(Status::InvalidArgument("--output must be text, json or dot"));
  }
  Config config;
  if (!flags.config.empty()) {
    Result<Config> loaded = LoadConfig(flags.config);
    if (!loaded.ok()) return Fail(loaded.status());
    config = std::move(loaded).value();
  }
  Result<std::unique_ptr<storage::Reader>> reader = storage::Reader::Open(db);
  if (!reader.ok()) return Fail(reader.status());
  Result<Window> window = ResolveWindow(reader->get(), flags.since, flags.until, flags.zone,
                                        3600 * kNanosPerSecond, kNanosPerSecond);
  if (!window.ok()) return Fail(window.status());
  std::vector<correlate::Edge> edges;
  if (flags.from_records) {
    correlate::TopologyBuilder builder(config.topology);
    for (const auto& [caller, callee] : config.topology_edges) builder.AddConfigEdge(caller, callee);
    storage::Query query;
    query.since_ns = window->since_ns;
    query.until_ns = window->until_ns;
    Status searched = (*reader)->Search(query, [&](const Record& record) {
      builder.AddRecord(record);
      return true;
    });
    if (!searched.ok()) return Fail(searched);
    edges = builder.Edges(/*flush=*/true);
  } else {
    Result<std::vector<correlate::Edge>> stored = correlate::LoadStoredEdges(
        reader->get(), window->since_ns, window->until_ns, config.topology_edges);
    if (!stored.ok()) return Fail(stored.status());
    edges = std::move(stored).value();
  }
  if (flags.output == "dot") {
    WriteOut(correlate::ToDot(edges));
    return 0;
  }
  const bool json = flags.output == "json";
  if (!json) {
    WriteOut(std::to_string(edges.size()) + " edge(s), " + FormatRfc3339(window->since_ns, 0) +
             " .. " + FormatRfc3339(window->until_ns, 0) + "\n");
  }
  for (const correlate::Edge& e : edges) {
    std::string line;
    const double mean_ms = e.calls > 0 && e.total_duration_ns > 0
                               ? static_cast<double>(correlate::MeanDurationNs(e)) / 1e6
                               : NAN;
    std::string sources;
    for (auto [bit, name] : {std::pair{correlate::EdgeSource::kSpan, "span"},
                             std::pair{correlate::EdgeSource::kTrace, "trace"},
                             std::pair{correlate::EdgeSource::kField, "field"},
                             std::pair{correlate::EdgeSource::kConfig, "config"}}) {
      if (e.sources & static_cast<uint8_t>(bit)) {
        if (!sources.empty()) sources += json ? "\",\"" : ",";
        sources += name;
      }
    }
    if (json) {
      line = "{\"caller\":";
      AppendJsonString(&line, e.caller);
      line += ",\"callee\":";
      AppendJsonString(&line, e.callee);
      line += ",\"calls\":" + std::to_string(e.calls) + ",\"errors\":" + std::to_string(e.errors) +
              ",\"mean_ms\":";
      AppendJsonNumber(&line, mean_ms);
      line += ",\"max_ms\":";
      AppendJsonNumber(&line, static_cast<double>(e.max_duration_ns) / 1e6);
      line += ",\"sources\":[\"" + sources + "\"]}\n";
    } else {
      char buf[256];
      std::snprintf(buf, sizeof(buf), "%-32s -> %-32s %10llu calls %8llu errors  mean %s ms  [%s]\n",
                    e.caller.c_str(), e.callee.c_str(), static_cast<unsigned long long>(e.calls),
                    static_cast<unsigned long long>(e.errors), FormatValue(mean_ms).c_str(),
                    sources.c_str());
      line = buf;
    }
    if (!WriteOut(line)) break;
  }
  return 0;
}

}  // namespace faultline::tools
