#include "tools/simulate_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>

#include "ingest/kafka_producer.h"

#include "tools/internal/cli_util.h"

namespace faultline::tools {

CLI::App* AddSimulateCommand(CLI::App* app, SimulateFlags* flags) {
  CLI::App* cmd = app->add_subcommand(
      "simulate",
      "Deterministic telemetry of an AI API platform (edge, gateway, auth, rate limiter,\n"
      "billing, completions, embeddings, image generation, moderation, audio, a scheduler,\n"
      "GPU pools in three regions, cache, metadata DB, queue, config and deploy services)\n"
      "with one injected fault: logs in mixed shapes (flat JSON, ECS, logfmt, OpenTelemetry),\n"
      "spans and metrics, background noise, and truth.json (root cause, family, kind, onset,\n"
      "chain, impacted endpoints and regions). The same seed gives the same bytes.\n"
      "Examples:\n"
      "  faultline simulate --list\n"
      "  faultline simulate --scenario gpu-failure --seed 3 --out /tmp/gpu\n"
      "  faultline ingest --db /tmp/gpu/db /tmp/gpu/telemetry.jsonl\n"
      "  faultline incidents --db /tmp/gpu/db\n"
      "  faultline simulate --scenario bad-deploy --brokers localhost:9092 --topic logs --realtime 10");
  cmd->add_flag("--list", flags->list, "Describe the scenarios and exit");
  cmd->add_option("--scenario", flags->options.scenario, "Scenario (default gpu-failure)");
  cmd->add_option("--seed", flags->options.seed, "Random seed (default 1)");
  cmd->add_option("--minutes", flags->options.minutes, "Length of the run in event time (default 20)");
  cmd->add_option("--rate", flags->options.rate, "Requests a second at the edge before any surge (default 40)");
  cmd->add_option("--out", flags->out,
                  "Directory to write telemetry.jsonl and truth.json into (with --brokers: truth.json only)");
  cmd->add_option("--brokers", flags->brokers,
                  "Produce the lines to Kafka instead (bootstrap servers host:port,...), keyed by service");
  cmd->add_option("--topic", flags->topic, "With --brokers: the topic");
  cmd->add_option("--realtime", flags->realtime,
                  "With --brokers: pace the lines at this many times real time (10: a minute of "
                  "event time every 6 s); default as fast as possible");
  cmd->add_option("-X,--property", flags->properties, "librdkafka property name=value (repeat)");
  return cmd;
}

namespace {

Status CreateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return ec ? Status::IOError("cannot create " + dir + ": " + ec.message()) : Status::Ok();
}

Status WriteTruth(const std::string& dir, const sim::Truth& truth) {
  const std::string path = dir + "/truth.json";
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  const std::string json = truth.Json() + "\n";
  if (!file || std::fwrite(json.data(), 1, json.size(), file.get()) != json.size()) {
    return Status::IOError("cannot write " + path);
  }
  return Status::Ok();
}

// --brokers: every line a message keyed by its service, paced by event time.
int ProduceSimulation(const SimulateFlags& flags, const std::atomic<bool>& interrupted) {
  if (flags.topic.empty()) return internal::Fail(Status::InvalidArgument("--brokers needs --topic"));
  if (Status s = ingest::ValidateTopicName(flags.topic); !s.ok()) return internal::Fail(s);
  if (flags.realtime < 0) return internal::Fail(Status::InvalidArgument("--realtime must be positive"));
  ingest::ProducerOptions options;
  options.bootstrap_servers = flags.brokers;
  options.interrupted = &interrupted;
  for (const std::string& p : flags.properties) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return internal::Fail(Status::InvalidArgument("--property: expected name=value, got '" + p + "'"));
    }
    options.properties.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  Result<std::unique_ptr<ingest::KafkaProducer>> producer = ingest::KafkaProducer::Create(options);
  if (!producer.ok()) return internal::Fail(producer.status());
  const auto wall_start = std::chrono::steady_clock::now();
  int64_t first_ts = 0;
  Status failed;
  uint64_t sent = 0;
  Result<sim::Truth> truth = sim::Simulate(flags.options, [&](const sim::SimLine& line) {
    if (!failed.ok() || interrupted.load()) return;
    if (flags.realtime > 0) {
      if (first_ts == 0) first_ts = line.ts_ns;
      const auto due = wall_start + std::chrono::nanoseconds(static_cast<int64_t>(
                                        static_cast<double>(line.ts_ns - first_ts) / flags.realtime));
      while (std::chrono::steady_clock::now() < due && !interrupted.load()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            due - std::chrono::steady_clock::now());
        (*producer)->Poll(static_cast<int>(std::clamp<int64_t>(left.count() + 1, 1, 50)));
      }
    }
    failed = (*producer)->Produce(flags.topic, line.service, line.text);
    ++sent;
  });
  if (!truth.ok()) return internal::Fail(truth.status());
  if (!failed.ok()) return internal::Fail(failed);
  if (Status s = (*producer)->Flush(30'000); !s.ok()) return internal::Fail(s);
  const ingest::ProducerCounters counters = (*producer)->counters();
  if (!flags.out.empty()) {
    if (Status s = CreateDir(flags.out); !s.ok()) return internal::Fail(s);
    if (Status s = WriteTruth(flags.out, *truth); !s.ok()) return internal::Fail(s);
  }
  const int64_t end_s = flags.options.start_ns / 1'000'000'000 + int64_t{flags.options.minutes} * 60;
  std::fprintf(stderr, "%llu lines produced to %s, %llu delivered, %llu failed%s; events until %lld\n",
               static_cast<unsigned long long>(sent), flags.topic.c_str(),
               static_cast<unsigned long long>(counters.delivered),
               static_cast<unsigned long long>(counters.failed),
               interrupted.load() ? " (interrupted)" : "", static_cast<long long>(end_s));
  return counters.failed == 0 && !interrupted.load() ? 0 : 1;
}

}  // namespace

