// `faultline eval`: the evaluation harness. Runs the pipeline on labelled
// cases and scores the answers: top-1/3/5 service, family, chain, detection
// delay and false incidents.
//   --simulated: every simulator scenario (sim/simulator.h) for each seed,
//     simulated, ingested into a fresh store and correlated as `faultline
//     incidents` would, against the scenario's truth.
//   --cases LABELS.json --db DIR: labelled cases in a store (the Nezha
//     labels.json shape: cases[] with case_id, inject_time_utc or inject_ts,
//     root_cause_service, category), each as `faultline explain --at
//     <inject> --window W`.
// tools/cli.cc adds it with AddEvalCommand and runs it with RunEvalCommand.
#pragma once

#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace faultline::tools {

struct EvalFlags {
  bool simulated = false;
  std::string seeds = "1..5";
  std::string scenarios;  // comma-separated; empty: all
  int minutes = 20;
  double rate = 20;
  std::string work;  // where simulated runs are written; empty: a temporary directory
  std::string cases;  // labels.json
  std::string window = "5m";
  std::string output = "table";
};

CLI::App* AddEvalCommand(CLI::App* app, EvalFlags* flags);
int RunEvalCommand(const std::string& db, const EvalFlags& flags);

}  // namespace faultline::tools
