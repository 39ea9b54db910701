#include "tools/incident_commands.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

#include <CLI/CLI.hpp>
#include <simdjson.h>

#include "core/time.h"
#include "correlate/blame.h"
#include "correlate/incident.h"
#include "correlate/scan.h"
#include "correlate/topology.h"
#include "storage/reader.h"
#include "tools/config.h"
#include "tools/internal/cli_util.h"
#include "tools/report_html.h"

namespace faultline::tools {

// What every command needs: the store, the classifier, the bucket width.
struct IncidentSession {
  std::unique_ptr<storage::Reader> reader;
  std::optional<correlate::SignalClassifier> classifier;
  Config config;
  int64_t bucket_ns = 10'000'000'000;
  int64_t history_ns = 3600'000'000'000;
};

namespace {

using correlate::Cause;
using correlate::CauseLabel;
using correlate::Finding;
using correlate::Incident;
using internal::Fail;
using internal::WriteOut;

using Context = IncidentSession;

Status Open(const std::string& db, const IncidentFlags& flags, Context* ctx) {
  if (!flags.config.empty()) {
    FL_ASSIGN_OR_RETURN(ctx->config, LoadConfig(flags.config));
  }
  FL_ASSIGN_OR_RETURN(correlate::SignalClassifier classifier,
                      correlate::SignalClassifier::Create(ctx->config.signal_rules));
  ctx->classifier.emplace(std::move(classifier));
  Result<int64_t> history = ParseDuration(flags.history);
  if (!history.ok() || *history <= 0) {
    return Status::InvalidArgument("--history: expected a positive duration such as 1h, got '" +
                                   flags.history + "'");
  }
  ctx->history_ns = *history;
  FL_ASSIGN_OR_RETURN(ctx->reader, storage::Reader::Open(db));
  ctx->bucket_ns = internal::StoredBucketWidth(ctx->reader.get());
  return Status::Ok();
}

// Findings with onset in [since, until) and the call graph around them.
Status Load(Context* ctx, int64_t since_ns, int64_t until_ns, std::vector<Finding>* findings,
            std::vector<correlate::Edge>* edges) {
  correlate::ScanOptions scan;
  scan.history_ns = ctx->history_ns;
  FL_ASSIGN_OR_RETURN(*findings, correlate::FindAnomalies(ctx->reader.get(), since_ns, until_ns,
                                                          ctx->bucket_ns, *ctx->classifier, scan));
  FL_ASSIGN_OR_RETURN(*edges, correlate::LoadStoredEdges(ctx->reader.get(),
                                                         since_ns - ctx->history_ns, until_ns,
                                                         ctx->config.topology_edges));
  return Status::Ok();
}

int64_t DataEnd(storage::Reader* reader) {
  Result<storage::Reader::EventTimeRange> range = reader->TimeRange();
  return range.ok() && range->records ? range->max_ts_ns + 1 : NowNanos();
}

std::string Clock(int64_t ns) { return FormatRfc3339(ns, 0); }

std::string Percent(double share) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.0f%%", share * 100);
  return buf;
}

std::string JoinChain(const std::vector<std::string>& chain) {
  std::string out;
  for (size_t i = 0; i < chain.size(); ++i) out += (i ? " -> " : "") + chain[i];
  return out;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out.empty() ? "-" : out;
}

std::string TimelineWhat(const Finding& f) {
  std::string what = f.signal + (f.dimension.empty() ? "" : "{" + f.dimension + "}");
  what += f.anomaly.direction == correlate::Direction::kUp ? " up" : " down";
  if (f.first_seen) what = "new line (" + f.kind + ")";
  if (!f.services.empty()) what += " on " + std::to_string(f.services.size()) + " services";
  return what;
}

std::string ExplainText(const Incident& x, bool markdown) {
  std::string out;
  const std::string h1 = markdown ? "# " : "", h2 = markdown ? "\n## " : "\n",
                    bullet = markdown ? "- " : "  ", code = markdown ? "`" : "";
  out += h1 + "Incident " + x.id + "\n";
  out += (markdown ? "\n" : "") + std::string("Onset ") + Clock(x.onset_ns) + ", detected " +
         std::to_string((x.detected_ns - x.onset_ns) / 1'000'000'000) + " s later, " +
         (x.ongoing ? std::string("ongoing")
                    : "recovered after " +
                          std::to_string((x.end_ns - x.onset_ns) / 1'000'000'000) + " s (" +
                          Clock(x.end_ns) + ")") +
         "; state " + correlate::IncidentStateName(x.state) +
         (x.identified ? "" : " (cause unknown)") + "\n";
  out += h2 + "Cause" + (markdown ? "s" : "s (best first)") + "\n";
  if (markdown) out += "\n";
  if (x.causes.empty()) out += bullet + "unknown: no service has evidence of its own\n";
  for (size_t i = 0; i < x.causes.size(); ++i) {
    const Cause& c = x.causes[i];
    char head[512];
    std::snprintf(head, sizeof(head), "%zu. %s%s%s  %s  confidence %s, score %.1f", i + 1,
                  markdown ? "**" : "", c.service.c_str(), markdown ? "**" : "",
                  CauseLabel(c).c_str(), Percent(c.confidence).c_str(), c.score);
    out += (markdown ? "" : "  ") + std::string(head) + "\n";
    out += (markdown ? "   " : "     ") + c.why + "\n";
  }
  out += h2 + "Chain\n" + (markdown ? "\n" : "") + bullet + code + JoinChain(x.chain) + code +
         "\n";
  out += h2 + "Impact\n" + (markdown ? "\n" : "");
  out += bullet + "services: " + Join(x.services) + "\n";
  out += bullet + "endpoints: " + Join(x.endpoints) + "\n";
  out += bullet + "regions: " + Join(x.regions) + "\n";
  if (!x.lines.empty()) {
    out += h2 + "Evidence lines\n";
    if (markdown) out += "\n```\n";
    for (const correlate::EvidenceLine& l : x.lines) {
      out += (markdown ? "" : "  ") + FormatRfc3339(l.ts_ns) + " " + l.service + " " +
             std::string(LevelName(l.level)) + " " + l.message.substr(0, 300) + "  [" +
             l.provenance.source +
             (l.provenance.partition >= 0 ? ":" + std::to_string(l.provenance.partition) : "") +
             "@" + std::to_string(l.provenance.offset) + "]\n";
    }
    if (markdown) out += "```\n";
  }
  out += h2 + "Timeline\n" + (markdown ? "\n" : "");
  for (size_t i = 0; i < x.timeline.size() && i < 40; ++i) {
    const Finding& f = x.timeline[i];
    out += bullet + Clock(f.onset_ns) + "  " + f.service + "  " + TimelineWhat(f) + "\n";
  }
  if (x.timeline.size() > 40) {
    out += bullet + "... and " + std::to_string(x.timeline.size() - 40) + " more\n";
  }
  return out;
}

std::string StatusMarkdown(const Incident& x) {
  std::string out = "# Incident " + x.id + "\n";
  std::vector<correlate::StatusUpdate> updates = correlate::StatusUpdates(x);
  for (auto it = updates.rbegin(); it != updates.rend(); ++it) {  // newest first, like a status page
    std::string state = correlate::IncidentStateName(it->state);
    state[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(state[0])));
    out += "\n## " + state + " - " + Clock(it->at_ns) + "\n\n" + it->text + "\n\n";
    out += "Affected components: " + Join(it->components) + "\n";
  }
  return out;
}

// Incidents with onset in [since, until), judged with the findings of the
// habit window before `since` as history.
Result<std::vector<Incident>> Incidents(Context* ctx, int64_t since_ns, int64_t until_ns) {
  const correlate::CorrelateOptions& options = ctx->config.correlate;
  std::vector<Finding> findings;
  std::vector<correlate::Edge> edges;
  FL_RETURN_IF_ERROR(Load(ctx, since_ns - options.habit_window_ns, until_ns, &findings, &edges));
  const int64_t now = std::min(until_ns, DataEnd(ctx->reader.get()));
  std::vector<Incident> incidents =
      correlate::GroupIncidents(findings, edges, ctx->bucket_ns, now, options, since_ns);
  for (Incident& x : incidents) {
    FL_RETURN_IF_ERROR(correlate::AddTraceBlame(ctx->reader.get(), edges, ctx->bucket_ns, now,
                                                options, findings, &x));
    FL_RETURN_IF_ERROR(
        correlate::AddImpact(ctx->reader.get(), *ctx->classifier, ctx->bucket_ns, &x));
  }
  return incidents;
}

// `window` centred on `at`, widened to whole buckets.
std::pair<int64_t, int64_t> CenteredWindow(int64_t at_ns, int64_t window_ns, int64_t bucket_ns) {
  return {(at_ns - window_ns / 2) / bucket_ns * bucket_ns,
          (at_ns + window_ns / 2 + bucket_ns - 1) / bucket_ns * bucket_ns};
}

// "What went wrong in [since, until)?": the findings with onset there,
// judged against the habits before it, with trace blame; nullopt when
// nothing changed. `after` more data confirms changes begun in the window.
Result<std::optional<Incident>> ExplainWindow(Context* ctx, int64_t since, int64_t until,
                                              int64_t after) {
  const correlate::CorrelateOptions& options = ctx->config.correlate;
  std::vector<Finding> findings;
  std::vector<correlate::Edge> edges;
  FL_RETURN_IF_ERROR(Load(ctx, since - options.habit_window_ns, until + after, &findings, &edges));
  // Data after the window confirms changes that began in it (a line that
  // stopped is only known to have stopped some minutes later); changes
  // that began after it are not part of the answer.
  std::erase_if(findings, [&](const Finding& f) { return f.onset_ns >= until; });
  // Errors followed through their traces to the services they came from.
  FL_ASSIGN_OR_RETURN(correlate::BlameResult blamed,
                      correlate::TraceBlame(ctx->reader.get(), since, until, ctx->bucket_ns));
  for (Finding& f : blamed.findings) findings.push_back(std::move(f));
  // Findings before the window are the habits it is judged against.
  auto in_window = std::stable_partition(findings.begin(), findings.end(),
                                         [&](const Finding& f) { return f.onset_ns < since; });
  std::vector<Finding> earlier(std::make_move_iterator(findings.begin()),
                               std::make_move_iterator(in_window));
  findings.erase(findings.begin(), in_window);
  if (findings.empty()) return std::optional<Incident>();
  Incident x = correlate::Correlate(std::move(findings), edges, ctx->bucket_ns,
                                    std::min(until + after, DataEnd(ctx->reader.get())), options,
                                    earlier);
  FL_RETURN_IF_ERROR(correlate::AddImpact(ctx->reader.get(), *ctx->classifier, ctx->bucket_ns, &x));
  return std::optional<Incident>(std::move(x));
}

// The onset an id names (its first 15 characters: yyyymmddThhmmss).
Result<int64_t> IdOnset(const std::string& id) {
  if (id.size() < 16 || id[8] != 'T' || id[15] != '-') {
    return Status::InvalidArgument("'" + id + "' is not an incident id (ids look like "
                                   "20230129T100430-1a2b3c; `faultline incidents` lists them)");
  }
  const std::string t = id.substr(0, 4) + "-" + id.substr(4, 2) + "-" + id.substr(6, 2) + "T" +
                        id.substr(9, 2) + ":" + id.substr(11, 2) + ":" + id.substr(13, 2) + "Z";
  return ParseTimeArg(t, 0, TimeZone());
}

// Finds incident `id`: incidents are recomputed around the onset it names.
Result<Incident> FindIncident(Context* ctx, const std::string& id) {
  FL_ASSIGN_OR_RETURN(int64_t onset, IdOnset(id));
  const correlate::CorrelateOptions& options = ctx->config.correlate;
  // The id's onset is the incident's first finding, and nothing came within
  // a group gap before it (or it would have joined and changed the id), so
  // grouping from one gap before it reproduces the incident.
  const int64_t since = onset - options.group_gap_ns;
  const int64_t until = onset + int64_t{6} * 3600 * 1'000'000'000;
  FL_ASSIGN_OR_RETURN(std::vector<Incident> incidents, Incidents(ctx, since, until));
  for (Incident& x : incidents) {
    if (x.id == id) return std::move(x);
  }
  // An id serve stored was named by the changes its passes had seen then;
  // recomputed over all the data, the incident may start a little earlier
  // or later under another first change. It is the one nearest in onset.
  if (ctx->reader->Incident(id).ok()) {
    Incident* nearest = nullptr;
    int64_t best = options.group_gap_ns * 10;
    for (Incident& x : incidents) {
      const int64_t d = x.onset_ns > onset ? x.onset_ns - onset : onset - x.onset_ns;
      if (d <= best) {
        best = d;
        nearest = &x;
      }
    }
    if (nearest != nullptr) {
      nearest->id = id;
      return std::move(*nearest);
    }
  }
  return Status::NotFound("no incident " + id + " in the store (`faultline incidents` lists them)");
}

Status CheckOutput(const std::string& output, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (output == a) return Status::Ok();
  }
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return Status::InvalidArgument("--output must be one of " + list + ", got '" + output + "'");
}

// One row of the stored-incidents table, read from the stored document
// (IncidentJson) with simdjson; "?" where a field is missing.
std::string StoredRow(simdjson::ondemand::parser* parser, const std::string& body) {
  simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  if (parser->iterate(padded).get(doc) != simdjson::SUCCESS) return "? (unreadable)\n";
  auto text = [](simdjson::simdjson_result<simdjson::ondemand::value> v) {
    std::string_view out;
    return v.get_string().get(out) == simdjson::SUCCESS ? std::string(out) : std::string("?");
  };
  // Fields in document order: On-Demand reads forward.
  const std::string id = text(doc["id"]), state = text(doc["state"]),
                    onset = text(doc["onset"]);
  bool identified = false;
  if (doc["identified"].get_bool().get(identified) != simdjson::SUCCESS) identified = false;
  std::string cause = "unknown", label = "-";
  simdjson::ondemand::array causes;
  if (doc["causes"].get_array().get(causes) == simdjson::SUCCESS) {
    for (auto first : causes) {
      simdjson::ondemand::object c;
      if (first.get_object().get(c) != simdjson::SUCCESS) break;
      cause = text(c["service"]);
      const std::string category = text(c["category"]), kind = text(c["kind"]);
      label = category + (kind.empty() || kind == "?" ? "" : " / " + kind);
      break;
    }
  }
  char line[512];
  std::snprintf(line, sizeof(line), "%-22s %-20s %-13s %-30s %-28s %s\n", id.c_str(),
                onset.c_str(), state.c_str(), cause.substr(0, 30).c_str(),
                label.substr(0, 28).c_str(), identified ? "true" : "false");
  return line;
}

// incidents --stored: what `faultline serve` stored, with onsets in the
// window, oldest first.
int ListStored(storage::Reader* reader, const internal::Window& window, bool json) {
  // Ids begin with the onset, so the window is an id range.
  const std::string from = correlate::IncidentId(window.since_ns, "").substr(0, 15);
  const std::string to = correlate::IncidentId(window.until_ns, "").substr(0, 15);
  std::vector<std::string> bodies;
  Status listed = reader->Incidents(from, to, /*reverse=*/false,
                                    [&](const std::string&, const std::string& body) {
                                      bodies.push_back(body);
                                      return true;
                                    });
  if (!listed.ok()) return Fail(listed);
  if (json) {
    for (const std::string& body : bodies) {
      if (!WriteOut(body + "\n")) break;
    }
    return 0;
  }
  WriteOut(std::to_string(bodies.size()) + " stored incident" + (bodies.size() == 1 ? "" : "s") +
           ", " + Clock(window.since_ns) + " .. " + Clock(window.until_ns) + "\n");
  if (bodies.empty()) return 0;
  char line[512];
  std::snprintf(line, sizeof(line), "%-22s %-20s %-13s %-30s %-28s %s\n", "ID", "ONSET", "STATE",
                "CAUSE", "CATEGORY", "IDENTIFIED");
  WriteOut(line);
  simdjson::ondemand::parser parser;
  for (const std::string& body : bodies) {
    if (!WriteOut(StoredRow(&parser, body))) break;
  }
  return 0;
}

}  // namespace