Result<sim::Truth> SimulateToDir(const sim::SimOptions& options, const std::string& dir) {
  FL_RETURN_IF_ERROR(CreateDir(dir));
  const std::string path = dir + "/telemetry.jsonl";
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) return Status::IOError("cannot write " + path);
  bool ok = true;
  FL_ASSIGN_OR_RETURN(sim::Truth truth, sim::Simulate(options, [&](const sim::SimLine& line) {
                        ok = ok &&
                             std::fwrite(line.text.data(), 1, line.text.size(), file.get()) ==
                                 line.text.size() &&
                             std::fputc('\n', file.get()) != EOF;
                      }));
  if (!ok || std::fflush(file.get()) != 0) return Status::IOError("writing " + path + " failed");
  FL_RETURN_IF_ERROR(WriteTruth(dir, truth));
  return truth;
}

int RunSimulateCommand(const SimulateFlags& flags, const std::atomic<bool>& interrupted) {
  if (flags.list) {
    std::string text;
    for (const sim::ScenarioInfo& s : sim::Scenarios()) {
      text += s.name + "\n    " + s.description + "\n";
      if (!s.root.empty()) {
        text += "    truth: " + s.root + ", " + s.family + "/" + s.kind +
                (s.region.empty() ? "" : ", region " + s.region) + "\n";
      }
    }
    return internal::WriteOut(text) ? 0 : 1;
  }
  if (!flags.brokers.empty()) return ProduceSimulation(flags, interrupted);
  if (flags.out.empty()) {
    return internal::Fail(Status::InvalidArgument("give --out DIR or --brokers B --topic T (or --list)"));
  }
  Result<sim::Truth> truth = SimulateToDir(flags.options, flags.out);
  if (!truth.ok()) return internal::Fail(truth.status());
  const std::string path = flags.out + "/telemetry.jsonl", truth_path = flags.out + "/truth.json";
  std::fprintf(stderr, "%llu lines to %s; truth in %s\n",
               static_cast<unsigned long long>(truth->lines), path.c_str(), truth_path.c_str());
  return 0;
}

}  // namespace faultline::tools
