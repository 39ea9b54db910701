#include "tools/simulate_command.h"

#include <cstdio>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>

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
      "  faultline incidents --db /tmp/gpu/db");
  cmd->add_flag("--list", flags->list, "Describe the scenarios and exit");
  cmd->add_option("--scenario", flags->options.scenario, "Scenario (default gpu-failure)");
  cmd->add_option("--seed", flags->options.seed, "Random seed (default 1)");
  cmd->add_option("--minutes", flags->options.minutes, "Length of the run in event time (default 20)");
  cmd->add_option("--rate", flags->options.rate, "Requests a second at the edge before any surge (default 40)");
  cmd->add_option("--out", flags->out, "Directory to write telemetry.jsonl and truth.json into");
  return cmd;
}

int RunSimulateCommand(const SimulateFlags& flags) {
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
  if (flags.out.empty()) {
    return internal::Fail(Status::InvalidArgument("give --out DIR (or --list)"));
  }
  std::error_code ec;
  std::filesystem::create_directories(flags.out, ec);
  if (ec) return internal::Fail(Status::IOError("cannot create " + flags.out + ": " + ec.message()));
  const std::string path = flags.out + "/telemetry.jsonl";
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) return internal::Fail(Status::IOError("cannot write " + path));
  bool ok = true;
  Result<sim::Truth> truth = sim::Simulate(flags.options, [&](std::string_view line) {
    ok = ok && std::fwrite(line.data(), 1, line.size(), file.get()) == line.size() &&
         std::fputc('\n', file.get()) != EOF;
  });
  if (!truth.ok()) return internal::Fail(truth.status());
  if (!ok || std::fflush(file.get()) != 0) return internal::Fail(Status::IOError("writing " + path + " failed"));
  const std::string truth_path = flags.out + "/truth.json";
  std::unique_ptr<FILE, int (*)(FILE*)> tf(std::fopen(truth_path.c_str(), "wb"), &std::fclose);
  const std::string json = truth->Json() + "\n";
  if (!tf || std::fwrite(json.data(), 1, json.size(), tf.get()) != json.size()) {
    return internal::Fail(Status::IOError("cannot write " + truth_path));
  }
  std::fprintf(stderr, "%llu lines to %s; truth in %s\n",
               static_cast<unsigned long long>(truth->lines), path.c_str(), truth_path.c_str());
  return 0;
}

}  // namespace faultline::tools
