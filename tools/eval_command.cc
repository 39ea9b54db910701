#include "tools/eval_command.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>
#include <simdjson.h>

#include "core/json_writer.h"
#include "core/time.h"
#include "correlate/families.h"
#include "sim/simulator.h"
#include "tools/incident_commands.h"
#include "tools/ingest_pipeline.h"
#include "tools/simulate_command.h"
#include "tools/internal/cli_util.h"

namespace faultline::tools {

namespace {

using correlate::Incident;
using internal::Fail;
using internal::WriteOut;

constexpr int64_t kSec = 1'000'000'000;
// An incident answers a fault when it opens from this long before the
// fault's onset (a change's onset is estimated to the bucket, a little early)
// to this long after it.
constexpr int64_t kMatchBefore = 60 * kSec;
constexpr int64_t kMatchAfter = 180 * kSec;
// After the fault ends, changes as the fleet recovers are still the fault's.
constexpr int64_t kRecoveryTail = 360 * kSec;

// One scored case.
struct Row {
  std::string name;
  std::string truth_root, truth_family;
  std::string top, family;  // the answer's top cause and its family; "-" none
  int rank = 0;             // of the truth's service among the causes; 0: absent
  bool matched = false;     // an incident answered (simulated); an answer (cases)
  bool chain_ok = false;
  double delay_s = -1;      // detection delay (simulated, matched)
  int false_incidents = 0;
};

Result<std::vector<uint64_t>> ParseSeeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = text.substr(start, comma - start);
    const size_t dots = part.find("..");
    char* end = nullptr;
    if (dots != std::string::npos) {
      const uint64_t a = std::strtoull(part.substr(0, dots).c_str(), &end, 10);
      const uint64_t b = std::strtoull(part.substr(dots + 2).c_str(), &end, 10);
      if (a == 0 || b < a || b - a > 1000) {
        return Status::InvalidArgument("--seeds: expected a range such as 1..5, got '" + part + "'");
      }
      for (uint64_t s = a; s <= b; ++s) seeds.push_back(s);
    } else {
      const uint64_t s = std::strtoull(part.c_str(), &end, 10);
      if (part.empty() || *end != '\0' || s == 0) {
        return Status::InvalidArgument("--seeds: expected numbers such as 1..5 or 1,4,9, got '" +
                                       part + "'");
      }
      seeds.push_back(s);
    }
    start = comma + 1;
  }
  return seeds;
}

std::string TopFamily(const Incident& x) {
  if (!x.identified || x.causes.empty()) return "unknown";
  return std::string(correlate::FamilyName(x.causes.front().family));
}

int RankOf(const Incident& x, const std::string& service) {
  for (size_t i = 0; i < x.causes.size(); ++i) {
    if (x.causes[i].service == service) return static_cast<int>(i) + 1;
  }
  return 0;
}

Result<Row> RunSimulated(const std::string& dir, const std::string& scenario, uint64_t seed,
                         const EvalFlags& flags) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  sim::SimOptions options;
  options.scenario = scenario;
  options.seed = seed;
  options.minutes = flags.minutes;
  options.rate = flags.rate;
  FL_ASSIGN_OR_RETURN(sim::Truth truth, SimulateToDir(options, dir));
  const std::string path = dir + "/telemetry.jsonl";

  IngestRequest request;
  request.db_dir = dir + "/db";
  request.files = {path};
  FL_RETURN_IF_ERROR(RunIngest(request).status());
  IncidentFlags incident_flags;
  FL_ASSIGN_OR_RETURN(std::shared_ptr<IncidentSession> session,
                      OpenIncidentSession(request.db_dir, incident_flags));
  const int64_t end = options.start_ns + int64_t{options.minutes} * 60 * kSec + 60 * kSec;
  FL_ASSIGN_OR_RETURN(std::vector<Incident> incidents,
                      SessionIncidents(session.get(), options.start_ns, end));

  Row row;
  row.name = scenario + " #" + std::to_string(seed);
  row.truth_root = truth.root.empty() ? "-" : truth.root;
  row.truth_family = truth.family.empty() ? "-" : truth.family;
  row.top = row.family = "-";
  const Incident* answer = nullptr;
  for (const Incident& x : incidents) {
    const bool fault = !truth.root.empty();
    if (fault && x.onset_ns >= truth.onset_ns - kMatchBefore &&
        x.onset_ns <= truth.onset_ns + kMatchAfter) {
      if (answer == nullptr) answer = &x;
      continue;
    }
    if (fault && x.onset_ns >= truth.onset_ns - kMatchBefore &&
        x.onset_ns <= truth.end_ns + kRecoveryTail) {
      continue;  // the same fault, seen again as it went on or recovered
    }
    ++row.false_incidents;
  }
  if (answer != nullptr) {
    row.matched = true;
    row.top = answer->identified && !answer->causes.empty() ? answer->causes.front().service
                                                             : "unknown";
    row.family = TopFamily(*answer);
    row.rank = RankOf(*answer, truth.root);
    // The chain starts at the root and reaches the truth's far end (the
    // user-facing service for a failure, the deepest for demand).
    row.chain_ok = !answer->chain.empty() && !truth.chain.empty() &&
                   answer->chain.front() == truth.chain.front() &&
                   std::find(answer->chain.begin(), answer->chain.end(), truth.chain.back()) !=
                       answer->chain.end();
    // An incident whose first change preceded the labelled onset (a deploy
    // line before its effect) was detected when the effect began at worst.
    row.delay_s = std::max(0.0, static_cast<double>(answer->detected_ns - truth.onset_ns) / kSec);
  }
  return row;
}

