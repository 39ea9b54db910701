// `faultline explain`, `faultline incidents` and `faultline status`: the
// root-cause answer over a store (correlate/incident.h). tools/cli.cc adds
// them with Add*Command and runs them with Run*Command once parsed. Exit
// codes as tools/cli.h.
#pragma once

#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace faultline::tools {

struct IncidentFlags {
  std::string id;                   // explain ID, status ID
  std::string at;                   // explain --at T
  std::string window = "10m";       // explain --at: centred on T
  std::string after;                // explain --at: confirmation data after the window
  std::string since, until, zone = "UTC";  // incidents
  std::string history = "1h";       // baseline data before the window
  std::string output;               // per command default
  std::string config;               // [[signals.rules]], [topology] edges
  bool stored = false;              // incidents: what serve stored
};

CLI::App* AddExplainCommand(CLI::App* app, IncidentFlags* flags);
int RunExplainCommand(const std::string& db, const IncidentFlags& flags);

CLI::App* AddIncidentsCommand(CLI::App* app, IncidentFlags* flags);
int RunIncidentsCommand(const std::string& db, const IncidentFlags& flags);

CLI::App* AddStatusCommand(CLI::App* app, IncidentFlags* flags);
int RunStatusCommand(const std::string& db, const IncidentFlags& flags);

}  // namespace faultline::tools
