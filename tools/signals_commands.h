// `faultline signals`, `faultline anomalies` and `faultline topology`: what
// the rollups say per service and bucket, what changed and when it began,
// and who calls whom. tools/cli.cc adds them with Add*Command and runs them
// with Run*Command once parsed. Exit codes as tools/cli.h.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace faultline::tools {

struct SignalsFlags {
  std::vector<std::string> services;
  std::vector<std::string> signals;  // exact names, or a prefix ending in '*'
  std::string dimension;             // "" whole services; "host", "region", "endpoint" or "all"
  std::string since, until, zone = "UTC";
  std::string output = "text";
  size_t limit = 200;
};

CLI::App* AddSignalsCommand(CLI::App* app, SignalsFlags* flags);
int RunSignalsCommand(const std::string& db, const SignalsFlags& flags);

struct AnomaliesFlags {
  std::vector<std::string> services;
  std::string since, until, zone = "UTC";
  std::string output = "text";
  std::string config;  // for [[signals.rules]]
  std::string history = "1h";
  size_t limit = 200;
};

CLI::App* AddAnomaliesCommand(CLI::App* app, AnomaliesFlags* flags);
int RunAnomaliesCommand(const std::string& db, const AnomaliesFlags& flags);

struct TopologyFlags {
  std::string since, until, zone = "UTC";
  std::string output = "text";  // text, json or dot
  std::string config;           // for [topology] edges
  bool from_records = false;    // rebuild from the stored spans and logs
};

CLI::App* AddTopologyCommand(CLI::App* app, TopologyFlags* flags);
int RunTopologyCommand(const std::string& db, const TopologyFlags& flags);

}  // namespace faultline::tools