struct Case {
  std::string id, root, category;
  int64_t at_ns = 0;
};

Result<std::vector<Case>> ReadCases(const std::string& path) {
  simdjson::padded_string json;
  if (simdjson::padded_string::load(path).get(json) != simdjson::SUCCESS) {
    return Status::IOError("cannot read " + path);
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc) != simdjson::SUCCESS) {
    return Status::InvalidArgument(path + ": not JSON");
  }
  simdjson::dom::array cases;
  if (doc["cases"].get_array().get(cases) != simdjson::SUCCESS) {
    return Status::InvalidArgument(path + ": expected {\"cases\": [...]}");
  }
  std::vector<Case> out;
  for (simdjson::dom::element c : cases) {
    Case k;
    std::string_view text;
    if (c["case_id"].get_string().get(text) == simdjson::SUCCESS) k.id = text;
    if (c["root_cause_service"].get_string().get(text) != simdjson::SUCCESS) {
      return Status::InvalidArgument(path + ": case " + k.id + " has no root_cause_service");
    }
    k.root = text;
    if (c["category"].get_string().get(text) == simdjson::SUCCESS) k.category = text;
    int64_t ts = 0;
    if (c["inject_time_utc"].get_string().get(text) == simdjson::SUCCESS) {
      Result<int64_t> at = ParseTimeArg(text, NowNanos(), TimeZone());
      if (!at.ok()) return at.status().WithContext(path + ": case " + k.id);
      k.at_ns = *at;
    } else if (c["inject_ts"].get_int64().get(ts) == simdjson::SUCCESS) {
      k.at_ns = ts * kSec;
    } else {
      return Status::InvalidArgument(path + ": case " + k.id +
                                     " has neither inject_time_utc nor inject_ts");
    }
    out.push_back(std::move(k));
  }
  return out;
}

std::string Pct(int n, int total) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%d/%d (%.1f%%)", n, total, total ? 100.0 * n / total : 0.0);
  return buf;
}

}  // namespace

CLI::App* AddEvalCommand(CLI::App* app, EvalFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "eval",
      "Score root-cause answers on labelled cases: top-1/3/5 service, family (category),\n"
      "chain (root and user-facing end), detection delay and false incidents.\n"
      "  --simulated: every `faultline simulate` scenario for each seed, simulated,\n"
      "    ingested into a fresh store and correlated as `faultline incidents` does.\n"
      "  --cases LABELS.json --db DIR: labelled cases in a store, each answered as\n"
      "    `faultline explain --at <inject time> --window 5m`.\n"
      "Examples:\n"
      "  faultline eval --simulated --seeds 1..5\n"
      "  faultline eval --simulated --seeds 3 --scenarios gpu-failure,calm -o json\n"
      "  faultline eval --cases ../shared/data/nezha-tt/labels.json --db nezha-db");
  cmd->add_flag("--simulated", flags->simulated, "Run the simulator's scenarios");
  cmd->add_option("--seeds", flags->seeds, "Seeds: a range 1..5 or a list 1,4,9 (default 1..5)");
  cmd->add_option("--scenarios", flags->scenarios, "Only these scenarios (comma-separated)");
  cmd->add_option("--minutes", flags->minutes, "Simulated minutes a run (default 20; the fault starts at 60%)");
  cmd->add_option("--rate", flags->rate, "Simulated requests a second (default 20)");
  cmd->add_option("--work", flags->work,
                  "Keep each simulated run's telemetry and store here (default: a temporary "
                  "directory, removed after)");
  cmd->add_option("--cases", flags->cases, "labels.json of cases in the store given by --db");
  cmd->add_option("--window", flags->window, "--cases: the explain window (default 5m)");
  cmd->add_option("--output,-o", flags->output, "table (default) or json");
  return cmd;
}