// ---- explain ---------------------------------------------------------------------

CLI::App* AddExplainCommand(CLI::App* app, IncidentFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "explain",
      "What went wrong, and why: the causes of an incident ranked best first (service,\n"
      "category infrastructure|demand|software, kind, confidence, and why), the chain from\n"
      "the cause to the user-facing end, impacted endpoints and regions, evidence lines with\n"
      "where they came from, and a timeline of onsets.\n"
      "Give an incident id (from `faultline incidents`), or --at T to explain whatever changed\n"
      "in the window around T. Causes are ranked from the anomalies in the window: a service's\n"
      "own changes, how many other changes it explains through the call graph (errors and\n"
      "latency travel from callee to caller, demand from caller to callee), and onset order.\n"
      "Examples:\n"
      "  faultline explain --at 2023-01-29T10:04:30Z\n"
      "  faultline explain --at 15m --window 5m -o json | jq '.causes[0]'\n"
      "  faultline explain 20230129T100330-6c1f3e -o markdown > postmortem.md");
  cmd->add_option("id", flags->id, "Incident id (from `faultline incidents`)");
  cmd->add_option("--at", flags->at, "Explain the window around this time (RFC 3339 or 15m ago)");
  cmd->add_option("--window", flags->window,
                  "With --at: the window's length, centred on the time (default 10m)");
  cmd->add_option("--after", flags->after,
                  "With --at: data after the window that may confirm changes which began in it "
                  "(a line that stopped is known to have stopped minutes later; default 0s: what "
                  "was known at the window's end, as the stream saw it)");
  cmd->add_option("--history", flags->history,
                  "Data before the window that baselines come from (default 1h)");
  cmd->add_option("--config", flags->config, "Config file: [[signals.rules]], [topology] edges");
  cmd->add_option("--output,-o", flags->output, "text (default), json or markdown");
  return cmd;
}

