// `faultline simulate`: the outage simulator (sim/simulator.h) as a command:
// writes a scenario's telemetry and its truth to a directory. tools/cli.cc
// adds it with AddSimulateCommand and runs it with RunSimulateCommand. Exit
// codes as tools/cli.h.
#pragma once

#include <string>

#include "sim/simulator.h"

namespace CLI {
class App;
}  // namespace CLI

namespace faultline::tools {

struct SimulateFlags {
  sim::SimOptions options;
  std::string out;   // directory: telemetry.jsonl and truth.json
  bool list = false;
};

CLI::App* AddSimulateCommand(CLI::App* app, SimulateFlags* flags);
int RunSimulateCommand(const SimulateFlags& flags);

}  // namespace faultline::tools