int RunEvalCommand(const std::string& db, const EvalFlags& flags) {
  if (flags.output != "table" && flags.output != "json") {
    return Fail(Status::InvalidArgument("--output: table or json"));
  }
  if (flags.simulated == !flags.cases.empty()) {
    return Fail(Status::InvalidArgument("give --simulated or --cases LABELS.json (one of them)"));
  }
  std::vector<Row> rows;
  const bool json = flags.output == "json";
  auto progress = [&](const Row& r) {
    if (json) return;
    char line[512];
    std::snprintf(line, sizeof(line), "%-34s %-18s %-15s %4s  %-18s %-15s %-5s %7s %5d\n",
                  r.name.substr(0, 34).c_str(), r.truth_root.substr(0, 18).c_str(),
                  r.truth_family.c_str(), r.rank ? std::to_string(r.rank).c_str() : "-",
                  r.top.substr(0, 18).c_str(), r.family.c_str(), r.chain_ok ? "yes" : "no",
                  r.delay_s >= 0 ? (std::to_string(static_cast<int>(r.delay_s)) + "s").c_str() : "-",
                  r.false_incidents);
    WriteOut(line);
  };
  Result<std::vector<uint64_t>> seeds = ParseSeeds(flags.seeds);
  if (flags.simulated && !seeds.ok()) return Fail(seeds.status());
  std::vector<std::string> names;
  for (const sim::ScenarioInfo& s : sim::Scenarios()) {
    if (flags.scenarios.empty() || ("," + flags.scenarios + ",").find("," + s.name + ",") !=
                                       std::string::npos) {
      names.push_back(s.name);
    }
  }
  if (flags.simulated && names.empty()) {
    return Fail(Status::InvalidArgument("--scenarios: none of '" + flags.scenarios +
                                        "' is a scenario (faultline simulate --list)"));
  }
  if (!json) {
    char head[256];
    std::snprintf(head, sizeof(head), "%-34s %-18s %-15s %4s  %-18s %-15s %-5s %7s %5s\n", "case",
                  "truth", "family", "rank", "top cause", "its family", "chain", "detect",
                  "false");
    WriteOut(head);
  }
  if (flags.simulated) {
    std::string work = flags.work;
    bool temporary = false;
    if (work.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "faultline-eval-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) return Fail(Status::IOError("cannot make a temporary directory"));
      work = tmpl;
      temporary = true;
    }
    for (const std::string& name : names) {
      for (uint64_t seed : *seeds) {
        std::string slug = name;
        std::replace(slug.begin(), slug.end(), '+', '_');
        Result<Row> row = RunSimulated(work + "/" + slug + "-" + std::to_string(seed), name, seed, flags);
        if (!row.ok()) return Fail(row.status().WithContext(name + " seed " + std::to_string(seed)));
        progress(*row);
        rows.push_back(std::move(row).value());
        if (temporary) {
          std::error_code ec;
          std::filesystem::remove_all(work + "/" + slug + "-" + std::to_string(seed), ec);
        }
      }
    }
    if (temporary) {
      std::error_code ec;
      std::filesystem::remove_all(work, ec);
    }
  } else {
    Result<std::vector<Case>> cases = ReadCases(flags.cases);
    if (!cases.ok()) return Fail(cases.status());
    Result<int64_t> window = ParseDuration(flags.window);
    if (!window.ok() || *window <= 0) {
      return Fail(Status::InvalidArgument("--window: expected a duration such as 5m"));
    }
    IncidentFlags incident_flags;
    Result<std::shared_ptr<IncidentSession>> session = OpenIncidentSession(db, incident_flags);
    if (!session.ok()) return Fail(session.status());
    for (const Case& c : *cases) {
      Result<std::optional<Incident>> x = SessionExplain(session->get(), c.at_ns, *window);
      if (!x.ok()) return Fail(x.status().WithContext("case " + c.id));
      Row row;
      row.name = c.id;
      row.truth_root = c.root;
      row.truth_family = c.category.empty() ? "-" : c.category;
      row.top = row.family = "-";
      if (x->has_value()) {
        const Incident& answer = **x;
        row.matched = true;
        row.top = answer.identified && !answer.causes.empty() ? answer.causes.front().service
                                                               : "unknown";
        row.family = TopFamily(answer);
        row.rank = RankOf(answer, c.root);
      }
      progress(row);
      rows.push_back(std::move(row));
    }
  }

  // Totals.
  const int n = static_cast<int>(rows.size());
  int top1 = 0, top3 = 0, top5 = 0, family = 0, chain = 0, answered = 0, faults = 0;
  int false_total = 0, false_calm = 0, calm_runs = 0;
  std::vector<double> delays;
  for (const Row& r : rows) {
    const bool fault = r.truth_root != "-";
    false_total += r.false_incidents;
    if (!fault) {
      ++calm_runs;
      false_calm += r.false_incidents;
      continue;
    }
    ++faults;
    answered += r.matched;
    top1 += r.rank == 1 && r.top == r.truth_root;
    top3 += r.rank >= 1 && r.rank <= 3;
    top5 += r.rank >= 1 && r.rank <= 5;
    family += r.family == r.truth_family;
    chain += r.chain_ok;
    if (r.delay_s >= 0) delays.push_back(r.delay_s);
  }
  std::sort(delays.begin(), delays.end());
  const double median_delay = delays.empty() ? -1 : delays[delays.size() / 2];
  if (json) {
    std::string out = "{\"cases\":" + std::to_string(n) + ",\"faults\":" + std::to_string(faults) +
                      ",\"answered\":" + std::to_string(answered) +
                      ",\"top1\":" + std::to_string(top1) + ",\"top3\":" + std::to_string(top3) +
                      ",\"top5\":" + std::to_string(top5) + ",\"family\":" + std::to_string(family);
    if (flags.simulated) {
      out += ",\"chain\":" + std::to_string(chain) + ",\"median_detection_s\":" +
             std::to_string(median_delay) + ",\"false_incidents\":" + std::to_string(false_total) +
             ",\"calm_runs\":" + std::to_string(calm_runs) +
             ",\"false_incidents_in_calm_runs\":" + std::to_string(false_calm);
    }
    out += ",\"rows\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      out += i ? "," : "";
      out += "{\"case\":";
      AppendJsonString(&out, r.name);
      out += ",\"truth\":";
      AppendJsonString(&out, r.truth_root);
      out += ",\"top\":";
      AppendJsonString(&out, r.top);
      out += ",\"rank\":" + std::to_string(r.rank) + ",\"family\":";
      AppendJsonString(&out, r.family);
      out += ",\"truth_family\":";
      AppendJsonString(&out, r.truth_family);
      out += std::string(",\"chain_ok\":") + (r.chain_ok ? "true" : "false") +
             ",\"detection_s\":" + (r.delay_s >= 0 ? std::to_string(r.delay_s) : "null") +
             ",\"false_incidents\":" + std::to_string(r.false_incidents) + "}";
    }
    out += "]}\n";
    WriteOut(out);
    return 0;
  }
  std::string out = "\n" + std::to_string(faults) + " faults: top-1 " + Pct(top1, faults) +
                    ", top-3 " + Pct(top3, faults) + ", top-5 " + Pct(top5, faults) + ", family " +
                    Pct(family, faults);
  if (flags.simulated) {
    out += ", chain " + Pct(chain, faults) + "; answered by an incident " + Pct(answered, faults) +
           ", median detection " +
           (median_delay >= 0 ? std::to_string(static_cast<int>(median_delay)) + " s" : "-") +
           "; false incidents " + std::to_string(false_total) + " (" +
           std::to_string(false_calm) + " in " + std::to_string(calm_runs) + " calm runs)";
  }
  WriteOut(out + "\n");
  return 0;
}

}  // namespace faultline::tools