int RunExplainCommand(const std::string& db, const IncidentFlags& flags) {
  const std::string output = flags.output.empty() ? "text" : flags.output;
  if (Status s = CheckOutput(output, {"text", "json", "markdown"}); !s.ok()) return Fail(s);
  if (flags.id.empty() == flags.at.empty()) {
    return Fail(Status::InvalidArgument("give an incident id or --at T (not both)"));
  }
  Context ctx;
  if (Status s = Open(db, flags, &ctx); !s.ok()) return Fail(s);
  Incident incident;
  if (!flags.at.empty()) {
    Result<int64_t> at = ParseTimeArg(flags.at, NowNanos(), TimeZone());
    if (!at.ok()) return Fail(at.status().WithContext("--at"));
    Result<int64_t> window = ParseDuration(flags.window);
    if (!window.ok() || *window <= 0) {
      return Fail(Status::InvalidArgument("--window: expected a positive duration such as 10m"));
    }
    const auto [since, until] = CenteredWindow(*at, *window, ctx.bucket_ns);
    int64_t after = 0;
    if (!flags.after.empty()) {
      Result<int64_t> parsed = ParseDuration(flags.after);
      if (!parsed.ok() || *parsed < 0) {
        return Fail(Status::InvalidArgument("--after: expected a duration such as 5m or 0s"));
      }
      after = *parsed;
    }
    Result<std::optional<Incident>> found = ExplainWindow(&ctx, since, until, after);
    if (!found.ok()) return Fail(found.status());
    if (!found->has_value()) {
      if (output == "json") {
        WriteOut("{\"id\":null,\"identified\":false,\"causes\":[],\"chain\":[],\"impacted\":"
                 "{\"endpoints\":[],\"regions\":[],\"services\":[]},\"onset\":null,\"window\":[\"" +
                 Clock(since) + "\",\"" + Clock(until) + "\"]}\n");
      } else {
        WriteOut("Nothing changed between " + Clock(since) + " and " + Clock(until) +
                 ": no anomaly against the baselines (see `faultline anomalies`).\n");
      }
      return 0;
    }
    incident = std::move(**found);
  } else {
    Result<Incident> found = FindIncident(&ctx, flags.id);
    if (!found.ok()) return Fail(found.status());
    incident = std::move(found).value();
  }
  if (Status s = correlate::CollectEvidenceLines(ctx.reader.get(), &incident); !s.ok()) {
    return Fail(s);
  }
  if (output == "json") {
    WriteOut(correlate::IncidentJson(incident) + "\n");
  } else {
    WriteOut(ExplainText(incident, output == "markdown"));
  }
  return 0;
}

