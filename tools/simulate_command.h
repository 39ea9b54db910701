// `faultline simulate`: the outage simulator (sim/simulator.h) as a command:
// writes a scenario's telemetry and its truth to a directory. tools/cli.cc
// adds it with AddSimulateCommand and runs it with RunSimulateCommand. Exit
// codes as tools/cli.h.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/simulator.h"

namespace CLI {
class App;
}  // namespace CLI

namespace faultline::tools {

struct SimulateFlags {
  sim::SimOptions options;
  std::string out;   // directory: telemetry.jsonl and truth.json
  bool list = false;
  std::string brokers, topic;  // produce to Kafka instead (truth.json still to --out)
  double realtime = 0;         // with --brokers: event time this many times real time; 0 as fast as possible
  std::vector<std::string> properties;  // librdkafka properties, name=value
};

// Simulates into `dir` (created if missing): telemetry.jsonl, one line each,
// and truth.json. Also `faultline eval`'s first step.
Result<sim::Truth> SimulateToDir(const sim::SimOptions& options, const std::string& dir);

CLI::App* AddSimulateCommand(CLI::App* app, SimulateFlags* flags);
int RunSimulateCommand(const SimulateFlags& flags, const std::atomic<bool>& interrupted);

}  // namespace faultline::tools