// ---- incidents -------------------------------------------------------------------

CLI::App* AddIncidentsCommand(CLI::App* app, IncidentFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "incidents",
      "Incidents over a time range: anomalies grouped by time (a quiet gap of 60 s ends\n"
      "one), each with its top cause, category, chain, state (investigating, identified,\n"
      "monitoring, resolved) and id for `faultline explain ID` and `faultline status ID`.\n"
      "Examples:\n"
      "  faultline incidents --since 6h\n"
      "  faultline incidents --stored -o json     (what serve reported)\n"
      "  faultline incidents --since 2023-01-29T08:00:00Z --until 2023-01-29T16:00:00Z -o json");
  cmd->add_option("--since", flags->since, "Range start (default: 6 hours before --until)");
  cmd->add_option("--until", flags->until, "Range end (default: the last record)");
  cmd->add_option("--history", flags->history,
                  "Data before --since that baselines come from (default 1h)");
  cmd->add_option("--config", flags->config, "Config file: [[signals.rules]], [topology] edges");
  cmd->add_option("--output,-o", flags->output, "table (default) or json (one incident a line)");
  cmd->add_flag("--stored", flags->stored,
                "List the incidents `faultline serve` stored (as it last saw them) instead of "
                "computing them from the rollups");
  return cmd;
}

int RunIncidentsCommand(const std::string& db, const IncidentFlags& flags) {
  const std::string output = flags.output.empty() ? "table" : flags.output;
  if (Status s = CheckOutput(output, {"table", "json"}); !s.ok()) return Fail(s);
  Context ctx;
  if (Status s = Open(db, flags, &ctx); !s.ok()) return Fail(s);
  Result<internal::Window> window =
      internal::ResolveWindow(ctx.reader.get(), flags.since, flags.until, flags.zone,
                              int64_t{6} * 3600 * 1'000'000'000, ctx.bucket_ns);
  if (!window.ok()) return Fail(window.status());
  if (flags.stored) return ListStored(ctx.reader.get(), *window, output == "json");
  Result<std::vector<Incident>> incidents = Incidents(&ctx, window->since_ns, window->until_ns);
  if (!incidents.ok()) return Fail(incidents.status());
  if (output == "json") {
    for (Incident& x : *incidents) {
      if (!WriteOut(correlate::IncidentJson(x) + "\n")) break;
    }
    return 0;
  }
  WriteOut(std::to_string(incidents->size()) + " incident" +
           (incidents->size() == 1 ? "" : "s") + ", " + Clock(window->since_ns) + " .. " +
           Clock(window->until_ns) + "\n");
  if (incidents->empty()) return 0;
  char line[512];
  std::snprintf(line, sizeof(line), "%-22s %-20s %-13s %-30s %-28s %5s %s\n", "ID", "ONSET",
                "STATE", "CAUSE", "CATEGORY", "CONF", "CHAIN");
  WriteOut(line);
  for (const Incident& x : *incidents) {
    const bool known = x.identified && !x.causes.empty();
    std::snprintf(line, sizeof(line), "%-22s %-20s %-13s %-30s %-28s %5s %s\n", x.id.c_str(),
                  Clock(x.onset_ns).c_str(), correlate::IncidentStateName(x.state),
                  (known ? x.causes.front().service : std::string("unknown")).substr(0, 30).c_str(),
                  (known ? CauseLabel(x.causes.front()) : std::string("-")).substr(0, 28).c_str(),
                  known ? Percent(x.causes.front().confidence).c_str() : "-",
                  JoinChain(x.chain).c_str());
    if (!WriteOut(line)) break;
  }
  return 0;
}

// ---- status ----------------------------------------------------------------------

CLI::App* AddStatusCommand(CLI::App* app, IncidentFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "status",
      "The status-page updates of an incident, newest first, as markdown: Investigating,\n"
      "Identified, Monitoring, Resolved, each with its time, the affected components and a\n"
      "plain-language summary.\n"
      "Example:\n  faultline status 20230129T100330-6c1f3e > status.md");
  cmd->add_option("id", flags->id, "Incident id (from `faultline incidents`)")->required();
  cmd->add_option("--history", flags->history,
                  "Data before the incident that baselines come from (default 1h)");
  cmd->add_option("--config", flags->config, "Config file: [[signals.rules]], [topology] edges");
  return cmd;
}

int RunStatusCommand(const std::string& db, const IncidentFlags& flags) {
  Context ctx;
  if (Status s = Open(db, flags, &ctx); !s.ok()) return Fail(s);
  Result<Incident> found = FindIncident(&ctx, flags.id);
  if (!found.ok()) return Fail(found.status());
  WriteOut(StatusMarkdown(*found));
  return 0;
}

// ---- report ----------------------------------------------------------------------

CLI::App* AddReportCommand(CLI::App* app, IncidentFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "report",
      "One self-contained HTML page for an incident, to share in the incident channel: the\n"
      "cascade drawn from the root cause to the users, each service's signals on one time\n"
      "axis with onsets marked, the ranked causes with confidence, the evidence lines, the\n"
      "impacted endpoints and regions, and the status updates. It fetches nothing.\n"
      "Example:\n  faultline report 20260301T121200-bdd8cf --html incident.html");
  cmd->add_option("id", flags->id, "Incident id (from `faultline incidents`)")->required();
  cmd->add_option("--html", flags->html, "The page to write ('-': standard output)")->required();
  cmd->add_option("--history", flags->history,
                  "Data before the incident that baselines come from (default 1h)");
  cmd->add_option("--config", flags->config, "Config file: [[signals.rules]], [topology] edges");
  return cmd;
}

int RunReportCommand(const std::string& db, const IncidentFlags& flags) {
  Context ctx;
  if (Status s = Open(db, flags, &ctx); !s.ok()) return Fail(s);
  Result<Incident> found = FindIncident(&ctx, flags.id);
  if (!found.ok()) return Fail(found.status());
  Incident& x = *found;
  if (Status s = correlate::CollectEvidenceLines(ctx.reader.get(), &x); !s.ok()) return Fail(s);
  ReportInput input;
  input.incident = &x;
  for (const correlate::StatusUpdate& u : correlate::StatusUpdates(x)) {
    input.status.push_back(StatusUpdateView{correlate::IncidentStateName(u.state), u.at_ns,
                                            Join(u.components), u.text});
  }
  // The signals of its services from 10 minutes before the onset to 5 after
  // the end: what changed, against what it was.
  const int64_t b = ctx.bucket_ns;
  const int64_t since = (x.onset_ns - int64_t{600'000'000'000}) / b * b;
  const int64_t until = std::min(DataEnd(ctx.reader.get()),
                                 std::max(x.end_ns, x.onset_ns + b) + int64_t{300'000'000'000});
  correlate::SeriesFilter filter;
  filter.services = x.services;
  filter.signals = {"errors", "http.5xx", "latency", "span.latency", "span.calls", "records"};
  Result<std::vector<correlate::DenseSeries>> series =
      correlate::LoadDenseSeries(ctx.reader.get(), since, until, b, filter);
  if (!series.ok()) return Fail(series.status());
  input.start_ns = since;
  input.bucket_ns = b;
  std::set<std::string> shown;  // one traffic series a service
  for (correlate::DenseSeries& s : *series) {
    const bool traffic = s.signal == "span.calls" || s.signal == "records";
    if (traffic && !shown.insert(s.service).second) continue;
    std::string label = s.signal;
    if (s.stat != correlate::Stat::kCount) label += " " + std::string(correlate::StatName(s.stat));
    input.series.push_back(ReportSeries{s.service, label, std::move(s.values)});
  }
  Result<std::vector<correlate::Edge>> edges = correlate::LoadStoredEdges(
      ctx.reader.get(), since, until, ctx.config.topology_edges);
  if (!edges.ok()) return Fail(edges.status());
  const std::set<std::string> involved(x.services.begin(), x.services.end());
  for (const correlate::Edge& e : *edges) {
    if (involved.count(e.caller) && involved.count(e.callee)) input.edges.emplace_back(e.caller, e.callee);
  }
  input.generated_by = "faultline report";
  const std::string page = ReportHtml(input);
  if (flags.html == "-") return WriteOut(page) ? 0 : 1;
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(flags.html.c_str(), "wb"), &std::fclose);
  if (!file || std::fwrite(page.data(), 1, page.size(), file.get()) != page.size() ||
      std::fflush(file.get()) != 0) {
    return Fail(Status::IOError("cannot write " + flags.html));
  }
  std::fprintf(stderr, "wrote %s (%zu bytes)\n", flags.html.c_str(), page.size());
  return 0;
}

// ---- for other commands ----------------------------------------------------------

Result<std::shared_ptr<IncidentSession>> OpenIncidentSession(const std::string& db,
                                                             const IncidentFlags& flags) {
  auto session = std::make_shared<IncidentSession>();
  FL_RETURN_IF_ERROR(Open(db, flags, session.get()));
  return session;
}

Result<std::vector<Incident>> SessionIncidents(IncidentSession* session, int64_t since_ns,
                                               int64_t until_ns) {
  return Incidents(session, since_ns, until_ns);
}

Result<std::optional<Incident>> SessionExplain(IncidentSession* session, int64_t at_ns,
                                               int64_t window_ns) {
  const auto [since, until] = CenteredWindow(at_ns, window_ns, session->bucket_ns);
  return ExplainWindow(session, since, until, 0);
}

}  // namespace faultline::tools
